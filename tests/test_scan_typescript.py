"""The TypeScript/JavaScript scanner: documents, imports and exports, constants, names,
positions, syntax errors."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.resolve.modules import DefRef, NameResolver
from sodabuild.scan.python import FragmentArg, GqlDefinition, ImportBinding, ModuleScan
from sodabuild.scan.static import (
    Concat,
    Dynamic,
    Embed,
    Expr,
    Lit,
    NotStatic,
    Ref,
    Span,
    Text,
    evaluate,
    joined,
)
from sodabuild.scan.typescript import grammar_for, scan_typescript

PATH = "src/queries.ts"


def scan(source: str | bytes, path: str = PATH) -> ModuleScan:
    data = source.encode("utf-8") if isinstance(source, str) else source
    return scan_typescript(path, data, ())


def names(result: ModuleScan) -> list[str]:
    return [d.name for d in result.definitions]


def only(result: ModuleScan) -> GqlDefinition:
    assert result.parsed, result.diagnostics
    assert len(result.definitions) == 1, names(result)
    return result.definitions[0]


def host_char(source: str, line: int, column: int) -> str:
    """The file's character at (line, column), lines split as the scanner splits them."""
    host = re.split(r"\r\n|\r|\n", source.removeprefix("\ufeff"))[line - 1]
    return host[column - 1] if column <= len(host) else "\n"


def text_of(result: ModuleScan, definition: GqlDefinition) -> Text:
    """The document, evaluated with what the module alone knows: its constants are
    spliced; an embedded name that is not a string adds no text (a fragment)."""

    def lookup(path: str, parts: tuple[str, ...], line: int, column: int) -> tuple[str, Expr]:
        name = ".".join(parts)
        if name in result.constants:
            return path, result.constants[name]
        raise NotStatic(f"'{name}' is not a string of this module", path, line, column)

    return evaluate(definition.expr, PATH, lookup)


def codes(result: ModuleScan) -> list[tuple[str, int | None, int | None]]:
    return [(d.code, d.line, d.column) for d in result.diagnostics]


# -- the module ---------------------------------------------------------------------------


def test_importing_the_module_does_not_import_tree_sitter() -> None:
    code = (
        "import sys\n"
        "import sodabuild.scan.typescript\n"
        "loaded = [m for m in sys.modules if m.startswith('tree_sitter')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("path", "grammar"),
    [
        ("a.ts", "typescript"),
        ("a.mts", "typescript"),
        ("dir.v2/a.cts", "typescript"),
        ("a.tsx", "tsx"),
        ("a.js", "javascript"),
        ("a.jsx", "javascript"),
        ("a.mjs", "javascript"),
        ("a.cjs", "javascript"),
        ("a.vue", "javascript"),
        ("dir.ts/Makefile", "javascript"),
    ],
)
def test_the_suffix_chooses_the_grammar(path: str, grammar: str) -> None:
    assert grammar_for(path) == grammar


def test_the_result_pickles() -> None:
    result = scan(
        'import { F } from "./f";\n'
        "export const Q = gql`query Q { a ...F } ${F}`;\n"
        'export const S = "s";\n'
        "export { Q as R };\n"
    )
    loaded = pickle.loads(pickle.dumps(result))
    assert loaded == result
    assert loaded.constants == result.constants
    assert loaded.binding("R") == result.definitions[0]
    assert loaded.definition("R") == result.definitions[0]


# -- documents ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "gql",
        "graphql",
        "Apollo.gql",
        "lib.client.graphql",
        "gql<GetUserQuery>",
        "gql<GetUserQuery, GetUserQueryVariables>",
        "gql<{ user: { id: string } }>",
        "gql<Array<Foo>>",
        "gql<(a: A) => B>",
        "Apollo.gql<T>",
    ],
)
def test_tagged_templates(tag: str) -> None:
    source = (
        f"const other = 1;\nexport const GET_USER = {tag}`query GetUser {{ user {{ id }} }}`;\n"
    )
    definition = only(scan(source))
    assert definition.name == "GET_USER"
    assert definition.binding == "GET_USER"
    assert definition.kind == "template"
    assert (definition.line, definition.column) == (2, 25)  # the tag's first character
    assert definition.expr == Lit("query GetUser { user { id } }", 2, 25 + len(tag) + 1, True)
    assert (definition.call, definition.variant) == (1, 0)
    assert definition.args == ()


def test_generic_tags_in_tsx_and_other_generic_tags_parse() -> None:
    source = (
        "const Box = styled.div<{ wide: boolean }>`\n  width: 100%;\n`;\n"
        "const Q = gql<{ a: 1 }>`{ a }`;\n"
        "export function App() {\n  return <Box wide>{`text`}</Box>;\n}\n"
    )
    result = scan(source, "src/App.tsx")
    assert result.parsed, result.diagnostics
    assert names(result) == ["Q"]


def test_calls_with_string_and_template_arguments() -> None:
    source = (
        "const A = gql('query A { a }');\n"
        'const B = graphql("query B { b }");\n'
        "const C = graphql<Result, Variables>(`query C { c }`);\n"
        "const D = gql(`query D { ${FIELDS} }`);\n"
    )
    result = scan(source)
    assert names(result) == ["A", "B", "C", "D"]
    a, b, c, d = result.definitions
    assert a.expr == Lit("query A { a }", 1, 16, True)
    assert b.expr == Lit("query B { b }", 2, 20, True)
    assert c.expr == Lit("query C { c }", 3, 39, True)
    # an untagged template splices strings: ${X} is a plain reference, not a fragment
    assert d.expr == Concat(
        (Lit("query D { ", 4, 16, True), Ref(("FIELDS",), 4, 28), Lit(" }", 4, 35, True))
    )
    assert d.args == ()
    assert [x.kind for x in result.definitions] == ["template"] * 4


