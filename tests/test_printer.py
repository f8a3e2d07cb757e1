"""Our printer writes what graphql-core 3.3's ``print_ast`` writes, from either version's AST.

The canonical text is hashed into persisted-query ids, so it is pinned here: against
graphql-core 3.3 itself when that is installed, and against literal expected texts (which
hold on 3.2 as well).
"""

from __future__ import annotations

from pathlib import Path

import graphql
import pytest
from graphql import parse, print_ast
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.compose.printer import print_block_string, print_document, print_string

GRAPHQL_33 = graphql.version_info >= (3, 3)
REPO = Path(__file__).resolve().parent.parent

EXPECTED = {
    "{ a }": "{\n  a\n}",
    "query { a }": "{\n  a\n}",
    "query Q { a }": "query Q {\n  a\n}",
    "mutation { a }": "mutation {\n  a\n}",
    "query @d { a }": "query @d {\n  a\n}",
    "query Q($a: Int = 1, $b: [String!]! @x) { f(a: $a) }": (
        "query Q($a: Int = 1, $b: [String!]! @x) {\n  f(a: $a)\n}"
    ),
    "{ f(o: {a: 1, b: [1, 2], c: {d: null}}) }": (
        "{\n  f(o: { a: 1, b: [1, 2], c: { d: null } })\n}"
    ),
    "{ f(o: {}) }": "{\n  f(o: {  })\n}",
    "{ f(l: []) }": "{\n  f(l: [])\n}",
    "{ a: f @include(if: true) @skip(if: false) { ...F ... on T { x } ... @d { y } } }": (
        "{\n  a: f @include(if: true) @skip(if: false) {\n    ...F\n    ... on T {\n"
        "      x\n    }\n    ... @d {\n      y\n    }\n  }\n}"
    ),
    "fragment F on T @d { x }": "fragment F on T @d {\n  x\n}",
    '{ f(s: "a\\"b\\u0001\\n", e: ENUM, fl: 1.5e3) }': (
        '{\n  f(s: "a\\"b\\u0001\\n", e: ENUM, fl: 1.5e3)\n}'
    ),
    '{ f(s: """ block\n  text""") }': '{\n  f(s: """\n   block\n  text\n  """)\n}',
    "{ f(" + ", ".join(f"argument{i}: {i}" for i in range(8)) + ") }": (
        "{\n  f(\n" + "\n".join(f"    argument{i}: {i}" for i in range(8)) + "\n  )\n}"
    ),
    # a long list inside arguments: the arguments wrap first, then the list
    "{ f(l: [" + ", ".join(f'"value{i}"' for i in range(9)) + "]) }": (
        "{\n  f(\n    l: [\n" + "\n".join(f'      "value{i}"' for i in range(9)) + "\n    ]\n  )\n}"
    ),
    "{ f(o: {" + ", ".join(f"key{i}: {i}" for i in range(10)) + "}) }": (
        "{\n  f(\n    o: {\n"
        + "\n".join(f"      key{i}: {i}" for i in range(10))
        + "\n    }\n  )\n}"
    ),
}


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_expected_texts(source: str) -> None:
    assert print_document(parse(source)) == EXPECTED[source]


@pytest.mark.skipif(not GRAPHQL_33, reason="the reference printer is graphql-core 3.3's")
@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_expected_texts_are_graphql_core_33s(source: str) -> None:
    assert print_ast(parse(source)) == EXPECTED[source]


def _fixture_documents() -> list[str]:
    """Every GraphQL text of the fixture trees (.graphql files; gql strings are covered by
    the build snapshots)."""
    return [
        path.read_text(encoding="utf-8")
        for path in sorted((REPO / "fixtures").rglob("*.graphql"))
        if "schema" not in path.name and "__generated__" not in path.parts
    ]


@pytest.mark.skipif(not GRAPHQL_33, reason="the reference printer is graphql-core 3.3's")
def test_fixture_documents_print_as_graphql_core_does() -> None:
    checked = 0
    for text in _fixture_documents():
        try:
            document = parse(text)
        except graphql.GraphQLError:
            continue
        if any(
            d.kind not in ("operation_definition", "fragment_definition")
            for d in document.definitions
        ):
            continue
        assert print_document(document) == print_ast(document)
        checked += 1
    assert checked


