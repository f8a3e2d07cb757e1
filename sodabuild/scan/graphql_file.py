"""The GraphQL-file scanner: each operation and fragment of a ``.graphql``/``.gql`` file.

``scan_graphql`` is, like the Python scanner, a pure function of (path, bytes) whose result
is cached per file fingerprint. Every executable definition becomes a
:class:`~sodabuild.scan.python.GqlDefinition` named by its operation or fragment name
(canonical id ``<path>::<name>``), whose document is the definition's own text, located
exactly in the file. Spreads of fragments defined elsewhere (in the same file or not)
resolve by name. A file holding only type-system definitions (a schema, an extension) has
no documents and is skipped quietly; type-system definitions mixed into a document file
are an error.
"""

from __future__ import annotations

from sodabuild.diagnostics import Diagnostic
from sodabuild.scan.python import GqlDefinition, ModuleScan, unique_id
from sodabuild.scan.static import Lit


def scan_graphql(path: str, data: bytes) -> ModuleScan:
    """Scan one GraphQL file. ``path`` is only used to locate diagnostics."""
    from graphql import GraphQLError, Source
    from graphql.language import ExecutableDefinitionNode

    from sodabuild.compose.document import parse_bounded

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        diagnostic = Diagnostic(
            "GQL_SYNTAX",
            f"not valid UTF-8: {exc.reason}",
            path,
            line,
            column,
            hint="save the file as UTF-8",
        )
        return ModuleScan(path, diagnostics=(diagnostic,), parsed=False)
    source = Source(text, path)
    try:
        document = parse_bounded(source)
    except GraphQLError as error:
        line, column = (
            (error.locations[0].line, error.locations[0].column) if error.locations else (1, 1)
        )
        diagnostic = Diagnostic(
            "GQL_SYNTAX",
            f"GraphQL syntax: {error.message.removeprefix('Syntax Error: ')}",
            path,
            line,
            column,
            hint="fix the GraphQL syntax of the document file",
        )
        return ModuleScan(path, diagnostics=(diagnostic,), parsed=False)
    executable = [d for d in document.definitions if isinstance(d, ExecutableDefinitionNode)]
    if not executable:
        return ModuleScan(path)  # a schema or extension file: no documents
    diagnostics: list[Diagnostic] = []
    definitions: list[GqlDefinition] = []
    seen: set[str] = set()
    for node in document.definitions:
        assert node.loc is not None
        where = source.get_location(node.loc.start)
        if not isinstance(node, ExecutableDefinitionNode):
            diagnostics.append(
                Diagnostic(
                    "GQL_DEFINITION_SHAPE",
                    "only operations and fragments may appear in a document file",
                    path,
                    where.line,
                    where.column,
                    hint="keep type definitions in the project's schema files",
                )
            )
            continue
        name = node.name.value if node.name is not None else "anonymous"
        label = unique_id(name, seen)
        body = text[node.loc.start : node.loc.end]
        definitions.append(
            GqlDefinition(
                label,
                where.line,
                where.column,
                Lit(body, where.line, where.column, True),
                (),
                "file",
                None,
                len(definitions) + 1,
            )
        )
    return ModuleScan(
        path,
        definitions=tuple(definitions),
        diagnostics=tuple(diagnostics),
        _by_id={d.name: d for d in definitions},
    )
