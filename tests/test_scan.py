"""The Python scanner: imports, gql() recognition, definitions, string positions, diagnostics."""

from __future__ import annotations

import ast
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.diagnostics import Severity
from sodabuild.scan.python import (
    FragmentArg,
    GqlDefinition,
    ImportBinding,
    ModuleScan,
    prefilter,
    scan_python,
)
from sodabuild.scan.static import (
    Concat,
    Dynamic,
    Lit,
    NotStatic,
    Text,
    evaluate,
    joined,
    local_lookup,
    locate,
)

PATH = "pkg/mod.py"
MODULES = ("sodabuild.graphql", "gql")
IMPORT = "from sodabuild.graphql import gql\n"


def scan(source: str | bytes, modules: tuple[str, ...] = MODULES) -> ModuleScan:
    data = source.encode("utf-8") if isinstance(source, str) else source
    return scan_python(PATH, data, modules)


def names(result: ModuleScan) -> list[str]:
    return [d.name for d in result.definitions]


def codes(result: ModuleScan) -> list[tuple[str, int | None, int | None]]:
    return [(d.code, d.line, d.column) for d in result.diagnostics]


def host_char(source: str, line: int, column: int) -> str:
    """The file's character at (line, column); the line break just past a line's end."""
    host = source.split("\n")[line - 1]
    return host[column - 1] if column <= len(host) else "\n"


def text_of(definition: GqlDefinition) -> Text:
    """The definition's document, evaluated with what this module alone knows."""
    return evaluate(definition.expr, PATH, local_lookup)


def document(definition: GqlDefinition) -> str:
    return joined(text_of(definition))


def position(definition: GqlDefinition, offset: int) -> tuple[int, int]:
    """Host (line, column) of character ``offset`` of the definition's document."""
    found = locate(text_of(definition), offset)
    assert found is not None
    path, line, column = found
    assert path == PATH
    return line, column


def dynamic_leaves(expr: object) -> list[Dynamic]:
    """Every Dynamic leaf of a static-string IR tree."""
    if isinstance(expr, Dynamic):
        return [expr]
    if isinstance(expr, tuple):
        return [leaf for item in expr for leaf in dynamic_leaves(item)]
    if dataclasses.is_dataclass(expr) and not isinstance(expr, type):
        return [
            leaf
            for item in dataclasses.fields(expr)
            for leaf in dynamic_leaves(getattr(expr, item.name))
        ]
    return []


def where_after(source: str, needle: str) -> tuple[int, int]:
    """(line, column) just after the last ``needle`` in ``source``."""
    index = source.rindex(needle) + len(needle)
    return source.count("\n", 0, index) + 1, index - source.rfind("\n", 0, index)


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
    [definition] = result.definitions
    # the value starts after `Q = <callee>("`
    assert definition.expr == Lit("query Q { a }", 3, len(f"Q = {callee}(") + 2, True)
    assert document(definition) == "query Q { a }"
    assert (definition.line, definition.column, definition.kind) == (3, 1, "call")
    assert definition.binding == "Q"
    assert result.binding("Q") is definition
    assert result.definition("Q") is definition
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
        expr=Lit("\n    query GetUser { user { ...UserFields ...Extra } }\n", 5, 18, True),
        args=(
            FragmentArg(("UserFields",), 7, 6),
            FragmentArg(("frags", "Extra"), 7, 18),
            FragmentArg(("app", "deep", "mod", "F"), 7, 31),
        ),
        kind="call",
        binding="GetUser",
        call=1,
        variant=0,
    )
    assert document(definition) == "\n    query GetUser { user { ...UserFields ...Extra } }\n"
    assert [a.text for a in definition.args] == ["UserFields", "frags.Extra", "app.deep.mod.F"]
    assert result.binding("GetUser") is definition
    assert result.definition("GetUser") is definition
    assert "GetUser" not in result.other_names
    assert "GetUser" in result.bound_names()


def test_annotated_assignment_is_a_definition() -> None:
    result = scan(IMPORT + 'F: Fragment = gql("fragment F on User { id }")\nG: int\n')
    [definition] = result.definitions
    assert (definition.name, definition.line, definition.column) == ("F", 2, 1)
    assert definition.expr == Lit("fragment F on User { id }", 2, 20, True)
    assert definition.binding == "F"
    assert result.binding("F") is definition
    assert result.other_names == {"G"}


