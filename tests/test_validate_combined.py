"""The combined-document fast path never vouches for a document that fails on its own."""

from __future__ import annotations

import pytest
from graphql import DocumentNode, build_schema, validate
from graphql.language import DefinitionNode
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.compose.document import Composed, compose, parse_definition
from sodabuild.validate.combined import known_valid
from sodabuild.validate.documents import FRAGMENT_RULES, OPERATION_RULES

SCHEMA = build_schema(
    """
    type Query { viewer: User, user(id: ID!): User }
    type User { id: ID!, name: String, age: Int, friend: User }
    """
)


class Pool:
    """Builds composed definitions with distinct sources, like the build does."""

    def __init__(self) -> None:
        self.origins: dict[str, str] = {}
        self.by_name: dict[str, Composed] = {}

    def add(self, key: str, text: str, *args: str) -> Composed:
        parsed, problems = parse_definition(text, key, key)
        assert parsed is not None and not problems
        composed, problems = compose(parsed, key, [self.by_name[a] for a in args], list(args))
        assert composed is not None, problems
        self.origins[key] = key
        self.by_name[key] = composed
        return composed


def alone_ok(composed: Composed) -> bool:
    rules = OPERATION_RULES if composed.kind == "operation" else FRAGMENT_RULES
    return not validate(SCHEMA, composed.ast(), rules)


def test_all_valid_documents_are_proven() -> None:
    pool = Pool()
    pool.add("F", "fragment F on User { id name }")
    pool.add("G", "fragment G on User { friend { ...F } }", "F")
    pool.add("Q", "query Q { viewer { ...G } }", "G")
    docs = [(k, c) for k, c in pool.by_name.items()]
    assert known_valid(SCHEMA, docs, pool.origins).proven == {0, 1, 2}


def test_an_error_excludes_exactly_the_documents_that_contain_it() -> None:
    pool = Pool()
    pool.add("Bad", "fragment Bad on User { nope }")
    pool.add("Good", "fragment Good on User { id }")
    pool.add("UsesBad", "query UsesBad { viewer { ...Bad } }", "Bad")
    pool.add("UsesGood", "query UsesGood { viewer { ...Good } }", "Good")
    docs = list(pool.by_name.items())
    proven = known_valid(SCHEMA, docs, pool.origins).proven
    assert {docs[i][0] for i in proven} == {"Good", "UsesGood"}


def test_operation_level_errors_are_not_hidden() -> None:
    pool = Pool()
    pool.add("NeedsVar", "fragment NeedsVar on Query { user(id: $id) { id } }")
    pool.add("Missing", "query Missing { ...NeedsVar }", "NeedsVar")
    pool.add("Declared", "query Declared($id: ID!) { ...NeedsVar }", "NeedsVar")
    docs = list(pool.by_name.items())
    proven = {docs[i][0] for i in known_valid(SCHEMA, docs, pool.origins).proven}
    assert "Missing" not in proven
    assert not alone_ok(pool.by_name["Missing"])


def test_clashing_names_and_unreachable_locals_are_left_to_the_slow_path() -> None:
    pool = Pool()
    pool.add("A", "query A { viewer { ...L } } fragment L on User { id }")
    pool.add("B", "query B { viewer { ...L } } fragment L on User { name }")
    pool.add("C", "query C { viewer { id } } fragment Unused on User { id }")
    docs = list(pool.by_name.items())
    assert known_valid(SCHEMA, docs, pool.origins).proven == set()
    assert not alone_ok(pool.by_name["C"])  # NoUnusedFragments: decided per document


FIELDS = st.sampled_from(["id", "name", "age", "nope", "friend { id }", "name: age", "id(x: 1)"])


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    fragments=st.lists(st.lists(FIELDS, min_size=1, max_size=3), min_size=1, max_size=4),
    operations=st.lists(
        st.tuples(st.lists(st.integers(0, 3), min_size=1, max_size=3), st.booleans()),
        min_size=1,
        max_size=4,
    ),
)
def test_combined_pass_implies_document_pass(
    fragments: list[list[str]], operations: list[tuple[list[int], bool]]
) -> None:
    pool = Pool()
    for i, fields in enumerate(fragments):
        pool.add(f"F{i}", f"fragment F{i} on User {{ {' '.join(fields)} }}")
    for k, (spreads, with_var) in enumerate(operations):
        used = sorted({f"F{s % len(fragments)}" for s in spreads})
        variable = "($id: ID!)" if with_var else ""
        field = "user(id: $id)" if with_var else "viewer"
        body = " ".join(f"...{name}" for name in used)
        pool.add(f"Q{k}", f"query Q{k}{variable} {{ {field} {{ {body} }} }}", *used)
    docs = list(pool.by_name.items())
    for index in known_valid(SCHEMA, docs, pool.origins).proven:
        assert alone_ok(docs[index][1]), docs[index][0]


