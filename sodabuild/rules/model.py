"""Frozen pydantic models of what a Starlark rule declares: discovery, pruning, outputs."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from typing import Any, Literal

import xxhash
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


#: The scanners a rule can declare (``[extensions]`` maps file suffixes to them).
ScannerName = Literal["python", "graphql", "typescript", "javascript"]
SCANNER_NAMES: tuple[str, ...] = ("python", "graphql", "typescript", "javascript")


class Discovery(_Frozen):
    """Which files a rule reads and how: globs relative to the project root, and the
    scanners that read them (each file goes to the scanner its suffix maps to)."""

    include: tuple[str, ...] = ("**/*.py",)
    exclude: tuple[str, ...] = ()
    scanners: tuple[ScannerName, ...] = Field(("python",), min_length=1)
    #: Bytes a Python file must contain to be parsed for definitions (the cheap pre-filter;
    #: a ``# language=GraphQL`` mark passes it too).
    prefilter: str = "gql"

    @model_validator(mode="before")
    @classmethod
    def _one_scanner(cls, values: Any) -> Any:
        """``scanner = "python"`` is short for ``scanners = ["python"]``."""
        if isinstance(values, dict) and "scanner" in values:
            if "scanners" in values:
                raise ValueError("give either scanner or scanners, not both")
            scanner = values["scanner"]
            if scanner not in SCANNER_NAMES:
                known = ", ".join(repr(name) for name in SCANNER_NAMES)
                raise ValueError(f"unknown scanner {scanner!r}; the scanners are {known}")
            values = {k: v for k, v in values.items() if k != "scanner"}
            values["scanners"] = (scanner,)
        return values


class PruningFilter(_Frozen):
    """Which part of the dependency graph a build covers (applied by the pruning stage)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    kinds: tuple[Literal["operation", "fragment"], ...] = ()
    depth: int | None = Field(None, ge=0)


#: Longest output path accepted (bytes of its UTF-8 form; a file name has at most 255).
MAX_OUTPUT_PATH = 1024


def _output_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name an output inside out_dir, or None."""
    if not path:
        return "may not be empty"
    if "\x00" in path or any(ord(char) < 32 for char in path):
        return "may not contain NUL or control characters"
    if path.startswith("/") or "\\" in path:
        return "must be relative and stay in out_dir"
    parts = path.split("/")
    if "" in parts:
        return "may not have empty components ('//' or a trailing '/')"
    if ".." in parts:
        return "must be relative and stay in out_dir"
    if len(path.encode("utf-8", "surrogatepass")) > MAX_OUTPUT_PATH or any(
        len(part.encode("utf-8", "surrogatepass")) > 255 for part in parts
    ):
        return "is too long"
    if posixpath.normpath(path) == ".":
        return "may not be out_dir itself"
    return None


class Output(_Frozen):
    """One codegen output of a rule, relative to the project's out_dir (normalised)."""

    kind: str  # a name in emit/registry.py's KINDS
    path: str
    format: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _normal_path(cls, values: Any) -> Any:
        path = values.get("path") if isinstance(values, dict) else None
        if not isinstance(path, str):
            return values  # the field's own validation says what is wrong
        problem = _output_path_problem(path)
        if problem is not None:
            raise ValueError(f"output path {path!r} {problem}")
        return {**values, "path": posixpath.normpath(path)}

    @model_validator(mode="after")
    def _check(self) -> Output:
        from sodabuild.emit.registry import KINDS

        kind = KINDS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown output kind {self.kind!r} (known: {', '.join(KINDS)})")
        if kind.formats is None and self.format is not None:
            raise ValueError(f"{self.kind}_output takes no format")
        if kind.formats is not None and self.format not in (None, *kind.formats):
            known = ", ".join(kind.formats)
            raise ValueError(f"unknown {self.kind} format {self.format!r} (known: {known})")
        return self


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer + "/")


def outputs_problem(outputs: Sequence[Output]) -> str | None:
    """Why these outputs (of one rule, or of all rules of a project: they share an out_dir)
    cannot be written side by side, or None: two share a path, a file output is or lies in
    the directory of a per-module output (swept of stale files), or one path is a directory
    of another."""
    from sodabuild.emit.registry import KINDS

    for index, first in enumerate(outputs):
        for second in outputs[index + 1 :]:
            if first.path == second.path:
                return f"the {first.kind} and {second.kind} outputs share the path {first.path!r}"
            for chunks, other in ((first, second), (second, first)):
                if KINDS[chunks.kind].per_module and (
                    _within(other.path, chunks.path) or _within(chunks.path, other.path)
                ):
                    return (
                        f"the {other.kind} output {other.path!r} overlaps the {chunks.kind}"
                        f" directory {chunks.path!r}"
                    )
            if _within(first.path, second.path) or _within(second.path, first.path):
                return (
                    f"the {first.kind} output {first.path!r} and the {second.kind} output"
                    f" {second.path!r} overlap (one is a directory of the other)"
                )
    return None


class Rule(_Frozen):
    """A rule as declared by ``rule(...)`` in a Starlark file."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    pipeline: Literal["graphql"] = "graphql"
    description: str = ""
    discovery: Discovery = Field(default_factory=lambda: Discovery())
    pruning: PruningFilter = Field(default_factory=lambda: PruningFilter())
    outputs: tuple[Output, ...] = ()
    #: Where it was declared, ``<builtin>/graphql.star`` or a workspace-relative path.
    file: str = ""
    line: int = 0

    @model_validator(mode="after")
    def _unique_kinds(self) -> Rule:
        from sodabuild.emit.registry import output_key

        # one output per kind, except manifests: one per format
        keys = [output_key(output) for output in self.outputs]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"more than one {', '.join(duplicates)} output")
        problem = outputs_problem(self.outputs)
        if problem is not None:
            raise ValueError(problem)
        return self

    def output(self, kind: str) -> Output | None:
        for output in self.outputs:
            if output.kind == kind:
                return output
        return None

    def content_hash(self) -> str:
        """Hash of what the rule declares (not where), for cache keys."""
        data = self.model_dump(mode="json", exclude={"file", "line"})
        return xxhash.xxh3_64_hexdigest(json.dumps(data, sort_keys=True).encode())