def test_calls_with_a_name_or_an_expression() -> None:
    source = (
        "function f() {\n"
        "  gql(QUERY);\n"
        "  gql(queries.USER);\n"
        "  gql(load());\n"
        "  gql('query ' + NAME + ' { a }');\n"
        "}\n"
    )
    result = scan(source)
    assert names(result) == ["f.QUERY", "f.USER", "f.anonymous", "f.anonymous~2"]
    first, second, third, fourth = (d.expr for d in result.definitions)
    assert first == Ref(("QUERY",), 2, 7)
    assert second == Ref(("queries", "USER"), 3, 7)
    assert third == Dynamic("`load()` is computed at run time", 4, 7)
    assert fourth == Concat(
        (Lit("query ", 5, 8, True), Ref(("NAME",), 5, 18), Lit(" { a }", 5, 26, True))
    )


def test_gql_tada_fragment_arrays() -> None:
    source = (
        'import { UserFields } from "./user";\n'
        'import * as posts from "./posts";\n'
        "export const Q = graphql(`query Q { ...UserFields ...PostFields }`, [UserFields, posts.PostFields]);\n"
    )
    definition = only(scan(source))
    assert definition.args == (
        FragmentArg(("UserFields",), 3, 70),
        FragmentArg(("posts", "PostFields"), 3, 82),
    )
    assert not any(arg.embedded for arg in definition.args)


@pytest.mark.parametrize(
    ("call", "code", "column"),
    [
        ("gql()", "GQL_NON_LITERAL", 11),
        ("graphql(`{ a }`, Frag)", "GQL_ARG_INVALID", 28),
        ("graphql(`{ a }`, [Frag], extra)", "GQL_ARG_INVALID", 28),
        ("graphql(`{ a }`, [Frag, make()])", "GQL_ARG_INVALID", 35),
        ("graphql(`{ a }`, [...frags])", "GQL_ARG_INVALID", 29),
    ],
)
def test_invalid_calls_are_reported_and_skipped(call: str, code: str, column: int) -> None:
    result = scan(f"const Q = {call};\n")
    assert result.parsed
    assert names(result) == []
    assert codes(result) == [(code, 1, column)]
    assert "Q" in result.other_names


@pytest.mark.parametrize(
    "source",
    [
        "const result = graphql({ schema, source: query });\n",
        "const result = graphql(schema, query, root);\n",
        "const result = graphql(schema, query);\n",
        "gql.resetCaches();\nconst fn = gql;\nmygql`x`;\ngqlx`x`;\n",
        "const s = 'gql`{ a }`'; // gql`{ b }`\n/* graphql(`{ c }`) */\n",
        "const t = html`<p>graphql</p>`;\nconst u = gql.foo`x`;\n",
    ],
)
def test_what_is_not_a_document(source: str) -> None:
    result = scan(source)
    assert result.parsed, result.diagnostics
    assert names(result) == []
    assert result.diagnostics == ()


def test_embedded_fragments_are_located_and_passed() -> None:
    source = (
        'import { UserFields } from "./fragments";\n'
        'import * as frags from "./more";\n'
        "export const Q = gql`\n"
        "  query Q { user { ...UserFields ...PostFields } }\n"
        "  ${UserFields}\n"
        "  ${ frags.PostFields }\n"
        "`;\n"
    )
    definition = only(scan(source))
    assert definition.expr == Concat(
        (
            Lit("\n  query Q { user { ...UserFields ...PostFields } }\n  ", 3, 22, True),
            Embed(("UserFields",), 5, 5),
            Lit("\n  ", 5, 16, True),
            Embed(("frags", "PostFields"), 6, 6),
            Lit("\n", 6, 24, True),
        )
    )
    assert definition.args == (
        FragmentArg(("UserFields",), 5, 5, embedded=True),
        FragmentArg(("frags", "PostFields"), 6, 6, embedded=True),
    )
    assert host_char(source, 5, 5) == "U"
    assert host_char(source, 6, 6) == "f"


def test_an_embedded_string_constant_is_spliced_and_a_document_adds_no_text() -> None:
    source = (
        "const FIELDS = `id name`;\n"
        "const F = gql`fragment F on User { id }`;\n"
        "const Q = gql`query Q { user { ${FIELDS} ...F } } ${F}`;\n"
    )
    result = scan(source)
    q = result.definition("Q")
    assert q is not None
    assert joined(text_of(result, q)) == "query Q { user { id name ...F } } "
    assert [arg.parts for arg in q.args] == [("FIELDS",), ("F",)]


@pytest.mark.parametrize(
    ("substitution", "shown"),
    [
        ("fn()", "fn()"),
        ("a ? B : C", "a ? B : C"),
        ("this.fragment", "this.fragment"),
        ("a?.b", "a?.b"),
        ("items[0]", "items[0]"),
        ("`nested`", "`nested`"),
        ("(make())", "make()"),
    ],
)
def test_dynamic_substitutions(substitution: str, shown: str) -> None:
    source = f"const Q = gql`query Q {{ a }} ${{{substitution}}}`;\n"
    definition = only(scan(source))
    assert isinstance(definition.expr, Concat)
    dynamic = definition.expr.items[-1]
    assert dynamic == Dynamic(
        f"`${{{shown}}}` is computed at run time", 1, 31 + substitution.index(shown[0])
    )
    assert definition.args == ()
    with pytest.raises(NotStatic):
        text_of(scan(source), definition)


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (r"a\nb", "a\nb"),
        (r"a\`b", "a`b"),
        (r"a\${b}", "a${b}"),
        (r"a\\b", "a\\b"),
        (r"\u{1F600}", "😀"),
        (r"\u00e9\x41", "éA"),
        (r"\uD83D\uDE00", "😀"),
        ("a\\\nb", "ab"),
        ("a\\\r\nb", "ab"),
        (r"\t\0", "\t\0"),
    ],
)
def test_template_escapes_are_cooked_and_not_exact(body: str, value: str) -> None:
    definition = only(scan(f"const Q = gql`{body}`;\n"))
    assert definition.expr == Lit(value, 1, 15, False)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'\101\0'", "A\0"),
        (r"'\8'", "8"),
        (r"'\x41\u0042\u{43}'", "ABC"),
    ],
)
def test_string_escapes_are_cooked_and_not_exact(literal: str, value: str) -> None:
    definition = only(scan(f"const Q = gql({literal});\n"))
    assert definition.expr == Lit(value, 1, 16, False)