# -- random documents ----------------------------------------------------------------------

names = st.sampled_from(["a", "b", "node", "viewer", "id", "longFieldNameForWrapping", "x1"])
scalars = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["1.5", "-0.25e10", "true", "false", "null", "RED", "$v"]),
    st.text(
        st.characters(min_codepoint=0, max_codepoint=0x2FF, exclude_characters='"\\\r\n'),
        max_size=30,
    ).map(lambda s: '"' + s + '"'),
    st.text(st.sampled_from(["a", " ", "\n", '"', "\\", "\t", "b"]), max_size=40).map(
        lambda s: '"""' + s.replace('"""', "") + '"""'
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=12).map(lambda vs: "[" + ", ".join(vs) + "]"),
        st.lists(st.tuples(names, inner), max_size=10, unique_by=lambda kv: kv[0]).map(
            lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"
        ),
    ),
    max_leaves=20,
)
arguments = st.lists(st.tuples(names, values), max_size=6, unique_by=lambda kv: kv[0]).map(
    lambda kvs: "(" + ", ".join(f"{k}: {v}" for k, v in kvs) + ")" if kvs else ""
)
directives = st.lists(
    st.tuples(st.sampled_from(["@include", "@skip", "@d"]), arguments), max_size=2
).map(lambda ds: " ".join(name + args for name, args in ds))


def _selection_sets(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    selection = st.one_of(
        st.tuples(
            st.sampled_from(["", "alias: "]),
            names,
            arguments,
            directives,
            st.one_of(st.just(""), inner),
        ).map(lambda t: f"{t[0]}{t[1]}{t[2]} {t[3]} {t[4]}"),
        st.tuples(st.sampled_from(["F", "G"]), directives).map(lambda t: f"...{t[0]} {t[1]}"),
        st.tuples(st.sampled_from(["", "on T"]), directives, inner).map(
            lambda t: f"... {t[0]} {t[1]} {t[2]}"
        ),
    )
    return st.lists(selection, min_size=1, max_size=5).map(lambda s: "{ " + " ".join(s) + " }")


selection_sets = st.recursive(names.map(lambda n: "{ " + n + " }"), _selection_sets, max_leaves=12)
variables = st.lists(
    st.tuples(
        names,
        st.sampled_from(["Int", "[String!]!", "In"]),
        st.one_of(st.just(""), values.map(lambda v: " = " + v)),
    ),
    max_size=4,
    unique_by=lambda t: t[0],
).map(lambda vs: "(" + ", ".join(f"${n}: {t}{d}" for n, t, d in vs) + ")" if vs else "")
definitions = st.one_of(
    st.tuples(
        st.sampled_from(["query", "mutation", "subscription", "query Q", "query"]),
        variables,
        directives,
        selection_sets,
    ).map(lambda t: f"{t[0]}{t[1]} {t[2]} {t[3]}" if t[0] != "query" or t[1] or t[2] else t[3]),
    st.tuples(st.sampled_from(["F", "G"]), directives, selection_sets).map(
        lambda t: f"fragment {t[0]} on T {t[1]} {t[2]}"
    ),
)


@pytest.mark.skipif(not GRAPHQL_33, reason="the reference printer is graphql-core 3.3's")
@settings(max_examples=300, deadline=None)
@given(st.lists(definitions, min_size=1, max_size=3))
def test_random_documents_print_as_graphql_core_does(texts: list[str]) -> None:
    try:
        document = parse("\n".join(texts))
    except graphql.GraphQLError:
        return  # e.g. a variable used as a default value: not a document
    assert print_document(document) == print_ast(document)


@pytest.mark.skipif(not GRAPHQL_33, reason="the reference printer is graphql-core 3.3's")
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_strings_print_as_graphql_core_does(value: str) -> None:
    from graphql.language.block_string import print_block_string as core_block
    from graphql.language.print_string import print_string as core_string

    assert print_string(value) == core_string(value)
    assert print_block_string(value) == core_block(value)


def test_printed_text_parses_to_the_same_text() -> None:
    for source in EXPECTED:
        printed = print_document(parse(source))
        assert print_document(parse(printed)) == printed
