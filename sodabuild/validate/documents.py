"""Validate composed documents against a schema with all of graphql-core's specified rules.

Documents are validated as the ASTs parsed from the gql() strings (not re-parsed printed
text), so every error's node still points into its own string, and :class:`HostMap` maps
that position into the Python file. A fragment's own document skips NoUnusedFragmentsRule
(nothing in a fragment-only document uses the fragment).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from graphql import GraphQLError, GraphQLSchema, specified_rules
from graphql.validation import ASTValidationRule, NoUnusedFragmentsRule

from sodabuild.compose.document import Composed
from sodabuild.diagnostics import Diagnostic
from sodabuild.scan.static import Text, joined, locate
from sodabuild.validate.engine import validate_document

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_starts(body: str) -> list[int]:
    """Offsets where each line of ``body`` starts (graphql-core's line terminators)."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(body))]


OPERATION_RULES: tuple[type[ASTValidationRule], ...] = tuple(specified_rules)
FRAGMENT_RULES: tuple[type[ASTValidationRule], ...] = tuple(
    rule for rule in specified_rules if rule is not NoUnusedFragmentsRule
)


class HostMap:
    """GraphQL source name -> the located text it was parsed from (``scan.static.Text``):
    a position in the document maps to the file, line and column of its piece."""

    def __init__(self) -> None:
        self._by_source: dict[str, tuple[Text, list[int]]] = {}

    def register(self, source_name: str, text: Text) -> None:
        self._by_source[source_name] = (text, [])

    def locate(self, source_name: str, line: int, column: int) -> tuple[str, int, int] | None:
        found = self._by_source.get(source_name)
        if found is None:
            return None
        text, starts = found
        if not starts:
            starts.extend(line_starts(joined(text)))
        if not 1 <= line <= len(starts):
            return None
        return locate(text, starts[line - 1] + column - 1)

    def error(
        self,
        code: str,
        error: GraphQLError,
        fallback: tuple[str, int, int],
        hint: str | None = None,
    ) -> Diagnostic:
        """A diagnostic for a graphql-core error, at its first node's host position."""
        where: tuple[str, int, int] | None = None
        node = error.nodes[0] if error.nodes else None
        if node is not None and node.loc is not None:
            source = node.loc.source
            location = source.get_location(node.loc.start)
            where = self.locate(source.name, location.line, location.column)
        elif error.source is not None and error.locations:
            location = error.locations[0]
            where = self.locate(error.source.name, location.line, location.column)
        file, line, column = where or fallback
        return Diagnostic(code, error.message, file, line, column, hint)


def validate_composed(
    schema: GraphQLSchema,
    composed: Composed,
    host: HostMap,
    fallback: tuple[str, int, int],
) -> Sequence[Diagnostic]:
    rules = OPERATION_RULES if composed.kind == "operation" else FRAGMENT_RULES
    try:
        errors = validate_document(schema, composed.ast(), rules)
    except RecursionError:
        # Each string's nesting is bounded (compose.document.MAX_GRAPHQL_DEPTH), but a chain
        # of fragments each nesting deeply adds up in the recursive validation rules.
        file, line, column = fallback
        return [Diagnostic("GQL_VALIDATION", _TOO_DEEP, file, line, column, _TOO_DEEP_HINT)]
    return [
        _aborted(schema, composed, host.error(_code(error), error, fallback)) for error in errors
    ]


_TOO_DEEP = "the composed document is nested too deeply to be validated"
_TOO_DEEP_HINT = "flatten the selection sets, or split the chain of nested fragments"
_TOO_COMPLEX = (
    "graphql-core gave up validating the composed document: checking that its fields can"
    " be merged compares too many pairs (graphql-core's complexity budget)"
)
_TOO_COMPLEX_HINT = "select each field once per selection set, or split the document"
_TOO_MANY = "more than 100 validation errors in this document; the first 100 are reported"
_TOO_MANY_HINT = "fix the errors above and build again"


def _aborted(schema: GraphQLSchema, composed: Composed, diagnostic: Diagnostic) -> Diagnostic:
    """graphql-core >= 3.3 ends an aborted validation with a bare message and no location
    (placed at the definition by the caller): say why, and what to do."""
    if diagnostic.message.startswith("Too many validation errors"):
        return replace(diagnostic, message=_TOO_MANY, hint=_TOO_MANY_HINT)
    if diagnostic.message != "Validation aborted.":
        return diagnostic
    # without rules only the fragment-nesting guard runs: it tells depth from budget
    if validate_document(schema, composed.ast(), []):
        return replace(diagnostic, message=_TOO_DEEP, hint=_TOO_DEEP_HINT)
    return replace(diagnostic, message=_TOO_COMPLEX, hint=_TOO_COMPLEX_HINT)


def _code(error: GraphQLError) -> str:
    # NoFragmentCyclesRule: fragments defined in one string that spread each other
    if error.message.startswith("Cannot spread fragment") and "within itself" in error.message:
        return "GQL_FRAGMENT_CYCLE"
    return "GQL_VALIDATION"
