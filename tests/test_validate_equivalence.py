"""``validate_document`` (sodabuild/validate/engine.py) reports exactly what graphql-core's
``validate`` reports: the same errors (message, locations, nodes) in the same order, for every
rule set sodabuild uses and for all of ``specified_rules``, with graphql-core's error limit
and budgets. Checked on the bundled fixtures (each validation a build makes, and every
composed document), a generated app, and random documents; a deliberately wrong engine
shows that the random comparison does catch a difference."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    Source,
    TypeInfo,
    build_schema,
    parse,
    print_ast,
    specified_rules,
    validate,
)
from graphql.language import (
    ArgumentNode,
    DefinitionNode,
    FieldNode,
    NamedTypeNode,
    NameNode,
    SelectionSetNode,
)
from graphql.validation import (
    ASTValidationRule,
    NoUndefinedVariablesRule,
    NoUnusedVariablesRule,
    VariablesInAllowedPositionRule,
)
from graphql.validation import validation_context as graphql_context
from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validation_context import VariableUsage
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sodabuild.compose.document import Composed
from sodabuild.diagnostics import SodabuildError
from sodabuild.validate import combined, documents, engine, parallel
from sodabuild.validate.combined import COMBINED_RULES
from sodabuild.validate.documents import FRAGMENT_RULES, OPERATION_RULES
from sodabuild.validate.engine import IdentityValidationContext, validate_document

from .conftest import FIXTURES, copy_example_workspace, generator

Rules = Collection[type[ASTValidationRule]]
Engine = Callable[..., list[GraphQLError]]

VARIABLE_RULES: Rules = (
    NoUnusedVariablesRule,
    NoUndefinedVariablesRule,
    VariablesInAllowedPositionRule,
)
#: The rule sets sodabuild validates with (operations use all of ``specified_rules``;
#: fragments and the combined document all but NoUnusedFragments), and the variable rules.
RULE_SETS: dict[str, Rules] = {
    "specified, operation": specified_rules,
    "fragment, combined": COMBINED_RULES,
    "variables": VARIABLE_RULES,
    "none": (),
}
assert tuple(OPERATION_RULES) == tuple(specified_rules) and FRAGMENT_RULES == COMBINED_RULES


def signature(errors: Sequence[GraphQLError]) -> list[tuple[Any, ...]]:
    """What an error tells: its class, message, locations, path and nodes (a located node
    by identity, with its place so that a mismatch prints readably; one without location,
    such as a node a rule made up, by its text)."""
    return [
        (
            type(error).__name__,
            error.message,
            [(location.line, location.column) for location in error.locations or ()],
            error.path,
            [
                (node.kind, node.loc.source.name, node.loc.start, node.loc.end, id(node))
                if node.loc
                else (node.kind, print_ast(node))
                for node in error.nodes or ()
            ],
        )
        for error in errors
    ]


def compare(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Rules,
    max_errors: int | None = None,
    ours: Engine = validate_document,
) -> list[GraphQLError]:
    """graphql-core's errors, asserting that ``ours`` gives the same."""
    expected = validate(schema, document, rules, max_errors=max_errors)
    actual = ours(schema, document, rules, max_errors=max_errors)
    assert signature(actual) == signature(expected)
    return expected


@contextmanager
def budgets(fragment_work: int | None = None, complexity: int | None = None) -> Iterator[None]:
    """graphql-core's work budgets set as a caller (validate/combined.py) sets them."""
    saved = (
        graphql_context.MAX_FRAGMENT_WORK,
        overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET,
    )
    if fragment_work is not None:
        graphql_context.MAX_FRAGMENT_WORK = fragment_work
    if complexity is not None:
        overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = complexity
    try:
        yield
    finally:
        graphql_context.MAX_FRAGMENT_WORK = saved[0]
        overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = saved[1]


# -- builds: every validation sodabuild makes, and every composed document ---------------------


