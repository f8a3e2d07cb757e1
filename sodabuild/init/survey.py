"""What ``sodabuild init`` finds in an existing repository, and the projects it makes of it.

One walk of the directory (never into version-control, cache, virtualenv, build or hidden
directories, nor into another sodabuild workspace, nor through symlinked directories)
finds:

- **schemas**: ``.graphql``, ``.gql`` and ``.graphqls`` files holding type-system
  definitions (``type``, ``schema``, ``extend type`` ...). Introspection JSON
  (``schema.json``) is not a schema sodabuild reads: it is reported, not used.
- **documents**: Python files the real scanner (``scan/python.py``) finds ``gql()`` calls
  or strings marked ``# language=GraphQL`` in, and GraphQL files holding operations or
  fragments. Where ``gql`` comes from is read from the imports (``from M import gql``,
  ``import M`` then ``M.gql(...)``), so the scanner runs with exactly those modules.

Projects: one per directory that holds a schema and documents below it (schemas in one
directory are one schema, joined); with a single schema directory, one project rooted
where the schema and every document meet. Each project's source roots are the
directories its top-level packages live in.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sodabuild.config.model import DEFAULT_GQL_MODULES

#: Directories never walked (the build skips most of them too).
SKIPPED = frozenset(
    {
        "__pycache__",
        "__generated__",
        "node_modules",
        "site-packages",
        "venv",
        "htmlcov",
    }
)
#: Directories skipped unless they are a Python package (they hold copies of sources).
BUILD_DIRS = frozenset({"build", "dist"})
GRAPHQL_SUFFIXES = (".graphql", ".gql", ".graphqls")
#: Introspection results people keep beside their code (reported, not read).
INTROSPECTION_NAMES = frozenset({"schema.json", "graphql.schema.json", "introspection.json"})
#: Largest file read, as the build's default ``max_file_bytes``.
MAX_BYTES = 16 * 1024 * 1024
_MARK = re.compile(rb"language\s*=\s*graphql", re.IGNORECASE)
_TYPE_SYSTEM = re.compile(
    r"^\s*(extend\s+)?(schema|scalar|type|interface|union|enum|input|directive)\b", re.MULTILINE
)
_EXECUTABLE = re.compile(r"^\s*(query|mutation|subscription|fragment)\b|^\s*\{", re.MULTILINE)
_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass
class PythonDocuments:
    """A Python file with documents: how many of each kind, and the gql modules it uses."""

    path: str
    calls: int = 0
    marked: int = 0
    modules: tuple[str, ...] = ()


@dataclass
class Project:
    """A project ``init`` writes: its root, schema files and what it holds."""

    name: str
    root: str
    schemas: list[str]
    python: list[PythonDocuments] = field(default_factory=list)
    graphql: list[str] = field(default_factory=list)
    source_roots: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    #: The project keeps its own ``<root>/sodabuild.toml``: only name and root are written.
    has_project_file: bool = False

    def relative(self, path: str) -> str:
        return path if self.root == "." else posixpath.relpath(path, self.root)


@dataclass
class Survey:
    """Everything found under ``root`` (paths relative to it, POSIX)."""

    root: Path
    schemas: list[str] = field(default_factory=list)
    python: list[PythonDocuments] = field(default_factory=list)
    graphql: list[str] = field(default_factory=list)
    introspection: list[str] = field(default_factory=list)
    #: Directories not walked, with why (a virtualenv, build output, hidden ...).
    skipped: dict[str, str] = field(default_factory=dict)
    #: Files that could not be read or parsed (too large, not UTF-8, syntax errors).
    unreadable: list[str] = field(default_factory=list)
    python_files: list[str] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    #: Files with documents that no project covers.
    orphans: list[str] = field(default_factory=list)
    #: Schema directories with no documents below them (not made projects).
    unused_schemas: list[str] = field(default_factory=list)
    #: Project files (``<dir>/sodabuild.toml``) found below the root.
    project_files: list[str] = field(default_factory=list)

    @property
    def gql_modules(self) -> list[str]:
        """The gql modules the documents use (the defaults when none is imported)."""
        found = sorted({m for doc in self.python for m in doc.modules})
        return found or list(DEFAULT_GQL_MODULES)


def survey(root: Path, rule_excludes: Iterable[str] | None = None) -> Survey:
    """Walk ``root`` and plan its projects. ``rule_excludes``: the exclude globs of the
    rule the projects use (default: the built-in graphql rule's); a skipped directory they
    do not cover gets an exclude of its own."""
    if rule_excludes is None:
        rule_excludes = builtin_excludes(root)
    found = Survey(root)
    candidates: dict[str, bytes] = {}
    _walk(found, candidates)
    modules = _gql_modules(candidates)
    for path, data in candidates.items():
        documents = _python_documents(path, data, modules)
        if documents is None:
            found.unreadable.append(path)
        elif documents.calls or documents.marked:
            found.python.append(documents)
    _plan(found, list(rule_excludes))
    return found


def builtin_excludes(root: Path) -> list[str]:
    """The built-in graphql rule's exclude globs."""
    from sodabuild.rules.load import load_rules

    rule = load_rules(root, []).get("graphql")
    return list(rule.discovery.exclude) if rule is not None else []


def _walk(found: Survey, candidates: dict[str, bytes]) -> None:
    """Fill ``found`` with what one walk sees; Python files that may hold documents go to
    ``candidates`` with their bytes."""
    root = found.root
    for directory, dirs, files in os.walk(root):
        rel_dir = Path(directory).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for name in sorted(dirs):
            why = _skip_reason(Path(directory) / name, name)
            if why is None:
                kept.append(name)
            else:
                found.skipped[prefix + name] = why
        dirs[:] = kept
        for name in sorted(files):
            rel = prefix + name
            full = Path(directory) / name
            if name == "sodabuild.toml" and prefix:
                found.project_files.append(rel)
            if name.endswith(".py"):
                data = _read(full, root)
                if data is None:
                    found.unreadable.append(rel)
                    continue
                found.python_files.append(rel)
                if b"gql" in data or _MARK.search(data):
                    candidates[rel] = data
            elif name.endswith(GRAPHQL_SUFFIXES):
                kind = _graphql_kind(full, root)
                if kind == "schema":
                    found.schemas.append(rel)
                elif kind == "documents":
                    found.graphql.append(rel)
                elif kind is None:
                    found.unreadable.append(rel)
            elif name in INTROSPECTION_NAMES:
                found.introspection.append(rel)


def _skip_reason(path: Path, name: str) -> str | None:
    if path.is_symlink():
        return "a symbolic link"
    if name.startswith("."):
        return "hidden"
    if name in SKIPPED or name.endswith(".egg-info"):
        return "tooling or generated files"
    if (path / "pyvenv.cfg").exists():
        return "a virtualenv"
    if name in BUILD_DIRS and not (path / "__init__.py").exists():
        return "build output"
    if _is_workspace(path / "sodabuild.toml"):
        return "a sodabuild workspace of its own"
    return None


def _is_workspace(path: Path) -> bool:
    """Whether ``path`` is a workspace file (a TOML file with ``[workspace]``; one that
    does not parse counts: it is someone's config all the same)."""
    import tomllib

    if not path.is_file():
        return False
    try:
        return "workspace" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return True


def _read(path: Path, root: Path) -> bytes | None:
    """The bytes of a regular file inside ``root`` of at most ``MAX_BYTES`` (None for
    anything else: a FIFO is never opened, a symlink leading out never followed)."""
    try:
        if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(
            os.path.realpath(root)
        ):
            return None
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _graphql_kind(path: Path, root: Path) -> str | None:
    """``schema`` (type-system definitions), ``documents`` (operations, fragments),
    ``empty`` or None (unreadable)."""
    data = _read(path, root)
    if data is None:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    from graphql import GraphQLError, parse
    from graphql.language import ExecutableDefinitionNode

    try:
        document = parse(text, no_location=True)
    except (GraphQLError, RecursionError):
        # not valid GraphQL (yet): tell by the keywords that start its definitions
        if _TYPE_SYSTEM.search(text) or path.suffix == ".graphqls":
            return "schema"
        return "documents" if _EXECUTABLE.search(text) else None
    if not document.definitions:
        return "empty"
    executable = all(isinstance(d, ExecutableDefinitionNode) for d in document.definitions)
    return "documents" if executable else "schema"


def _gql_modules(candidates: dict[str, bytes]) -> list[str]:
    """The modules ``gql`` is imported from in the candidate files (absolute imports)."""
    modules: set[str] = set()
    for data in candidates.values():
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        modules |= _imported_gql(tree)
    return sorted(modules)


def _imported_gql(tree: ast.AST) -> set[str]:
    """``from M import gql`` gives M; ``import M`` (or ``from P import m`` naming module
    ``P.m``) gives it when the file calls ``M.gql(...)`` through the name it binds."""
    attribute_calls: set[tuple[str, ...]] = set()
    imports: list[ast.Import | ast.ImportFrom] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "gql"
        ):
            parts = _dotted(node.func.value)
            if parts is not None:
                attribute_calls.add(parts)
    found: set[str] = set()
    for statement in imports:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                bound = (alias.asname,) if alias.asname else tuple(alias.name.split("."))
                if bound in attribute_calls:
                    found.add(alias.name)
        elif not statement.level and statement.module:
            for alias in statement.names:
                if alias.name == "gql":
                    found.add(statement.module)
                elif (alias.asname or alias.name,) in attribute_calls:
                    found.add(f"{statement.module}.{alias.name}")
    return found


