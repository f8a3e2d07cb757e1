"""The Python scanner: imports, gql() recognition, definitions, string positions, diagnostics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.diagnostics import Severity
from sodabuild.scan.python import (
    FragmentArg,
    GqlDefinition,
    ImportBinding,
    ModuleScan,
    StringPosition,
    prefilter,
    scan_python,
)

MODULES = ("sodabuild.graphql", "gql")
IMPORT = "from sodabuild.graphql import gql\n"


def scan(source: str | bytes, modules: tuple[str, ...] = MODULES) -> ModuleScan:
    data = source.encode("utf-8") if isinstance(source, str) else source
    return scan_python("pkg/mod.py", data, modules)


def names(result: ModuleScan) -> list[str]:
    return [d.name for d in result.definitions]


def codes(result: ModuleScan) -> list[tuple[str, int | None, int | None]]:
    return [(d.code, d.line, d.column) for d in result.diagnostics]


def host_char(source: str, line: int, column: int) -> str:
    return source.split("\n")[line - 1][column - 1]


# -- imports --------------------------------------------------------------------------------


def test_every_import_form() -> None:
    source = (
        "import a.b\n"
        "import a.b as c\n"
        "from . import x\n"
        "from ..a import b as d\n"
        "from m import *\n"
        "from .pkg.mod import Frag, Other as O\n"
    )
    result = scan(source)
    assert result.imports == (
        ImportBinding("a", "a.b", 0, None, 1, 1, binds_top=True),
        ImportBinding("c", "a.b", 0, None, 2, 1),
        ImportBinding("x", "", 1, "x", 3, 1),
        ImportBinding("d", "a", 2, "b", 4, 1),
        ImportBinding("Frag", "pkg.mod", 1, "Frag", 6, 1),
        ImportBinding("O", "pkg.mod", 1, "Other", 6, 1),
    )
    assert result.star_imports == (ImportBinding("*", "m", 0, "*", 5, 1),)
    assert result.bound_names() == {"a", "c", "x", "d", "Frag", "O"}
    assert result.binding("d") == ImportBinding("d", "a", 2, "b", 4, 1)
    assert result.binding("*") is None
    assert result.definitions == ()
    assert result.diagnostics == ()
    assert result.parsed is True


def test_imports_inside_module_level_if_and_try() -> None:
    source = (
        "if TYPE_CHECKING:\n"
        "    import q\n"
        "else:\n"
        "    from z import w\n"
        "try:\n"
        "    import t1\n"
        "except ImportError:\n"
        "    import t2\n"
        "finally:\n"
        "    import t3\n"
        "def f():\n"
        "    import inside_function\n"
        "class C:\n"
        "    import inside_class\n"
    )
    result = scan(source)
    by_name = {i.name: (i.module, i.line, i.column) for i in result.imports}
    assert by_name == {
        "q": ("q", 2, 5),
        "w": ("z", 4, 5),
        "t1": ("t1", 6, 5),
        "t2": ("t2", 8, 5),
        "t3": ("t3", 10, 5),
    }
    assert result.bound_names() == {"q", "w", "t1", "t2", "t3", "f", "C"}
    assert result.other_names == {"f", "C"}


def test_import_columns_are_characters() -> None:
    result = scan('é = "ü"; import os\n')
    assert result.imports == (ImportBinding("os", "os", 0, None, 1, 10, binds_top=True),)


# -- recognising gql -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "callee"),
    [
        ("from sodabuild.graphql import gql", "gql"),
        ("from sodabuild.graphql import gql as g", "g"),
        ("import sodabuild.graphql as sg", "sg.gql"),
        ("import sodabuild.graphql", "sodabuild.graphql.gql"),
        ("from sodabuild import graphql", "graphql.gql"),
        ("from gql import gql", "gql"),
        ("from gql import gql as client_gql", "client_gql"),
        ("import gql", "gql.gql"),
    ],
)
def test_gql_is_recognised(header: str, callee: str) -> None:
    result = scan(f'{header}\n\nQ = {callee}("query Q {{ a }}")\n')
    assert names(result) == ["Q"]
    assert result.definitions[0].source == "query Q { a }"
    assert result.diagnostics == ()


@pytest.mark.parametrize(
    "header",
    [
        "from other.lib import gql",
        "from sodabuild.other import gql",
        "from sodabuild.graphql import something as gql",
        "import other as sg",
        "",
    ],
)
def test_gql_from_unconfigured_module_is_ignored(header: str) -> None:
    result = scan(f'{header}\nQ = gql("query Q {{ a }}")\nR = sg.gql("query R {{ a }}")\n')
    assert result.definitions == ()
    assert result.diagnostics == ()
    assert {"Q", "R"} <= result.other_names


def test_only_configured_modules_count() -> None:
    source = 'from gql import gql\nQ = gql("query Q { a }")\n'
    assert names(scan(source, ("sodabuild.graphql",))) == []
    assert names(scan(source, ("gql",))) == ["Q"]
    custom = 'from my.lib import gql\nQ = gql("query Q { a }")\n'
    assert names(scan(custom, ("my.lib",))) == ["Q"]


# -- definitions ----------------------------------------------------------------------------


def test_definition_fields() -> None:
    source = (
        IMPORT
        + "import app.fragments as frags\n"
        + "from .user import UserFields\n"
        + "\n"
        + 'GetUser = gql("""\n'
        + "    query GetUser { user { ...UserFields ...Extra } }\n"
        + '""", UserFields, frags.Extra, app.deep.mod.F)\n'
    )
    result = scan(source)
    [definition] = result.definitions
    assert definition == GqlDefinition(
        name="GetUser",
        line=5,
        column=1,
        source="\n    query GetUser { user { ...UserFields ...Extra } }\n",
        position=StringPosition(5, 18, True),
        args=(
            FragmentArg(("UserFields",), 7, 6),
            FragmentArg(("frags", "Extra"), 7, 18),
            FragmentArg(("app", "deep", "mod", "F"), 7, 31),
        ),
    )
    assert [a.text for a in definition.args] == ["UserFields", "frags.Extra", "app.deep.mod.F"]
    assert result.binding("GetUser") is definition
    assert "GetUser" not in result.other_names
    assert "GetUser" in result.bound_names()


