"""Frozen pydantic models of what a Starlark rule declares: discovery, pruning, outputs."""

from __future__ import annotations

import json
from typing import Literal

import xxhash
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Discovery(_Frozen):
    """Which files a rule reads and how: globs relative to the project root, and a scanner."""

    include: tuple[str, ...] = ("**/*.py",)
    exclude: tuple[str, ...] = ()
    scanner: Literal["python"] = "python"
    #: Bytes a file must contain to be parsed for definitions (the cheap pre-filter).
    prefilter: str = "gql"


class PruningFilter(_Frozen):
    """Which part of the dependency graph a build covers (applied by the pruning stage)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    kinds: tuple[Literal["operation", "fragment"], ...] = ()
    depth: int | None = Field(None, ge=0)


class Output(_Frozen):
    """One codegen output of a rule, relative to the project's out_dir."""

    kind: Literal["artifact", "manifest", "chunks"]
    path: str
    format: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Output:
        if self.path.startswith("/") or ".." in self.path.split("/") or not self.path:
            raise ValueError(f"output path {self.path!r} must be relative and stay in out_dir")
        if self.kind == "manifest" and self.format not in (None, "apollo"):
            raise ValueError(f"unknown manifest format {self.format!r} (known: apollo)")
        return self


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
        kinds = [output.kind for output in self.outputs]
        duplicates = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if duplicates:
            raise ValueError(f"more than one {', '.join(duplicates)} output")
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
