"""Document composition shared by build time and run time (``sodabuild.graphql.gql``).

A definition's composed document is its main definition followed by every fragment it
needs, transitively, sorted by fragment name, each printed by the canonical printer
(``compose/printer.py``: graphql-core 3.3's format, whichever version is installed) and
joined by a blank line. Both the build and the run-time ``gql()`` call
:func:`compose`, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    NameNode,
    Node,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    Source,
    parse,
)
from graphql.language import Visitor, visit

from sodabuild.compose.printer import print_document
from sodabuild.pickling import by_fields
from sodabuild.render.suggestion import closest, suggestion

#: Deepest bracket nesting (``{``, ``[``, ``(``) accepted in a GraphQL document or schema
#: file. graphql-core's parser, validator and printer recurse per level; this explicit bound
#: keeps them far below the Python recursion limit (and the C stack), whatever it is set to.
MAX_GRAPHQL_DEPTH = 64
_DEPTH_TOKENS = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*(?:"""|$)|"(?:\\.|[^"\\\n])*"?|#[^\n]*|[{}()\[\]]'
)


def nesting_error(source: Source, limit: int = MAX_GRAPHQL_DEPTH) -> GraphQLError | None:
    """A located syntax error if ``source`` nests brackets deeper than ``limit``, else None.

    Strings, block strings and comments are skipped (their brackets do not nest).
    """
    body = source.body
    if body.count("{") + body.count("[") + body.count("(") <= limit:
        return None
    depth = 0
    for match in _DEPTH_TOKENS.finditer(body):
        token = match.group()
        if token in "{[(":
            depth += 1
            if depth > limit:
                return GraphQLError(
                    f"Syntax Error: nesting is too deep (more than {limit} levels of brackets).",
                    source=source,
                    positions=[match.start()],
                )
        elif token in "}])":
            depth = max(depth - 1, 0)
    return None


def parse_bounded(source: Source) -> DocumentNode:
    """``graphql.parse`` after the nesting check; a RecursionError (deep input that slipped
    through, or a low recursion limit) is a located syntax error too."""
    error = nesting_error(source)
    if error is not None:
        raise error
    try:
        return parse(source)
    except RecursionError:
        raise GraphQLError(
            "Syntax Error: the document is nested too deeply.", source=source, positions=[0]
        ) from None