def test_annotated_assignment_is_a_definition() -> None:
    result = scan(IMPORT + 'F: Fragment = gql("fragment F on User { id }")\nG: int\n')
    [definition] = result.definitions
    assert (definition.name, definition.line, definition.column) == ("F", 2, 1)
    assert definition.position == StringPosition(2, 20, True)
    assert result.other_names == {"G"}


def test_definition_column_is_in_characters() -> None:
    result = scan(IMPORT + 'x = "日本"; Q = gql("query Q { a }")\n')
    [definition] = result.definitions
    assert (definition.line, definition.column) == (2, 11)
    assert definition.position == StringPosition(2, 20, True)


def test_definitions_inside_module_level_if_count() -> None:
    source = IMPORT + 'if True:\n    Q = gql("query Q { a }")\n'
    [definition] = scan(source).definitions
    assert (definition.line, definition.column) == (3, 5)


def test_definitions_keep_source_order_and_last_wins() -> None:
    source = (
        IMPORT + 'A = gql("query A { a }")\nB = gql("query B { b }")\nA = gql("query A2 { a }")\n'
    )
    result = scan(source)
    assert [(d.name, d.source) for d in result.definitions] == [
        ("B", "query B { b }"),
        ("A", "query A2 { a }"),
    ]


@pytest.mark.parametrize(
    "rebinding",
    [
        "X = 1",
        "X: int = 1",
        "X += 'y'",
        "X, Y = 1, 2",
        "def X(): pass",
        "class X: pass",
        "import X",
        "from m import X",
        "if True:\n    X = None",
    ],
)
def test_rebinding_a_name_drops_its_definition(rebinding: str) -> None:
    result = scan(
        IMPORT + f'X = gql("query X {{ a }}")\nKEEP = gql("query K {{ a }}")\n{rebinding}\n'
    )
    assert names(result) == ["KEEP"]
    assert not isinstance(result.binding("X"), GqlDefinition)
    assert "X" in result.bound_names()