def test_definition_column_is_in_characters() -> None:
    result = scan(IMPORT + 'x = "日本"; Q = gql("query Q { a }")\n')
    [definition] = result.definitions
    assert (definition.line, definition.column) == (2, 11)
    assert definition.expr == Lit("query Q { a }", 2, 20, True)


def test_definitions_inside_module_level_if_count() -> None:
    source = IMPORT + 'if True:\n    Q = gql("query Q { a }")\n'
    [definition] = scan(source).definitions
    assert (definition.line, definition.column) == (3, 5)


def test_definitions_keep_source_order_and_the_last_binding_wins() -> None:
    """Every call is a document; a name bound twice numbers the second id, and the name
    is bound to the last one (as in Python)."""
    source = (
        IMPORT + 'A = gql("query A { a }")\nB = gql("query B { b }")\nA = gql("query A2 { a }")\n'
    )
    result = scan(source)
    assert [(d.name, d.line, d.binding, document(d)) for d in result.definitions] == [
        ("A", 2, "A", "query A { a }"),
        ("B", 3, "B", "query B { b }"),
        ("A~2", 4, "A", "query A2 { a }"),
    ]
    assert [d.call for d in result.definitions] == [1, 2, 3]
    assert result.binding("A") is result.definition("A~2")
    assert result.binding("B") is result.definition("B")
    assert result.definition("A") is result.definitions[0]
    assert "A" not in result.other_names


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
        "match 1:\n    case X:\n        pass",
    ],
)
def test_rebinding_a_name_keeps_the_document_but_unbinds_it(rebinding: str) -> None:
    """The gql() call is still made, so it stays a document named after the name; but the
    name no longer refers to it (a fragment argument cannot pass it)."""
    result = scan(
        IMPORT + f'X = gql("query X {{ a }}")\nKEEP = gql("query K {{ a }}")\n{rebinding}\n'
    )
    assert names(result) == ["X", "KEEP"]
    definition = result.definition("X")
    assert definition is not None
    assert (definition.line, definition.column, definition.binding) == (2, 1, "X")
    assert definition.expr == Lit("query X { a }", 2, 10, True)
    assert not isinstance(result.binding("X"), GqlDefinition)
    assert "X" in result.bound_names()
    assert result.binding("KEEP") is result.definition("KEEP")


@pytest.mark.parametrize(
    "rebinding",
    ["for X in range(3):\n    pass", "with open('f') as X:\n    pass", "del X"],
)
def test_rebinding_by_other_statements_keeps_the_document_but_unbinds_it(rebinding: str) -> None:
    result = scan(IMPORT + f'X = gql("query X {{ a }}")\n{rebinding}\n')
    assert names(result) == ["X"]
    [definition] = result.definitions
    assert (definition.line, definition.column, definition.binding) == (2, 1, "X")
    assert document(definition) == "query X { a }"
    assert result.definition("X") is definition
    assert result.binding("X") is None


def test_definition_then_use_keeps_it() -> None:
    result = scan(IMPORT + 'X = gql("query X { a }")\nprint(X)\nY = X\n')
    assert names(result) == ["X"]
    assert result.other_names == {"Y"}


# -- string positions -----------------------------------------------------------------------


def test_triple_quoted_position_maps_exactly() -> None:
    source = IMPORT + 'Q = gql("""query Q {\n  user { name }\n}""")\n'
    [definition] = scan(source).definitions
    value = "query Q {\n  user { name }\n}"
    assert definition.expr == Lit(value, 2, 12, True)
    assert position(definition, 0) == (2, 12)
    assert host_char(source, *position(definition, value.index("Q"))) == "Q"
    assert position(definition, value.index("user")) == (3, 3)
    assert host_char(source, *position(definition, value.index("name"))) == "n"
    assert position(definition, len(value) - 1) == (4, 1)
    assert host_char(source, 4, 1) == "}"


def test_single_line_string_maps_exactly() -> None:
    source = IMPORT + "Q = gql('query Q { a }')\n"
    [definition] = scan(source).definitions
    assert definition.expr == Lit("query Q { a }", 2, 10, True)
    assert position(definition, 6) == (2, 16)
    assert host_char(source, 2, 16) == "Q"


def test_non_ascii_before_the_string_counts_characters() -> None:
    source = IMPORT + 'ü = "日本語"; Q = gql("""query Q { a }""")\n'
    [definition] = scan(source).definitions
    assert definition.expr == Lit("query Q { a }", 2, 23, True)
    assert position(definition, 6) == (2, 29)
    assert host_char(source, 2, 29) == "Q"


