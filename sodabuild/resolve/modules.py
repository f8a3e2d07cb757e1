"""Module resolution: import specs to workspace files, and names to definitions.

A :class:`ModuleResolver` knows one project's aliases and source roots plus the source
roots of the other projects of the workspace (Python), and its JavaScript specifier
resolver (``resolve/specifiers.py``: relative specifiers, tsconfig ``paths``/``baseUrl``,
specifier aliases); a :class:`NameResolver` follows a module-level
name through imports and ``__init__`` re-export chains to the gql() definition (or module)
it denotes. Both are pure over their inputs: a file-existence test and a scan provider.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sodabuild.diagnostics import Diagnostic
from sodabuild.pickling import by_fields
from sodabuild.scan import GqlDefinition, ImportBinding, ModuleScan

if TYPE_CHECKING:
    from sodabuild.resolve.specifiers import SpecifierResolver


@by_fields
@dataclass(frozen=True, slots=True)
class DefRef:
    """A gql() definition: module file (workspace-relative) and binding name."""

    path: str
    name: str


@by_fields
@dataclass(frozen=True, slots=True)
class ModRef:
    """A module (file) bound to a name, e.g. by ``from app.issues import fragments``."""

    path: str


@by_fields
@dataclass(frozen=True, slots=True)
class ConstRef:
    """A module-level name bound once to a string-like value (``ModuleScan.constants``)."""

    path: str
    name: str


@by_fields
@dataclass(frozen=True, slots=True)
class Unresolved:
    """A name that leads nowhere; ``diagnostic`` is None when the root cause is elsewhere."""

    kind: str  # "unbound" | "not_definition" | "import" | "broken" | "external_module"
    diagnostic: Diagnostic | None = None


Target = DefRef | ModRef | ConstRef | Unresolved


class ModuleResolver:
    """Maps ``(importing file, level, dotted module)`` to a workspace-relative file.

    ``exists`` decides what is a module: the build's is true only for regular files inside
    the workspace (not through a symlink, of the file or of a directory, that leads out,
    and never a FIFO or device), so such a module is unresolvable, never read.
    """

    def __init__(
        self,
        aliases: dict[str, str],
        source_roots: tuple[str, ...],
        other_roots: tuple[str, ...],
        exists: Callable[[str], bool],
        specifiers: Callable[[], SpecifierResolver] | None = None,
    ) -> None:
        self.aliases = sorted(aliases.items(), key=lambda item: (-len(item[0]), item[0]))
        self.roots = tuple(dict.fromkeys((*source_roots, *other_roots)))
        self.exists = exists
        self._cache: dict[tuple[str, int, str], str | None] = {}
        self._make_specifiers = specifiers
        self._specifiers: SpecifierResolver | None = None

    def binding(self, from_path: str, binding: ImportBinding) -> str | None:
        """The file an import of ``from_path`` names: a JavaScript specifier or a Python
        module (``import a.b`` names ``a`` when it binds the top package)."""
        if binding.specifier:
            if self._specifiers is None:
                if self._make_specifiers is None:
                    return None
                self._specifiers = self._make_specifiers()
            return self._specifiers.resolve(from_path, binding.module)
        return self.resolve(from_path, binding.level, binding.module)

    def _in_dir(self, directory: str, dotted: str) -> str | None:
        if directory.endswith(".py"):
            return directory if not dotted and self.exists(directory) else None
        rel = dotted.replace(".", "/")
        base = posixpath.normpath(posixpath.join(directory, rel)) if rel else directory
        base = "" if base == "." else base
        if base == ".." or base.startswith(("../", "/")):
            return None  # never a file outside the workspace
        if rel:
            module_file = f"{base}.py"
            if self.exists(module_file):
                return module_file
        package = posixpath.join(base, "__init__.py") if base else "__init__.py"
        if self.exists(package):
            return package
        return None

    def absolute(self, module: str) -> str | None:
        for prefix, directory in self.aliases:
            if module == prefix or module.startswith(prefix + "."):
                found = self._in_dir(directory, module[len(prefix) + 1 :])
                if found is not None:
                    return found
        for root in self.roots:
            found = self._in_dir(root, module)
            if found is not None:
                return found
        return None

    def resolve(self, from_path: str, level: int, module: str) -> str | None:
        key = (from_path if level else "", level, module)
        if key in self._cache:
            return self._cache[key]
        if level == 0:
            found = self.absolute(module)
        else:
            package_dir = posixpath.dirname(from_path)
            for _ in range(level - 1):
                package_dir = posixpath.dirname(package_dir)
            found = self._in_dir(package_dir or ".", module) if module or package_dir else None
            if found is None and not module:
                found = self._in_dir(package_dir, "")
        self._cache[key] = found
        return found

    def submodule(self, package_file: str, name: str) -> str | None:
        """``pkg/__init__.py`` + ``name`` -> ``pkg/name.py`` or ``pkg/name/__init__.py``."""
        if posixpath.basename(package_file) != "__init__.py":
            return None
        return self._in_dir(posixpath.dirname(package_file) or ".", name)


def _describe(binding: ImportBinding) -> str:
    if binding.specifier:
        if binding.attr is None:
            return f"import * as {binding.name} from '{binding.module}'"
        if binding.attr == "default":
            return f"import {binding.name} from '{binding.module}'"
        alias = f" as {binding.name}" if binding.name != binding.attr else ""
        return f"import {{ {binding.attr}{alias} }} from '{binding.module}'"
    dots = "." * binding.level
    if binding.attr is None:
        return f"import {binding.module}"
    return f"from {dots}{binding.module} import {binding.attr}"


class NameResolver:
    """Follows names through imports and re-exports; memoized per (file, name)."""

    def __init__(
        self,
        scan: Callable[[str], ModuleScan | None],
        resolver_for: Callable[[str], ModuleResolver],
    ) -> None:
        self.scan = scan
        self.resolver_for = resolver_for
        self._memo: dict[tuple[str, str], Target] = {}
        #: The files whose scans each memoized answer read (what invalidates it).
        self._deps: dict[tuple[str, str], frozenset[str]] = {}
        self._read_by: dict[str, set[tuple[str, str]]] = {}
        self._active: set[tuple[str, str]] = set()
        self._trail: list[set[str]] = []

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        """Collect the files whose scans the lookups inside the block depend on."""
        self._trail.append(set())
        try:
            yield self._trail[-1]
        finally:
            found = self._trail.pop()
            if self._trail:
                self._trail[-1].update(found)

    def forget(self, changed: set[str]) -> None:
        """Drop every memoized answer that read one of ``changed`` (their scans changed)."""
        for path in changed:
            for key in self._read_by.pop(path, ()):
                if key in self._memo:
                    del self._memo[key]
                    del self._deps[key]

    def module_of(self, path: str, binding: ImportBinding) -> str | Unresolved:
        resolver = self.resolver_for(path)
        target = resolver.binding(path, binding)
        if target is None:
            return Unresolved(
                "import",
                Diagnostic(
                    "IMPORT_UNRESOLVED",
                    f"cannot resolve `{_describe(binding)}` to a file of the workspace",
                    path,
                    binding.line,
                    binding.column,
                    hint=(
                        "check the specifier, the project's tsconfig.json paths/baseUrl and"
                        " [aliases]"
                        if binding.specifier
                        else "check the module path, the project's source_roots and [aliases]"
                    ),
                ),
            )
        return target

    def name(self, path: str, name: str) -> Target:
        key = (path, name)
        memo = self._memo.get(key)
        if memo is not None:
            if self._trail:
                self._trail[-1].update(self._deps[key])
            return memo
        if key in self._active:
            return Unresolved("unbound")  # a re-export cycle: nothing is defined
        self._active.add(key)
        with self.recording() as deps:
            deps.add(path)
            try:
                target = self._name(path, name)
            finally:
                self._active.discard(key)
        self._memo[key] = target
        self._deps[key] = frozenset(deps)
        for read in deps:
            self._read_by.setdefault(read, set()).add(key)
        return target

    def _name(self, path: str, name: str) -> Target:
        scan = self.scan(path)
        if scan is None:
            return Unresolved("import")
        if not scan.parsed:
            return Unresolved("broken")
        binding = scan.binding(name)
        if isinstance(binding, GqlDefinition):
            return DefRef(path, binding.name)  # its id (an alias names the definition)
        if isinstance(binding, ImportBinding):
            return self._import(path, binding)
        if name in scan.constants:
            return ConstRef(path, name)
        if name in scan.other_names:
            return Unresolved("not_definition")
        for star in scan.star_imports:
            module = self.module_of(path, star)
            if isinstance(module, str):
                found = self.name(module, name)
                if not (isinstance(found, Unresolved) and found.kind == "unbound"):
                    return found
        sub = self.resolver_for(path).submodule(path, name)
        if sub is not None:
            return ModRef(sub)
        return Unresolved("unbound")

    def _import(self, path: str, binding: ImportBinding) -> Target:
        if binding.attr is None:
            if binding.specifier:
                file = self.resolver_for(path).binding(path, binding)
            else:
                spec = binding.module.split(".")[0] if binding.binds_top else binding.module
                file = self.resolver_for(path).resolve(path, 0, spec)
            # `import os` is fine; it only matters if a fragment argument goes through it
            return ModRef(file) if file is not None else Unresolved("external_module")
        module = self.module_of(path, binding)
        if isinstance(module, Unresolved):
            return module
        found = self.name(module, binding.attr)
        if isinstance(found, Unresolved) and found.kind == "unbound":
            return Unresolved(
                "import",
                Diagnostic(
                    "IMPORT_UNRESOLVED",
                    f"`{_describe(binding)}`: {module} binds no name '{binding.attr}'",
                    path,
                    binding.line,
                    binding.column,
                    hint=self._missing_name_hint(module, binding.attr),
                ),
            )
        return found

    def _missing_name_hint(self, module: str, name: str) -> str:
        from sodabuild.render.suggestion import did_you_mean

        scan = self.scan(module)
        # names an import can reach (a function's local document is keyed "Comp.F")
        bound = scan.bound_names() if scan is not None else frozenset()
        names = sorted(n for n in bound if "." not in n and "<" not in n)
        return (
            did_you_mean(name, names)
            or "check the spelling, or re-export the name from that module"
        )

    def attribute(self, base: Target, attr: str) -> Target:
        """``module.attr`` where ``base`` is a module reference."""
        if not isinstance(base, ModRef):
            return base if isinstance(base, Unresolved) else Unresolved("not_definition")
        return self.name(base.path, attr)
