"""Emit: the bytes of a project's outputs (artifact, manifest, chunks), deterministically.

Pure functions from elements to ``{out_dir-relative path: bytes}``; JSON is written with
sorted keys, two-space indent and a final newline, so equal inputs give equal bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sodabuild.rules.model import Rule

ARTIFACT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Element:
    """One built definition, as every output shows it."""

    id: str
    module: str  # module path relative to the project root
    binding: str
    line: int
    kind: str
    name: str
    operation: str | None
    type_condition: str | None
    document: str
    fragments: tuple[str, ...]
    variables: tuple[tuple[str, str, str | None], ...]
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "operation": self.operation,
            "type_condition": self.type_condition,
            "module": self.module,
            "binding": self.binding,
            "line": self.line,
            "document": self.document,
            "fragments": list(self.fragments),
            "variables": [
                {"name": name, "type": type_, "default": default}
                for name, type_, default in self.variables
            ],
            "hash": self.hash,
        }


def dumps(data: Any) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def artifact(project: str, schema_hash: str, elements: list[Element]) -> bytes:
    return dumps(
        {
            "version": ARTIFACT_VERSION,
            "project": project,
            "schema_hash": schema_hash,
            "elements": {e.id: e.to_json() for e in elements},
        }
    )


def manifest(elements: list[Element]) -> bytes:
    """Apollo's persisted-query manifest: operations only, id = sha256 hex of the body."""
    operations = sorted(
        (e for e in elements if e.kind == "operation"), key=lambda e: (e.name, e.id)
    )
    return dumps(
        {
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [
                {
                    "id": e.hash.removeprefix("sha256:"),
                    "body": e.document,
                    "name": e.name,
                    "type": e.operation,
                }
                for e in operations
            ],
        }
    )


def chunk(module: str, elements: list[Element]) -> bytes:
    return dumps({"module": module, "elements": {e.id: e.to_json() for e in elements}})


def chunk_path(chunks_dir: str, module: str) -> str:
    return f"{chunks_dir}/{module}.json"


def emit_project(
    project: str, schema_hash: str, elements: list[Element], rule: Rule
) -> tuple[dict[str, bytes], str | None]:
    """All outputs a rule declares, keyed by out_dir-relative path; plus the chunks dir."""
    ordered = sorted(elements, key=lambda e: e.id)
    files: dict[str, bytes] = {}
    chunks_dir: str | None = None
    for output in rule.outputs:
        if output.kind == "artifact":
            files[output.path] = artifact(project, schema_hash, ordered)
        elif output.kind == "manifest":
            files[output.path] = manifest(ordered)
        else:
            chunks_dir = output.path
            by_module: dict[str, list[Element]] = {}
            for element in ordered:
                by_module.setdefault(element.module, []).append(element)
            for module, module_elements in by_module.items():
                files[chunk_path(output.path, module)] = chunk(module, module_elements)
    return files, chunks_dir