def test_documents_anywhere_get_scoped_ids() -> None:
    source = (
        "export function loadUser() {\n"
        "  return gql`query LoadUser { a }`;\n"
        "}\n"
        "class Repo {\n"
        "  find() {\n"
        "    return gql`{ b }`;\n"
        "  }\n"
        "  static list = gql`{ c }`;\n"
        "}\n"
        "export const useThing = () => {\n"
        "  const doc = gql`{ d }`;\n"
        "  const other = function () { return gql`{ e }`; };\n"
        "};\n"
        "run(() => gql`query Run { f }`);\n"
        "run(() => gql`query Run { g }`);\n"
        "const queries = { byId: gql`{ h }` };\n"
        "const Wrapped = memo(function Named() { return gql`{ i }`; });\n"
        "foo(gql`query loadUser { j }`);\n"
        "export default {\n  q: gql`{ k }`,\n};\n"
    )
    result = scan(source)
    assert names(result) == [
        "loadUser.LoadUser",
        "Repo.find.anonymous",
        "Repo.list",
        "useThing.doc",
        "useThing.other.anonymous",
        "<anonymous>.Run",
        "<anonymous>.Run~2",
        "byId",
        "Named.anonymous",
        "loadUser~2",  # "loadUser" is a top-level name: ids do not take it
        "q",
    ]
    assert [d.call for d in result.definitions] == list(range(1, 12))
    assert all(d.binding is None for d in result.definitions)
    assert result.definition("Repo.list") is result.definitions[2]
    assert "queries" in result.other_names  # not a document: an object holding one


def test_documents_inside_jsx() -> None:
    source = (
        'import React from "react";\n'
        "export function Page() {\n"
        "  return (\n"
        "    <Query query={gql`query Page { viewer { id } }`}>\n"
        "      {(data) => <div title={`x`}>{data.viewer.id}</div>}\n"
        "    </Query>\n"
        "  );\n"
        "}\n"
    )
    for path in ("src/Page.tsx", "src/Page.jsx", "src/Page.js"):
        definition = only(scan(source, path))
        assert definition.name == "Page.Page"
        assert (definition.line, definition.column) == (4, 19)
        assert definition.expr == Lit("query Page { viewer { id } }", 4, 23, True)


def test_default_export_of_a_document() -> None:
    result = scan("const x = 1;\nexport default gql`query Main { a }`;\n")
    definition = only(result)
    assert (definition.name, definition.binding) == ("default", "default")
    assert result.binding("default") is definition
    assert result.definition("default") is definition
    assert "default" not in result.other_names


def test_let_and_var_documents_are_bound_and_ids_stay_unique() -> None:
    source = (
        "let A = gql`{ a }`;\n"
        "var B = gql`{ b }`, C = 1;\n"
        "foo(gql`query A { x }`);\n"
        "foo(gql`query A { y }`);\n"
    )
    result = scan(source)
    assert names(result) == ["A", "B", "A~2", "A~3"]
    assert result.binding("A") is result.definitions[0]
    assert result.binding("B") is result.definitions[1]
    assert result.other_names == {"C"}


# -- imports and exports ------------------------------------------------------------------


def test_every_import_form() -> None:
    source = (
        'import Default, { A, B as C, type T, default as D2 } from "./x";\n'
        'import type { TypeOnly } from "./types";\n'
        'import type TypeDefault from "./types";\n'
        'import * as ns from "@/graphql/ns";\n'
        'import Both, * as all from "pkg";\n'
        'import "./side-effect";\n'
        "import { 'quoted name' as quoted } from \"./q\";\n"
        'import Legacy = require("./legacy");\n'
    )
    result = scan(source)

    def binding(name: str, module: str, attr: str | None, line: int, column: int) -> ImportBinding:
        return ImportBinding(name, module, 0, attr, line, column, specifier=True)

    assert result.imports == (
        binding("Default", "./x", "default", 1, 8),
        binding("A", "./x", "A", 1, 19),
        binding("C", "./x", "B", 1, 22),
        binding("D2", "./x", "default", 1, 38),
        binding("ns", "@/graphql/ns", None, 4, 8),
        binding("Both", "pkg", "default", 5, 8),
        binding("all", "pkg", None, 5, 14),
        binding("quoted", "./q", "quoted name", 7, 10),
    )
    assert result.star_imports == ()
    assert result.binding("C") == binding("C", "./x", "B", 1, 22)
    for name in ("T", "TypeOnly", "TypeDefault"):
        assert name not in result.bound_names()
    assert result.other_names == {"Legacy"}


def test_every_re_export_form() -> None:
    source = (
        'export { A as B, C } from "./x";\n'
        'export * as ns from "./ns";\n'
        'export * from "./everything";\n'
        'export { default } from "./d";\n'
        'export { default as Named } from "./d";\n'
        'export type { T } from "./types";\n'
        'export { type U, V } from "./types";\n'
    )
    result = scan(source)
    assert [(b.name, b.module, b.attr) for b in result.imports] == [
        ("B", "./x", "A"),
        ("C", "./x", "C"),
        ("ns", "./ns", None),
        ("default", "./d", "default"),
        ("Named", "./d", "default"),
        ("V", "./types", "V"),
    ]
    assert all(b.specifier and b.level == 0 for b in result.imports)
    assert result.star_imports == (
        ImportBinding("*", "./everything", 0, None, 3, 1, specifier=True),
    )
    assert "T" not in result.bound_names() and "U" not in result.bound_names()


