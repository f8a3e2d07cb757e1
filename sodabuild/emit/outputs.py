"""Emit: the bytes of a project's outputs (artifact, manifest, chunks), deterministically.

Pure functions from elements to ``{out_dir-relative path: bytes}``; JSON is written with
sorted keys, two-space indent and a final newline, so equal inputs give equal bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sodabuild.pickling import by_fields
from sodabuild.rules.model import Rule

ARTIFACT_VERSION = 1


@by_fields
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


# Outputs are assembled from per-element texts: an element (and a manifest entry) sits at
# the same depth in the artifact, the chunks and the manifest, so its JSON text is computed
# once and spliced into every output that lists it. The texts are written directly (the
# json module's indenting encoder is pure Python and several times slower), with the C
# string encoder ``dumps`` itself uses; the result is byte-identical to ``dumps`` of the
# whole structure (tests/test_emit.py checks that, for arbitrary elements).
_HOLE = "\x00elements\x00"
_quote = json.encoder.encode_basestring  # what dumps(..., ensure_ascii=False) uses


def _value(value: str | int | None) -> str:
    if value is None:
        return "null"
    return _quote(value) if isinstance(value, str) else str(value)


def _variable(name: str, type_: str, default: str | None) -> str:
    return (
        '\n        {\n          "default": '
        + _value(default)
        + ',\n          "name": '
        + _quote(name)
        + ',\n          "type": '
        + _quote(type_)
        + "\n        }"
    )


def element_text(element: Element) -> bytes:
    """One ``"id": {...}`` entry of an ``elements`` map, as ``dumps`` writes it (the fields
    of :meth:`Element.to_json`, sorted)."""
    e = element
    fragments = (
        "[" + ",".join("\n        " + _quote(f) for f in e.fragments) + "\n      ]"
        if e.fragments
        else "[]"
    )
    variables = (
        "[" + ",".join(_variable(*v) for v in e.variables) + "\n      ]" if e.variables else "[]"
    )
    text = (
        f'    {_quote(e.id)}: {{\n      "binding": {_quote(e.binding)}'
        f',\n      "document": {_quote(e.document)}'
        f',\n      "fragments": {fragments}'
        f',\n      "hash": {_quote(e.hash)}'
        f',\n      "kind": {_quote(e.kind)}'
        f',\n      "line": {e.line}'
        f',\n      "module": {_quote(e.module)}'
        f',\n      "name": {_quote(e.name)}'
        f',\n      "operation": {_value(e.operation)}'
        f',\n      "type_condition": {_value(e.type_condition)}'
        f',\n      "variables": {variables}\n    }}'
    )
    return text.encode("utf-8")


def operation_entry(element: Element) -> dict[str, Any]:
    return {
        "id": element.hash.removeprefix("sha256:"),
        "body": element.document,
        "name": element.name,
        "type": element.operation,
    }


def operation_text(element: Element) -> bytes:
    """One entry of the manifest's ``operations`` list (``operation_entry``, sorted keys)."""
    e = element
    return (
        f'    {{\n      "body": {_quote(e.document)}'
        f',\n      "id": {_quote(e.hash.removeprefix("sha256:"))}'
        f',\n      "name": {_quote(e.name)}'
        f',\n      "type": {_value(e.operation)}\n    }}'
    ).encode()


def _splice(
    shell: dict[str, Any], key: str, opening: bytes, closing: bytes, texts: list[bytes]
) -> bytes:
    """``dumps(shell)`` with ``shell[key]`` replaced by the listed texts."""
    head, tail = dumps({**shell, key: _HOLE}).split(json.dumps(_HOLE).encode(), 1)
    if not texts:
        return b"".join((head, opening, closing, tail))
    return b"".join((head, opening, b"\n", b",\n".join(texts), b"\n  ", closing, tail))


def _artifact(project: str, schema_hash: str, texts: list[bytes]) -> bytes:
    shell = {"version": ARTIFACT_VERSION, "project": project, "schema_hash": schema_hash}
    return _splice(shell, "elements", b"{", b"}", texts)


def _manifest(texts: list[bytes]) -> bytes:
    shell = {"format": "apollo-persisted-query-manifest", "version": 1}
    return _splice(shell, "operations", b"[", b"]", texts)


def _chunk(module: str, texts: list[bytes]) -> bytes:
    return _splice({"module": module}, "elements", b"{", b"}", texts)


def _operations(elements: list[Element]) -> list[Element]:
    return sorted((e for e in elements if e.kind == "operation"), key=lambda e: (e.name, e.id))


def _distinct(operations: list[Element]) -> list[Element]:
    """One manifest entry per (name, document): the same operation reached from two places
    (a marked string also passed to gql(), variants that agree) is listed once."""
    kept: list[Element] = []
    seen: set[tuple[str, str]] = set()
    for element in operations:
        key = (element.name, element.hash)
        if key not in seen:
            seen.add(key)
            kept.append(element)
    return kept


def artifact(project: str, schema_hash: str, elements: list[Element]) -> bytes:
    """The artifact: every element by canonical id (``elements`` sorted by id)."""
    return _artifact(project, schema_hash, [element_text(e) for e in elements])


