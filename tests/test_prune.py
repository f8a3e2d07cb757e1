"""Graph filters: ``--graph-filter`` parsing, rule defaults, node selection, definition kinds."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sodabuild.diagnostics import SodabuildError
from sodabuild.discover.files import glob_regex
from sodabuild.prune import (
    FilterSyntaxError,
    definition_kind,
    describe,
    effective_filter,
    is_everything,
    matches,
    parse_graph_filters,
    select,
    usage_error,
)
from sodabuild.rules.model import PruningFilter

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {}),
        (["include=src/**"], {"include": ("src/**",)}),
        (["exclude=**/tests/**"], {"exclude": ("**/tests/**",)}),
        (["kind=operation"], {"kinds": ("operation",)}),
        (["kind=fragment"], {"kinds": ("fragment",)}),
        (["depth=0"], {"depth": 0}),
        (["depth=12"], {"depth": 12}),
        (["depth=007"], {"depth": 7}),
        (["include=**::Invoice*"], {"include": ("**::Invoice*",)}),
        (["include=a=b"], {"include": ("a=b",)}),
        (
            ["include=src/**,exclude=**/tests/**,kind=operation,depth=1"],
            {
                "include": ("src/**",),
                "exclude": ("**/tests/**",),
                "kinds": ("operation",),
                "depth": 1,
            },
        ),
        (["include=b", "include=a,include=b", "include=c"], {"include": ("b", "a", "c")}),
        (["exclude=x,exclude=y", "exclude=x"], {"exclude": ("x", "y")}),
        (["kind=fragment", "kind=operation,kind=fragment"], {"kinds": ("fragment", "operation")}),
        (["depth=2", "depth=2"], {"depth": 2}),
        (
            ["  include = src/** ,  kind =fragment,depth= 3 "],
            {"include": ("src/**",), "kinds": ("fragment",), "depth": 3},
        ),
        (["include=a b"], {"include": ("a b",)}),
    ],
)
def test_parse(values: list[str], expected: dict[str, Any]) -> None:
    assert parse_graph_filters(values) == expected
    PruningFilter(**expected)  # always valid keyword arguments


@pytest.mark.parametrize(
    ("values", "bad", "message", "hint"),
    [
        ([""], "", "empty predicate", "commas"),
        (["   "], "   ", "empty predicate", "commas"),
        (["include=a,"], "include=a,", "empty predicate", "commas"),
        (["include=a,,kind=operation"], "include=a,,kind=operation", "empty predicate", "commas"),
        (["kind=operation", ",include=a"], ",include=a", "empty predicate", "commas"),
        (["include"], "include", "predicate 'include' has no '='", "include=..."),
        (["src/**"], "src/**", "predicate 'src/**' has no '='", "name=value"),
        (
            ["kinds=operation"],
            "kinds=operation",
            "unknown predicate 'kinds'",
            "did you mean 'kind'",
        ),
        (
            ["glob=src/**"],
            "glob=src/**",
            "unknown predicate 'glob'",
            "include, exclude, kind, depth",
        ),
        (["=src/**"], "=src/**", "predicate without a name", "include, exclude, kind, depth"),
        (["include="], "include=", "empty glob after 'include='", "include=src/**"),
        (["exclude=  "], "exclude=  ", "empty glob after 'exclude='", "exclude=src/**"),
        (["kind=query"], "kind=query", "unknown kind 'query'", "'operation' or 'fragment'"),
        (
            ["kind=Operation"],
            "kind=Operation",
            "unknown kind 'Operation'",
            "'operation' or 'fragment'",
        ),
        (["kind="], "kind=", "unknown kind ''", "'operation' or 'fragment'"),
        (["depth=-1"], "depth=-1", "bad depth '-1'", "non-negative integer"),
        (["depth=one"], "depth=one", "bad depth 'one'", "non-negative integer"),
        (["depth=1.5"], "depth=1.5", "bad depth '1.5'", "non-negative integer"),
        (["depth="], "depth=", "bad depth ''", "non-negative integer"),
        (["depth=\u0663"], "depth=\u0663", "bad depth '\u0663'", "non-negative integer"),
        (
            ["depth=1", "kind=fragment,depth=2"],
            "kind=fragment,depth=2",
            "depth given twice (1 and 2)",
            "once",
        ),
    ],
)
def test_parse_errors(values: list[str], bad: str, message: str, hint: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_graph_filters(values)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.value == bad
    assert error.message == message
    assert hint in error.hint
    assert str(error) == f"{message} in '{bad}'"


def test_usage_error_names_the_value_and_hints() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_graph_filters(["include=src/**,kinds=operation"])
    error = usage_error(info.value)
    assert isinstance(error, SodabuildError)
    [diagnostic] = error.diagnostics
    assert diagnostic.code == "USAGE"
    assert diagnostic.file == "--graph-filter"
    assert diagnostic.line is None
    assert diagnostic.message == (
        "invalid graph filter 'include=src/**,kinds=operation': unknown predicate 'kinds'"
    )
    assert diagnostic.hint == "did you mean 'kind'? known predicates: include, exclude, kind, depth"
    assert diagnostic.render().startswith("--graph-filter: error USAGE invalid graph filter")


# -- rule defaults, everything, describe -----------------------------------------------------

RULE_DEFAULT = PruningFilter(
    include=("src/**",), exclude=("**/tests/**",), kinds=("operation",), depth=2
)


@pytest.mark.parametrize(
    ("cli", "expected"),
    [
        ([], RULE_DEFAULT),
        (["include=lib/**"], RULE_DEFAULT.model_copy(update={"include": ("lib/**",)})),
        (
            ["exclude=x/**,exclude=y/**"],
            RULE_DEFAULT.model_copy(update={"exclude": ("x/**", "y/**")}),
        ),
        (["kind=fragment"], RULE_DEFAULT.model_copy(update={"kinds": ("fragment",)})),
        (["depth=0"], RULE_DEFAULT.model_copy(update={"depth": 0})),
        (
            ["kind=operation,kind=fragment", "include=**"],
            PruningFilter(
                include=("**",), exclude=("**/tests/**",), kinds=("operation", "fragment"), depth=2
            ),
        ),
    ],
)
def test_effective_filter_replaces_given_fields(cli: list[str], expected: PruningFilter) -> None:
    assert effective_filter(RULE_DEFAULT, parse_graph_filters(cli)) == expected


def test_effective_filter_validates() -> None:
    assert effective_filter(PruningFilter(), {"depth": 3}) == PruningFilter(depth=3)
    with pytest.raises(ValidationError):
        effective_filter(PruningFilter(), {"kinds": ("query",)})
    with pytest.raises(ValidationError):
        effective_filter(PruningFilter(), {"depth": -1})
    with pytest.raises(ValidationError):
        effective_filter(PruningFilter(), {"glob": ("x",)})


@pytest.mark.parametrize(
    ("f", "everything"),
    [
        (PruningFilter(), True),
        (PruningFilter(depth=0), True),
        (PruningFilter(depth=1), False),
        (PruningFilter(include=("**",)), False),
        (PruningFilter(exclude=("x",)), False),
        (PruningFilter(kinds=("operation",)), False),
    ],
)
def test_is_everything(f: PruningFilter, everything: bool) -> None:
    assert is_everything(f) is everything
    assert (describe(f) == "") is everything


def test_describe_is_canonical() -> None:
    f = PruningFilter(depth=1, kinds=("operation",), exclude=("**/tests/**",), include=("src/**",))
    assert describe(f) == "include=src/**,exclude=**/tests/**,kind=operation,depth=1"
    doubled = PruningFilter(include=("b", "a", "b"), kinds=("fragment", "fragment"), depth=0)
    assert describe(doubled) == "include=b,include=a,kind=fragment,depth=0"


GLOBS = st.text(
    alphabet=st.characters(exclude_characters=",", codec="utf-8"),
    min_size=1,
    max_size=12,
).filter(lambda s: s == s.strip())
GLOB_LISTS = st.lists(GLOBS, unique=True, max_size=3).map(tuple)
FILTERS = st.builds(
    PruningFilter,
    include=GLOB_LISTS,
    exclude=GLOB_LISTS,
    kinds=st.lists(st.sampled_from(["operation", "fragment"]), unique=True).map(tuple),
    depth=st.none() | st.integers(0, 10**6),
)


@PROPERTY
@given(FILTERS)
def test_describe_round_trips(f: PruningFilter) -> None:
    text = describe(f)
    if is_everything(f):
        assert text == ""
        return
    parsed = parse_graph_filters([text])
    assert PruningFilter(**parsed) == f
    # one flag per predicate means the same
    assert parse_graph_filters(text.split(",")) == parsed
    # and applied over any rule default, it is the filter again
    assert effective_filter(RULE_DEFAULT, parsed) == f.model_copy(
        update={k: v for k, v in RULE_DEFAULT.model_dump().items() if k not in parsed}
    )


# -- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "module", "ident", "expected"),
    [
        (PruningFilter(), "a.py", "a.py::X", True),
        (PruningFilter(include=("src/**",)), "src/a/b.py", "src/a/b.py::X", True),
        (PruningFilter(include=("src/**",)), "lib/a.py", "lib/a.py::X", False),
        (PruningFilter(include=("src/*.py",)), "src/a/b.py", "src/a/b.py::X", False),
        (PruningFilter(include=("**::Invoice*",)), "src/a.py", "src/a.py::InvoiceQuery", True),
        (PruningFilter(include=("**::Invoice*",)), "src/a.py", "src/a.py::UserQuery", False),
        # an id pattern never looks at the module path, a path pattern never at the id
        (PruningFilter(include=("src/a.py::*",)), "src/a.py", "other:src/a.py::X", False),
        (PruningFilter(include=("*:src/a.py::*",)), "src/a.py", "other:src/a.py::X", True),
        (PruningFilter(include=("Invoice*",)), "src/a.py", "src/a.py::InvoiceQuery", False),
        (PruningFilter(include=("nope", "src/**")), "src/a.py", "src/a.py::X", True),
        (PruningFilter(exclude=("**/tests/**",)), "src/tests/a.py", "src/tests/a.py::X", False),
        (PruningFilter(exclude=("**::*Test",)), "src/a.py", "src/a.py::ATest", False),
        (
            PruningFilter(include=("src/**",), exclude=("src/x/**",)),
            "src/x/a.py",
            "src/x/a.py::X",
            False,
        ),
        # kinds and depth are not the matcher's business
        (PruningFilter(kinds=("fragment",), depth=3), "a.py", "a.py::X", True),
    ],
)
def test_matches(f: PruningFilter, module: str, ident: str, expected: bool) -> None:
    assert matches(f, module, ident) is expected


# -- selection on a hand-made graph ----------------------------------------------------------


@dataclass(frozen=True)
class Node:
    project: str | None
    module: str
    name: str
    kind: str

    @property
    def id(self) -> str:
        prefix = f"{self.project}:" if self.project else ""
        return f"{prefix}{self.module}::{self.name}"


INVOICE_Q = Node(None, "src/billing/queries.py", "InvoiceQuery", "operation")
INVOICE_F = Node(None, "src/billing/fragments.py", "InvoiceFields", "fragment")
CUSTOMER_F = Node(None, "src/billing/fragments.py", "CustomerFields", "fragment")
MONEY_F = Node("shared", "src/money.py", "Money", "fragment")  # another project's
USER_F = Node(None, "src/users/fragments.py", "UserFields", "fragment")
AVATAR_F = Node(None, "src/users/fragments.py", "AvatarFields", "fragment")
USER_Q = Node(None, "src/users/queries.py", "UserQuery", "operation")
TEST_Q = Node(None, "src/users/tests/test_queries.py", "TestQuery", "operation")

SPREADS: dict[Node, tuple[Node, ...]] = {
    INVOICE_Q: (INVOICE_F, CUSTOMER_F),
    INVOICE_F: (MONEY_F,),
    CUSTOMER_F: (USER_F,),
    MONEY_F: (),
    USER_F: (AVATAR_F,),
    AVATAR_F: (),
    USER_Q: (USER_F,),
    TEST_Q: (USER_F,),
}
USERS: dict[Node, tuple[Node, ...]] = {
    node: tuple(user for user, spread in SPREADS.items() if node in spread) for node in SPREADS
}
CANDIDATES = [node for node in SPREADS if node.project is None]
ALL = set(SPREADS)


@dataclass
class Calls:
    users: int = 0
    fragments: int = 0


def run(f: PruningFilter, candidates: Iterable[Node] = CANDIDATES) -> tuple[set[Node], Calls]:
    calls = Calls()

    def fragments_of(node: Node) -> tuple[Node, ...]:
        calls.fragments += 1
        return SPREADS[node]

    def users_of(node: Node) -> tuple[Node, ...]:
        calls.users += 1
        return USERS[node]

    selected = select(
        candidates,
        f,
        module_of=lambda n: n.module,
        id_of=lambda n: n.id,
        kind_of=lambda n: n.kind,
        fragments_of=fragments_of,
        users_of=users_of,
    )
    return selected, calls


def pick(text: str) -> set[Node]:
    return run(PruningFilter(**parse_graph_filters([text])))[0]


def test_include_by_module_glob() -> None:
    assert pick("include=src/users/**") == {USER_F, AVATAR_F, USER_Q, TEST_Q}
    assert pick("include=src/users/*.py") == {USER_F, AVATAR_F, USER_Q}
    assert pick("include=src/users/queries.py") == {USER_Q, USER_F, AVATAR_F}


def test_include_by_id_glob() -> None:
    assert pick("include=src/users/**::*Query") == {USER_Q, TEST_Q, USER_F, AVATAR_F}
    assert pick("include=**::AvatarFields") == {AVATAR_F}
    assert pick("include=**::*Fields,include=src/users/queries.py") == {
        INVOICE_F, CUSTOMER_F, MONEY_F, USER_F, AVATAR_F, USER_Q,
    }  # fmt: skip


def test_roots_are_candidates_only() -> None:
    assert pick("include=src/money.py") == set()
    assert pick("include=shared:**::*") == set()
    assert run(PruningFilter(include=("shared:**::*",)), ALL)[0] == {MONEY_F}
    assert pick("include=shared:**") == set()  # no `::`: a module path glob


def test_exclude_and_kinds() -> None:
    assert pick("include=src/users/**,exclude=**/tests/**") == {USER_F, AVATAR_F, USER_Q}
    assert pick("exclude=src/billing/**,exclude=**::UserFields") == {
        AVATAR_F,
        USER_Q,
        TEST_Q,
        USER_F,
    }
    assert pick("kind=fragment,include=src/users/**") == {USER_F, AVATAR_F}
    assert pick("kind=operation,exclude=src/billing/**") == {USER_Q, TEST_Q, USER_F, AVATAR_F}
    assert pick("kind=operation,kind=fragment") == ALL


def test_dependency_closure_is_kept_even_when_excluded() -> None:
    selected = pick("include=src/billing/queries.py,exclude=src/users/**,exclude=shared:**")
    assert selected == {INVOICE_Q, INVOICE_F, CUSTOMER_F, MONEY_F, USER_F, AVATAR_F}
    assert pick("kind=operation,include=src/billing/**") == selected  # fragments of other kinds


def test_depth_adds_users_regardless_of_include_exclude_kind() -> None:
    base = "include=**::AvatarFields,exclude=src/users/queries.py,kind=fragment"
    assert pick(base) == {AVATAR_F}
    assert pick(base + ",depth=0") == {AVATAR_F}
    assert pick(base + ",depth=1") == {AVATAR_F, USER_F}
    assert pick(base + ",depth=2") == {AVATAR_F, USER_F, CUSTOMER_F, USER_Q, TEST_Q}
    # InvoiceQuery is 3 hops away; its closure brings InvoiceFields and another project's Money
    assert pick(base + ",depth=3") == ALL
    assert pick(base + ",depth=1000000000000") == ALL


def test_depth_zero_never_asks_for_users() -> None:
    for f in (PruningFilter(include=("src/**",)), PruningFilter(include=("src/**",), depth=0)):
        selected, calls = run(f)
        assert calls.users == 0
        assert calls.fragments > 0
        assert selected == ALL


def test_everything_calls_nothing() -> None:
    def boom(node: object) -> Any:
        raise AssertionError(f"called for {node}")

    for f in (PruningFilter(), PruningFilter(depth=0)):
        selected = select(
            iter(["a", "b", "a"]),
            f,
            module_of=boom,
            id_of=boom,
            kind_of=boom,
            fragments_of=boom,
            users_of=boom,
        )
        assert selected == {"a", "b"}


def test_only_needed_parts_of_a_node_are_looked_at() -> None:
    def boom(node: object) -> Any:
        raise AssertionError(f"called for {node}")

    nodes = {"src/a.py::A": (), "src/b.py::B": ()}
    common: dict[str, Callable[[str], Any]] = {
        "fragments_of": lambda n: nodes[n],
        "users_of": boom,
    }
    module = select(
        nodes, PruningFilter(include=("src/a.py",)), module_of=lambda n: n.split("::")[0],
        id_of=boom, kind_of=boom, **common,
    )  # fmt: skip
    assert module == {"src/a.py::A"}
    ident = select(
        nodes, PruningFilter(exclude=("**::A",)), module_of=boom, id_of=lambda n: n,
        kind_of=boom, **common,
    )  # fmt: skip
    assert ident == {"src/b.py::B"}


def test_cycles_terminate() -> None:
    spreads = {"a": ["b"], "b": ["c"], "c": ["a", "c"], "d": ["d"], "e": []}
    users: dict[str, list[str]] = {n: [m for m, s in spreads.items() if n in s] for n in spreads}
    selected = select(
        spreads,
        PruningFilter(include=("**::e", "**::b"), depth=50),
        module_of=lambda n: "m.py",
        id_of=lambda n: f"m.py::{n}",
        kind_of=lambda n: "fragment",
        fragments_of=spreads.__getitem__,
        users_of=users.__getitem__,
    )
    assert selected == {"a", "b", "c", "e"}


def test_long_chains_do_not_recurse() -> None:
    n = 30_000

    def run_chain(f: PruningFilter) -> set[int]:
        return select(
            range(n),
            f,
            module_of=lambda i: f"m{i}.py",
            id_of=lambda i: f"m{i}.py::D{i}",
            kind_of=lambda i: "fragment",
            fragments_of=lambda i: [i + 1] if i + 1 < n else [],
            users_of=lambda i: [i - 1] if i else [],
        )

    assert run_chain(PruningFilter(include=("m0.py",))) == set(range(n))
    assert run_chain(PruningFilter(include=(f"m{n - 1}.py",), depth=n)) == set(range(n))
    assert run_chain(PruningFilter(include=(f"m{n - 1}.py",), depth=10)) == set(range(n - 11, n))


# -- selection properties on random graphs ---------------------------------------------------

MODULES = ["a.py", "src/a.py", "src/b.py", "src/x/c.py", "src/x/tests/t.py", "lib/d.py"]
PATTERNS = [
    "**",
    "src/**",
    "src/*.py",
    "**/tests/**",
    "lib/*",
    "*.py",
    "**::D1*",
    "**::D?",
    "src/x/**::*",
    "*::D[0-4]",
]


@dataclass(frozen=True)
class Graph:
    modules: tuple[str, ...]
    kinds: tuple[str, ...]
    spreads: dict[int, set[int]]
    users: dict[int, set[int]]
    candidates: frozenset[int]

    def ident(self, node: int) -> str:
        return f"{self.modules[node]}::D{node}"


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    n = draw(st.integers(1, 25))
    modules = tuple(draw(st.lists(st.sampled_from(MODULES), min_size=n, max_size=n)))
    kinds = tuple(
        draw(st.lists(st.sampled_from(["operation", "fragment"]), min_size=n, max_size=n))
    )
    cyclic = draw(st.booleans())
    edges = draw(
        st.sets(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
                lambda e: cyclic or e[0] < e[1]
            ),
            max_size=3 * n,
        )
    )
    spreads: dict[int, set[int]] = {i: set() for i in range(n)}
    users: dict[int, set[int]] = {i: set() for i in range(n)}
    for source, target in edges:
        spreads[source].add(target)
        users[target].add(source)
    candidates = frozenset(draw(st.sets(st.integers(0, n - 1))))
    return Graph(modules, kinds, spreads, users, candidates)


RANDOM_FILTERS = st.builds(
    PruningFilter,
    include=st.lists(st.sampled_from(PATTERNS), unique=True, max_size=2).map(tuple),
    exclude=st.lists(st.sampled_from(PATTERNS), unique=True, max_size=2).map(tuple),
    kinds=st.lists(st.sampled_from(["operation", "fragment"]), unique=True).map(tuple),
    depth=st.none() | st.integers(0, 4),
)


def reference_roots(g: Graph, f: PruningFilter) -> set[int]:
    def hit(pattern: str, node: int) -> bool:
        subject = g.ident(node) if "::" in pattern else g.modules[node]
        return glob_regex(pattern).match(subject) is not None

    return {
        node
        for node in g.candidates
        if (not f.include or any(hit(p, node) for p in f.include))
        and not any(hit(p, node) for p in f.exclude)
        and (not f.kinds or g.kinds[node] in f.kinds)
    }


@PROPERTY
@given(graphs(), RANDOM_FILTERS)
def test_selection_properties(g: Graph, f: PruningFilter) -> None:
    selected = select(
        sorted(g.candidates),
        f,
        module_of=lambda n: g.modules[n],
        id_of=g.ident,
        kind_of=lambda n: g.kinds[n],
        fragments_of=g.spreads.__getitem__,
        users_of=g.users.__getitem__,
    )
    if is_everything(f):
        assert selected == set(g.candidates)
        return
    roots = reference_roots(g, f)
    assert roots <= selected
    # closed under fragments_of
    for node in selected:
        assert g.spreads[node] <= selected
    # every user within `depth` hops of a root
    within = set(roots)
    for _ in range(f.depth or 0):
        within |= {user for node in within for user in g.users[node]}
    assert within <= selected
    # and nothing else: the closure of exactly those
    expected = set(within)
    while True:
        grown = expected | {frag for node in expected for frag in g.spreads[node]}
        if grown == expected:
            break
        expected = grown
    assert selected == expected


@PROPERTY
@given(graphs())
def test_empty_filter_selects_all_candidates(g: Graph) -> None:
    def boom(node: int) -> Any:
        raise AssertionError

    selected = select(
        g.candidates,
        PruningFilter(),
        module_of=boom,
        id_of=boom,
        kind_of=boom,
        fragments_of=boom,
        users_of=boom,
    )
    assert selected == set(g.candidates)


# -- definition kinds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("fragment F on T { a }", "fragment"),
        ("query Q { a }", "operation"),
        ("mutation M { a }", "operation"),
        ("subscription S { a }", "operation"),
        ("{ a }", "operation"),
        ("query { a }", "operation"),
        ("\ufeff\n  # fragment F on T\r\n,,\tfragment F on T { a }", "fragment"),
        ("# only a comment", "operation"),
        ("", "operation"),
        ("query fragment { a }", "operation"),
        ("fragment query on T { a }", "fragment"),
        ('"described" fragment F on T { a }', "fragment"),
        ('"""block "" \\""" fragment""" query Q { a }', "operation"),
        ('"""block\nquery""" fragment F on T { a }', "fragment"),
        # a gql() string may define local fragments next to its operation, in any order
        ("query Q { ...L } fragment L on T { a }", "operation"),
        ("fragment L on T { a } query Q { ...L }", "operation"),
        ("fragment L on T { a } { ...L }", "operation"),
        ("fragment F on T { ...L } fragment L on T { a }", "fragment"),
        (
            'fragment F on T @d(x: {a: "}"}) { a(s: "} query") # }\n } fragment L on T { a }',
            "fragment",
        ),
        ('fragment F on T { a(s: """ } """) } query Q { a }', "operation"),
    ],
)
def test_definition_kind(source: str, kind: str) -> None:
    assert definition_kind(source) == kind


