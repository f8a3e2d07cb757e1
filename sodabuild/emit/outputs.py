"""Emit: the bytes of a project's outputs (artifact, manifest, chunks), deterministically.

Pure functions from elements to ``{out_dir-relative path: bytes}``; JSON is written with
sorted keys, two-space indent and a final newline, so equal inputs give equal bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sodabuild.pickling import by_fields
from sodabuild.rules.model import Rule

if TYPE_CHECKING:
    from sodabuild.emit.registry import ElementTable

ARTIFACT_VERSION = 1
RUNTIME_VERSION = 1


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
    #: Not in the artifact; for the run-time index (``runtime_output``): the key the
    #: run-time ``gql()`` looks its prebuilt document up by, and its fragments' names.
    runtime_key: str = ""
    fragment_names: tuple[str, ...] = ()

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


def runtime_index(module: str, elements: list[Element]) -> bytes | None:
    """A module's run-time index: what ``sodabuild.graphql.gql()`` returns for each gql()
    call of the module, by :func:`sodabuild.graphql.runtime_key` of its arguments (None
    for a module without gql() calls: marked strings, .graphql files)."""
    documents = {
        e.runtime_key: {
            "document": e.document,
            "fragments": list(e.fragment_names),
            "hash": e.hash,
            "kind": e.kind,
            "name": e.name,
            "operation": e.operation,
            "type_condition": e.type_condition,
            "variables": [list(v) for v in e.variables],
        }
        for e in sorted(elements, key=lambda e: e.id)
        if e.runtime_key
    }
    if not documents:
        return None
    return dumps({"documents": documents, "module": module, "version": RUNTIME_VERSION})


def chunk_bytes(module: str, texts: list[bytes]) -> bytes:
    """A chunk: the elements of one module (their texts, in id order)."""
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


def artifact_bytes(project: str, schema_hash: str, table: ElementTable) -> bytes:
    return _artifact(project, schema_hash, [table.texts[key] for key in table.ids])


def apollo_manifest(table: ElementTable) -> bytes:
    """Apollo's persisted-query manifest: operations only, id = sha256 hex of the body."""
    memo = table.operation_texts
    texts = []
    for element in table.operations:
        text = memo.get(element.id)
        if text is None:
            text = memo[element.id] = operation_text(element)
        texts.append(text)
    return _manifest(texts)


def documents_by_id(table: ElementTable, key: Callable[[Element], str]) -> bytes:
    """``{id: document}`` of the operations (Relay's persisted queries with the hex id,
    GraphQL-over-HTTP persisted documents with ``sha256:<hex>``); a document reached under
    two operation names is one entry (same text, same id)."""
    return dumps({key(e): e.document for e in table.operations})


def artifact(project: str, schema_hash: str, elements: list[Element]) -> bytes:
    """The artifact: every element by canonical id (``elements`` sorted by id)."""
    return _artifact(project, schema_hash, [element_text(e) for e in elements])


def manifest(elements: list[Element]) -> bytes:
    """Apollo's persisted-query manifest: operations only, id = sha256 hex of the body."""
    return _manifest([operation_text(e) for e in _distinct(_operations(elements))])


def chunk(module: str, elements: list[Element]) -> bytes:
    return chunk_bytes(module, [element_text(e) for e in elements])


def chunk_path(chunks_dir: str, module: str) -> str:
    return f"{chunks_dir}/{module}.json"


@dataclass
class Emitted:
    """A project's outputs (out_dir-relative path -> bytes), the per-module files each
    output owns (``dir/*.suffix``), and how many chunk files were reused or built."""

    files: dict[str, bytes]
    owned: set[str]
    reused: int = 0
    built: int = 0


class Assembler:
    """Incremental emission for one project and rule.

    Each element is serialized once and its text reused while the element is the same
    object (or an equal one); per-module outputs rebuild only the modules with a changed
    element; whole-file outputs are spliced from the cached texts. ``emit`` takes every
    element; ``update`` takes only the changed ones (same ids), for the change-set fast
    path. The outputs themselves are the rule's emitters (``emit/registry.py``).
    """

    def __init__(self, project: str, rule: Rule) -> None:
        from sodabuild.emit.registry import ElementTable, emitter

        self.project = project
        self.rule = rule
        self.table = ElementTable(project)
        self.emitters = [emitter(output) for output in rule.outputs]
        #: The outputs of the last emission.
        self.files: dict[str, bytes] = {}

    @property
    def owned(self) -> set[str]:
        return {e.owned for e in self.emitters if e.owned is not None}

    @property
    def chunk_patterns(self) -> set[str]:
        """``dir/*.json`` of the rule's chunk outputs (what the chunk counts count)."""
        return {f"{o.path}/*.json" for o in self.rule.outputs if o.kind == "chunks"}

    @property
    def chunk_count(self) -> int:
        return len(self.table.modules) if self.rule.output("chunks") else 0

    def emit(self, schema_hash: str, elements: list[Element]) -> Emitted:
        """All outputs the rule declares, for ``elements`` (any order)."""
        table = self.table
        previous = table.elements
        current = {e.id: e for e in elements}
        changed: set[str] = set()
        texts: dict[str, bytes] = {}
        for key, element in current.items():
            before = previous.get(key)
            if before is not None and (before is element or before == element):
                texts[key] = table.texts[key]
            else:
                changed.add(key)
                texts[key] = element_text(element)
        memo = table.operation_texts
        table.operation_texts = {k: t for k, t in memo.items() if k in current and k not in changed}
        table.elements, table.texts = current, texts
        table.ids = sorted(current)
        table.operations = _distinct(_operations(list(current.values())))
        modules: dict[str, list[str]] = {}
        for key in table.ids:
            modules.setdefault(current[key].module, []).append(key)
        dirty = {
            module
            for module, keys in modules.items()
            if table.modules.get(module) != keys or not changed.isdisjoint(keys)
        }
        table.modules = modules
        return self._assemble(schema_hash, dirty)

    def update(self, schema_hash: str, elements: list[Element]) -> Emitted:
        """The outputs after ``elements`` replaced the ones with their ids (no id is new)."""
        table = self.table
        changed = [e for e in elements if table.elements.get(e.id) != e]
        if any(e.id not in table.elements for e in changed):
            return self.emit(schema_hash, [*table.elements.values(), *changed])
        for element in changed:
            table.elements[element.id] = element
            table.texts[element.id] = element_text(element)
            table.operation_texts.pop(element.id, None)
        if changed:
            table.operations = _distinct(_operations(list(table.elements.values())))
        return self._assemble(schema_hash, {e.module for e in changed})

    def _assemble(self, schema_hash: str, dirty: set[str]) -> Emitted:
        self.table.schema_hash = schema_hash
        files: dict[str, bytes] = {}
        reused = built = 0
        for output, emitter in zip(self.rule.outputs, self.emitters, strict=True):
            files.update(emitter.files(self.table, dirty))
            if output.kind == "chunks":  # what the summary's chunk counts count
                kept, made = emitter.counts()
                reused, built = reused + kept, built + made
        self.files = files
        return Emitted(files, self.owned, reused, built)


def emit_project(
    project: str, schema_hash: str, elements: list[Element], rule: Rule
) -> tuple[dict[str, bytes], set[str]]:
    """All outputs a rule declares, keyed by out_dir-relative path; plus the per-module
    files they own (``dir/*.suffix``)."""
    emitted = Assembler(project, rule).emit(schema_hash, elements)
    return emitted.files, emitted.owned