def manifest(elements: list[Element]) -> bytes:
    """Apollo's persisted-query manifest: operations only, id = sha256 hex of the body."""
    return _manifest([operation_text(e) for e in _distinct(_operations(elements))])


def chunk(module: str, elements: list[Element]) -> bytes:
    return _chunk(module, [element_text(e) for e in elements])


def chunk_path(chunks_dir: str, module: str) -> str:
    return f"{chunks_dir}/{module}.json"


@dataclass
class Emitted:
    """A project's outputs (out_dir-relative path -> bytes), and how many chunks were
    reused from the previous emission of the same :class:`Assembler` or built."""

    files: dict[str, bytes]
    chunks_dir: str | None
    chunks_reused: int = 0
    chunks_built: int = 0


class Assembler:
    """Incremental emission for one project and rule.

    Each element is serialized once and its text reused while the element is the same
    object (or an equal one); a chunk is rebuilt only when one of its elements changed; the
    artifact and manifest are spliced from the cached texts. ``emit`` takes every element;
    ``update`` takes only the changed ones (same ids), for the change-set fast path.
    """

    def __init__(self, project: str, rule: Rule) -> None:
        self.project = project
        self.rule = rule
        self._elements: dict[str, Element] = {}
        self._texts: dict[str, bytes] = {}
        self._ids: list[str] = []
        self._operations: list[Element] = []
        self._operation_texts: dict[str, bytes] = {}
        self._modules: dict[str, list[str]] = {}
        self._chunks: dict[str, bytes] = {}
        #: The outputs of the last emission.
        self.files: dict[str, bytes] = {}

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    def emit(self, schema_hash: str, elements: list[Element]) -> Emitted:
        """All outputs the rule declares, for ``elements`` (any order)."""
        previous = self._elements
        current = {e.id: e for e in elements}
        changed: set[str] = set()
        texts: dict[str, bytes] = {}
        operation_texts: dict[str, bytes] = {}
        for key, element in current.items():
            before = previous.get(key)
            if before is not None and (before is element or before == element):
                texts[key] = self._texts[key]
                if key in self._operation_texts:
                    operation_texts[key] = self._operation_texts[key]
            else:
                changed.add(key)
                texts[key] = element_text(element)
        self._elements, self._texts = current, texts
        self._operation_texts = operation_texts
        self._ids = sorted(current)
        self._operations = _operations(list(current.values()))
        modules: dict[str, list[str]] = {}
        for key in self._ids:
            modules.setdefault(current[key].module, []).append(key)
        dirty = {
            module
            for module, keys in modules.items()
            if self._modules.get(module) != keys or not changed.isdisjoint(keys)
        }
        self._modules = modules
        self._chunks = {m: c for m, c in self._chunks.items() if m in modules and m not in dirty}
        return self._assemble(schema_hash, dirty)

    def update(self, schema_hash: str, elements: list[Element]) -> Emitted:
        """The outputs after ``elements`` replaced the ones with their ids (no id is new)."""
        changed = [e for e in elements if self._elements.get(e.id) != e]
        if any(e.id not in self._elements for e in changed):
            return self.emit(schema_hash, [*self._elements.values(), *changed])
        resort = False
        for element in changed:
            before = self._elements[element.id]
            resort |= (before.kind, before.name) != (element.kind, element.name)
            self._elements[element.id] = element
            self._texts[element.id] = element_text(element)
            self._operation_texts.pop(element.id, None)
        if resort:
            self._operations = _operations(list(self._elements.values()))
        else:
            by_id = {e.id: e for e in changed}
            self._operations = [by_id.get(e.id, e) for e in self._operations]
        return self._assemble(schema_hash, {e.module for e in changed})

    def _operation_text(self, element: Element) -> bytes:
        text = self._operation_texts.get(element.id)
        if text is None:
            text = self._operation_texts[element.id] = operation_text(element)
        return text

    def _assemble(self, schema_hash: str, dirty: set[str]) -> Emitted:
        files: dict[str, bytes] = {}
        chunks_dir: str | None = None
        built = 0
        for output in self.rule.outputs:
            if output.kind == "artifact":
                texts = [self._texts[key] for key in self._ids]
                files[output.path] = _artifact(self.project, schema_hash, texts)
            elif output.kind == "manifest":
                operations = [self._operation_text(e) for e in _distinct(self._operations)]
                files[output.path] = _manifest(operations)
            else:
                chunks_dir = output.path
                for module, keys in self._modules.items():
                    if module in dirty or module not in self._chunks:
                        built += 1
                        self._chunks[module] = _chunk(module, [self._texts[k] for k in keys])
                    files[chunk_path(output.path, module)] = self._chunks[module]
        self.files = files
        return Emitted(files, chunks_dir, len(self._modules) - built if chunks_dir else 0, built)


def emit_project(
    project: str, schema_hash: str, elements: list[Element], rule: Rule
) -> tuple[dict[str, bytes], str | None]:
    """All outputs a rule declares, keyed by out_dir-relative path; plus the chunks dir."""
    emitted = Assembler(project, rule).emit(schema_hash, elements)
    return emitted.files, emitted.chunks_dir
