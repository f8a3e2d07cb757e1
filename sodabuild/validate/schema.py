"""Load a project's schema from SDL files, with located SCHEMA_* diagnostics.

Each file is parsed on its own (so positions stay file-relative), the definitions are
joined into one document, SDL rules run with locations (``validate_sdl``), then the schema
is built and checked (``validate_schema``). Loaded schemas are shared by projects that name
the same files within one build.

A problem that breaks a rule of the spec but leaves the schema usable (GitHub's published
schemas have some) is a ``SCHEMA_SPEC`` warning and the schema builds; only a schema that
cannot be used is ``SCHEMA_INVALID``. The classification is in ``validate/spec.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from graphql import (
    DefinitionNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    Source,
    build_ast_schema,
    validate_schema,
)

from sodabuild.compose.document import parse_bounded
from sodabuild.diagnostics import Diagnostic
from sodabuild.validate import spec


@dataclass(frozen=True)
class LoadedSchema:
    schema: GraphQLSchema | None
    #: sha256 over the files' names and bytes; part of validation cache keys.
    hash: str
    diagnostics: tuple[Diagnostic, ...]


def _located(code: str, error: GraphQLError, fallback: str) -> Diagnostic:
    node = error.nodes[0] if error.nodes else None
    if node is not None and node.loc is not None:
        source = node.loc.source
        location = source.get_location(node.loc.start)
        return Diagnostic(code, error.message, source.name, location.line, location.column)
    if error.source is not None and error.locations:
        location = error.locations[0]
        return Diagnostic(code, error.message, error.source.name, location.line, location.column)
    return Diagnostic(code, error.message, fallback)


def schema_hash(files: list[tuple[str, bytes]]) -> str:
    """sha256 over the schema files' names and bytes (written into the artifact)."""
    digest = hashlib.sha256()
    for path, data in files:
        digest.update(path.encode() + b"\0" + data + b"\0")
    return "sha256:" + digest.hexdigest()


def load_schema(files: list[tuple[str, bytes]]) -> LoadedSchema:
    """Build the schema from (workspace-relative path, bytes) pairs, in order."""
    definitions: list[DefinitionNode] = []
    diagnostics: list[Diagnostic] = []
    paths = [path for path, _ in files]
    for path, data in files:
        try:
            document = parse_bounded(Source(data.decode("utf-8"), path))
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            start = data.rfind(b"\n", 0, exc.start) + 1
            column = len(data[start : exc.start].decode("utf-8", "replace")) + 1
            diagnostics.append(
                Diagnostic(
                    "SCHEMA_SYNTAX",
                    f"not valid UTF-8: {exc.reason}",
                    path,
                    line,
                    column,
                    "save the schema file as UTF-8",
                )
            )
            continue
        except GraphQLError as exc:
            location = exc.locations[0] if exc.locations else None
            diagnostics.append(
                Diagnostic(
                    "SCHEMA_SYNTAX",
                    exc.message,
                    path,
                    location.line if location else 1,
                    location.column if location else 1,
                    "fix the SDL syntax",
                )
            )
            continue
        definitions.extend(document.definitions)
    schema_hash_ = schema_hash(files)
    if diagnostics:
        return LoadedSchema(None, schema_hash_, tuple(diagnostics))
    document = DocumentNode(definitions=tuple(definitions))
    try:
        return _build(document, schema_hash_, paths)
    except RecursionError:
        # Deeper than graphql-core's recursive SDL code can go (nesting is bounded per
        # file; this is a chain through many types).
        return LoadedSchema(
            None,
            schema_hash_,
            (
                Diagnostic(
                    "SCHEMA_INVALID",
                    "the schema is nested too deeply to be built",
                    paths[0],
                    1,
                    1,
                    "flatten the deepest type references or input values",
                ),
            ),
        )


def load_known_schema(
    files: list[tuple[str, bytes]], warnings: tuple[Diagnostic, ...]
) -> LoadedSchema:
    """A schema the cache has built and checked before (the same hash): built again without
    the SDL and schema checks (a third of loading a large schema); its warnings are the
    recorded ones. Anything unexpected falls back to :func:`load_schema`."""
    try:
        definitions: list[DefinitionNode] = []
        for path, data in files:
            definitions.extend(parse_bounded(Source(data.decode("utf-8"), path)).definitions)
        document, _ = spec.dedupe(DocumentNode(definitions=tuple(definitions)), files[0][0])
        schema = build_ast_schema(document, assume_valid=True, assume_valid_sdl=True)
    except Exception:  # the checked path reports whatever it is
        return load_schema(files)
    return LoadedSchema(schema, schema_hash(files), warnings)


def _build(document: DocumentNode, schema_hash_: str, paths: list[str]) -> LoadedSchema:
    document, warnings = spec.dedupe(document, paths[0])
    errors, spec_only = spec.validate_sdl_split(document)
    if errors:
        return _failed(schema_hash_, [_located("SCHEMA_INVALID", e, paths[0]) for e in errors])
    warnings.extend(
        spec.warning(
            e.message,
            e.nodes[0] if e.nodes else None,
            "define the directive or use it where it is allowed; the build ignores it",
            paths[0],
        )
        for e in spec_only
    )
    one_of = spec.one_of_unsupported(document)
    if one_of:
        return _failed(
            schema_hash_,
            [
                spec.located(
                    "SCHEMA_INVALID",
                    "@oneOf input objects need graphql-core 3.3 or later",
                    node,
                    paths[0],
                    "upgrade graphql-core to 3.3, or drop @oneOf",
                )
                for node in one_of
            ],
        )
    try:
        schema = build_ast_schema(document, assume_valid_sdl=True)
    except (GraphQLError, TypeError) as exc:
        return _failed(schema_hash_, [Diagnostic("SCHEMA_INVALID", str(exc), paths[0], 1, 1)])
    own_errors, built_warnings = spec.check_built(schema, paths[0])
    found = validate_schema(schema)
    fatal = spec.filter_schema_errors(found, bool(own_errors))
    if fatal or own_errors:
        diagnostics = [_located("SCHEMA_INVALID", e, paths[0]) for e in fatal] + own_errors
        return _failed(schema_hash_, diagnostics)
    if found:
        # Only spec-only findings (reported as warnings): documents validate against it.
        schema._validation_errors = []
    warnings.extend(built_warnings)
    return LoadedSchema(schema, schema_hash_, tuple(sorted(warnings, key=Diagnostic.sort_key)))


def _failed(schema_hash_: str, diagnostics: list[Diagnostic]) -> LoadedSchema:
    return LoadedSchema(None, schema_hash_, tuple(diagnostics))
