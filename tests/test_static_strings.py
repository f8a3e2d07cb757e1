"""Static strings: each supported form evaluates to the string Python computes, every
character is located where the source spells it, each run-time form is NotStatic at the
offending sub-expression, and gql() calls / marked strings become named definitions."""

from __future__ import annotations

import textwrap

import pytest

from sodabuild.scan.python import GqlDefinition, ModuleScan, scan_python
from sodabuild.scan.static import (
    Expr,
    Lit,
    NotStatic,
    Ref,
    Span,
    evaluate,
    joined,
    local_lookup,
    locate,
)

PATH = "pkg/mod.py"
MODULES = ("gql",)


def scan(source: str, path: str = PATH) -> ModuleScan:
    return scan_python(path, source.encode("utf-8"), MODULES)


def where(source: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """1-based (line, character column) of the ``occurrence``-th ``needle`` in ``source``."""
    index = -1
    for _ in range(occurrence + 1):
        index = source.index(needle, index + 1)
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1


def constant(source: str, name: str) -> tuple[Span, ...]:
    return evaluate(scan(source).constants[name], PATH, local_lookup)


def python_value(source: str, name: str) -> object:
    namespace: dict[str, object] = {}
    exec(compile(source, PATH, "exec"), namespace)
    return namespace[name]


def definition(source: str, name: str) -> GqlDefinition:
    found = scan(source).definition(name)
    assert found is not None, [d.name for d in scan(source).definitions]
    return found


def located(text: tuple[Span, ...], needle: str, occurrence: int = 0) -> tuple[str, int, int]:
    """Where the evaluated text says the ``occurrence``-th ``needle`` of its value is."""
    value = joined(text)
    index = -1
    for _ in range(occurrence + 1):
        index = value.index(needle, index + 1)
    found = locate(text, index)
    assert found is not None
    return found


def assert_spans_spell_the_file(text: tuple[Span, ...], sources: dict[str, str]) -> None:
    """Each character of an exact span is the file's character at its located position."""
    for span in text:
        lines = sources[span.path].split("\n")
        for offset, char in enumerate(span.text if span.exact else ""):
            line, column = span.at(offset)
            host = lines[line - 1]
            assert (host[column - 1] if column <= len(host) else "\n") == char, (span, offset)


# -- each form: Python's value, located ------------------------------------------------------


def test_literal_is_exact_and_located_at_its_first_character() -> None:
    source = 'X = "query Q { a }"\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X")
    assert text == (Span("query Q { a }", PATH, 1, 6, True),)
    assert located(text, "{") == (PATH, *where(source, "{"))


@pytest.mark.parametrize("prefix", ["r", "R", "u", "U"])
def test_string_prefixes_are_skipped(prefix: str) -> None:
    source = f'X = {prefix}"ab"\n'
    assert constant(source, "X") == (Span("ab", PATH, 1, 6 + len(prefix), True),)


def test_escapes_locate_the_literal_start_without_claiming_exactness() -> None:
    source = 'X = "a\\tb"\n'
    text = constant(source, "X")
    assert joined(text) == "a\tb" == python_value(source, "X")
    assert text == (Span("a\tb", PATH, 1, 6, False),)
    assert located(text, "b") == (PATH, 1, 6)  # not exact: the literal's start


def test_non_ascii_columns_are_characters() -> None:
    source = 'X = "é" + "ü€ab"\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X")
    assert located(text, "a") == (PATH, *where(source, "ab"))


def test_implicit_concatenation_is_located_per_part() -> None:
    source = 'X = ("query "\n     "Q "  \'{ a }\'\n     "\\n")\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X") == "query Q { a }\n"
    assert located(text, "query") == (PATH, 1, 7)
    assert located(text, "Q") == (PATH, *where(source, "Q "))
    assert located(text, "a") == (PATH, *where(source, "a }"))
    assert located(text, "}") == (PATH, *where(source, "}"))
    assert located(text, "\n") == (PATH, 3, 7)  # an escape: located at its literal
    assert_spans_spell_the_file(text, {PATH: source})


def test_a_constant_spliced_into_a_document_is_located_at_its_definition() -> None:
    source = (
        "from gql import gql\n"  # 1
        "def q():\n"  # 2
        '    return gql("query Q { " + FIELD + " }")\n'  # 3
        "\n"
        "\n"
        "\n"
        "\n"
        "\n"
        "\n"
        'FIELD = "viewer"\n'  # 10
    )
    found = definition(source, "q.Q")
    text = evaluate(found.expr, PATH, local_lookup)
    assert joined(text) == "query Q { viewer }"
    assert located(text, "query") == (PATH, *where(source, "query"))
    assert located(text, "viewer") == (PATH, 10, 10)
    assert located(text, "ewer") == (PATH, 10, 12)
    assert located(text, "}") == (PATH, 3, where(source, '" }"')[1] + 2)
    assert (found.line, found.column) == where(source, "gql(", 0)


def test_plus_of_names_literals_and_class_attributes() -> None:
    source = textwrap.dedent(
        """\
        A = "a"
        class K:
            B = A + "b"
            C = B + "c"
        X = A + K.C + "x"
        """
    )
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X") == "aabcx"
    assert [(s.text, s.line, s.column) for s in text] == [
        ("a", 1, 6),
        ("a", 1, 6),
        ("b", 3, 14),
        ("c", 4, 14),
        ("x", 5, 16),
    ]
    assert joined(constant(source, "K.C")) == "abc"


@pytest.mark.parametrize(
    "expression",
    [
        'f"{N}|{F}|{T}|{Z}|{M}"',
        '"%s|%s|%s|%s|%d" % (N, F, T, Z, M)',
        '"{}|{}|{}|{}|{}".format(N, F, T, Z, M)',
        'f"{N:05d}|{F:.3f}|{T!r}|{Z!s:>6}|{M:+}"',
        '"%05d|%.3f|%r|%6s|%+d" % (N, F, T, Z, M)',
        '"{:05d}|{:.3f}|{!r}|{!s:>6}|{:+}".format(N, F, T, Z, M)',
    ],
)
def test_numbers_bools_and_none_are_formatted_like_python(expression: str) -> None:
    source = f"N = 42\nF = 2.5\nT = True\nZ = None\nM = -7\nX = {expression}\n"
    assert joined(constant(source, "X")) == python_value(source, "X")


def test_percent_with_a_tuple_locates_format_text_and_values() -> None:
    source = 'NAME = "Viewer"\nN = 3\nX = "query %s { a%d } # 100%%" % (NAME, N)\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X") == "query Viewer { a3 } # 100%"
    assert located(text, "query") == (PATH, *where(source, "query"))
    assert located(text, "Viewer") == (PATH, 1, 9)  # %s of a string: the string itself
    assert located(text, "iewer") == (PATH, 1, 10)
    assert located(text, "{") == (PATH, *where(source, "{"))
    assert located(text, "3") == (PATH, *where(source, "%d"))  # a number: its placeholder
    assert located(text, "#") == (PATH, *where(source, "#"))
    assert located(text, "%") == (PATH, *where(source, "%%"))
    assert_spans_spell_the_file(text, {PATH: source})


def test_percent_with_a_dict_and_with_one_operand() -> None:
    source = (
        'A = "x"\n'
        'D = "%(a)s-%(b)03d-%(a)r" % {"a": A, "b": 7}\n'
        'S = "<%s>" % A\n'
        'W = "[%-4s|%4s]" % (A, A)\n'
    )
    for name in ("D", "S", "W"):
        assert joined(constant(source, name)) == python_value(source, name), name
    s = constant(source, "S")
    assert located(s, "x") == (PATH, 1, 6)
    assert located(s, ">") == (PATH, *where(source, ">"))


def test_fstring_literal_parts_and_fields_are_located_per_part() -> None:
    source = 'NAME = "Viewer"\nN = 5\nX = f"query {NAME} {{ a{N:03d} }}"\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X") == "query Viewer { a005 }"
    assert located(text, "query") == (PATH, *where(source, "query"))
    assert located(text, "Viewer") == (PATH, 1, 9)
    assert located(text, "005") == (PATH, *where(source, "{N:"))  # formatted: its field
    # a literal part spelled with {{ is not exact: located at its start
    assert located(text, "a") == (PATH, *where(source, " {{ a"))
    assert_spans_spell_the_file(text, {PATH: source})


def test_multiline_fstring_parts_are_located() -> None:
    source = 'NAME = "Viewer"\nX = f"""query {NAME} (\n  a\n) {NAME}\n  b"""\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X")
    assert located(text, "Viewer") == (PATH, 1, 9)
    assert located(text, "a") == (PATH, 3, 3)
    assert located(text, ")") == (PATH, 4, 1)
    assert located(text, "Viewer", 1) == (PATH, 1, 9)
    assert located(text, "b") == (PATH, 5, 3)
    assert_spans_spell_the_file(text, {PATH: source})


@pytest.mark.parametrize(
    "field",
    ["{S!r}", "{S!s}", "{S!a}", "{S:>12}", "{S!r:^14}", "{S:.2}", "{S:{W}}", "{S=}", "{N!r:>5}"],
)
def test_fstring_conversions_and_specs_equal_python(field: str) -> None:
    source = f'S = "é\\"x"\nN = 12\nW = 9\nX = f"<{field}>"\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X")
    assert located(text, "<") == (PATH, *where(source, "<"))


def test_str_format_positional_indexed_and_keyword() -> None:
    source = (
        'A = "Viewer"\n'
        'X = "query {} {{ {field} }}".format(A, field="id")\n'
        'Y = "{0}{1}{0}{k!r:>8}".format(A, 2, k="v")\n'
        'Z = "{0[1]}{1:x}".format(A, 255)\n'
    )
    for name in ("X", "Y", "Z"):
        assert joined(constant(source, name)) == python_value(source, name), name
    text = constant(source, "X")
    assert located(text, "Viewer") == (PATH, 1, 6)
    assert located(text, "id") == (PATH, *where(source, 'id"'))
    assert located(text, "{") == (PATH, *where(source, "{{"))
    assert located(text, "}") == (PATH, *where(source, "}}"))
    assert_spans_spell_the_file(text, {PATH: source})


@pytest.mark.parametrize(
    "header, call",
    [("import textwrap", "textwrap.dedent"), ("from textwrap import dedent", "dedent")],
)
def test_dedent_equals_python_and_keeps_lines(header: str, call: str) -> None:
    source = (
        f"{header}\n"  # 1
        f'X = {call}("""\n'  # 2
        "    query Q {\n"  # 3
        "      a\n"  # 4
        "\n"  # 5
        "    }\n"  # 6
        '""")\n'
    )
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X") == "\nquery Q {\n  a\n\n}\n"
    assert located(text, "query") == (PATH, 3, 5)
    assert located(text, "a") == (PATH, 4, 7)
    assert located(text, "}") == (PATH, 6, 5)
    assert_spans_spell_the_file(text, {PATH: source})


def test_dedent_of_a_name_and_of_a_composition() -> None:
    source = (
        'import textwrap\nBODY = "\\n  a\\n  b\\n"\nX = textwrap.dedent("  q {" + BODY + "  }")\n'
    )
    assert joined(constant(source, "X")) == python_value(source, "X")


def test_join_of_a_list_and_a_tuple() -> None:
    source = 'A = "a"\nX = ", ".join([A, "b", "c"])\nY = "".join((A,))\nE = "-".join([])\n'
    for name in ("X", "Y", "E"):
        assert joined(constant(source, name)) == python_value(source, name), name
    text = constant(source, "X")
    assert located(text, "a") == (PATH, 1, 6)
    assert located(text, ",", 1) == (PATH, *where(source, ", "))
    assert located(text, "c") == (PATH, *where(source, "c"))
    assert_spans_spell_the_file(text, {PATH: source})


@pytest.mark.parametrize("method", ["strip", "lstrip", "rstrip"])
def test_strip_methods_locate_what_remains(method: str) -> None:
    source = f'A = "  \\n"\nX = ("  query Q " + A).{method}()\n'
    text = constant(source, "X")
    assert joined(text) == python_value(source, "X")
    assert located(text, "q") == (PATH, *where(source, "query"))


def test_names_bound_once_in_functions_and_classes() -> None:
    source = textwrap.dedent(
        """\
        from gql import gql
        class C:
            FIELDS = "a b"
            def m(self):
                head = "query M"
                return gql(head + " { " + self.FIELDS + " }")
            @classmethod
            def c(cls):
                return gql("query N { " + cls.FIELDS + " }")
            def k(self):
                return gql("query K { " + C.FIELDS + " }")
        def outer():
            inner_name = "query O { a }"
            def inner():
                return gql(inner_name)
            return inner
        """
    )
    expected = {
        "C.m.M": "query M { a b }",
        "C.c.N": "query N { a b }",
        "C.k.K": "query K { a b }",
        "outer.inner.O": "query O { a }",
    }
    scanned = scan(source)
    got = {d.name: joined(evaluate(d.expr, PATH, local_lookup)) for d in scanned.definitions}
    assert got == expected
    text = evaluate(definition(source, "C.m.M").expr, PATH, local_lookup)
    assert located(text, "query") == (PATH, *where(source, "query M"))
    assert located(text, "a b") == (PATH, *where(source, "a b"))


# -- imported names: the lookup ---------------------------------------------------------------


def test_imported_names_are_looked_up_and_located_in_their_module() -> None:
    other = 'FIELDS = "id name"\nFRAG = f"fragment F on User {{ {FIELDS} }}"\n'
    main = (
        "from gql import gql\n"
        "from .other import FRAG\n"
        "from . import other\n"
        "Q = gql(FRAG + ' query Q { viewer { ...F } ' + other.FIELDS + ' }')\n"
    )
    scans = {"pkg/other.py": scan(other, "pkg/other.py"), PATH: scan(main)}
    calls: list[tuple[str, tuple[str, ...], int, int]] = []

    def lookup(path: str, parts: tuple[str, ...], line: int, column: int) -> tuple[str, Expr]:
        calls.append((path, parts, line, column))
        return "pkg/other.py", scans["pkg/other.py"].constants[parts[-1]]

    found = scans[PATH].definition("Q")
    assert found is not None
    text = evaluate(found.expr, PATH, lookup)
    assert joined(text) == ("fragment F on User { id name } query Q { viewer { ...F } id name }")
    assert calls == [
        (PATH, ("FRAG",), 4, 9),
        (PATH, ("other", "FIELDS"), *where(main, "other.FIELDS")),
    ]
    assert located(text, "fragment") == ("pkg/other.py", 2, 10)
    assert located(text, "id name") == ("pkg/other.py", 1, 11)
    assert located(text, "id name", 1) == ("pkg/other.py", 1, 11)
    assert located(text, "query") == (PATH, *where(main, "query"))
    assert_spans_spell_the_file(text, {PATH: main, "pkg/other.py": other})


def test_a_star_import_makes_unknown_names_refs() -> None:
    scanned = scan('from .other import *\nX = "a" + FROM_STAR\n')
    with pytest.raises(NotStatic) as caught:
        evaluate(scanned.constants["X"], PATH, local_lookup)
    assert "FROM_STAR" in caught.value.reason
    assert (caught.value.line, caught.value.column) == (2, 11)


def test_not_static_in_another_module_is_reported_in_that_module() -> None:
    other = 'def f():\n    return "x"\nVALUE = "a" + f()\n'
    main = 'from .other import VALUE\nX = "b" + VALUE\n'
    other_scan = scan(other, "pkg/other.py")

    def lookup(path: str, parts: tuple[str, ...], line: int, column: int) -> tuple[str, Expr]:
        return "pkg/other.py", other_scan.constants["VALUE"]

    with pytest.raises(NotStatic) as caught:
        evaluate(scan(main).constants["X"], PATH, lookup)
    error = caught.value
    assert (error.path, error.line, error.column) == ("pkg/other.py", 3, 15)
    assert "`f()`" in error.reason


def test_a_name_defined_in_terms_of_itself_is_not_static() -> None:
    def lookup(path: str, parts: tuple[str, ...], line: int, column: int) -> tuple[str, Expr]:
        return path, Ref(parts, 7, 3)

    with pytest.raises(NotStatic) as caught:
        evaluate(Ref(("X",), 1, 5), PATH, lookup)
    assert "in terms of itself" in caught.value.reason


def test_the_length_limit_is_not_static() -> None:
    source = 'A = "abcdef"\nX = A + A + A\n'
    assert joined(constant(source, "X")) == "abcdef" * 3
    with pytest.raises(NotStatic) as caught:
        evaluate(scan(source).constants["X"], PATH, local_lookup, max_length=10)
    assert "beyond 10" in caught.value.reason


# -- what is not static -------------------------------------------------------------------

# (source, name of the constant or definition, offending source text, reason excerpt).
# The error must be located at the offending text (its first occurrence after the marker
# line "#>").
NOT_STATIC = [
    pytest.param(
        "from gql import gql\ndef f(p):\n#>\n    return gql('query A { ' + p + ' }')\n",
        "f.A",
        "p",
        "parameter of f()",
        id="parameter",
    ),
    pytest.param(
        "from gql import gql\ndef f(*, p='x'):\n#>\n    return gql('query A { ' + p)\n",
        "f.A",
        "p",
        "parameter of f()",
        id="keyword-only-parameter-with-default",
    ),
    pytest.param(
        "import os\n#>\nX = 'a' + os.getcwd() + 'b'\n",
        "X",
        "os.getcwd()",
        "is a call",
        id="call",
    ),
    pytest.param(
        "#>\nX = 'a' + str(1)\n",
        "X",
        "str(1)",
        "is a call",
        id="builtin-call",
    ),
    pytest.param(
        "TWICE = 'a'\nTWICE = 'b'\n#>\nX = 'q ' + TWICE\n",
        "X",
        "TWICE",
        "bound more than once (lines 1, 2)",
        id="module-name-bound-twice",
    ),
    pytest.param(
        "from gql import gql\ndef f(c):\n    s = 'a'\n    if c:\n        s = 'b'\n"
        "#>\n    return gql('query A { ' + s + ' }')\n",
        "f.A",
        "s",
        "bound more than once",
        id="local-bound-twice",
    ),
    pytest.param(
        "from gql import gql\ndef f():\n    for i in range(2):\n        s = 'x'\n"
        "#>\n    return gql('query A { ' + s + ' }')\n",
        "f.A",
        "s",
        "bound in a loop",
        id="name-bound-in-a-loop",
    ),
    pytest.param(
        "from gql import gql\ndef f():\n    while True:\n        s = 'x'\n        break\n"
        "#>\n    return gql('query A { ' + s + ' }')\n",
        "f.A",
        "s",
        "bound in a loop",
        id="name-bound-in-a-while-loop",
    ),
    pytest.param(
        "from gql import gql\ndef f():\n    for item in 'ab':\n        pass\n"
        "#>\n    return gql('query A { ' + item + ' }')\n",
        "f.A",
        "item",
        "loop variable",
        id="loop-variable",
    ),
    pytest.param(
        "from gql import gql\ndef f():\n    s = 'query A { '\n    s += 'a }'\n"
        "#>\n    return gql(s)\n",
        "f.gql",
        "s",
        "`s` is bound more than once",
        id="augmented-assignment-after-binding",
    ),
    pytest.param(
        "from gql import gql\nG += 'x'\ndef f():\n#>\n    return gql('query A { ' + G)\n",
        "f.A",
        "G",
        "augmented assignment (+= ...)",
        id="augmented-assignment-alone",
    ),
    pytest.param(
        "from gql import gql\ndef f(obj):\n#>\n    return gql('query A { ' + obj.name)\n",
        "f.A",
        "obj.name",
        "attribute known only at run time",
        id="attribute-of-a-parameter",
    ),
    pytest.param(
        "#>\nX = 'a' + UNKNOWN.attr\n",
        "X",
        "UNKNOWN.attr",
        "attribute known only at run time",
        id="attribute-of-an-unknown-object",
    ),
    pytest.param(
        "class K:\n    pass\n#>\nX = 'a' + K.MISSING\n",
        "X",
        "K.MISSING",
        "not bound in the body of class K",
        id="class-attribute-not-in-the-body",
    ),
    pytest.param(
        "D = {'k': 'v'}\n#>\nX = 'a' + D['k']\n",
        "X",
        "D['k']",
        "computed at run time",
        id="subscript",
    ),
    pytest.param(
        "#>\nX = 'a' + UNBOUND\n",
        "X",
        "UNBOUND",
        "not bound in this module",
        id="unbound-name",
    ),
    pytest.param(
        "import os\n#>\nX = ', '.join(os.environ)\n",
        "X",
        "os.environ",
        "not a list or tuple display",
        id="join-of-a-non-display",
    ),
    pytest.param(
        "from gql import gql\ndef f():\n    with open('x') as handle:\n        pass\n"
        "#>\n    return gql('query A { ' + handle)\n",
        "f.A",
        "handle",
        "with ... as",
        id="with-target",
    ),
    pytest.param(
        "#>\nX = 'a' + 'd' * 2\n",
        "X",
        "'d' * 2",
        "arithmetic",
        id="arithmetic",
    ),
]


@pytest.mark.parametrize(("source", "name", "offending", "reason"), NOT_STATIC)
def test_not_static_points_at_the_offending_sub_expression(
    source: str, name: str, offending: str, reason: str
) -> None:
    scanned = scan(source)
    expr = scanned.constants.get(name)
    if expr is None:
        found = scanned.definition(name)
        assert found is not None, [d.name for d in scanned.definitions]
        expr = found.expr
    with pytest.raises(NotStatic) as caught:
        evaluate(expr, PATH, local_lookup)
    error = caught.value
    marker = source.index("#>\n") + 3
    offset = source.index(offending, marker)
    line = source.count("\n", 0, offset) + 1
    column = offset - source.rfind("\n", 0, offset)
    assert (error.path, error.line, error.column) == (PATH, line, column), error.reason
    assert reason in error.reason
    assert f"`{offending}`" in error.reason


@pytest.mark.parametrize(
    ("expression", "offending", "reason"),
    [
        ("'a' + 1", "1", "a string is expected here, but the value is int"),
        ("'-'.join(['a', 2.5])", "2.5", "join() takes strings"),
        ("'%s %s' % ('a',)", "'%s %s' % ('a',)", "% formatting fails"),
        ("'{} {}'.format('a')", "'{} {}'.format('a')", "str.format() fails"),
        ("f'{\"a\":d}'", '{"a":d}', "cannot format the value"),
    ],
)
def test_type_errors_are_not_static_where_they_happen(
    expression: str, offending: str, reason: str
) -> None:
    source = f"X = {expression}\n"
    with pytest.raises(NotStatic) as caught:
        evaluate(scan(source).constants["X"], PATH, local_lookup)
    assert (caught.value.line, caught.value.column) == where(source, offending)
    assert reason in caught.value.reason
    with pytest.raises((TypeError, ValueError, IndexError)):
        python_value(source, "X")


def test_a_conditional_met_during_evaluation_is_not_static() -> None:
    other = 'PICK = "a" if FLAG else "b"\n'
    other_scan = scan(other, "pkg/other.py")

    def lookup(path: str, parts: tuple[str, ...], line: int, column: int) -> tuple[str, Expr]:
        return "pkg/other.py", other_scan.constants["PICK"]

    with pytest.raises(NotStatic) as caught:
        evaluate(Ref(("PICK",), 1, 1), PATH, lookup)
    assert (caught.value.path, caught.value.line, caught.value.column) == ("pkg/other.py", 1, 8)
    assert "variants" in caught.value.reason


# -- definitions: naming, variants, marking ---------------------------------------------------


def test_module_level_binding_is_named_after_the_name() -> None:
    source = 'from gql import gql\n\nX = gql("query Other { a }")\nY: object = gql("{ a }")\n'
    scanned = scan(source)
    assert [(d.name, d.line, d.column, d.kind, d.binding) for d in scanned.definitions] == [
        ("X", 3, 1, "call", "X"),
        ("Y", 4, 1, "call", "Y"),
    ]
    assert isinstance(scanned.definitions[0].expr, Lit)


@pytest.mark.parametrize(
    ("header", "callee"),
    [
        ("from gql import gql", "gql"),
        ("from gql import gql as g", "g"),
        ("import gql", "gql.gql"),
        ("import gql as client", "client.gql"),
    ],
)
def test_every_gql_spelling_is_found_everywhere(header: str, callee: str) -> None:
    source = (
        f"{header}\n"
        f'A = {callee}("query A {{ a }}")\n'
        "def f():\n"
        f'    return {callee}("query B {{ a }}")\n'
        "class C:\n"
        "    def m(self):\n"
        f'        print({callee}("query D {{ a }}"))\n'
        f'        return [{callee}("query E {{ a }}")]\n'
    )
    assert [d.name for d in scan(source).definitions] == ["A", "f.B", "C.m.D", "C.m.E"]


def test_gql_from_another_module_is_not_a_definition() -> None:
    assert scan('from other import gql\nX = gql("query Q { a }")\n').definitions == ()


def test_method_call_is_named_by_scope_and_operation() -> None:
    source = (
        "from gql import gql\n"
        "class C:\n"
        "    def m(self):\n"
        '        gql("query Q { a }")\n'
        '        gql("query Q { b }")\n'
        '        gql("query Q { c }")\n'
        "        gql('{ d }')\n"
        "        gql('{ e }')\n"
    )
    scanned = scan(source)
    assert [(d.name, d.line, d.column, d.binding) for d in scanned.definitions] == [
        ("C.m.Q", 4, 9, None),
        ("C.m.Q~2", 5, 9, None),
        ("C.m.Q~3", 6, 9, None),
        ("C.m.gql", 7, 9, None),
        ("C.m.gql~2", 8, 9, None),
    ]
    assert [d.call for d in scanned.definitions] == [1, 2, 3, 4, 5]


def test_local_assignment_names_a_call_without_an_operation_name() -> None:
    source = 'from gql import gql\ndef f():\n    doc = gql("{ a }")\n    return doc\n'
    assert [d.name for d in scan(source).definitions] == ["f.doc"]


def test_a_conditional_argument_gives_one_definition_per_variant() -> None:
    source = (
        "from gql import gql\n"
        "def f(flag):\n"
        '    return gql("query A { a }" if flag else "query B { b }")\n'
        "def g(flag):\n"
        '    return gql(flag and "query C { c }" or "query D { d }")\n'
        'PICKED = "query E { e }" if FLAG else "query F { f }"\n'
        "DOC = gql(PICKED)\n"
    )
    scanned = scan(source)
    summary = [
        (d.name, d.variant, d.call, d.binding, joined(evaluate(d.expr, PATH, local_lookup)))
        for d in scanned.definitions
    ]
    assert summary == [
        ("f.A", 1, 1, None, "query A { a }"),
        ("f.B", 2, 1, None, "query B { b }"),
        ("g.C", 1, 2, None, "query C { c }"),
        ("g.D", 2, 2, None, "query D { d }"),
        ("E", 1, 3, "DOC", "query E { e }"),
        ("F", 2, 3, "DOC", "query F { f }"),
    ]


def test_variants_of_one_operation_name_are_numbered() -> None:
    source = (
        "from gql import gql\n"
        "def f(flag):\n"
        '    return gql("query Q { " + ("a" if flag else "b") + " }")\n'
    )
    scanned = scan(source)
    assert [(d.name, d.variant) for d in scanned.definitions] == [("f.Q", 1), ("f.Q~2", 2)]


def test_marked_on_the_line_before_and_trailing() -> None:
    source = (
        "# language=GraphQL\n"  # 1
        'BEFORE = "query Before { a }"\n'  # 2
        'TRAILING = "query Trailing { a }"  # language=GraphQL\n'  # 3
        "MULTI = (  # language=graphql\n"  # 4
        '    "query Multi { a }"\n'
        ")\n"
        'PLAIN = "query Plain { a }"\n'  # 7
        "#   LANGUAGE : GraphQL\n"  # 8
        'SPACED = "query Spaced { a }"\n'  # 9
        "# language=GraphQL\n"  # 10
        "\n"
        'TOO_FAR = "query Far { a }"\n'  # 12
        'OTHER = "query Other { a }"  # language=SQL\n'  # 13
        "def f():\n"
        "    # language=GraphQL\n"
        '    local = "fragment L on T { a }"\n'  # 16
        "    return local\n"
    )
    scanned = scan(source)
    assert [(d.name, d.kind, d.line, d.column, d.binding) for d in scanned.definitions] == [
        ("BEFORE", "marked", 2, 1, "BEFORE"),
        ("TRAILING", "marked", 3, 1, "TRAILING"),
        ("MULTI", "marked", 4, 1, "MULTI"),
        ("SPACED", "marked", 9, 1, "SPACED"),
        ("f.L", "marked", 16, 5, None),
    ]
    text = evaluate(scanned.definition("MULTI").expr, PATH, local_lookup)  # type: ignore[union-attr]
    assert located(text, "query") == (PATH, 5, 6)


def test_a_plain_string_is_not_a_definition() -> None:
    source = 'X = "query Q { a }"\ndef f():\n    y = "query R { a }"\n    return y\n'
    scanned = scan(source)
    assert scanned.definitions == ()
    assert "X" in scanned.constants  # still a constant others may splice


# -- edge cases (each once a bug) ------------------------------------------------------


def test_a_bom_does_not_shift_columns_on_the_first_line() -> None:
    data = b'\xef\xbb\xbfX = "abc"\n'
    scanned = scan_python(PATH, data, MODULES)
    assert scanned.constants["X"] == Lit("abc", 1, 6, True)


def test_lone_cr_line_ends_count_characters() -> None:
    data = 'A = 1\rX = "é" + "b"\r'.encode()
    text = evaluate(scan_python(PATH, data, MODULES).constants["X"], PATH, local_lookup)
    assert located(text, "b") == (PATH, 2, 12)


def test_negative_and_none_constants_are_recorded() -> None:
    source = "N = -5\nZ = None\nX = f'{N}{Z}'\n"
    scanned = scan(source)
    assert joined(evaluate(scanned.constants["X"], PATH, local_lookup)) == "-5None"
    assert "N" in scanned.constants and "Z" in scanned.constants


def test_a_module_name_bound_in_a_loop_is_not_static_for_other_modules() -> None:
    source = (
        "from gql import gql\n"
        "for _ in range(0):\n"
        '    LOOPED = "query L { a }"\n'
        "def f():\n"
        "    return gql(LOOPED)\n"
    )
    scanned = scan(source)
    with pytest.raises(NotStatic):  # the same module: not static
        evaluate(scanned.definitions[0].expr, PATH, local_lookup)
    expr = scanned.constants.get("LOOPED")
    if expr is not None:  # another module splicing it must fail too
        with pytest.raises(NotStatic):
            evaluate(expr, PATH, local_lookup)


def test_class_attribute_of_a_class_defined_below_the_function() -> None:
    source = (
        "from gql import gql\n"
        "def f():\n"
        '    return gql("query Q { " + K.FIELD + " }")\n'
        "class K:\n"
        '    FIELD = "a"\n'
    )
    text = evaluate(definition(source, "f.Q").expr, PATH, local_lookup)
    assert joined(text) == "query Q { a }"


def test_a_local_used_before_its_binding_is_not_static() -> None:
    source = (
        "from gql import gql\n"
        "def f():\n"
        '    doc = gql("query Q { " + field + " }")\n'
        '    field = "a"\n'
        "    return doc\n"
    )
    with pytest.raises(NotStatic):
        evaluate(definition(source, "f.Q").expr, PATH, local_lookup)


def test_fstring_concatenated_with_a_literal_is_located_at_its_start() -> None:
    # an f-string implicitly concatenated with other strings is located coarsely: at the
    # start of the whole literal, on the right line (never at a wrong place)
    source = 'A = "x"\nX = f"{A}" "tail"\n'
    text = constant(source, "X")
    assert joined(text) == "xtail"
    assert located(text, "tail") == (PATH, 2, 5)