def test_non_ascii_inside_the_string_counts_characters() -> None:
    source = IMPORT + 'Q = gql("""# café\nquery Q { a }""")\n'
    [definition] = scan(source).definitions
    value = "# café\nquery Q { a }"
    assert definition.expr == Lit(value, 2, 12, True)
    assert host_char(source, *position(definition, value.index("é"))) == "é"
    assert position(definition, value.index("Q")) == (3, 7)
    assert host_char(source, 3, 7) == "Q"


@pytest.mark.parametrize("prefix", ["r", "R", "u", "U"])
def test_string_prefixes_are_skipped(prefix: str) -> None:
    source = IMPORT + f'Q = gql({prefix}"""query Q {{ a }}""")\n'
    [definition] = scan(source).definitions
    assert definition.expr == Lit("query Q { a }", 2, 13, True)
    assert host_char(source, *position(definition, 6)) == "Q"


def test_raw_string_with_backslash_is_exact() -> None:
    source = IMPORT + 'Q = gql(r"""query Q { a(x: "\\n") }""")\n'
    [definition] = scan(source).definitions
    assert document(definition) == 'query Q { a(x: "\\n") }'
    assert definition.expr == Lit('query Q { a(x: "\\n") }', 2, 13, True)
    assert host_char(source, *position(definition, 16)) == "\\"


@pytest.mark.parametrize(
    ("literal", "start"),
    [
        ('"query Q {\\n a }"', 10),
        ('"""query Q {\\t a }"""', 12),
        ('"""query Q { a }\\\n"""', 12),
        ('"query \\u0051 { a }"', 10),
        ("'query \\x51 { a }'", 10),
    ],
)
def test_escape_sequences_map_to_the_string_start(literal: str, start: int) -> None:
    """Not exact: every character locates where the literal's content starts."""
    source = IMPORT + f"Q = gql({literal})\n"
    [definition] = scan(source).definitions
    value = ast.literal_eval(literal)
    assert definition.expr == Lit(value, 2, start, False)
    assert document(definition) == value
    for offset in range(len(value)):
        assert position(definition, offset) == (2, start)


@pytest.mark.parametrize(
    ("argument", "parts"),
    [
        ('"query Q " "{ a }"', [Lit("query Q ", 2, 10, True), Lit("{ a }", 2, 21, True)]),
        (
            "\"query Q \"\n        '{ a }'",
            [Lit("query Q ", 2, 10, True), Lit("{ a }", 3, 10, True)],
        ),
        (
            '("query Q "\n         "{\\n a }")',
            [Lit("query Q ", 2, 11, True), Lit("{\n a }", 3, 11, False)],
        ),
    ],
)
def test_implicit_concatenation_is_located_per_part(argument: str, parts: list[Lit]) -> None:
    """Each part is its own literal: exact ones map character by character, one with an
    escape maps to its own start (no longer to the start of the whole string)."""
    source = IMPORT + f"Q = gql({argument})\n"
    [definition] = scan(source).definitions
    assert definition.expr == Concat(tuple(parts))
    assert document(definition) == "".join(part.value for part in parts)
    offset = 0
    for part in parts:
        for index, char in enumerate(part.value):
            if part.exact:
                assert host_char(source, *position(definition, offset + index)) == char
            else:
                assert position(definition, offset + index) == (part.line, part.column)
        offset += len(part.value)


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
    start = len(f"{before}Q = gql({prefix}{quote}") + 1
    assert definition.expr == Lit(body, 2, start, True)
    assert definition.args == (FragmentArg(("F",), *where_after(source, quote + ", ")),)
    assert document(definition) == body
    for offset, char in enumerate(body):
        assert host_char(source, *position(definition, offset)) == char


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


def test_gql_without_an_argument_is_non_literal() -> None:
    result = scan(IMPORT + "Q = gql()\n")
    assert codes(result) == [("GQL_NON_LITERAL", 2, 5)]
    assert result.diagnostics[0].severity is Severity.ERROR
    assert result.definitions == ()
    assert "Q" in result.other_names
    assert result.binding("Q") is None