def _dotted(node: ast.expr) -> tuple[str, ...] | None:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else (*inner, node.attr)
    return None


def _python_documents(path: str, data: bytes, modules: list[str]) -> PythonDocuments | None:
    """The documents the build's scanner finds in ``path`` with ``modules`` as gql modules
    (None: the file does not parse)."""
    from sodabuild.scan.python import scan_python

    scan = scan_python(path, data, tuple(modules))
    if not scan.parsed:
        return None
    documents = PythonDocuments(path)
    calls = {d.call for d in scan.definitions if d.kind == "call"}  # variants: one call
    documents.calls = len(calls)
    documents.marked = sum(1 for d in scan.definitions if d.kind == "marked")
    if documents.calls:
        try:
            documents.modules = tuple(sorted(_imported_gql(ast.parse(data))))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            documents.modules = ()
    return documents


# -- projects ----------------------------------------------------------------------------


def _inside(path: str, directory: str) -> bool:
    return directory == "." or path == directory or path.startswith(directory + "/")


def _parent(path: str) -> str:
    return posixpath.dirname(path) or "."


def _meet(paths: Iterable[str]) -> str:
    """The deepest directory holding every path ("." for the root)."""
    dirs = [_parent(p).split("/") for p in paths]
    if not dirs:
        return "."
    common: list[str] = []
    for parts in zip(*dirs, strict=False):
        if len(set(parts)) != 1 or parts[0] == ".":
            break
        common.append(parts[0])
    return "/".join(common) or "."


