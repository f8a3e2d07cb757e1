"""Run-time ``gql()``: compose a GraphQL document exactly as the build does.

    from sodabuild.graphql import gql
    GetUser = gql('query GetUser($id: ID!) { user(id: $id) { ...UserFields } }', UserFields)

``GetUser.document`` is byte-identical to the document of ``GetUser`` in the build's
artifact (both come from :func:`sodabuild.compose.document.compose`); ``.hash`` equals the
artifact's ``hash`` and the persisted-query id (without its ``sha256:`` prefix).

``GetUser.to_gql()`` is what the gql client library's own ``gql()`` returns for that
document (gql 3.x: a ``DocumentNode``; gql 4.x: a ``GraphQLRequest``), for
``gql.Client.execute``; gql is imported only then, sodabuild does not depend on it.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__all__ = ["GraphQLCompositionError", "GraphQLDocument", "gql"]


_SURROGATE = re.compile("[\ud800-\udfff]")


class GraphQLCompositionError(ValueError):
    """A gql() call that cannot be composed (the build reports the same problem, located)."""


class GraphQLDocument:
    """A composed GraphQL document: an operation or a fragment with its fragments."""

    __slots__ = ("_composed",)

    def __init__(self, composed: Any) -> None:
        self._composed = composed

    @property
    def document(self) -> str:
        """The canonical printed document (definition, then fragments sorted by name)."""
        return str(self._composed.document)

    @property
    def name(self) -> str:
        return str(self._composed.name)

    @property
    def kind(self) -> str:
        """``"operation"`` or ``"fragment"``."""
        return str(self._composed.kind)

    @property
    def operation(self) -> str | None:
        """``"query"``, ``"mutation"`` or ``"subscription"`` for operations."""
        return self._composed.operation  # type: ignore[no-any-return]

    @property
    def type_condition(self) -> str | None:
        return self._composed.type_condition  # type: ignore[no-any-return]

    @property
    def hash(self) -> str:
        """``sha256:<hex>`` of :attr:`document`."""
        return str(self._composed.hash)

    @property
    def fragment_names(self) -> tuple[str, ...]:
        return tuple(piece.name for piece in self._composed.fragments)

    @property
    def variables(self) -> tuple[tuple[str, str, str | None], ...]:
        return tuple(self._composed.variables)

    @property
    def ast(self) -> Any:
        """The graphql-core ``DocumentNode`` of the composed document."""
        return self._composed.ast()

    def to_gql(self) -> Any:
        """This document as the installed gql client library's ``gql()`` returns it.

        gql 3.x: a graphql-core ``DocumentNode``, for
        ``client.execute(doc.to_gql(), variable_values=...)``; gql 4.x: a new
        ``gql.GraphQLRequest`` each call, for ``client.execute(request)`` after setting
        ``request.variable_values`` (or ``GraphQLRequest(doc.to_gql(), variable_values=...)``).
        Either way gql executes exactly :attr:`document`. The object itself cannot be
        passed to gql: gql 3.x requires a ``DocumentNode`` instance and gql 4.x a
        ``GraphQLRequest``, and both define ``kind``/``document`` differently from this class.
        """
        try:
            library = importlib.import_module("gql")
        except ImportError as exc:
            raise ImportError(
                "GraphQLDocument.to_gql() needs the gql client library (pip install gql)"
            ) from exc
        return library.gql(self.document)

    def __str__(self) -> str:
        return self.document

    def __repr__(self) -> str:
        return f"<GraphQLDocument {self.kind} {self.name} {self.hash[:19]}>"


def gql(source: str, *fragments: GraphQLDocument) -> GraphQLDocument:
    """Compose ``source`` with the fragments it spreads; raises on what the build rejects."""
    from graphql import GraphQLError

    from sodabuild.compose.document import compose, parse_definition

    if not isinstance(source, str):
        raise TypeError("gql() takes the GraphQL document as its first argument, a str")
    for fragment in fragments:
        if not isinstance(fragment, GraphQLDocument):
            raise TypeError(f"gql() fragment arguments must be gql() results, not {fragment!r}")
    surrogate = _SURROGATE.search(source)
    if surrogate is not None:
        # The build rejects it too (GQL_SYNTAX): no output could encode it.
        raise GraphQLCompositionError(
            f"lone surrogate U+{ord(surrogate.group()):04X} at index {surrogate.start()} of "
            "the gql() string (not a Unicode character)"
        )
    identity = object()
    try:
        parsed, problems = parse_definition(source, "gql", identity)
    except GraphQLError as exc:
        raise GraphQLCompositionError(str(exc)) from None
    if parsed is not None:
        composed, problems = compose(
            parsed,
            identity,
            [f._composed for f in fragments],
            [id(f._composed.main) for f in fragments],
        )
        if composed is not None:
            return GraphQLDocument(composed)
    errors = [p.message for p in problems if not p.warning]
    raise GraphQLCompositionError("; ".join(errors))
