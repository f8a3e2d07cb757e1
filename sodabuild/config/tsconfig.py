"""Read a project's ``tsconfig.json``: ``compilerOptions.baseUrl`` and ``paths``.

:func:`read_tsconfig` follows ``extends`` (a string or a list, relative paths and
``node_modules`` packages) the way TypeScript does: the options of the files a config
extends are merged in order, its own win, and an option set to ``null`` is reset.
``paths`` is one option (a child's replaces the whole object). Its targets are relative
to ``baseUrl`` when one is set (in whichever file), else to the directory of the file
that defines ``paths``; ``${configDir}`` at the start of a path is the project's
tsconfig directory (TypeScript 5.5). ``package.json`` is never read, so a package is
found as ``node_modules/<specifier>``, ``<specifier>.json`` or
``<specifier>/tsconfig.json``; a package found nowhere is ignored (its options are
unknown, not an error: ``node_modules`` may not be installed).

tsconfig files are JSONC: :func:`strip_jsonc` blanks comments and trailing commas with
spaces, keeping every other character where it was, so a JSON error's line and column
are those of the file as written. Every problem is a :class:`TsConfigError` located in
the file that holds it; every path read or returned stays inside the workspace root.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sodabuild.diagnostics import Diagnostic

TSCONFIG_FILENAME = "tsconfig.json"
#: Largest tsconfig file read.
MAX_TSCONFIG_BYTES = 1 << 20
CONFIG_DIR = "${configDir}"
CODE = "TSCONFIG_INVALID"

_STRING = re.compile(r'"(?:[^"\\\n\r]|\\[^\n\r])*"?')
_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class TsConfig:
    """What sodabuild uses of a project's tsconfig; all paths workspace-relative POSIX."""

    #: Every tsconfig file read: the project's, then each extends target (depth first).
    files: tuple[str, ...]
    #: ``compilerOptions.baseUrl`` (``"."`` for the workspace root), or None.
    base_url: str | None
    #: ``compilerOptions.paths``: pattern -> targets, in file order.
    paths: tuple[tuple[str, tuple[str, ...]], ...]


class TsConfigError(Exception):
    """A problem in a tsconfig file, located at a 1-based line and column (characters)."""

    def __init__(
        self, path: str, line: int, column: int, message: str, hint: str | None = None
    ) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line, self.column, self.message, self.hint))

    def diagnostic(self) -> Diagnostic:
        """The error as a ``TSCONFIG_INVALID`` diagnostic."""
        return Diagnostic(CODE, self.message, self.path, self.line, self.column, self.hint)


class JsoncError(ValueError):
    """A ``/*`` comment that is never closed, at ``offset`` of the text."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"unterminated comment at offset {offset}")
        self.offset = offset


def strip_jsonc(text: str) -> str:
    """``text`` with its ``//`` and ``/* */`` comments and its trailing commas (before a
    ``]`` or ``}``) replaced by spaces; line breaks inside comments are kept, so every
    other character keeps its offset, line and column. Strings are left as they are.

    Raises :class:`JsoncError` for a ``/*`` that is never closed."""
    blanks: list[tuple[int, int]] = []
    pending = -1  # offset of a comma that is trailing if a `]` or `}` comes next
    last = ""  # the last significant character
    size = len(text)
    i = 0
    while i < size:
        char = text[i]
        if char in _WHITESPACE:
            i += 1
            continue
        if char == "/" and i + 1 < size and text[i + 1] in "/*":
            if text[i + 1] == "/":
                end = i + 2
                while end < size and text[end] not in "\n\r":
                    end += 1
            else:
                close = text.find("*/", i + 2)
                if close < 0:
                    raise JsoncError(i)
                end = close + 2
            blanks.append((i, end))
            i = end
            continue
        if char in "]}" and pending >= 0:
            blanks.append((pending, pending + 1))
        pending = i if char == "," and last not in ("[", "{", ",") else -1
        last = char
        if char == '"':
            match = _STRING.match(text, i)
            i = match.end() if match else i + 1
        else:
            i += 1
    if not blanks:
        return text
    chars = list(text)
    for start, end in blanks:
        for index in range(start, end):
            if chars[index] not in "\n\r":
                chars[index] = " "
    return "".join(chars)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _locate(text: str, path: JsonPath, key: bool = False) -> int:
    """Offset of the value at ``path`` in valid JSON ``text`` (its key's opening quote
    with ``key``); the last one when an object repeats a key, as ``json`` keeps it."""
    index = _skip(text, 0)
    key_at = index
    for part in path:
        found: tuple[int, int] | None = None
        index = _skip(text, index + 1)  # past `{` or `[`
        position = 0
        while index < len(text) and text[index] not in "]}":
            name_at = index
            if isinstance(part, str):
                name, index = _DECODER.raw_decode(text, index)
                index = _skip(text, _skip(text, index) + 1)  # past `:`
                hit = name == part
            else:
                hit = position == part
            if hit:
                found = (name_at, index)
            _, index = _DECODER.raw_decode(text, index)
            index = _skip(text, index)
            if text[index : index + 1] == ",":
                index = _skip(text, index + 1)
            position += 1
        if found is None:
            break
        key_at, index = found
    return key_at if key else index


