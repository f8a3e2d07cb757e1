"""Validate all of a project's documents as one combined document (the fast path).

Composed documents share fragments: on a typical app each operation document repeats ~5
fragment definitions, so validating documents one by one traverses every fragment once per
user. Here every distinct definition goes into one document and is traversed once.

Why a pass is trustworthy: each composed document is a sub-document of the combined one
(its operation or fragment plus the transitive fragments, all present with the same names,
because documents with a name another fragment also uses are left out). Every specified
rule that fails on a sub-document also fails on the combined document, except
NoUnusedFragments, which is left out here and decided exactly per document instead
(``Composed.has_unreachable``). So: combined passes => every included document passes.
When the combined document has errors, each error's nodes name the definitions involved
(via their GraphQL source), and only documents containing one of them go on to the
ordinary per-document validation, which also produces the located diagnostics.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from graphql import DocumentNode, GraphQLSchema, specified_rules
from graphql.language import DefinitionNode
from graphql.validation import NoUnusedFragmentsRule
from graphql.validation.rules import overlapping_fields_can_be_merged

from sodabuild.compose.document import Composed
from sodabuild.validate.engine import validate_document

COMBINED_RULES = tuple(rule for rule in specified_rules if rule is not NoUnusedFragmentsRule)

#: graphql-core's own per-document error limit (validate's ``max_errors`` default).
ERRORS_PER_DOCUMENT = 100


@dataclass
class CombinedResult:
    """What the combined validation proved, and how much work it took."""

    proven: set[int] = field(default_factory=set)
    parts: int = 0  # combined documents validated (bisected halves included)
    aborted: int = 0  # of those, the ones graphql-core gave up on (then bisected)


@contextmanager
def document_budgets(documents: int) -> Iterator[None]:
    """graphql-core's work budgets for one combined document of ``documents`` documents.

    graphql-core >= 3.3 meters the overlapping-fields check of one validation
    (``MAX_COMPLEXITY_BUDGET``, read when the rule starts) and aborts with a bare
    "Validation aborted." once it is spent. The check never compares fields of two
    different operations, and the combined document holds each shared fragment once, so
    its work is at most the sum of its documents' work: granting the sum of their budgets
    is exactly the protection validating them one by one gives. (3.2 has no budget.)
    """
    module = overlapping_fields_can_be_merged
    default = getattr(module, "MAX_COMPLEXITY_BUDGET", None)
    if default is None:
        yield
        return
    module.MAX_COMPLEXITY_BUDGET = default * max(1, documents)
    try:
        yield
    finally:
        module.MAX_COMPLEXITY_BUDGET = default


def _origin(identity: Hashable) -> Hashable:
    """The definition whose gql() string holds a piece (locals carry (owner, name))."""
    if isinstance(identity, tuple) and len(identity) == 2:
        owner: Hashable = identity[0]
        return owner
    return identity


def known_valid(
    schema: GraphQLSchema,
    documents: Sequence[tuple[Hashable, Composed]],
    source_origin: Mapping[str, Hashable],
) -> CombinedResult:
    """The indices of ``documents`` (identity of the main definition, composed) proven valid.

    ``source_origin`` maps a GraphQL source name to the definition identity it belongs to.
    With many documents they are split into one combined document per worker (in document
    order, so neighbours, which tend to share fragments, stay together), validated on
    forked workers (validate/parallel.py). A part that graphql-core aborts (a document
    nested too deeply for its recursion guard, a budget) is split in halves and each half
    validated again, down to single documents, so one pathological document costs its
    neighbours nothing and nothing is given up silently.
    """
    from sodabuild.validate.parallel import can_fork, fork_map, worker_count

    identities_by_name: dict[str, set[Hashable]] = {}
    for identity, composed in documents:
        if composed.kind == "fragment":
            identities_by_name.setdefault(composed.name, set()).add(identity)
        for piece in composed.fragments:
            identities_by_name.setdefault(piece.name, set()).add(piece.identity)
    clashing = {name for name, ids in identities_by_name.items() if len(ids) > 1}

    included: list[int] = []
    origins: list[set[Hashable]] = []
    for index, (identity, composed) in enumerate(documents):
        names = {piece.name for piece in composed.fragments}
        if composed.kind == "fragment":
            names.add(composed.name)
        origin = {_origin(identity), *(_origin(piece.identity) for piece in composed.fragments)}
        origins.append(origin)
        if names & clashing or (composed.kind == "operation" and composed.has_unreachable):
            continue
        included.append(index)
    if not included:
        return CombinedResult()
    parts = worker_count() if can_fork(len(included)) else 1
    size = -(-len(included) // parts)
    groups = [included[start : start + size] for start in range(0, len(included), size)]

    def prove(part: int) -> CombinedResult:
        return _prove(schema, documents, groups[part], origins, source_origin)

    answers = fork_map(prove, len(groups)) if len(groups) > 1 else [prove(0)]
    total = CombinedResult()
    for answer in answers:
        total.proven |= answer.proven
        total.parts += answer.parts
        total.aborted += answer.aborted
    return total


def _prove(
    schema: GraphQLSchema,
    documents: Sequence[tuple[Hashable, Composed]],
    group: list[int],
    origins: list[set[Hashable]],
    source_origin: Mapping[str, Hashable],
) -> CombinedResult:
    """Validate ``group`` as one combined document; halves again when it is aborted."""
    result = CombinedResult()
    pending = [group]
    while pending:
        part = pending.pop()
        result.parts += 1
        sources = _failing_sources(schema, _combined(documents, part), len(part))
        if sources is None:
            result.aborted += 1
            if len(part) > 1:
                middle = len(part) // 2
                pending += [part[middle:], part[:middle]]
            continue  # a single document left: validated on its own, located there
        if any(name not in source_origin for name in sources):
            continue
        failing = {source_origin[name] for name in sources}
        result.proven.update(index for index in part if not (origins[index] & failing))
    return result


def _failing_sources(
    schema: GraphQLSchema, document: DocumentNode, documents: int
) -> list[str] | None:
    """The GraphQL sources holding an error of the combined ``document``; None when
    validation was aborted (or an error cannot be placed): then it proves nothing."""
    with document_budgets(documents):
        errors = validate_document(
            schema, document, COMBINED_RULES, max_errors=ERRORS_PER_DOCUMENT * documents
        )
    names: list[str] = []
    for error in errors:
        if not error.nodes:
            return None
        for node in error.nodes:
            if node.loc is None:
                return None
            names.append(node.loc.source.name)
    return names


def _combined(documents: Sequence[tuple[Hashable, Composed]], group: list[int]) -> DocumentNode:
    """One document holding every distinct definition of the grouped documents."""
    definitions: dict[Hashable, DefinitionNode] = {}
    for index in group:
        identity, composed = documents[index]
        ast_nodes = composed.nodes
        definitions.setdefault(identity, ast_nodes[0])
        for piece, piece_node in zip(composed.fragments, ast_nodes[1:], strict=True):
            definitions.setdefault(piece.identity, piece_node)
    return DocumentNode(definitions=tuple(definitions.values()))