@dataclass
class Recorded:
    calls: int = 0  # validations the build made (each compared as it happened)
    errors: int = 0  # errors they reported
    composed: list[tuple[GraphQLSchema, Composed]] = field(default_factory=list)


def build_recording(root: Path, monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """Build the workspace in-process; each ``validate_document`` call is compared with
    ``graphql.validate`` (same arguments, same budgets) and the composed documents kept."""
    from sodabuild.session.session import BuilderSession

    recorded = Recorded()

    def checked(
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: Rules | None = None,
        max_errors: int | None = None,
    ) -> list[GraphQLError]:
        expected = validate(schema, document, rules, max_errors=max_errors)
        actual = validate_document(schema, document, rules, max_errors=max_errors)
        assert signature(actual) == signature(expected)
        recorded.calls += 1
        recorded.errors += len(actual)
        return actual

    known_valid = combined.known_valid

    def recording_known_valid(
        schema: GraphQLSchema,
        docs: Sequence[tuple[Hashable, Composed]],
        source_origin: Mapping[str, Hashable],
    ) -> combined.CombinedResult:
        recorded.composed.extend((schema, composed) for _, composed in docs)
        return known_valid(schema, docs, source_origin)

    for module in (documents, combined, parallel):
        monkeypatch.setattr(module, "validate_document", checked)
    monkeypatch.setattr(combined, "known_valid", recording_known_valid)
    monkeypatch.setenv("SODABUILD_JOBS", "1")  # in this process, where the patches are
    session = BuilderSession(root / "sodabuild.toml", cwd=root, incremental=False)
    try:
        session.load()
        session.update()
    except SodabuildError:
        pass  # a configuration case: nothing to validate
    return recorded


def compare_composed(recorded: Recorded) -> int:
    """Every composed document with every rule set (and the error limit at 1): errors."""
    errors = 0
    for schema, composed in recorded.composed:
        document = composed.ast()
        for rules in RULE_SETS.values():
            errors += len(compare(schema, document, rules))
        compare(schema, document, specified_rules, max_errors=1)
    return errors


def invalid_cases() -> list[Path]:
    return sorted(p for p in (FIXTURES / "invalid").iterdir() if (p / "sodabuild.toml").is_file())


def _copy(case: Path, target: Path) -> Path:
    shutil.copytree(
        case, target, ignore=shutil.ignore_patterns("expected.json", "__generated__", ".cache")
    )
    return target


def test_example_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """small-app, shared-lib and gql-app, all valid: the combined document proves them."""
    recorded = build_recording(copy_example_workspace(tmp_path / "ws"), monkeypatch)
    assert recorded.calls >= 3 and recorded.errors == 0
    assert len(recorded.composed) > 10
    compare_composed(recorded)


def test_typed_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ws"
    _copy(FIXTURES / "typed-app", root / "typed-app")
    (root / "sodabuild.toml").write_text(
        '[workspace]\nname = "typed"\n[[projects]]\nname = "typed-app"\nroot = "typed-app"\n'
    )
    recorded = build_recording(root, monkeypatch)
    assert recorded.calls >= 1 and recorded.composed
    compare_composed(recorded)


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda p: p.name)
def test_invalid_fixture(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = build_recording(_copy(case, tmp_path / case.name), monkeypatch)
    errors = compare_composed(recorded)
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    if any(d["code"] == "GQL_VALIDATION" for d in expected["diagnostics"]):
        # the build validated the failing documents on their own, with errors
        assert recorded.errors > 0 and errors > 0


@pytest.fixture(scope="module")
def generated_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "ws"
    generator().generate(out, 100, seed=5)
    return out


def test_generated_app(generated_app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = build_recording(generated_app, monkeypatch)
    assert recorded.calls >= 1 and recorded.errors == 0
    assert len(recorded.composed) > 50
    compare_composed(recorded)


def test_generated_app_broken(generated_app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated app as one combined document, made invalid in the variable rules'
    ways: operations without their variable definitions (undefined variables), with an
    unused one, and with every variable declared String (wrong positions)."""
    recorded = build_recording(generated_app, monkeypatch)
    schema = recorded.composed[0][0]
    definitions: dict[int, Any] = {}
    for _, composed in recorded.composed:
        for node in composed.nodes:
            definitions.setdefault(id(node), node)
    whole = DocumentNode(definitions=tuple(definitions.values()))
    assert not compare(schema, whole, COMBINED_RULES, max_errors=10_000)

    extra = parse("query X($unused: Int) { __typename }").definitions[0]
    assert isinstance(extra, OperationDefinitionNode) and extra.variable_definitions
    string = NamedTypeNode(name=NameNode(value="String"))

    def undefined(operation: OperationDefinitionNode) -> OperationDefinitionNode:
        return dataclasses.replace(operation, variable_definitions=None)

    def unused(operation: OperationDefinitionNode) -> OperationDefinitionNode:
        variables = (*(operation.variable_definitions or ()), *(extra.variable_definitions or ()))
        return dataclasses.replace(operation, variable_definitions=variables)

    def retyped(operation: OperationDefinitionNode) -> OperationDefinitionNode:
        variables = tuple(
            dataclasses.replace(v, type=string) for v in operation.variable_definitions or ()
        )
        return dataclasses.replace(operation, variable_definitions=variables)

    for change in (undefined, unused, retyped):
        broken = DocumentNode(
            definitions=tuple(
                change(d) if isinstance(d, OperationDefinitionNode) else d
                for d in whole.definitions
            )
        )
        for rules in (COMBINED_RULES, VARIABLE_RULES):
            assert compare(schema, broken, rules, max_errors=10_000)
            assert len(compare(schema, broken, rules, max_errors=7)) == 8  # limit + "too many"


# -- random documents --------------------------------------------------------------------------

SCHEMA = build_schema(
    """
    directive @flag(on: Boolean!, level: Int = 1, tags: [String!]) on
      QUERY | MUTATION | FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT | FRAGMENT_DEFINITION
    enum Color { RED GREEN }
    input Filter { color: Color, ids: [ID!], nested: Filter, limit: Int = 10, name: String! }
    input Pick @oneOf { id: ID, name: String }
    interface Node { id: ID! }
    type User implements Node {
      id: ID!
      name(upper: Boolean = false): String
      friends(first: Int!, filter: Filter): [User!]
      best: User
      pick(by: Pick): User
      color: Color
    }
    type Post implements Node { id: ID! title: String author: User tags(limit: Int): [String] }
    union Item = User | Post
    type Query {
      node(id: ID!): Node
      user(id: ID, ids: [ID!]! = []): User
      items(filter: Filter, colors: [Color!]): [Item]
      search(text: String!): [Item!]!
    }
    type Mutation { like(id: ID!, filter: Filter): Post }
    """
)

VARIABLES = ("a", "b", "c", "d")
VARIABLE_TYPES = (
    "ID", "ID!", "[ID!]!", "[ID]", "Int", "Int!", "String", "String!", "Boolean!", "Filter",
    "Filter!", "Pick", "Pick!", "Color", "[Color!]", "Unknown", "User",
)  # fmt: skip
DEFAULTS = ("", " = 1", ' = "s"', " = null", " = RED", " = [1]", ' = {name: "n"}')
FIELDS = (
    "id", "name", "friends", "best", "title", "author", "node", "user", "items", "search",
    "pick", "color", "tags", "__typename", "bogus",
)  # fmt: skip
ARGUMENTS = ("id", "ids", "upper", "first", "filter", "by", "limit", "text", "colors", "zzz")
TYPES = ("User", "Post", "Node", "Item", "Query", "Color", "Nope")
FRAGMENTS = ("F0", "F1", "F2", "F3")


@functools.cache  # strategies are built once, not on every draw
def values(depth: int) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(
        [*(f"${v}" for v in VARIABLES), "1", '"s"', "RED", "null", "true", "1.5"]
    )
    if depth <= 0:
        return leaves
    inner = values(depth - 1)
    return st.one_of(
        leaves,
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        st.lists(
            st.tuples(st.sampled_from(["color", "ids", "nested", "limit", "name", "id"]), inner),
            max_size=3,
        ).map(lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"),
    )


@functools.cache
def arguments(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    pairs = st.lists(st.tuples(st.sampled_from(names), values(2)), max_size=2)
    return pairs.map(lambda ps: f"({', '.join(f'{k}: {v}' for k, v in ps)})" if ps else "")


@functools.cache
def directives() -> st.SearchStrategy[str]:
    one = st.tuples(
        st.sampled_from(["flag", "include", "skip", "nope"]),
        arguments(("on", "if", "level", "tags")),
    ).map(lambda d: f" @{d[0]}{d[1]}")
    return st.lists(one, max_size=1).map("".join)


@functools.cache
def selections(depth: int, spread_arguments: bool) -> st.SearchStrategy[str]:
    field_ = st.tuples(
        st.sampled_from(["", "x: ", "y: "]),
        st.sampled_from(FIELDS),
        arguments(ARGUMENTS),
        directives(),
        selection_sets(depth - 1, spread_arguments) if depth > 0 else st.just(""),
    ).map(lambda f: f"{f[0]}{f[1]}{f[2]}{f[3]} {f[4]}")
    spread = st.tuples(
        st.sampled_from([*FRAGMENTS, "Missing"]),
        arguments(("x", "y")) if spread_arguments else st.just(""),
        directives(),
    ).map(lambda s: f"...{s[0]}{s[1]}{s[2]}")
    options = [field_, spread]
    if depth > 0:
        inline = st.tuples(
            st.sampled_from(["", *(f" on {t}" for t in TYPES)]),
            directives(),
            selection_sets(depth - 1, spread_arguments),
        ).map(lambda i: f"...{i[0]}{i[1]} {i[2]}")
        options.append(inline)
    return st.one_of(options)


@functools.cache
def selection_sets(depth: int, spread_arguments: bool) -> st.SearchStrategy[str]:
    return st.lists(selections(depth, spread_arguments), min_size=1, max_size=3).map(
        lambda items: "{ " + " ".join(items) + " }"
    )


@functools.cache
def variable_definitions(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    one = st.tuples(
        st.sampled_from(names), st.sampled_from(VARIABLE_TYPES), st.sampled_from(DEFAULTS)
    ).map(lambda v: f"${v[0]}: {v[1]}{v[2]}")
    return st.lists(one, max_size=3).map(lambda vs: f"({', '.join(vs)})" if vs else "")


@st.composite
def definitions(draw: st.DrawFn, fragment_arguments: bool = False) -> list[str]:
    """Random operations and fragments (some unknown, cyclic, unused, ill-typed...)."""
    found: list[str] = []
    for index in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["query", "query", "mutation", "subscription"]))
        name = draw(st.sampled_from(["", f" Q{index}", " Q0"]))
        found.append(
            f"{kind}{name}{draw(variable_definitions(VARIABLES))}{draw(directives())} "
            f"{draw(selection_sets(2, fragment_arguments))}"
        )
    for name in draw(st.lists(st.sampled_from(FRAGMENTS), max_size=4)):
        variables = draw(variable_definitions(("x", "y", "a"))) if fragment_arguments else ""
        found.append(
            f"fragment {name}{variables} on {draw(st.sampled_from(TYPES))}{draw(directives())} "
            f"{draw(selection_sets(2, fragment_arguments))}"
        )
    if not found:
        found.append(draw(selection_sets(2, fragment_arguments)))
    return draw(st.permutations(found))


def one_source(texts: list[str], fragment_arguments: bool, no_location: bool) -> DocumentNode:
    return parse(
        "\n".join(texts),
        no_location=no_location,
        experimental_fragment_arguments=fragment_arguments,
    )


def many_sources(texts: list[str], fragment_arguments: bool) -> DocumentNode:
    """One source per definition, like a combined document. Source ``i`` starts with
    ``i`` times the longest text's length of padding, so the nodes of different sources lie
    at different offsets (graphql-core compares AST nodes by value, offsets included: two
    equal nodes of different sources would share its cache entries; see engine.py)."""
    stride = max(map(len, texts), default=0) + 1
    parsed: list[DefinitionNode] = []
    for index, text in enumerate(texts):
        source = Source(" " * (stride * index) + text, f"source{index}")
        document = parse(source, experimental_fragment_arguments=fragment_arguments)
        parsed.extend(document.definitions)
    return DocumentNode(definitions=tuple(parsed))


def check_random(
    texts: list[str],
    shape: str,
    fragment_arguments: bool,
    max_errors: int | None,
    budget: tuple[int | None, int | None],
    ours: Engine = validate_document,
) -> None:
    if shape == "many":
        document = many_sources(texts, fragment_arguments)
    else:
        document = one_source(texts, fragment_arguments, no_location=shape == "no_location")
    for rules in RULE_SETS.values():
        with budgets(*budget):
            compare(SCHEMA, document, rules, max_errors, ours)


RANDOM = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_ERRORS = st.sampled_from([None, None, 1, 3])
BUDGETS = st.sampled_from([(None, None), (None, None), (4, None), (None, 12), (20, 40)])


@RANDOM
@given(
    texts=definitions(),
    shape=st.sampled_from(["one", "many", "no_location"]),
    max_errors=MAX_ERRORS,
    budget=BUDGETS,
)
def test_random_documents(
    texts: list[str], shape: str, max_errors: int | None, budget: tuple[int | None, int | None]
) -> None:
    check_random(texts, shape, False, max_errors, budget)


@RANDOM
@given(
    texts=definitions(fragment_arguments=True),
    shape=st.sampled_from(["one", "many"]),
    max_errors=MAX_ERRORS,
    budget=BUDGETS,
)
def test_random_documents_with_fragment_arguments(
    texts: list[str], shape: str, max_errors: int | None, budget: tuple[int | None, int | None]
) -> None:
    """graphql-core's experimental fragment arguments: usages bound to a fragment's own
    variable definitions."""
    check_random(texts, shape, True, max_errors, budget)


class _DropsTheLastUsage(IdentityValidationContext):
    def get_variable_usages(self, node: Any) -> list[VariableUsage]:
        return super().get_variable_usages(node)[:-1]


def _wrong_engine(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Rules | None = None,
    max_errors: int | None = None,
) -> list[GraphQLError]:
    original = engine.IdentityValidationContext
    engine.IdentityValidationContext = _DropsTheLastUsage  # type: ignore[misc]
    try:
        return validate_document(schema, document, rules, max_errors=max_errors)
    finally:
        engine.IdentityValidationContext = original  # type: ignore[misc]


def test_the_random_comparison_catches_a_wrong_engine() -> None:
    """An engine that loses one variable usage per definition is told apart."""

    @settings(RANDOM, max_examples=200, phases=[Phase.generate])  # found, not shrunk
    @given(texts=definitions())
    def check(texts: list[str]) -> None:
        check_random(texts, "one", False, None, (None, None), ours=_wrong_engine)

    with pytest.raises(AssertionError):
        check()


# -- chosen documents --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("query Q { user(id: $id) { id } }", "Variable '$id' is not defined by operation 'Q'."),
        ("query Q($id: ID) { user { id } }", "Variable '$id' is never used in operation 'Q'."),
        (
            "query Q($f: Filter) { ...F } fragment F on Query { items(filter: {nested: $f}) { __typename } }",
            None,
        ),
        (
            "query Q($id: String) { ...F } fragment F on Query { node(id: $id) { id } }",
            "Variable '$id' of type 'String' used in position expecting type 'ID!'.",
        ),
        (
            "query Q($p: ID) { user { pick(by: {id: $p}) { id } } }",
            "Variable '$p' is of type 'ID' but must be non-nullable to be used for OneOf"
            " Input Object 'Pick'.",
        ),
        (
            "query A { ...F } query B($x: Int) { ...F } fragment F on Query { user(id: $x) { id } }",
            "Variable '$x' is not defined by operation 'A'.",
        ),
    ],
)
def test_variable_rules(text: str, message: str | None) -> None:
    for rules in RULE_SETS.values():
        errors = compare(SCHEMA, parse(text), rules)
        if message is not None and rules in (specified_rules, VARIABLE_RULES):
            assert message in [error.message for error in errors]


def test_fragments_nested_too_deeply_abort_alike() -> None:
    """graphql-core's fragment-nesting guard: "Validation aborted." after the errors so far."""

    def nested(inner: str) -> str:  # 60 levels of best { ... }
        return "{ best " * 60 + "{ " + inner + " }" + " }" * 60

    chain = " ".join(f"fragment F{i} on User {nested(f'id ...F{i + 1}')}" for i in range(4))
    text = f"query Q($u: Int) {{ user {{ ...F0 }} }} {chain} fragment F4 on User {{ id }}"
    errors = compare(SCHEMA, parse(text, max_tokens=100_000), specified_rules)
    assert errors[-1].message == "Validation aborted."


def test_budgets_abort_alike() -> None:
    text = (
        "query Q($a: ID) { ...F0 ...F1 user(id: $a) { ...U } } "
        "fragment F0 on Query { user { id name } } fragment F1 on Query { user { id name } } "
        "fragment U on User { friends(first: 1) { id name best { id } } best { id name } }"
    )
    for fragment_work, complexity in ((1, None), (None, 3), (2, 2)):
        with budgets(fragment_work, complexity):
            errors = compare(SCHEMA, parse(text), specified_rules)
        assert errors[-1].message == "Validation aborted."


class OddArgument(ArgumentNode):
    """A node class the usage walk does not know (graphql-core visits it by its kind)."""


def test_unknown_nodes_go_through_graphql_core() -> None:
    document = parse(
        "query Q($a: ID, $b: Int) { user(id: $a) { best { friends(first: $b) { id } } } }"
    )
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)

    def odd(selection_set: SelectionSetNode, depth: int) -> SelectionSetNode:
        field_ = selection_set.selections[0]
        assert isinstance(field_, FieldNode)
        if depth == 0:
            args = tuple(
                OddArgument(name=a.name, value=a.value, loc=a.loc) for a in field_.arguments or ()
            )
            return dataclasses.replace(
                selection_set, selections=(dataclasses.replace(field_, arguments=args),)
            )
        assert field_.selection_set is not None
        inner = odd(field_.selection_set, depth - 1)
        return dataclasses.replace(
            selection_set, selections=(dataclasses.replace(field_, selection_set=inner),)
        )

    for depth in (0, 2):
        changed = dataclasses.replace(operation, selection_set=odd(operation.selection_set, depth))
        odd_document = DocumentNode(definitions=(changed,))
        for rules in RULE_SETS.values():
            compare(SCHEMA, odd_document, rules)
        assert compare(SCHEMA, odd_document, VARIABLE_RULES)  # a variable became invisible


class OddOperation(OperationDefinitionNode):
    """An operation of a kind of its own ("odd_operation"): graphql-core visits no child."""


def test_unknown_definitions_go_through_graphql_core() -> None:
    operation = parse("query Q { user(id: $a) { id } }").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    odd = OddOperation(**{key: getattr(operation, key) for key in operation.keys})
    document = DocumentNode(definitions=(odd,))
    for rules in RULE_SETS.values():
        compare(SCHEMA, document, rules)
    context = IdentityValidationContext(SCHEMA, document, TypeInfo(SCHEMA), lambda _e: None)
    assert context.get_variable_usages(odd) == []  # not the usage of $a under a field