def _plan(found: Survey, rule_excludes: list[str]) -> None:
    """Group schemas and documents into projects."""
    documents = sorted([d.path for d in found.python] + found.graphql)
    by_dir: dict[str, list[str]] = {}
    for schema in found.schemas:
        by_dir.setdefault(_parent(schema), []).append(schema)
    roots: dict[str, list[str]] = {}
    if len(by_dir) <= 1:
        schemas = found.schemas
        roots[_meet([*schemas, *documents])] = list(schemas)
    else:
        owned: dict[str, list[str]] = {directory: [] for directory in by_dir}
        for path in documents:
            holders = [d for d in by_dir if _inside(path, d)]
            if holders:
                owned[max(holders, key=len)].append(path)
            else:
                found.orphans.append(path)
        for directory, schemas in sorted(by_dir.items()):
            if owned[directory]:
                roots[directory] = schemas
            else:
                found.unused_schemas.extend(schemas)
        if not roots:  # no schema has documents below it: one project, every schema
            found.orphans.clear()
            found.unused_schemas.clear()
            roots[_meet([*found.schemas, *documents])] = list(found.schemas)

    def owner(path: str) -> str | None:
        holders = [r for r in roots if _inside(path, r)]
        return max(holders, key=len) if holders else None

    names: set[str] = set()
    project_files = set(found.project_files)
    for root_dir in sorted(roots):
        project = Project(_name(found.root, root_dir, names), root_dir, sorted(roots[root_dir]))
        names.add(project.name)
        nested = sorted(r for r in roots if r != root_dir and _inside(r, root_dir))
        project.python = [d for d in found.python if owner(d.path) == root_dir]
        project.graphql = [p for p in found.graphql if owner(p) == root_dir]
        python_files = [p for p in found.python_files if owner(p) == root_dir]
        project.source_roots = _source_roots(found.root, root_dir, python_files)
        project.exclude = [f"{project.relative(r)}/**" for r in nested]
        project.exclude += _excludes(found, project, rule_excludes, nested)
        project.has_project_file = f"{root_dir}/sodabuild.toml" in project_files
        found.projects.append(project)