@pytest.mark.parametrize(
    "rebinding",
    ["for X in range(3):\n    pass", "with open('f') as X:\n    pass", "del X"],
)
def test_rebinding_by_other_statements_drops_its_definition(rebinding: str) -> None:
    result = scan(IMPORT + f'X = gql("query X {{ a }}")\n{rebinding}\n')
    assert names(result) == []


def test_definition_then_use_keeps_it() -> None:
    result = scan(IMPORT + 'X = gql("query X { a }")\nprint(X)\nY = X\n')
    assert names(result) == ["X"]
    assert result.other_names == {"Y"}


# -- string positions -----------------------------------------------------------------------


def test_triple_quoted_position_maps_exactly() -> None:
    source = IMPORT + 'Q = gql("""query Q {\n  user { name }\n}""")\n'
    [definition] = scan(source).definitions
    position = definition.position
    assert position == StringPosition(2, 12, True)
    assert position.map(1, 1) == (2, 12)
    assert host_char(source, *position.map(1, 7)) == "Q"
    assert position.map(2, 3) == (3, 3)
    assert host_char(source, *position.map(2, 10)) == "n"
    assert position.map(3, 1) == (4, 1)
    assert host_char(source, 4, 1) == "}"


def test_single_line_string_maps_exactly() -> None:
    source = IMPORT + "Q = gql('query Q { a }')\n"
    [definition] = scan(source).definitions
    assert definition.position == StringPosition(2, 10, True)
    assert definition.position.map(1, 7) == (2, 16)
    assert host_char(source, 2, 16) == "Q"


def test_non_ascii_before_the_string_counts_characters() -> None:
    source = IMPORT + 'ü = "日本語"; Q = gql("""query Q { a }""")\n'
    [definition] = scan(source).definitions
    assert definition.position == StringPosition(2, 23, True)
    assert definition.position.map(1, 7) == (2, 29)
    assert host_char(source, 2, 29) == "Q"


def test_non_ascii_inside_the_string_counts_characters() -> None:
    source = IMPORT + 'Q = gql("""# café\nquery Q { a }""")\n'
    [definition] = scan(source).definitions
    assert definition.position.exact
    assert host_char(source, *definition.position.map(1, 6)) == "é"
    assert host_char(source, *definition.position.map(2, 7)) == "Q"


@pytest.mark.parametrize("prefix", ["r", "R", "u", "U"])
def test_string_prefixes_are_skipped(prefix: str) -> None:
    source = IMPORT + f'Q = gql({prefix}"""query Q {{ a }}""")\n'
    [definition] = scan(source).definitions
    assert definition.position == StringPosition(2, 13, True)
    assert host_char(source, *definition.position.map(1, 7)) == "Q"


def test_raw_string_with_backslash_is_exact() -> None:
    source = IMPORT + 'Q = gql(r"""query Q { a(x: "\\n") }""")\n'
    [definition] = scan(source).definitions
    assert definition.source == 'query Q { a(x: "\\n") }'
    assert definition.position == StringPosition(2, 13, True)
    assert host_char(source, *definition.position.map(1, 17)) == "\\"


@pytest.mark.parametrize(
    ("literal", "start"),
    [
        ('"query Q {\\n a }"', 10),
        ('"""query Q {\\t a }"""', 12),
        ('"""query Q { a }\\\n"""', 12),
        ('"query \\u0051 { a }"', 10),
        ("'query \\x51 { a }'", 10),
        ('"query Q " "{ a }"', 10),
    ],
)
def test_escape_sequences_map_to_the_string_start(literal: str, start: int) -> None:
    """Not exact: every position maps to where the literal's content starts."""
    source = IMPORT + f"Q = gql({literal})\n"
    [definition] = scan(source).definitions
    assert definition.position == StringPosition(2, start, False)
    assert definition.position.map(1, 5) == (2, start)
    assert definition.position.map(3, 2) == (2, start)