def graphql_kind(source: str) -> str:
    definitions = parse(source).definitions
    is_operation = any(isinstance(d, OperationDefinitionNode) for d in definitions)
    return "operation" if is_operation else "fragment"


IGNORED = st.one_of(
    st.sampled_from([" ", "\t", "\n", "\r\n", "\r", ",", "\ufeff"]),
    st.text(
        alphabet=st.characters(exclude_characters="\n\r", codec="utf-8"),
        max_size=10,
    ).map(lambda text: f"#{text}\n"),
)
SEP0 = st.lists(IGNORED, max_size=3).map("".join)
SEP1 = st.lists(IGNORED, min_size=1, max_size=3).map("".join)
NAMES = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,6}", fullmatch=True) | st.sampled_from(
    ["fragment", "query", "mutation", "subscription", "on", "true"]
)
STRING_CHARS = st.text(
    alphabet=st.characters(exclude_characters='"\\\n\r', codec="utf-8"),
    max_size=6,
)
STRINGS = st.lists(
    STRING_CHARS | st.sampled_from(['\\"', "\\\\", "\\n", "\\u0041", "{", "}", "#", " fragment "]),
    max_size=4,
).map(lambda parts: '"' + "".join(parts) + '"')
BLOCK_STRINGS = (
    st.lists(
        STRING_CHARS
        | st.sampled_from(
            ['"', '""', '\\"""', "\\", "\n", "\r\n", "# x", "{", "}", "fragment", "query"]
        ),
        max_size=5,
    )
    .map("".join)
    .filter(lambda s: '"""' not in s.replace('\\"""', "") and not s.endswith(('"', "\\")))
    .map(lambda body: f'"""{body}"""')
)
SELECTIONS = st.sampled_from(
    [
        ["{", "a", "}"],
        ["{", "a", "(", "x", ":", '"} #"', ")", "}"],
        ["{", "a", "{", "b", "c", ":", "d", "}", "...", "F", "}"],
        ["{", "...", "on", "T", "{", "a", "}", "}"],
        [
            "{",
            "a",
            "(",
            "x",
            ":",
            "[",
            "1",
            ",",
            "-2.5e3",
            "]",
            ",",
            "y",
            ":",
            "{",
            "z",
            ":",
            "$v",
            "}",
            ")",
            "}",
        ],
        ["{", "a", "@", "include", "(", "if", ":", "true", ")", "}"],
    ]
)
DIRECTIVES = st.sampled_from(
    [[], ["@", "d"], ["@", "d", "(", "x", ":", "{", "y", ":", '"{"', "}", ")"]]
)