@by_fields
@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one definition; ``node`` or ``arg`` says where."""

    code: str
    message: str
    node: Node | None = None
    arg: int | None = None  # index into the fragment arguments
    hint: str | None = None
    warning: bool = False


@by_fields
@dataclass(frozen=True, slots=True)
class Piece:
    """One fragment definition inside a composed document."""

    name: str
    identity: Hashable  # who defines it (a passed definition, or a local one in a string)
    text: str
    node: FragmentDefinitionNode | None  # None once stripped for the cache
    element: Hashable | None  # the passed definition it belongs to; None when local


@by_fields
@dataclass(frozen=True, slots=True)
class Parsed:
    """A gql() string split into its main definition and its local fragments."""

    main: OperationDefinitionNode | FragmentDefinitionNode
    main_text: str
    locals: tuple[Piece, ...]
    #: Fragment spreads of the main and the local definitions, in document order.
    spreads: tuple[FragmentSpreadNode, ...]
    #: Local fragments no spread chain from the main definition reaches.
    unreachable: tuple[str, ...] = ()


@by_fields
@dataclass(frozen=True, slots=True)
class Composed:
    """A definition with its transitive fragments: what the artifact and run time expose."""

    kind: str  # "operation" | "fragment"
    name: str
    operation: str | None
    type_condition: str | None
    #: The AST of the main definition; None once stripped for the cache (see ``stripped``).
    main: OperationDefinitionNode | FragmentDefinitionNode | None
    main_text: str
    fragments: tuple[Piece, ...]
    document: str
    hash: str
    variables: tuple[tuple[str, str, str | None], ...] = field(default=())
    #: Some fragment in the document is defined locally but reached by no spread (an
    #: operation document with one fails NoUnusedFragments).
    has_unreachable: bool = False

    @property
    def nodes(self) -> tuple[OperationDefinitionNode | FragmentDefinitionNode, ...]:
        assert self.main is not None, "a stripped Composed has no AST; compose it again"
        nodes: list[OperationDefinitionNode | FragmentDefinitionNode] = [self.main]
        for piece in self.fragments:
            assert piece.node is not None, "a stripped Composed has no AST; compose it again"
            nodes.append(piece.node)
        return tuple(nodes)

    @property
    def has_ast(self) -> bool:
        return self.main is not None and all(p.node is not None for p in self.fragments)

    def ast(self) -> DocumentNode:
        return DocumentNode(definitions=self.nodes)

    def stripped(self) -> Composed:
        """The same result without AST nodes: small, and pickles without graphql-core."""
        if self.main is None and all(piece.node is None for piece in self.fragments):
            return self  # a cache hit is stripped already
        return replace(
            self,
            main=None,
            fragments=tuple(replace(piece, node=None) for piece in self.fragments),
        )


class _SpreadCollector(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.spreads: list[FragmentSpreadNode] = []

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.spreads.append(node)


def spreads_of(node: Node) -> list[FragmentSpreadNode]:
    collector = _SpreadCollector()
    visit(node, collector)
    return collector.spreads


def document_hash(document: str) -> str:
    return "sha256:" + hashlib.sha256(document.encode("utf-8")).hexdigest()


DefinitionT = TypeVar("DefinitionT", bound=OperationDefinitionNode | FragmentDefinitionNode)

#: The field composition adds so that a response says which type each polymorphic selection
#: got (``with_typename``).
TYPENAME = "__typename"


def with_typename(node: DefinitionT) -> DefinitionT:
    """``node`` with ``__typename`` selected first in every selection set below its root
    that holds a fragment spread or an inline fragment (unless it selects ``__typename``
    already, unaliased). The rule needs no schema, so the build, the run-time ``gql()`` and
    the zero-runtime index add it alike, and typed results can tell the types of an
    interface or a union apart; a definition's root is left alone (an operation's root
    type is known, and a subscription's root may select one field only)."""
    selection_set = node.selection_set
    typed = _typed_selections(selection_set, root=True)
    return node if typed is selection_set else replace(node, selection_set=typed)