@pytest.mark.parametrize(
    ("call", "offending", "reason"),
    [
        ('gql(f"query {name}")', "name", "`name` is not bound in this module"),
        ("gql(DOC)", "DOC", "`DOC` is not bound in this module"),
        ('gql("query Q" % x)', "x", "`x` is not bound in this module"),
        ("gql(b'query Q { a }')", "b'", "is a bytes, not a string"),
    ],
)
def test_non_literal_first_argument_is_a_definition_not_static_where_it_is(
    call: str, offending: str, reason: str
) -> None:
    """The scan reports nothing (GQL_DYNAMIC comes from the build): the document is a
    definition whose IR holds a Dynamic leaf at the offending sub-expression."""
    source = IMPORT + f"Q = {call}\n"
    result = scan(source)
    assert result.diagnostics == ()
    [definition] = result.definitions
    assert (definition.name, definition.line, definition.column) == ("Q", 2, 1)
    assert definition.binding == "Q"
    assert result.binding("Q") is definition
    column = source.index(offending, len(IMPORT) + len("Q = gql(")) - len(IMPORT) + 1
    [leaf] = dynamic_leaves(definition.expr)
    assert (leaf.line, leaf.column) == (2, column)
    with pytest.raises(NotStatic) as caught:
        text_of(definition)
    assert (caught.value.path, caught.value.line, caught.value.column) == (PATH, 2, column)
    assert reason in caught.value.reason


def test_concatenated_literals_are_a_static_definition() -> None:
    source = IMPORT + 'Q = gql("query " + "Q { a }")\n'
    result = scan(source)
    assert result.diagnostics == ()
    [definition] = result.definitions
    assert (definition.name, definition.binding) == ("Q", "Q")
    assert definition.expr == Concat((Lit("query ", 2, 10, True), Lit("Q { a }", 2, 21, True)))
    assert dynamic_leaves(definition.expr) == []
    assert document(definition) == "query Q { a }"
    assert position(definition, 6) == (2, 21)
    assert host_char(source, 2, 21) == "Q"


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


def test_gql_anywhere_is_a_definition_named_by_its_scope() -> None:
    """Calls in functions, classes, expressions and chained assignments are documents too:
    named <scope>.<label> (no binding), located at the call; no warning."""
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
    assert [
        (d.name, d.line, d.column, d.binding, d.expr.line, d.expr.column)  # type: ignore[union-attr]
        for d in result.definitions
    ] == [
        ("build.I", 3, 13, None, 3, 18),
        ("C.A", 5, 12, None, 5, 17),
        ("P", 6, 7, None, 6, 12),
        ("AB", 7, 9, None, 7, 14),
        ("Q", 8, 1, "Q", 8, 10),
    ]
    assert [document(d) for d in result.definitions] == [
        "query I { a }",
        "query A { a }",
        "query P { a }",
        "query AB { a }",
        "query Q { a }",
    ]
    assert all(isinstance(d.expr, Lit) and d.expr.exact for d in result.definitions)
    assert result.diagnostics == ()
    assert {"build", "C", "A", "B"} <= result.other_names
    assert result.binding("Q") is result.definition("Q")
    for name in ("A", "B", "Inner", "Attr"):
        assert not isinstance(result.binding(name), GqlDefinition)


def test_nested_and_unlabelled_calls_are_named_by_scope() -> None:
    source = (
        IMPORT
        + "class C:\n"
        + "    def m(self):\n"
        + '        doc = gql("{ a }")\n'
        + '        return gql(gql("query N { a }"))\n'
    )
    result = scan(source)
    assert [(d.name, d.line, d.column, d.binding) for d in result.definitions] == [
        ("C.m.doc", 4, 15, None),
        ("C.m.gql", 5, 16, None),
        ("C.m.N", 5, 20, None),
    ]
    outer = result.definition("C.m.gql")
    assert outer is not None
    [leaf] = dynamic_leaves(outer.expr)
    assert (leaf.line, leaf.column) == (5, 20)
    assert "is a call" in leaf.reason
    nested = result.definition("C.m.N")
    assert nested is not None
    assert nested.expr == Lit("query N { a }", 5, 25, True)


def test_module_level_binding_keeps_its_name_against_an_earlier_label() -> None:
    result = scan(IMPORT + 'print(gql("query X { a }"))\nX = gql("query Y { a }")\n')
    bound = result.binding("X")
    assert isinstance(bound, GqlDefinition)
    assert bound.name == "X"
    assert result.definition("X") is bound


def test_gql_calls_are_not_warned_without_a_gql_import() -> None:
    result = scan('def build():\n    return gql("query I { a }")\n')
    assert result.diagnostics == ()


def test_prefilter() -> None:
    assert prefilter(b"from gql import gql", b"gql")
    assert not prefilter(b"import os\n", b"gql")