@st.composite
def definitions(draw: st.DrawFn) -> list[str]:
    selection = draw(SELECTIONS)
    directives = draw(DIRECTIVES)
    shape = draw(st.sampled_from(["anonymous", "operation", "fragment"]))
    if shape == "anonymous":
        return selection
    description = draw(st.lists(STRINGS | BLOCK_STRINGS, max_size=1))
    if shape == "fragment":
        name = draw(NAMES.filter(lambda name: name != "on"))
        return [*description, "fragment", name, "on", draw(NAMES), *directives, *selection]
    keyword = draw(st.sampled_from(["query", "mutation", "subscription"]))
    names = draw(st.lists(NAMES, max_size=1))
    variables = draw(
        st.sampled_from(
            [
                [],
                ["(", "$v", ":", "In", "=", "{", "a", ":", "1", "}", ")"],
                ["(", "$v", ":", "[", "Int", "!", "]", ")"],
            ]
        )
    )
    return [*description, keyword, *names, *variables, *directives, *selection]


def wordy(char: str) -> bool:
    return char.isalnum() or char in '_"$.-'


@st.composite
def documents(draw: st.DrawFn, max_definitions: int) -> str:
    tokens = [
        token for _ in range(draw(st.integers(1, max_definitions))) for token in draw(definitions())
    ]
    out = [draw(SEP0), tokens[0]]
    for previous, token in itertools.pairwise(tokens):
        # names, numbers, variables and strings need something between them
        out += [draw(SEP1 if wordy(previous[-1]) and wordy(token[0]) else SEP0), token]
    out.append(draw(SEP0))
    return "".join(out)


@PROPERTY
@given(documents(max_definitions=1))
def test_definition_kind_agrees_with_graphql_core(source: str) -> None:
    [definition] = parse(source).definitions
    assert definition_kind(source) == graphql_kind(source)
    expected = "operation" if isinstance(definition, OperationDefinitionNode) else "fragment"
    assert definition_kind(source) == expected


@PROPERTY
@given(documents(max_definitions=4))
def test_definition_kind_of_several_definitions_is_the_main_one(source: str) -> None:
    assert definition_kind(source) == graphql_kind(source)


@PROPERTY
@given(
    STRINGS | BLOCK_STRINGS,
    SEP0,
    st.sampled_from(["fragment F on T { a }", "query Q { a }", "mutation { a }"]),
)
def test_definition_kind_skips_any_description(description: str, sep: str, rest: str) -> None:
    source = description + sep + rest
    assert definition_kind(source) == graphql_kind(source)
