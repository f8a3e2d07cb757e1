"""Emission: outputs spliced from per-element texts equal ``dumps`` of the whole structure,
and an Assembler fed any sequence of changes equals a fresh emission."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.emit.outputs import (
    Assembler,
    Element,
    artifact,
    chunk,
    chunk_path,
    dumps,
    manifest,
    operation_entry,
)
from sodabuild.rules.model import Output, Rule

TEXT = st.text(max_size=30)
NAMES = st.text("abcXY_é", min_size=1, max_size=6)


@st.composite
def elements(draw: Any, ids: Any = NAMES) -> Element:
    module = draw(st.sampled_from(["a.py", "pkg/b.py", "pkg/ü.py"]))
    binding = draw(ids)
    kind = draw(st.sampled_from(["operation", "fragment"]))
    return Element(
        id=f"{module}::{binding}",
        module=module,
        binding=binding,
        line=draw(st.integers(1, 10_000)),
        kind=kind,
        name=draw(TEXT),
        operation=draw(st.sampled_from(["query", "mutation", "subscription"]))
        if kind == "operation"
        else None,
        type_condition=None if kind == "operation" else draw(TEXT),
        document=draw(st.text(max_size=80)),
        fragments=tuple(draw(st.lists(TEXT, max_size=3))),
        variables=tuple(
            draw(st.lists(st.tuples(TEXT, TEXT, st.none() | TEXT), max_size=3)),
        ),
        hash="sha256:" + draw(st.text("0123456789abcdef", min_size=4, max_size=8)),
    )


def unique(found: list[Element]) -> list[Element]:
    return sorted({e.id: e for e in found}.values(), key=lambda e: e.id)


RULE = Rule(
    name="r",
    outputs=(
        Output(kind="chunks", path="chunks"),
        Output(kind="artifact", path="artifact.json"),
        Output(kind="manifest", path="pq.json"),
    ),
)


def first_of_each(operations: list[Element]) -> list[Element]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for element in operations:
        if (element.name, element.hash) not in seen:
            seen.add((element.name, element.hash))
            kept.append(element)
    return kept


def fresh(found: list[Element]) -> dict[str, bytes]:
    """What the outputs are, by the reference (plain dumps of each structure)."""
    ordered = unique(found)
    files = {
        "artifact.json": dumps(
            {
                "version": 1,
                "project": "p",
                "schema_hash": "h",
                "elements": {e.id: e.to_json() for e in ordered},
            }
        ),
        "pq.json": dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                # one entry per (name, document): the same operation reached twice is
                # listed once (the first by id)
                "operations": [
                    operation_entry(e)
                    for e in first_of_each(
                        sorted(
                            (e for e in ordered if e.kind == "operation"),
                            key=lambda e: (e.name, e.id),
                        )
                    )
                ],
            }
        ),
    }
    for module in sorted({e.module for e in ordered}):
        members = [e for e in ordered if e.module == module]
        files[chunk_path("chunks", module)] = dumps(
            {"module": module, "elements": {e.id: e.to_json() for e in members}}
        )
    return files


@settings(max_examples=200, deadline=None)
@given(found=st.lists(elements(), max_size=8))
def test_spliced_outputs_equal_plain_dumps(found: list[Element]) -> None:
    ordered = unique(found)
    expected = fresh(found)
    assert artifact("p", "h", ordered) == expected["artifact.json"]
    assert manifest(ordered) == expected["pq.json"]
    for module in {e.module for e in ordered}:
        members = [e for e in ordered if e.module == module]
        assert chunk(module, members) == expected[chunk_path("chunks", module)]


@settings(max_examples=200, deadline=None)
@given(
    start=st.lists(elements(), max_size=8),
    steps=st.lists(st.tuples(st.booleans(), st.lists(elements(), max_size=4)), max_size=5),
)
def test_assembler_over_any_sequence_equals_a_fresh_emission(
    start: list[Element], steps: list[tuple[bool, list[Element]]]
) -> None:
    """``emit`` with a whole new set, or ``update`` with changed elements (same ids, or new
    ones: then it re-emits), always gives a fresh emission's bytes; chunks of untouched
    modules are reused."""
    assembler = Assembler("p", RULE)
    current = {e.id: e for e in start}
    emitted = assembler.emit("h", list(current.values()))
    assert emitted.files == fresh(list(current.values()))
    for whole, changes in steps:
        if whole:
            current = {e.id: e for e in changes}
            emitted = assembler.emit("h", list(current.values()))
        else:
            before = dict(current)
            current.update({e.id: e for e in changes})
            emitted = assembler.update("h", list({e.id: e for e in changes}.values()))
            final = {e.id: e for e in changes}  # a later change of one id wins
            touched = {e.module for e in final.values() if before.get(e.id) != e}
            if all(e.id in before for e in changes):
                modules = {e.module for e in current.values()}
                assert emitted.built == len(touched & modules)
                assert emitted.reused == len(modules - touched)
        assert emitted.files == fresh(list(current.values()))
        assert emitted.owned == {"chunks/*.json"}
