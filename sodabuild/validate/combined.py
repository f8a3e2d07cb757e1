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

from collections.abc import Hashable, Mapping, Sequence

from graphql import DocumentNode, GraphQLSchema, specified_rules, validate
from graphql.language import DefinitionNode
from graphql.validation import NoUnusedFragmentsRule

from sodabuild.compose.document import Composed

COMBINED_RULES = tuple(rule for rule in specified_rules if rule is not NoUnusedFragmentsRule)


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
) -> set[int]:
    """Indices of ``documents`` (identity of the main definition, composed) proven valid.

    ``source_origin`` maps a GraphQL source name to the definition identity it belongs to.
    With many documents they are split into one combined document per worker (in document
    order, so neighbours, which tend to share fragments, stay together), validated on
    forked workers (validate/parallel.py).
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
        return set()
    parts = worker_count() if can_fork(len(included)) else 1
    size = -(-len(included) // parts)
    groups = [included[start : start + size] for start in range(0, len(included), size)]
    combined = [_combined(documents, group) for group in groups]

    def failing_sources(part: int) -> list[str] | None:
        errors = validate(schema, combined[part], COMBINED_RULES)
        names: list[str] = []
        for error in errors:
            if not error.nodes:
                return None  # an error we cannot place: trust nothing
            for node in error.nodes:
                if node.loc is None:
                    return None
                names.append(node.loc.source.name)
        return names

    answers = fork_map(failing_sources, len(groups)) if len(groups) > 1 else [failing_sources(0)]
    proven: set[int] = set()
    for group, sources in zip(groups, answers, strict=True):
        if sources is None or any(name not in source_origin for name in sources):
            continue
        failing = {source_origin[name] for name in sources}
        proven.update(index for index in group if not (origins[index] & failing))
    return proven


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