def test_split_across_forked_workers_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """With enough documents the combined document is split across forked workers; each
    part proves its own documents, and errors exclude the same documents as in-process."""
    import sodabuild.validate.parallel as parallel

    pool = Pool()
    pool.add("F", "fragment F on User { id name }")
    pool.add("Bad", "fragment Bad on User { nope }")
    for n in range(12):
        used = "Bad" if n % 5 == 0 else "F"
        pool.add(f"Q{n}", f"query Q{n} {{ viewer {{ ...{used} }} }}", used)
    docs = list(pool.by_name.items())
    alone = known_valid(SCHEMA, docs, pool.origins).proven
    monkeypatch.setattr(parallel, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(parallel, "worker_count", lambda: 3)
    assert parallel.can_fork(len(docs))
    split = known_valid(SCHEMA, docs, pool.origins).proven
    assert split == alone
    assert {docs[i][0] for i in split} == {"F"} | {f"Q{n}" for n in range(12) if n % 5}


def _repetitive(pool: Pool, count: int) -> None:
    """Operations that each spend 870 units of graphql-core's overlapping-fields budget
    (30 fields of one response name): ~600 of them exceed one validation's 500,000."""
    fields = " ".join(["name"] * 30)
    for n in range(count):
        pool.add(f"R{n}", f"query R{n} {{ viewer {{ {fields} }} }}")


def test_a_large_project_is_never_aborted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cliff of a 30k-module app: one combined document exceeds the budget graphql-core
    gives one validation. The budget granted is the sum of its documents' budgets."""
    monkeypatch.setenv("SODABUILD_JOBS", "1")  # one part, as on a one-CPU machine
    pool = Pool()
    _repetitive(pool, 700)
    docs = list(pool.by_name.items())
    combined = validate(SCHEMA, combined_document(docs), OPERATION_RULES)
    assert [error.message for error in combined] == ["Validation aborted."]  # the cliff
    result = known_valid(SCHEMA, docs, pool.origins)
    assert (result.parts, result.aborted) == (1, 0)
    assert result.proven == set(range(len(docs)))


def test_an_aborted_part_is_halved_until_it_proves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the granted budget (graphql-core aborting for any reason), halves of the
    part are validated again: everything is still proven, nothing is silently given up."""
    import contextlib

    import sodabuild.validate.combined as combined

    monkeypatch.setattr(combined, "document_budgets", lambda documents: contextlib.nullcontext())
    monkeypatch.setenv("SODABUILD_JOBS", "1")
    pool = Pool()
    _repetitive(pool, 700)
    docs = list(pool.by_name.items())
    result = known_valid(SCHEMA, docs, pool.origins)
    assert result.aborted >= 1 and result.parts > result.aborted
    assert result.proven == set(range(len(docs)))


def test_a_document_too_deep_to_validate_costs_its_neighbours_nothing() -> None:
    pool = Pool()
    for i in reversed(range(5)):
        inner = f"...D{i + 1}" if i + 1 < 5 else "id"
        body = "friend { " * 60 + inner + " }" * 60
        pool.add(f"D{i}", f"fragment D{i} on User {{ {body} }}", *([f"D{i + 1}"] if i < 4 else []))
    pool.add("Deep", "query Deep { viewer { ...D0 } }", "D0")
    for n in range(20):
        pool.add(f"Q{n}", f"query Q{n} {{ viewer {{ id name }} }}")
    docs = list(pool.by_name.items())
    deep = {key for key, composed in docs if not alone_ok(composed)}
    assert "Deep" in deep  # graphql-core aborts it on its own, too
    result = known_valid(SCHEMA, docs, pool.origins)
    assert result.aborted >= 1
    assert {docs[i][0] for i in result.proven} == {key for key, _ in docs} - deep
    for index in result.proven:
        assert alone_ok(docs[index][1])


def combined_document(docs: list[tuple[str, Composed]]) -> DocumentNode:
    definitions: dict[str, DefinitionNode] = {}
    for _, composed in docs:
        for piece in composed.nodes:
            definitions.setdefault(piece.name.value, piece)  # type: ignore[attr-defined]
    return DocumentNode(definitions=tuple(definitions.values()))