_SAFE = st.text(alphabet=st.sampled_from(list("abcXYZ019 _{}()[]!$:@#.,=|&-\té日𝔘\n")), max_size=60)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    text=_SAFE,
    indent=st.integers(min_value=0, max_value=8),
    before=st.sampled_from(["", "ü = 'x'; ", 'y = "日本"; ']),
    prefix=st.sampled_from(["", "r"]),
    quote=st.sampled_from(['"""', "'''"]),
)
def test_positions_inside_the_value_map_to_the_same_host_character(
    text: str, indent: int, before: str, prefix: str, quote: str
) -> None:
    body = text.replace("\n", "\n" + " " * indent)
    source = IMPORT + f"{before}Q = gql({prefix}{quote}{body}{quote}, F)\n"
    result = scan(source)
    [definition] = result.definitions
    assert definition.source == body
    assert definition.position.exact
    for line_number, value_line in enumerate(body.split("\n"), start=1):
        for column, char in enumerate(value_line, start=1):
            assert host_char(source, *definition.position.map(line_number, column)) == char


# -- diagnostics ----------------------------------------------------------------------------


def test_syntax_error() -> None:
    result = scan("x = 1\ny = (]\n")
    assert result.parsed is False
    assert result.definitions == ()
    [diagnostic] = result.diagnostics
    assert (diagnostic.code, diagnostic.file, diagnostic.line, diagnostic.column) == (
        "PY_SYNTAX",
        "pkg/mod.py",
        2,
        6,
    )
    assert diagnostic.message.startswith("invalid Python: ")
    assert diagnostic.severity is Severity.ERROR


def test_syntax_error_column_in_characters() -> None:
    assert codes(scan('é = "日本"; x = (]\n')) == [("PY_SYNTAX", 1, 16)]


def test_decode_error() -> None:
    result = scan(b'x = 1\n\ny = "\xff"\n')
    assert result.parsed is False
    # the column of the undecodable byte itself
    assert codes(result) == [("PY_DECODE", 3, 6)]
    assert result.diagnostics[0].message.startswith("not valid UTF-8: ")


@pytest.mark.parametrize(
    ("call", "column"),
    [
        ('gql(f"query {name}")', 9),
        ("gql(DOC)", 9),
        ('gql("query " + "Q { a }")', 9),
        ('gql("query Q" % x)', 9),
        ("gql(b'query Q { a }')", 9),
        ("gql()", 5),
    ],
)
def test_non_literal_first_argument(call: str, column: int) -> None:
    result = scan(IMPORT + f"Q = {call}\n")
    assert codes(result) == [("GQL_NON_LITERAL", 2, column)]
    assert result.definitions == ()
    assert "Q" in result.other_names


@pytest.mark.parametrize(
    ("call", "column"),
    [
        ('gql("query Q { a }", make())', 26),
        ('gql("query Q { a }", F, frags["G"])', 29),
        ('gql("query Q { a }", *FRAGS)', 26),
        ('gql("query Q { a }", fragment=F)', 26),  # where the keyword argument starts
    ],
)
def test_invalid_fragment_arguments(call: str, column: int) -> None:
    result = scan(IMPORT + f"Q = {call}\n")
    assert codes(result) == [("GQL_ARG_INVALID", 2, column)]
    assert result.definitions == ()


def test_gql_outside_a_module_level_assignment_warns() -> None:
    source = (
        IMPORT
        + "def build():\n"
        + '    Inner = gql("query I { a }")\n'
        + "class C:\n"
        + '    Attr = gql("query A { a }")\n'
        + 'print(gql("query P { a }"))\n'
        + 'A = B = gql("query AB { a }")\n'
        + 'Q = gql("query Q { a }")\n'
    )
    result = scan(source)
    assert names(result) == ["Q"]
    assert sorted(codes(result)) == [
        ("GQL_NOT_A_DEFINITION", 3, 13),
        ("GQL_NOT_A_DEFINITION", 5, 12),
        ("GQL_NOT_A_DEFINITION", 6, 7),
        ("GQL_NOT_A_DEFINITION", 7, 9),
    ]
    assert all(d.severity is Severity.WARNING for d in result.diagnostics)
    assert {"build", "C", "A", "B"} <= result.other_names


def test_gql_calls_are_not_warned_without_a_gql_import() -> None:
    result = scan('def build():\n    return gql("query I { a }")\n')
    assert result.diagnostics == ()


def test_prefilter() -> None:
    assert prefilter(b"from gql import gql", b"gql")
    assert not prefilter(b"import os\n", b"gql")