@dataclass(frozen=True)
class _File:
    """One tsconfig file, read and parsed."""

    rel: str
    directory: str  # absolute, normalized
    text: str  # with comments blanked
    data: dict[str, Any]

    def error(
        self, message: str, path: JsonPath, hint: str | None = None, key: bool = False
    ) -> TsConfigError:
        line, column = _line_column(self.text, _locate(self.text, path, key))
        return TsConfigError(self.rel, line, column, message, hint)


@dataclass(frozen=True)
class _BaseUrl:
    directory: str  # absolute, normalized


@dataclass(frozen=True)
class _Paths:
    file: _File
    entries: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class _Effective:
    """A file's options merged with those of the files it extends (None: reset)."""

    files: tuple[str, ...]
    options: dict[str, _BaseUrl | _Paths | None]


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:60] + "..." + value[-10:])


class _Reader:
    def __init__(self, root: str, config_dir: str) -> None:
        self.root = root
        self.config_dir = config_dir
        self.memo: dict[str, _Effective] = {}
        self.stack: list[tuple[str, str]] = []  # (real path, workspace-relative)

    def inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")

    def rel(self, path: str) -> str:
        return "." if path == self.root else path[len(self.root.rstrip("/")) + 1 :]

    def regular_inside(self, path: str) -> str | None:
        """The real path of ``path`` if it is a regular file whose real path is inside."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return None
            real = os.path.realpath(path)
        except (OSError, ValueError):
            return None
        return real if self.inside(real) else None

    def parse(self, path: str, rel: str) -> _File:
        def whole(message: str, hint: str | None = None) -> TsConfigError:
            return TsConfigError(rel, 1, 1, message, hint)

        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):
                raise whole("tsconfig is not a regular file")
            if info.st_size > MAX_TSCONFIG_BYTES:
                raise whole(
                    f"tsconfig is too large ({info.st_size} bytes, at most {MAX_TSCONFIG_BYTES})"
                )
            with open(path, "rb") as handle:
                raw = handle.read(MAX_TSCONFIG_BYTES + 1)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise whole(f"cannot read tsconfig: {reason}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start].decode("utf-8-sig", errors="replace")
            line, column = _line_column(before, len(before))
            raise TsConfigError(rel, line, column, f"not valid UTF-8: {exc.reason}") from None
        try:
            stripped = strip_jsonc(text)
        except JsoncError as exc:
            line, column = _line_column(text, exc.offset)
            raise TsConfigError(
                rel, line, column, "unterminated comment", "close the comment with `*/`"
            ) from None
        start = _skip(stripped, 0)
        if start == len(stripped):
            data: Any = {}
        else:
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise TsConfigError(
                    rel,
                    exc.lineno,
                    exc.colno,
                    f"invalid JSON: {exc.msg}",
                    "tsconfig is JSON with comments and trailing commas",
                ) from None
            except RecursionError:
                raise whole("invalid JSON: nested too deeply") from None
            except ValueError as exc:  # e.g. an integer over the int max str digits limit
                raise whole(f"invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            line, column = _line_column(stripped, start)
            raise TsConfigError(rel, line, column, "a tsconfig must hold a JSON object")
        return _File(rel, posixpath.dirname(path), stripped, data)

    def read(self, path: str, rel: str) -> _Effective:
        """The effective options of the file at ``path`` (absolute, normalized)."""
        real = os.path.realpath(path)
        known = self.memo.get(real)
        if known is not None:
            return known
        file = self.parse(path, rel)
        own = self.own_options(file)
        files = [rel]
        options: dict[str, _BaseUrl | _Paths | None] = {}
        self.stack.append((real, rel))
        try:
            for target, where in self.extends(file):
                base = self.follow(file, target, where)
                if base is None:
                    continue
                for read in base.files:
                    if read not in files:
                        files.append(read)
                options.update(base.options)
        finally:
            self.stack.pop()
        options.update(own)
        effective = _Effective(tuple(files), options)
        self.memo[real] = effective
        return effective

    def extends(self, file: _File) -> list[tuple[str, JsonPath]]:
        if "extends" not in file.data:
            return []
        value = file.data["extends"]
        hint = 'a path ("./tsconfig.base.json") or a package ("@tsconfig/node18")'
        if isinstance(value, str):
            items: list[tuple[str, JsonPath]] = [(value, ("extends",))]
        elif isinstance(value, list):
            items = []
            for index, item in enumerate(value):
                if not isinstance(item, str):
                    raise file.error("'extends' must list strings", ("extends", index), hint)
                items.append((item, ("extends", index)))
        else:
            raise file.error("'extends' must be a string or a list of strings", ("extends",), hint)
        for item, where in items:
            if not item:
                raise file.error("'extends' names an empty path", where, hint)
        return items

    def follow(self, file: _File, specifier: str, where: JsonPath) -> _Effective | None:
        """The effective options of what ``specifier`` (an ``extends`` entry) names."""
        found = self.locate_extends(file, specifier, where)
        if found is None:
            return None
        path, rel = found
        real = os.path.realpath(path)
        for index, (seen, _) in enumerate(self.stack):
            if seen == real:
                chain = " -> ".join([*(r for _, r in self.stack[index:]), rel])
                raise file.error(
                    f"'extends' cycle: {chain}",
                    where,
                    "a tsconfig may not extend itself, directly or through others",
                )
        return self.read(path, rel)

    def locate_extends(
        self, file: _File, specifier: str, where: JsonPath
    ) -> tuple[str, str] | None:
        spec = specifier.replace("\\", "/")
        if spec.startswith(("./", "../", "/")):
            path = posixpath.normpath(posixpath.join(file.directory, spec))
            if not self.inside(path):
                raise file.error(
                    f"'extends' {_shown(specifier)} points outside the workspace root",
                    where,
                    "extend a tsconfig inside the workspace",
                )
            candidates = [path] if path.endswith(".json") else [path, f"{path}.json"]
            for candidate in candidates:
                if os.path.isfile(candidate):
                    if self.regular_inside(candidate) is None:
                        raise file.error(
                            f"'extends' {_shown(specifier)} leads outside the workspace root"
                            " (a symlink)",
                            where,
                            "extend a tsconfig inside the workspace",
                        )
                    return candidate, self.rel(candidate)
            raise file.error(
                f"'extends' names a missing file: {_shown(specifier)}",
                where,
                "the path is relative to this tsconfig's directory",
            )
        # a package: node_modules/<spec> in this directory and each one above, up to the root
        directory = file.directory
        while self.inside(directory):
            modules = posixpath.join(directory, "node_modules")
            base = posixpath.normpath(posixpath.join(modules, spec))
            if base.startswith(modules + "/"):
                candidates = [base] if base.endswith(".json") else [base, f"{base}.json"]
                candidates.append(posixpath.join(base, TSCONFIG_FILENAME))
                for candidate in candidates:
                    real = self.regular_inside(candidate)
                    if real is not None:
                        # as TypeScript, a package's file is where its real path is
                        return real, self.rel(real)
            if directory == self.root:
                break
            directory = posixpath.dirname(directory)
        return None

    def own_options(self, file: _File) -> dict[str, _BaseUrl | _Paths | None]:
        options: dict[str, _BaseUrl | _Paths | None] = {}
        if "compilerOptions" not in file.data or file.data["compilerOptions"] is None:
            return options
        compiler = file.data["compilerOptions"]
        if not isinstance(compiler, dict):
            raise file.error("'compilerOptions' must be an object", ("compilerOptions",))
        if "baseUrl" in compiler:
            options["baseUrl"] = self.base_url(file, compiler["baseUrl"])
        if "paths" in compiler:
            options["paths"] = self.paths(file, compiler["paths"])
        return options

    def anchored(self, value: str, directory: str) -> str:
        """``value`` (a path option) as an absolute normalized path."""
        value = value.replace("\\", "/")
        if value.startswith(CONFIG_DIR):
            value, directory = "./" + value[len(CONFIG_DIR) :], self.config_dir
        return posixpath.normpath(posixpath.join(directory, value))

    def base_url(self, file: _File, value: Any) -> _BaseUrl | None:
        where: JsonPath = ("compilerOptions", "baseUrl")
        if value is None:
            return None
        if not isinstance(value, str):
            raise file.error("'compilerOptions.baseUrl' must be a string", where)
        directory = self.anchored(value, file.directory)
        if not self.inside(directory):
            raise file.error(
                f"'compilerOptions.baseUrl' {_shown(value)} points outside the workspace root",
                where,
                "baseUrl is relative to this tsconfig's directory",
            )
        return _BaseUrl(directory)

    def paths(self, file: _File, value: Any) -> _Paths | None:
        where: JsonPath = ("compilerOptions", "paths")
        if value is None:
            return None
        hint = 'e.g. "paths": {"@/*": ["./src/*"]}'
        if not isinstance(value, dict):
            raise file.error("'compilerOptions.paths' must be an object", where, hint)
        entries: list[tuple[str, tuple[str, ...]]] = []
        for pattern, targets in value.items():
            at: JsonPath = (*where, pattern)
            if pattern.count("*") > 1:
                raise file.error(
                    f"'paths' pattern {_shown(pattern)} has more than one '*'",
                    at,
                    "a pattern holds at most one '*'",
                    key=True,
                )
            if not isinstance(targets, list):
                raise file.error(
                    f"'paths' pattern {_shown(pattern)} must map to a list of paths", at, hint
                )
            if not targets:
                raise file.error(
                    f"'paths' pattern {_shown(pattern)} maps to an empty list", at, hint
                )
            for index, target in enumerate(targets):
                if not isinstance(target, str):
                    raise file.error(
                        f"a target of 'paths' pattern {_shown(pattern)} is not a string",
                        (*at, index),
                        hint,
                    )
                if target.count("*") > 1:
                    raise file.error(
                        f"'paths' target {_shown(target)} has more than one '*'",
                        (*at, index),
                        "a target holds at most one '*'",
                    )
            entries.append((pattern, tuple(targets)))
        return _Paths(file, tuple(entries))

    def result(self, effective: _Effective) -> TsConfig:
        base = effective.options.get("baseUrl")
        paths = effective.options.get("paths")
        base_dir = base.directory if isinstance(base, _BaseUrl) else None
        resolved: list[tuple[str, tuple[str, ...]]] = []
        if isinstance(paths, _Paths):
            anchor = base_dir if base_dir is not None else paths.file.directory
            for pattern, targets in paths.entries:
                out: list[str] = []
                for index, target in enumerate(targets):
                    path = self.anchored(target, anchor)
                    if not self.inside(path):
                        anchored = (
                            f"baseUrl ({self.rel(base_dir)})"
                            if base_dir is not None
                            else "this tsconfig's directory"
                        )
                        raise paths.file.error(
                            f"'paths' target {_shown(target)} of {_shown(pattern)} points"
                            " outside the workspace root",
                            ("compilerOptions", "paths", pattern, index),
                            f"targets are relative to {anchored}",
                        )
                    out.append(self.rel(path))
                resolved.append((pattern, tuple(out)))
        return TsConfig(
            effective.files,
            self.rel(base_dir) if base_dir is not None else None,
            tuple(resolved),
        )


def read_tsconfig(workspace_root: Path, project_root: str) -> TsConfig | None:
    """The ``baseUrl`` and ``paths`` of ``<project_root>/tsconfig.json`` (workspace-relative)
    and the files read for them, or None when the project has no tsconfig.json.

    Raises :class:`TsConfigError` for a file that is not JSONC, a missing relative
    ``extends``, an ``extends`` cycle, malformed ``paths``, or a path leaving the workspace."""
    root = os.path.realpath(workspace_root)
    path = posixpath.normpath(posixpath.join(root, project_root, TSCONFIG_FILENAME))
    reader = _Reader(root, posixpath.dirname(path))
    if not reader.inside(path) or not os.path.isfile(path):
        return None
    rel = reader.rel(path)
    if reader.regular_inside(path) is None:
        raise TsConfigError(
            rel,
            1,
            1,
            "tsconfig.json leads outside the workspace root (a symlink)",
            "replace the symlink by a file, or extend the shared tsconfig",
        )
    return reader.result(reader.read(path, rel))
