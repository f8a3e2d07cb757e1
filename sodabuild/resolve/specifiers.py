"""JavaScript/TypeScript module specifiers to workspace files.

A :class:`SpecifierResolver` maps ``(importing file, specifier)`` to a workspace-relative
source file the way TypeScript's ``moduleResolution: "bundler"`` does, minus
``node_modules`` and ``package.json`` (a package is external: it holds no document the
build composes):

- a relative specifier (``./a``, ``../b``, ``.``, ``..``) is joined to the importing
  file's directory;
- a bare specifier goes through the aliases (tsconfig ``paths`` patterns and sodabuild
  ``[aliases]`` prefixes, see :func:`alias_patterns`), then ``baseUrl``; otherwise it is
  external (None);
- a specifier starting with ``/`` names no workspace file.

A candidate base resolves to the file itself when it has a source suffix, then (for a
``.js``/``.jsx``/``.mjs``/``.cjs`` specifier) the TypeScript file it is compiled from,
then base + each of :data:`SOURCE_SUFFIXES`, then ``base/index`` + each suffix. A base
ending in ``/`` (or ``.``/``..``) is a directory only. Declaration files (``.d.ts``,
``.d.mts``, ``.d.cts``, ``.d.<ext>.ts``) are never a result: they hold types only, never a
document. Nothing outside the workspace is ever a result: a path whose ``..`` climbs above
the root is unresolvable, and ``exists`` (true only for regular files inside the
workspace) is the only file-system access.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

#: Suffixes of JavaScript/TypeScript sources, in the order they are tried.
SOURCE_SUFFIXES: tuple[str, ...] = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
_SOURCE_SET = frozenset(SOURCE_SUFFIXES)
#: A JavaScript suffix in a specifier -> the TypeScript suffixes of the file it is built from.
_TS_FOR_JS: dict[str, tuple[str, ...]] = {
    ".js": (".ts", ".tsx"),
    ".jsx": (".tsx",),
    ".mjs": (".mts",),
    ".cjs": (".cts",),
}
_DECLARATION = re.compile(r"\.d\.(?:[mc]?ts|[^./]+\.ts)$")

Aliases = tuple[tuple[str, tuple[str, ...]], ...]


def is_declaration(path: str) -> bool:
    """Whether ``path`` is a TypeScript declaration file (``a.d.ts``, ``a.d.mts``, ...)."""
    return ".d." in path and _DECLARATION.search(path) is not None


def alias_patterns(
    prefixes: Mapping[str, str],
    ts_paths: Iterable[tuple[str, Sequence[str]]],
) -> Aliases:
    """The alias list of a :class:`SpecifierResolver`: each ``[aliases]`` prefix as the
    exact pattern ``prefix`` and the pattern ``prefix/*`` (onto its directory), then the
    tsconfig ``paths`` patterns. On a pattern written twice the first one wins, so a
    ``[aliases]`` prefix wins over the same tsconfig pattern."""
    patterns: list[tuple[str, tuple[str, ...]]] = []
    for prefix, directory in prefixes.items():
        prefix = prefix.rstrip("/") or prefix
        directory = directory.rstrip("/") or directory
        star = "*" if directory in ("", ".") else f"{directory}/*"
        patterns.append((prefix, (directory or ".",)))
        patterns.append((f"{prefix}/*", (star,)))
    patterns.extend((pattern, tuple(targets)) for pattern, targets in ts_paths)
    return tuple(patterns)


def _is_relative(specifier: str) -> bool:
    return specifier.startswith(("./", "../")) or specifier in (".", "..")


def _directory_only(path: str) -> bool:
    """A path written as a directory: ``a/``, ``.``, ``a/..`` (TypeScript skips the file)."""
    return path.endswith(("/", "/.", "/..")) or path in ("", ".", "..")


class SpecifierResolver:
    """Maps ``(importing file, specifier)`` to a workspace-relative file, or None.

    ``aliases`` are ``(pattern, targets)`` pairs with workspace-relative targets; a pattern
    holds at most one ``*`` (one with more is ignored). As in TypeScript, a pattern without
    ``*`` equal to the specifier wins, else the matching ``*`` pattern with the longest
    prefix before its ``*`` (the first listed on a tie); its targets are tried in order and
    the first that resolves wins. When none does, ``base_url`` (workspace-relative, if
    set) is tried. Answers are memoized per (importing directory, specifier) for a
    relative specifier and per specifier for a bare one.
    """

    def __init__(
        self,
        aliases: Sequence[tuple[str, tuple[str, ...]]],
        base_url: str | None,
        exists: Callable[[str], bool],
    ) -> None:
        self.exists = exists
        self._exact: dict[str, tuple[str, ...]] = {}
        stars: dict[tuple[str, str], tuple[str, ...]] = {}
        for pattern, targets in aliases:
            star = pattern.find("*")
            if star < 0:
                self._exact.setdefault(pattern, tuple(targets))
            elif "*" not in pattern[star + 1 :]:
                stars.setdefault((pattern[:star], pattern[star + 1 :]), tuple(targets))
        # longest prefix first; sorted() is stable, so the first listed wins a tie
        self._stars = sorted(
            ((prefix, suffix, targets) for (prefix, suffix), targets in stars.items()),
            key=lambda item: -len(item[0]),
        )
        self.base_url = base_url
        self._cache: dict[tuple[str, str], str | None] = {}
        self._bases: dict[str, str | None] = {}

    def resolve(self, from_path: str, specifier: str) -> str | None:
        """The workspace file ``specifier`` imported by ``from_path`` names, or None when
        it is external (a package) or names no source file of the workspace."""
        relative = specifier[:1] == "." and _is_relative(specifier)
        directory = from_path.rpartition("/")[0] if relative else ""
        key = (directory, specifier)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if relative:
            found = self._load(f"{directory}/{specifier}" if directory else specifier)
        else:
            found = self._bare(specifier)
        self._cache[key] = found
        return found

    def _bare(self, specifier: str) -> str | None:
        if not specifier or specifier.startswith("/"):
            return None
        targets = self._exact.get(specifier)
        matched: str | None = None
        if targets is None:
            size = len(specifier)
            for prefix, suffix, candidates in self._stars:
                if (
                    size >= len(prefix) + len(suffix)
                    and specifier.startswith(prefix)
                    and specifier.endswith(suffix)
                ):
                    targets = candidates
                    matched = specifier[len(prefix) : size - len(suffix)]
                    break
        if targets is not None:
            for target in targets:
                path = target if matched is None else target.replace("*", matched, 1)
                found = self._load(path)
                if found is not None:
                    return found
        if self.base_url is not None:
            return self._load(posixpath.join(self.base_url, specifier))
        return None

    def _load(self, path: str) -> str | None:
        """The file a candidate path (workspace-relative, not yet normalized) names."""
        base = posixpath.normpath(path) if path else "."
        if base == ".." or base.startswith(("../", "/")):
            return None  # never a file outside the workspace
        if base == ".":
            base = ""
        directory_only = not base or _directory_only(path)
        key = f"{base}/" if directory_only else base
        try:
            return self._bases[key]
        except KeyError:
            pass
        found = None if directory_only else self._file(base)
        if found is None:
            found = self._index(base)
        self._bases[key] = found
        return found

    def _source(self, candidate: str) -> bool:
        return self.exists(candidate) and not is_declaration(candidate)

    def _file(self, base: str) -> str | None:
        suffix = posixpath.splitext(base)[1]
        if suffix in _SOURCE_SET and self._source(base):
            return base
        compiled_from = _TS_FOR_JS.get(suffix)
        if compiled_from is not None:
            stem = base[: -len(suffix)]
            for ts_suffix in compiled_from:
                if self._source(stem + ts_suffix):
                    return stem + ts_suffix
        for suffix in SOURCE_SUFFIXES:
            if self._source(base + suffix):
                return base + suffix
        return None

    def _index(self, directory: str) -> str | None:
        stem = f"{directory}/index" if directory else "index"
        for suffix in SOURCE_SUFFIXES:
            if self.exists(stem + suffix):
                return stem + suffix
        return None
