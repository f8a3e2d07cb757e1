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
    """
    identities_by_name: dict[str, set[Hashable]] = {}
    for identity, composed in documents:
        if composed.kind == "fragment":
            identities_by_name.setdefault(composed.name, set()).add(identity)
        for piece in composed.fragments:
            identities_by_name.setdefault(piece.name, set()).add(piece.identity)
    clashing = {name for name, ids in identities_by_name.items() if len(ids) > 1}

    included: list[int] = []
    definitions: dict[Hashable, DefinitionNode] = {}
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
        ast_nodes = composed.nodes
        definitions.setdefault(identity, ast_nodes[0])
        for piece, piece_node in zip(composed.fragments, ast_nodes[1:], strict=True):
            definitions.setdefault(piece.identity, piece_node)
    if not included:
        return set()
    errors = validate(schema, DocumentNode(definitions=tuple(definitions.values())), COMBINED_RULES)
    if not errors:
        return set(included)
    failing: set[Hashable] = set()
    for error in errors:
        nodes = error.nodes or []
        if not nodes:
            return set()  # an error we cannot place: trust nothing
        for node in nodes:
            if node.loc is None or node.loc.source.name not in source_origin:
                return set()
            failing.add(source_origin[node.loc.source.name])
    return {index for index in included if not (origins[index] & failing)}