def test_local_re_exports_and_aliases_resolve_to_the_same_thing() -> None:
    source = (
        'import { Imported } from "./x";\n'
        "const GET = gql`query Get { a }`;\n"
        "const TEXT = 'text';\n"
        "function helper() {}\n"
        "const Alias = GET;\n"
        "const Chain = Alias;\n"
        "export { GET as Query, Imported as Again, TEXT as Words, helper as Helper, GET };\n"
        "export default GET;\n"
    )
    result = scan(source)
    get = result.definition("GET")
    assert get is not None and names(result) == ["GET"]
    for alias in ("Query", "Alias", "Chain", "default"):
        assert result.binding(alias) is get
        assert result.definition(alias) is get  # what a reference through the alias names
    assert result.binding("Again") is result.binding("Imported")
    assert result.imports == (result.binding("Imported"),)  # no second import statement
    assert result.constants["Words"] == result.constants["TEXT"]
    assert {"helper", "Helper"} <= result.other_names


def test_a_reference_through_a_local_re_export_finds_the_document() -> None:
    result = scan("const GET = gql`query Get { a }`;\nexport { GET as Query };\n")
    resolver = NameResolver(lambda path: result if path == PATH else None, lambda path: None)  # type: ignore[arg-type,return-value]
    target = resolver.name(PATH, "Query")
    assert target == DefRef(PATH, "GET")  # the definition's id (resolve/modules.py)
    assert result.definition(target.name) is result.definition("GET")


def test_an_alias_of_an_unknown_name_is_an_other_name() -> None:
    result = scan("const X = window;\nexport { missing as Y };\nexport default globalThing;\n")
    assert {"X", "Y", "default"} <= result.other_names
    assert result.binding("Y") is None


# -- constants and other names ------------------------------------------------------------


def test_constants() -> None:
    source = (
        "const A = 'a';\n"
        'export const B = "b";\n'
        "const C = `c ${A} ${ns.D} ${fn()}`;\n"
        "const E = 'e' + B + `f`;\n"
        "const G = 'g' as const;\n"
        "const H = config.name;\n"
        "let I = 'mutable';\n"
        "var J = 'var';\n"
        "const K = 1;\n"
        "const L = tag`tagged`;\n"
        "const M = cond ? 'a' : 'b';\n"
    )
    result = scan(source)
    assert result.constants == {
        "A": Lit("a", 1, 12, True),
        "B": Lit("b", 2, 19, True),
        "C": Concat(
            (
                Lit("c ", 3, 12, True),
                Ref(("A",), 3, 16),
                Lit(" ", 3, 18, True),
                Ref(("ns", "D"), 3, 21),
                Lit(" ", 3, 26, True),
                Dynamic("`${fn()}` is computed at run time", 3, 29),
            )
        ),
        "E": Concat((Lit("e", 4, 12, True), Ref(("B",), 4, 17), Lit("f", 4, 22, True))),
        "G": Lit("g", 5, 12, True),
        "H": Ref(("config", "name"), 6, 11),
    }
    # as in the Python scanner, a constant is a name bound by something else than an
    # import or a document: resolution looks at constants first
    assert result.other_names == set("ABCEGHIJKLM")
    assert result.definitions == ()


def test_a_long_concatenation_is_no_recursion_problem() -> None:
    terms = " + ".join(f"'{i} '" for i in range(5000))
    result = scan(f"const X = {terms};\nconst Y = {'[' * 2000}{']' * 2000};\n")
    constant = result.constants["X"]
    assert isinstance(constant, Concat) and len(constant.items) == 5000


def test_other_names() -> None:
    source = (
        "function f() {}\n"
        "function* gen() {}\n"
        "class K {}\n"
        "abstract class Abstract {}\n"
        "export enum Color { Red }\n"
        "namespace NS {}\n"
        "let a = 1, b;\n"
        "var c;\n"
        "const { d, e: [g], ...rest } = obj;\n"
        "const [h, i = 2] = list;\n"
        "export default function main() {}\n"
        "interface Shape {}\n"
        "type Alias = string;\n"
        "declare const ambient: string;\n"
    )
    result = scan(source)
    assert result.other_names == {
        "f",
        "gen",
        "K",
        "Abstract",
        "Color",
        "NS",
        "a",
        "b",
        "c",
        "d",
        "g",
        "rest",
        "h",
        "i",
        "main",
        "default",
    }
    assert result.bound_names() == result.other_names


def test_bindings_of_a_mixed_module() -> None:
    source = (
        'import { F } from "./f";\n'
        "export const Q = gql`query Q { ...F } ${F}`;\n"
        "export const S = 'shared';\n"
        "export function f() { return gql`query Inner { a }`; }\n"
    )
    result = scan(source)
    assert result.bound_names() == {"F", "Q", "S", "f"}
    assert isinstance(result.binding("F"), ImportBinding)
    assert result.binding("Q") is result.definition("Q")
    assert result.binding("S") is None and "S" in result.constants
    assert result.binding("f") is None and "f" in result.other_names
    assert result.definition("f.Inner") is not None
    assert set(result._by_id) == {"Q", "f.Inner"}


# -- positions ----------------------------------------------------------------------------


def test_multibyte_characters_before_a_document_count_as_one_column() -> None:
    source = "const s = 'é😀日'; const Q = gql`query Q { a }`;\n"
    definition = only(scan(source))
    assert (definition.line, definition.column) == (1, 28)
    assert host_char(source, 1, 28) == "g"
    lit = definition.expr
    assert lit == Lit("query Q { a }", 1, 32, True)
    assert host_char(source, 1, 32) == "q"


def test_embeds_after_multibyte_characters() -> None:
    source = "const Q = gql`query Q { é😀 ${Frag} }`;\n"
    definition = only(scan(source))
    assert definition.args == (FragmentArg(("Frag",), 1, 30, embedded=True),)
    assert host_char(source, 1, 30) == "F"