def _typed_selections(selection_set: SelectionSetNode, root: bool = False) -> SelectionSetNode:
    changed = False
    selections: list[SelectionNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
            inner = selection.selection_set
            typed = _typed_selections(inner)
            if typed is not inner:
                selection = replace(selection, selection_set=typed)
                changed = True
        selections.append(selection)
    if (
        not root
        and any(isinstance(s, (FragmentSpreadNode, InlineFragmentNode)) for s in selections)
        and not any(
            isinstance(s, FieldNode) and s.alias is None and s.name.value == TYPENAME
            for s in selections
        )
    ):
        field = FieldNode(name=NameNode(value=TYPENAME), arguments=(), directives=())
        selections.insert(0, field)
        changed = True
    return replace(selection_set, selections=tuple(selections)) if changed else selection_set


def parse_definition(
    text: str,
    source_name: str,
    identity: Hashable,
    origin: Callable[[Node], Hashable | None] | None = None,
) -> tuple[Parsed | None, list[Problem]]:
    """Parse a gql() string (raises GraphQLError on syntax errors) and check its shape.

    ``origin`` gives where a local fragment is written (file, line, column): two documents
    that splice the same fragment text then hold the same fragment, not two of one name.
    """
    source = Source(text, source_name)
    document = parse_bounded(source)
    operations: list[OperationDefinitionNode] = []
    fragments: list[FragmentDefinitionNode] = []
    problems: list[Problem] = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
        elif isinstance(definition, FragmentDefinitionNode):
            fragments.append(definition)
        else:
            problems.append(
                Problem(
                    "GQL_DEFINITION_SHAPE",
                    "only operations and fragments may appear in a gql() string",
                    definition,
                    hint="schema definitions belong in the project's schema files",
                )
            )
    if len(operations) > 1:
        problems.append(
            Problem(
                "GQL_DEFINITION_SHAPE",
                f"a gql() string holds one operation; this one has {len(operations)}",
                operations[1],
                hint="give each operation its own module-level gql() definition",
            )
        )
    main: OperationDefinitionNode | FragmentDefinitionNode
    if operations:
        main = operations[0]
        if main.name is None:
            problems.append(
                Problem(
                    "GQL_DEFINITION_SHAPE",
                    "operations must be named",
                    main,
                    hint="write `query Name { ... }`; the name keys the persisted-query manifest",
                )
            )
        local_nodes = fragments
    elif fragments:
        main, local_nodes = fragments[0], fragments[1:]
    else:
        if not problems:
            problems.append(
                Problem("GQL_DEFINITION_SHAPE", "the gql() string holds no operation or fragment")
            )
        return None, problems
    seen: dict[str, FragmentDefinitionNode] = {}
    for node in [main, *local_nodes]:
        if isinstance(node, FragmentDefinitionNode):
            if node.name.value in seen:
                problems.append(
                    Problem(
                        "GQL_FRAGMENT_NAME_CLASH",
                        f"fragment '{node.name.value}' is defined twice in this string",
                        node,
                    )
                )
            seen[node.name.value] = node
    if problems:
        return None, problems
    main = with_typename(main)
    local_nodes = [with_typename(node) for node in local_nodes]
    locals_ = tuple(
        Piece(
            node.name.value,
            (origin(node) if origin is not None else None) or (identity, node.name.value),
            print_document(node),
            node,
            None,
        )
        for node in local_nodes
    )
    spreads: list[FragmentSpreadNode] = []
    edges: dict[str, set[str]] = {}
    for node in [main, *local_nodes]:
        found = spreads_of(node)
        spreads.extend(found)
        edges[node.name.value if node.name else ""] = {s.name.value for s in found}
    reached: set[str] = set()
    stack = [main.name.value if main.name else ""]
    while stack:
        for name in edges.get(stack.pop(), ()):
            if name not in reached:
                reached.add(name)
                stack.append(name)
    unreachable = tuple(p.name for p in locals_ if p.name not in reached)
    return Parsed(main, print_document(main), locals_, tuple(spreads), unreachable), []


def compose(
    parsed: Parsed,
    identity: Hashable,
    args: Sequence[Composed | None],
    arg_identities: Sequence[Hashable],
    bound_names: frozenset[str] = frozenset(),
) -> tuple[Composed | None, list[Problem]]:
    """Compose ``parsed`` with its fragment arguments (already composed themselves).

    ``args[i]`` is None when argument ``i`` failed elsewhere: the definition then fails too,
    without a problem of its own (the root cause is reported where it is). ``bound_names``
    are names bound in the module, for a better message when a fragment is not passed.
    """
    problems: list[Problem] = []
    main_name = parsed.main.name.value if parsed.main.name else ""
    available: dict[str, tuple[Hashable, Composed | None, int]] = {}
    failed = False
    for index, (arg, arg_identity) in enumerate(zip(args, arg_identities, strict=True)):
        if arg is None:
            failed = True
            continue
        if arg.kind != "fragment":
            problems.append(
                Problem(
                    "GQL_ARG_NOT_FRAGMENT",
                    f"argument passes operation '{arg.name}'; only fragments can be passed",
                    arg=index,
                )
            )
            continue
        available.setdefault(arg.name, (arg_identity, arg, index))
    local_names = {piece.name for piece in parsed.locals}
    if isinstance(parsed.main, FragmentDefinitionNode):
        local_names.add(main_name)
    used_args: set[str] = set()
    suggested: set[str] = set()
    for spread in parsed.spreads:
        name = spread.name.value
        if name in local_names:
            continue
        if name in available:
            used_args.add(name)
            continue
        if failed:
            continue
        if name in bound_names:
            problems.append(
                Problem(
                    "GQL_FRAGMENT_NOT_PASSED",
                    f"fragment '{name}' is spread but not passed to gql()",
                    spread,
                    hint=f'pass it: gql("...", {name})',
                )
            )
            continue
        close = closest(name, [*available, *local_names])
        if close is not None:
            suggested.add(close)
        problems.append(
            Problem(
                "GQL_UNKNOWN_FRAGMENT",
                f"unknown fragment '{name}'",
                spread,
                hint=suggestion(close)
                if close is not None
                else f'import the fragment and pass it to gql("...", {name}), '
                "or define it in the same string",
            )
        )
    # one report per root cause: a passed fragment that a misspelt spread was meant to
    # use is reported there (the suggestion), not also as an unused argument
    meant = suggested - used_args
    for name, (_, _, index) in sorted(available.items()):
        if name not in used_args and name not in meant:
            problems.append(
                Problem(
                    "GQL_UNUSED_FRAGMENT_ARG",
                    f"fragment '{name}' is passed to gql() but never spread",
                    arg=index,
                    hint="remove the argument, or spread the fragment",
                    warning=True,
                )
            )
    if failed or any(not p.warning for p in problems):
        return None, problems

    pieces: dict[str, Piece] = {}
    clashes: list[Problem] = []

    def add(piece: Piece) -> None:
        existing = pieces.get(piece.name)
        if existing is None:
            pieces[piece.name] = piece
        elif existing.identity != piece.identity:
            clashes.append(
                Problem(
                    "GQL_FRAGMENT_NAME_CLASH",
                    f"two different fragments named '{piece.name}' meet in this document",
                    parsed.main,
                    hint="rename one of them; fragment names must be unique in a document",
                )
            )

    for piece in parsed.locals:
        add(piece)
    for name in sorted(used_args):
        arg_identity, arg, _ = available[name]
        assert arg is not None
        main_node = arg.main if isinstance(arg.main, FragmentDefinitionNode) else None
        add(Piece(arg.name, arg_identity, arg.main_text, main_node, arg_identity))
        for piece in arg.fragments:
            add(piece)
    if isinstance(parsed.main, FragmentDefinitionNode) and main_name in pieces:
        clashes.append(
            Problem(
                "GQL_FRAGMENT_NAME_CLASH",
                f"fragment '{main_name}' is also the name of a fragment it includes",
                parsed.main,
                hint="rename one of them; fragment names must be unique in a document",
            )
        )
    if clashes:
        return None, problems + clashes[:1]
    ordered = tuple(pieces[name] for name in sorted(pieces))
    document = "\n\n".join([parsed.main_text, *(piece.text for piece in ordered)])
    has_unreachable = bool(parsed.unreachable) or any(
        available[name][1].has_unreachable  # type: ignore[union-attr]
        for name in used_args
    )
    main = parsed.main
    if isinstance(main, OperationDefinitionNode):
        variables = tuple(
            (
                v.variable.name.value,
                print_document(v.type),
                print_document(v.default_value) if v.default_value is not None else None,
            )
            for v in main.variable_definitions or ()
        )
        composed = Composed(
            "operation",
            main_name,
            main.operation.value,
            None,
            main,
            parsed.main_text,
            ordered,
            document,
            document_hash(document),
            variables,
            has_unreachable,
        )
    else:
        composed = Composed(
            "fragment",
            main_name,
            None,
            main.type_condition.name.value,
            main,
            parsed.main_text,
            ordered,
            document,
            document_hash(document),
            has_unreachable=has_unreachable,
        )
    return composed, problems