def _name(root: Path, directory: str, taken: set[str]) -> str:
    base = root.resolve().name if directory == "." else posixpath.basename(directory)
    name = _NAME.sub("-", base).strip("-._") or "app"
    if not name[0].isalnum():
        name = "p" + name
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _source_roots(root: Path, project_root: str, python_files: list[str]) -> list[str]:
    """Where the project's top-level packages live, relative to the project root: the
    parent of each outermost package (a directory with ``__init__.py``), and the root when
    it holds modules itself. [] means the default (the project root alone)."""
    packages: dict[str, bool] = {}

    def package(directory: str) -> bool:
        if directory not in packages:
            packages[directory] = (root / directory / "__init__.py").is_file()
        return packages[directory]

    found: set[str] = set()
    for path in python_files:
        directory = _parent(path)
        if not package(directory):
            if directory == project_root:
                found.add(directory)
            continue
        while directory != project_root and package(_parent(directory)):
            directory = _parent(directory)
        if directory != project_root:  # (a project root that is a package has no parent here)
            found.add(_parent(directory))
    relative = sorted(
        "." if d == project_root else posixpath.relpath(d, project_root) for d in found
    )
    return [] if relative in ([], ["."]) else relative


def _excludes(
    found: Survey, project: Project, rule_excludes: list[str], nested: list[str]
) -> list[str]:
    """Excludes for skipped directories the build would otherwise read (the rule's own
    excludes and the directories discovery always skips aside)."""
    from sodabuild.discover.files import ALWAYS_SKIPPED, Matcher

    matcher = Matcher((), tuple(rule_excludes))
    extra = []
    for directory in sorted(found.skipped):
        if not _inside(directory, project.root) or directory == project.root:
            continue
        if found.skipped[directory] == "a symbolic link":
            continue  # discovery never follows one
        if any(_inside(directory, n) for n in nested):
            continue
        rel = project.relative(directory)
        if posixpath.basename(directory) in ALWAYS_SKIPPED or matcher.excluded(f"{rel}/x.py"):
            continue
        if _holds_sources(found.root / directory):
            extra.append(f"{rel}/**")
    return extra


def _holds_sources(directory: Path, limit: int = 20000) -> bool:
    """Whether the build's default globs would find a file below ``directory``."""
    seen = 0
    for _, dirs, files in os.walk(directory):
        seen += len(files) + len(dirs)
        if any(name.endswith((".py", ".graphql", ".gql")) for name in files):
            return True
        if seen > limit:
            return True  # too large to be sure: excluding it costs nothing
    return False