def test_crlf_files() -> None:
    source = (
        "const a = 1;\r\n"
        "export const Q = gql`\r\n"
        "  query Q {\r\n"
        "    é ${Frag}\r\n"
        "  }\r\n"
        "`;\r\n"
        "const é = 'x'; const R = gql`{ b }`;\r\n"
    )
    result = scan(source)
    q, r = result.definitions
    assert (q.line, q.column) == (2, 18)
    assert isinstance(q.expr, Concat)
    first = q.expr.items[0]
    assert first == Lit("\n  query Q {\n    é ", 2, 22, True)  # line breaks cooked to \n
    assert q.args == (FragmentArg(("Frag",), 4, 9, embedded=True),)
    assert host_char(source, 4, 9) == "F"
    assert (r.line, r.column) == (7, 26)
    assert r.expr == Lit("{ b }", 7, 30, True)
    span = Span(first.value, PATH, first.line, first.column, True)
    for offset, char in enumerate(first.value):
        if char != "\n":
            assert host_char(source, *span.at(offset)) == char


def test_lone_cr_line_breaks() -> None:
    source = "const a = 1;\rconst Q = gql`{\r  a }`;\r"
    definition = only(scan(source))
    assert (definition.line, definition.column) == (2, 11)
    assert definition.expr == Lit("{\n  a }", 2, 15, True)


def test_a_bom_is_not_a_column() -> None:
    source = "\ufeffconst Q = gql`query Q { a }`;\n"
    definition = only(scan(source))
    assert (definition.line, definition.column) == (1, 11)
    assert definition.expr == Lit("query Q { a }", 1, 15, True)
    assert host_char(source, 1, 11) == "g"


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(alphabet=st.sampled_from("aé😀日 "), max_size=6),
    text=st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="`\\\r\x00"),
        max_size=80,
    ).filter(lambda text: "${" not in text),
)
def test_template_text_maps_back_to_the_source(prefix: str, text: str) -> None:
    source = f'const p = "{prefix}"; const Q = gql`{text}`;\nconst after = 1;\n'
    definition = only(scan(source))
    lit = definition.expr
    assert isinstance(lit, Lit)
    assert lit.value == text
    assert lit.exact
    span = Span(lit.value, PATH, lit.line, lit.column, True)
    for offset, char in enumerate(text):
        if char != "\n":
            assert host_char(source, *span.at(offset)) == char


# -- syntax errors ------------------------------------------------------------------------


def test_a_syntax_error_is_located_at_the_unexpected_token() -> None:
    result = scan('const é = "日本";\nconst x = (];\nconst Q = gql`{ a }`;\n')
    assert not result.parsed
    assert result.definitions == () and result.imports == ()
    (diagnostic,) = result.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("TS_SYNTAX", 2, 12)
    assert diagnostic.message == "TypeScript syntax error: unexpected `]`"
    assert diagnostic.hint is not None
    assert diagnostic.file == PATH


def test_a_missing_token_is_named() -> None:
    result = scan("if (ready {\n  run();\n}\n")
    assert not result.parsed
    (diagnostic,) = result.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("TS_SYNTAX", 1, 10)
    assert diagnostic.message == "TypeScript syntax error: expected `)`"


def test_a_syntax_error_after_multibyte_characters() -> None:
    result = scan("const s = '😀'; x = (]\n")
    assert codes(result) == [("TS_SYNTAX", 1, 21)]


def test_typescript_syntax_is_an_error_in_a_javascript_file() -> None:
    source = "const x: number = 1;\nconst Q = gql`{ a }`;\n"
    assert scan(source, "src/a.ts").parsed
    result = scan(source, "src/a.js")
    assert not result.parsed
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "TS_SYNTAX"
    assert diagnostic.message.startswith("JavaScript syntax error")
    assert diagnostic.line == 1


def test_an_unterminated_template() -> None:
    result = scan("const a = 1;\nconst Q = gql`{ a }\n")
    assert not result.parsed
    assert result.diagnostics[0].code == "TS_SYNTAX"


def test_not_utf8_is_a_located_diagnostic() -> None:
    result = scan(b"const a = 1;\nconst s = '\xe9t\xe9';\n")
    assert not result.parsed
    assert codes(result) == [("TS_SYNTAX", 2, 12)]
    assert result.diagnostics[0].message.startswith("not valid UTF-8")


def test_javascript_modules_use_the_javascript_grammar() -> None:
    source = (
        'import { gql } from "@apollo/client";\n'
        'import { F } from "./f.mjs";\n'
        "export const Q = gql`query Q { ...F } ${F}`;\n"
        "export const render = () => <div>{Q.loc}</div>;\n"
    )
    for path in ("src/q.js", "src/q.mjs", "src/q.cjs", "src/q.jsx"):
        result = scan(source, path)
        assert result.parsed, (path, result.diagnostics)
        assert names(result) == ["Q"]
        assert result.binding("F") == ImportBinding("F", "./f.mjs", 0, "F", 2, 10, specifier=True)
    # JSX is not TypeScript: in a .ts file it is a syntax error
    assert not scan(source, "src/q.ts").parsed


def test_a_jsx_closing_tag_that_does_not_match_is_a_syntax_error() -> None:
    source = 'export const Q = gql`{ a }`;\nexport function Card() {\n  return <div className="card">{"ü"}</span>;\n}\n'
    for path in ("src/Card.tsx", "src/Card.jsx"):
        result = scan(source, path)
        assert not result.parsed
        assert codes(result) == [("TS_SYNTAX", 3, 37)]
        assert "`</span>` does not match `<div>`" in result.diagnostics[0].message
    matching = "const a = <a.b title=\"</div>\">{'</p>'}<c /></a.b>;\nconst b = <><p></ p></>;\n"
    assert scan(matching, "src/ok.tsx").parsed


# -- function-local names -----------------------------------------------------------------


def resolve_arg(result: ModuleScan, arg: FragmentArg) -> object:
    """What the build resolves a fragment argument to (``NameResolver`` on this module)."""
    resolver = NameResolver(lambda path: result if path == PATH else None, lambda path: None)  # type: ignore[arg-type,return-value]
    return resolver.name(PATH, arg.parts[0])


def dynamic_of(definition: GqlDefinition) -> Dynamic:
    """The one Dynamic leaf of a definition's IR."""
    items = definition.expr.items if isinstance(definition.expr, Concat) else (definition.expr,)
    leaves = [item for item in items if isinstance(item, Dynamic)]
    assert len(leaves) == 1, definition.expr
    return leaves[0]


COMPONENT = (
    "export function Comp() {\n"
    "  const FRAG = gql`fragment F on User { id }`;\n"
    '  const FIELDS = "name bio";\n'
    "  const Q = gql`query Q { user(id: 1) { ...F ${FIELDS} } } ${FRAG}`;\n"
    "}\n"
)


def test_a_local_string_is_inlined_and_a_local_document_is_passed_by_its_id() -> None:
    result = scan(COMPONENT)
    assert names(result) == ["Comp.F", "Comp.Q"]
    fragment, query = result.definitions
    # the string's own piece keeps its place (line 3), the template's pieces theirs
    assert query.expr == Concat(
        (
            Lit("query Q { user(id: 1) { ...F ", 4, 17, True),
            Lit("name bio", 3, 19, True),
            Lit(" } } ", 4, 55, True),
            Embed(("Comp.F",), 4, 62),
        )
    )
    assert host_char(COMPONENT, 3, 19) == "n" and host_char(COMPONENT, 4, 62) == "F"
    # no argument for the string; the document is passed under its id, a key of the
    # module's bindings that no JavaScript name (nor GraphQL fragment name) can be
    assert query.args == (FragmentArg(("Comp.F",), 4, 62, embedded=True),)
    assert result.binding("Comp.F") is fragment
    assert resolve_arg(result, query.args[0]) == DefRef(PATH, "Comp.F")
    assert "FRAG" not in result.bound_names() and "FIELDS" not in result.bound_names()
    assert all(not re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", key) for key in ["Comp.F"])
    # evaluated as the build does: the string is spliced, the document adds no text
    assert joined(text_of(result, query)) == "query Q { user(id: 1) { ...F name bio } } "
    assert pickle.loads(pickle.dumps(result)).binding("Comp.F") == fragment


def test_local_documents_of_different_scopes_get_distinct_keys() -> None:
    source = (
        "function A() {\n"
        "  const FRAG = gql`fragment F on User { id }`;\n"
        "  return gql`query A { ...F } ${FRAG}`;\n"
        "}\n"
        "function B() {\n"
        "  const FRAG = gql`fragment F on User { name }`;\n"
        "  const OTHER = gql`fragment F on User { bio }`;\n"
        "  return gql`query B { ...F } ${FRAG} ${OTHER}`;\n"
        "}\n"
        "{\n"
        "  const G = gql`fragment G on User { id }`;\n"
        "  foo(gql`query C { ...G } ${G}`);\n"
        "}\n"
    )
    result = scan(source)
    assert names(result) == ["A.F", "A.A", "B.F", "B.F~2", "B.B", "G", "C"]
    by_id = {d.name: d for d in result.definitions}
    assert [a.parts for a in by_id["A.A"].args] == [("A.F",)]
    assert [a.parts for a in by_id["B.B"].args] == [("B.F",), ("B.F~2",)]
    # a document of a top-level block has an id without a dot: its key gets one, so it
    # is no module-level name (nothing can import it, nor is "G" bound)
    assert [a.parts for a in by_id["C"].args] == [("<block>.G",)]
    assert result.binding("<block>.G") is by_id["G"]
    assert result.binding("G") is None and "G" not in result.bound_names()
    for definition in result.definitions:
        for arg in definition.args:
            assert resolve_arg(result, arg) == DefRef(PATH, arg.parts[0].removeprefix("<block>."))


def test_the_closest_declaration_wins() -> None:
    source = (
        'import { FRAG } from "./fragments";\n'
        "export const Top = gql`query Top { ...F } ${FRAG}`;\n"
        "function Comp() {\n"
        '  const FRAG = "outer";\n'
        "  const A = gql`query A { ${FRAG} }`;\n"
        "  if (ok) {\n"
        '    const FRAG = "inner";\n'
        "    const B = gql`query B { ${FRAG} }`;\n"
        "  }\n"
        "  function nested(FRAG) {\n"
        "    return gql`query C { ${FRAG} }`;\n"
        "  }\n"
        "  const D = gql`query D { ${FRAG} }`;\n"
        "}\n"
        "function Elsewhere() {\n"
        "  return gql`query E { ...F } ${FRAG}`;\n"
        "}\n"
    )
    result = scan(source)
    by_id = {d.name: d for d in result.definitions}
    # module level, and a function that declares no FRAG: the import, as before
    assert by_id["Top"].args == (FragmentArg(("FRAG",), 2, 45, embedded=True),)
    assert by_id["Elsewhere.E"].args == (FragmentArg(("FRAG",), 16, 33, embedded=True),)
    assert joined(text_of(result, by_id["Comp.A"])) == "query A { outer }"
    assert joined(text_of(result, by_id["Comp.B"])) == "query B { inner }"
    assert joined(text_of(result, by_id["Comp.D"])) == "query D { outer }"
    assert dynamic_of(by_id["Comp.nested.C"]) == Dynamic(
        "`${FRAG}` is a parameter of nested(), known only at run time", 11, 28
    )
    assert all(d.args == () for name, d in by_id.items() if name.startswith("Comp."))


def test_enclosing_functions_arrow_bodies_methods_and_static_blocks() -> None:
    source = (
        "export const Page = () => {\n"
        "  const FIELDS = 'id';\n"
        "  const inner = () => gql`query A { ${FIELDS} }`;\n"
        "  return function deeper() {\n"
        "    return gql`query B { ${FIELDS} }`;\n"
        "  };\n"
        "};\n"
        "class Repo {\n"
        "  static {\n"
        "    const S = 'name';\n"
        "    register(gql`query C { ${S} }`);\n"
        "  }\n"
        "  find() {\n"
        "    const FRAG = gql`fragment R on User { id }`;\n"
        "    return gql`query D { ...R } ${FRAG}`;\n"
        "  }\n"
        "}\n"
    )
    result = scan(source)
    by_id = {d.name: d for d in result.definitions}
    assert set(by_id) == {"Page.inner.A", "Page.deeper.B", "Repo.C", "Repo.find.R", "Repo.find.D"}
    assert joined(text_of(result, by_id["Page.inner.A"])) == "query A { id }"
    assert joined(text_of(result, by_id["Page.deeper.B"])) == "query B { id }"
    assert joined(text_of(result, by_id["Repo.C"])) == "query C { name }"
    assert [a.parts for a in by_id["Repo.find.D"].args] == [("Repo.find.R",)]
    assert result.binding("Repo.find.R") is by_id["Repo.find.R"]


@pytest.mark.parametrize(
    ("declaration", "reason"),
    [
        # declared after the use (in source order), or in terms of itself
        ("", "is used before its declaration (line 3)"),
        # a parameter of any kind
        ("PARAM", "is a parameter of Comp(), known only at run time"),
        # var, let assigned again
        (
            "  var X = 'a';\n",
            "is declared with var (line 2): it may be assigned again; declare it with const",
        ),
        (
            "  let X = 'a';\n  X = 'b';\n",
            "is declared with let (line 2) and assigned at line 3: known only at run time",
        ),
        (
            "  let X = 'a';\n  X += 'b';\n",
            "is declared with let (line 2) and assigned at line 3: known only at run time",
        ),
        (
            "  let X = 'a';\n  X++;\n",
            "is declared with let (line 2) and assigned at line 3: known only at run time",
        ),
        (
            "  let X = 'a';\n  [X] = list;\n",
            "is declared with let (line 2) and assigned at line 3: known only at run time",
        ),
        (
            "  let X = 'a';\n  for (X of xs) {}\n",
            "is declared with let (line 2) and assigned at line 3: known only at run time",
        ),
        ("  let X;\n", "is declared without a value (line 2)"),
        # not a string or a document
        ("  const { X } = props;\n", "is bound by destructuring (line 2), known only at run time"),
        ("  const X = load();\n", "is bound to `load()` (line 2), known only at run time"),
        ("  const X = 3;\n", "is bound to `3` (line 2), known only at run time"),
        ("  function X() {}\n", "is a function (line 2), not a string or a document"),
        ("  const X = 'a', X2 = X;\n  var X;\n", "is declared more than once (lines 2, 3)"),
    ],
)
def test_a_local_that_is_not_followed_is_dynamic(declaration: str, reason: str) -> None:
    params = "X" if declaration == "PARAM" else ""
    body = "" if declaration == "PARAM" else declaration
    late = "  const X = 'late';\n" if declaration == "" else ""
    source = f"function Comp({params}) {{\n{body}  return gql`{{ a ${{X}} }}`;\n{late}}}\n"
    definition = only(scan(source))
    line = 2 + body.count("\n")
    assert dynamic_of(definition) == Dynamic(f"`${{X}}` {reason}", line, 20)
    assert host_char(source, line, 20) == "X"
    assert definition.args == ()  # nothing the build would report as "not bound"


def test_a_let_never_assigned_again_is_a_constant() -> None:
    source = (
        "function Comp() {\n"
        "  let X = 'id';\n"
        "  function shadow() { let X = 1; X = 2; }\n"
        "  return gql`{ a { ${X} } }`;\n"
        "}\n"
    )
    result = scan(source)
    assert joined(text_of(result, only(result))) == "{ a { id } }"


@pytest.mark.parametrize(
    ("head", "shown", "tail"),
    [
        ("function Comp(X) {", "is a parameter of Comp()", "}"),
        ("function Comp({ X }) {", "is a parameter of Comp()", "}"),
        ("function Comp([a, ...X]) {", "is a parameter of Comp()", "}"),
        ("function Comp(X = 'd') {", "is a parameter of Comp()", "}"),
        ("const Comp = X => {", "is a parameter of Comp()", "};"),
        ("const Comp = async (a, X: string) => {", "is a parameter of Comp()", "};"),
        ("class K { m(X?: string) {", "is a parameter of m()", "} }"),
        ("run(function (X) {", "is a parameter of an anonymous function", "});"),
    ],
)
def test_parameters_are_dynamic(head: str, shown: str, tail: str) -> None:
    source = f"{head}\n  return gql`{{ a ${{X}} }}`;\n{tail}\n"
    definition = only(scan(source))
    assert dynamic_of(definition) == Dynamic(f"`${{X}}` {shown}, known only at run time", 2, 20)
    assert definition.args == ()


def test_loop_variables_caught_exceptions_and_members_of_parameters() -> None:
    source = (
        "function Comp(props) {\n"
        "  for (const F of frags) gql`{ a } ${F}`;\n"
        "  try {} catch (E) { gql`{ b } ${E}`; }\n"
        "  gql`{ c } ${props.fragment}`;\n"
        "}\n"
    )
    first, second, third = scan(source).definitions
    assert dynamic_of(first) == Dynamic(
        "`${F}` is a loop variable (line 2), known only at run time", 2, 38
    )
    assert host_char(source, 2, 38) == "F"
    assert dynamic_of(second) == Dynamic(
        "`${E}` is a caught exception (line 3), known only at run time", 3, 34
    )
    assert dynamic_of(third) == Dynamic(
        "`${props.fragment}` is a parameter of Comp(), known only at run time", 4, 15
    )
    assert first.args == second.args == third.args == ()


def test_aliases_of_locals_and_of_module_level_names() -> None:
    source = (
        'import { UserFields } from "./fragments";\n'
        'import * as frags from "./more";\n'
        "function Comp() {\n"
        "  const FRAG = gql`fragment F on User { id }`;\n"
        "  const Again = FRAG;\n"
        "  const Imported = UserFields;\n"
        "  const Member = frags.Post;\n"
        "  const S = 'name', T = S;\n"
        "  return gql`query Q { ${T} } ${Again} ${Imported} ${Member}`;\n"
        "}\n"
    )
    result = scan(source)
    query = result.definitions[-1]
    assert [a.parts for a in query.args] == [("Comp.F",), ("UserFields",), ("frags", "Post")]
    assert [(a.line, a.column) for a in query.args] == [(9, 33), (9, 42), (9, 54)]
    assert [host_char(source, 9, column) for column in (33, 42, 54)] == ["A", "I", "M"]
    assert joined(text_of(result, query)) == "query Q { name }   "


def test_gql_tada_arrays_and_untagged_templates_follow_locals() -> None:
    source = (
        "export function Comp(param) {\n"
        "  const Frag = graphql(`fragment F on User { id }`);\n"
        "  const BIO = 'bio', FIELDS = `name ${BIO}`;\n"
        "  const A = graphql(`query A { ...F ${FIELDS} }`, [Frag]);\n"
        "  const B = gql(`query B { ${Frag} }`);\n"
        "  const C = graphql(`query C { ...F }`, [param]);\n"
        "  const QUERY = 'query D { a }';\n"
        "  const D = gql(QUERY);\n"
        "  const ANON = '{ e }';\n"
        "  const E = gql(ANON);\n"
        "}\n"
    )
    result = scan(source)
    assert names(result) == ["Comp.F", "Comp.A", "Comp.B", "Comp.C", "Comp.D", "Comp.ANON"]
    _, a, b, c, d, e = result.definitions
    assert a.args == (FragmentArg(("Comp.F",), 4, 52),)  # passed, not embedded
    assert resolve_arg(result, a.args[0]) == DefRef(PATH, "Comp.F")
    assert joined(text_of(result, a)) == "query A { ...F name bio }"
    # an untagged template splices strings only: a document there is not static
    assert dynamic_of(b) == Dynamic("`${Frag}` is a gql() document (line 2), not a string", 5, 30)
    # the array's parameter: the document is not built (its text is kept, the id too)
    assert c.args == ()
    assert dynamic_of(c) == Dynamic(
        "`param` is a parameter of Comp(), known only at run time", 6, 42
    )
    assert joined(text_of(result, d)) == "query D { a }"
    assert joined(text_of(result, e)) == "{ e }"  # labelled by the name, as before


def test_a_local_string_in_a_fragment_array_is_reported() -> None:
    source = "function Comp() {\n  const S = 'name';\n  graphql(`{ a }`, [S]);\n}\n"
    result = scan(source)
    assert names(result) == []
    assert codes(result) == [("GQL_ARG_NOT_FRAGMENT", 3, 21)]
    assert result.diagnostics[0].message == "'S' is a string, not a gql() fragment"


def test_local_strings_are_built_from_local_strings_with_their_positions() -> None:
    source = (
        "function Comp() {\n"
        "  const ID = 'id';\n"
        "  const FIELDS = ID + ` é ${ID}`;\n"
        "  return gql`{ ${FIELDS} }`;\n"
        "}\n"
    )
    definition = only(scan(source))
    assert definition.expr == Concat(
        (
            Lit("{ ", 4, 14, True),
            Lit("id", 2, 15, True),
            Lit(" é ", 3, 24, True),
            Lit("id", 2, 15, True),
            Lit(" }", 4, 25, True),
        )
    )
    assert host_char(source, 3, 25) == "é"


def test_top_level_names_are_unchanged_by_a_local_of_the_same_name() -> None:
    source = (
        "const FIELDS = 'id';\n"
        "function other() { const FIELDS = 'name'; }\n"
        "export const Q = gql`{ ${FIELDS} }`;\n"
        "export const R = gql`{ ${window.x} }`;\n"
    )
    result = scan(source)
    assert result.definitions[0].expr.items[1] == Embed(("FIELDS",), 3, 26)  # type: ignore[union-attr]
    assert result.definitions[1].args == (FragmentArg(("window", "x"), 4, 26, embedded=True),)
    assert result.constants == {"FIELDS": Lit("id", 1, 17, True)}


def test_a_document_in_terms_of_itself_and_long_chains_of_locals() -> None:
    source = "function Comp() {\n  const X = gql`{ a } ${X}`;\n}\n"
    assert dynamic_of(only(scan(source))) == Dynamic(
        "`${X}` is used before its declaration (line 2)", 2, 25
    )
    chain = "".join(f"  const A{i + 1} = A{i};\n" for i in range(200))
    source = f"function Comp() {{\n  const A0 = 'a';\n{chain}  return gql`{{ ${{A200}} }}`;\n}}\n"
    definition = only(scan(source))  # no RecursionError: a chain this long is not followed
    assert "too many local names" in dynamic_of(definition).reason


def test_crlf_files_locate_inlined_pieces() -> None:
    result = scan(COMPONENT.replace("\n", "\r\n"))
    assert result.definitions[1].expr == scan(COMPONENT).definitions[1].expr


def test_only_names_used_inside_a_scope_are_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from sodabuild.scan import typescript

    searched: list[bytes] = []
    original = typescript._Scanner.find_bindings

    def find_bindings(self: typescript._Scanner, statement: object, name: bytes) -> object:
        searched.append(name)
        return original(self, statement, name)  # type: ignore[arg-type]

    monkeypatch.setattr(typescript._Scanner, "find_bindings", find_bindings)
    scan(
        'import { F } from "./f";\n'
        "export const A = gql`query A { ...F } ${F}`;\n"
        "const B = gql(`query B { ${FIELDS} }`);\n"
        "export function Comp() { return useQuery(A); }\n"
    )
    assert searched == []  # top-level documents: no scope to search
    scan(COMPONENT + "export function Other() { return gql`{ ${FRAG} ${FRAG} }`; }\n")
    assert searched == [b"FIELDS", b"FRAG", b"FRAG"]  # once per statement and name
