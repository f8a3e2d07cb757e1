"""Schemas as they are published: which SDL problems are fatal, which are only spec breaks.

Real schemas (GitHub's, for one) break rules of the GraphQL specification that do not
change what a document means: graphql-core builds them and validates documents against
them correctly, and Relay, graphql-codegen and graphql-core's own ``assume_valid`` use
them every day. Such a problem is one located warning, ``SCHEMA_SPEC``, and the schema
builds. A problem that would make the schema give wrong answers (a document accepted that
the server rejects, a wrong type for a field, a missing type) stays an error:
``SCHEMA_INVALID`` (``SCHEMA_SYNTAX`` for a file that does not parse).

=============================================  ==========  ===================================
finding                                        class       what sodabuild does
=============================================  ==========  ===================================
a type, directive, field, input field,         spec-only   warn at the later definition;
argument or enum value defined twice, the                  the first definition is used
definitions identical apart from descriptions
a union member or implemented interface        spec-only   warn at the repeated name; it is
listed twice                                               listed once
an implementation field deprecated while the   spec-only   warn at the implementation field
interface field is not                                     (graphql-core 3.3 rule, checked
                                                           here under 3.2 too)
a required argument or input field deprecated  spec-only   warn at the argument / field
one type used for two root operations          spec-only   warn at the second operation type
an unknown directive, a directive used where   spec-only   warn at the directive; build
it is not allowed, an unknown argument of a                ignores it (the first of a
directive, a directive repeated at a location              repeated one is read)
the same name defined twice differently        fatal       error: which one is meant is
(type, field, argument, enum value...)                     ambiguous
an unknown type, no query root, a root that    fatal       error: the schema cannot be used
is not an object type, two schema definitions
or two roots for one operation, an extension
of an undefined type or of another kind
an implementation missing an interface field,  fatal       error: documents written against
of another type, with different or extra                   the interface would validate
required arguments; a type not implementing                wrongly
its interfaces' interfaces; a cycle
an output type used as input or the reverse,   fatal       error
a union of non-object types, a non-null input
cycle, an invalid default value
a required directive argument missing, a       fatal       error
repeated directive argument
a type with no fields / values / members, a    fatal       error (kept as graphql-core
name starting with ``__``, anything else                   reports it)
graphql-core reports
``@oneOf`` input objects under graphql-core    fatal       error: 3.2 cannot enforce them,
3.2                                                        so documents would validate
                                                           differently than under 3.3
=============================================  ==========  ===================================

graphql-core 3.2 and 3.3 check different things (3.3 added the deprecation rule, the
distinct-roots rule and default-value validation). The spec-only rules are therefore
checked here, on the AST or the built schema, and graphql-core's own reports of them are
dropped; invalid default values are checked here too, so that the same schemas build and
the same warnings come out under both versions.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import graphql
from graphql import (
    DefinitionNode,
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    FieldDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    Node,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    TypeDefinitionNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    Visitor,
    is_input_object_type,
    is_interface_type,
    is_object_type,
    is_required_argument,
    is_required_input_field,
    print_ast,
    value_from_ast,
    visit,
)
from graphql.pyutils import Undefined
from graphql.validation import (
    ASTValidationRule,
    KnownDirectivesRule,
    UniqueDirectivesPerLocationRule,
)
from graphql.validation.rules.known_argument_names import KnownArgumentNamesOnDirectivesRule
from graphql.validation.specified_rules import specified_sdl_rules
from graphql.validation.validate import validate_sdl

from sodabuild.diagnostics import Diagnostic, Severity
from sodabuild.validate.documents import line_starts

__all__ = [
    "check_built",
    "dedupe",
    "filter_schema_errors",
    "located",
    "one_of_unsupported",
    "validate_sdl_split",
    "warning",
]

CODE = "SCHEMA_SPEC"

#: graphql-core 3.3 knows ``@oneOf`` input objects; 3.2 does not.
ONE_OF_SUPPORTED = hasattr(graphql, "GraphQLOneOfDirective")

#: SDL rules whose findings do not change what the built schema means.
SPEC_ONLY_SDL_RULES = (
    KnownDirectivesRule,
    UniqueDirectivesPerLocationRule,
    KnownArgumentNamesOnDirectivesRule,
)
FATAL_SDL_RULES = tuple(rule for rule in specified_sdl_rules if rule not in SPEC_ONLY_SDL_RULES)

#: ``validate_schema`` messages of rules checked here instead (spec-only, or missing in 3.2).
_CHECKED_HERE = re.compile(
    r"^(Interface field \S+ is not deprecated, so implementation field \S+ must not be"
    r" deprecated\."
    r"|Required (argument|input field) \S+ cannot be deprecated\."
    r"|All root types must be different, .*)$"
)
_DEFAULT_VALUE = re.compile(r"^\S+ has invalid default value")

_TYPE_DEFS = (
    ObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    EnumTypeDefinitionNode,
    UnionTypeDefinitionNode,
)
_TYPE_EXTS = (
    ObjectTypeExtensionNode,
    InterfaceTypeExtensionNode,
    InputObjectTypeExtensionNode,
    EnumTypeExtensionNode,
    UnionTypeExtensionNode,
)


@functools.lru_cache(maxsize=8)
def _line_starts(body: str) -> list[int]:
    """``line_starts`` of a schema file, kept for the files of the last few schemas."""
    return line_starts(body)


def _where(node: Node | None) -> tuple[str | None, int | None, int | None]:
    """File, line and column of ``node`` (``Source.get_location`` scans the whole body
    on each call under graphql-core 3.3: 40 ms a warning on GitHub's schema)."""
    if node is None or node.loc is None:
        return None, None, None
    source = node.loc.source
    starts = _line_starts(source.body)
    line = bisect.bisect_right(starts, node.loc.start)
    return source.name, line, node.loc.start - starts[line - 1] + 1


def located(code: str, message: str, node: Node | None, fallback: str, hint: str) -> Diagnostic:
    """An error at ``node`` (the fallback file's start when it has no location)."""
    file, line, column = _where(node)
    if file is None:
        file, line, column = fallback, 1, 1
    return Diagnostic(code, message, file, line, column, hint)


def warning(message: str, node: Node | None, hint: str, fallback: str) -> Diagnostic:
    """A ``SCHEMA_SPEC`` warning at ``node``."""
    file, line, column = _where(node)
    if file is None:
        file, line, column = fallback, 1, 1
    return Diagnostic(CODE, message, file, line, column, hint, Severity.WARNING)


def _name_node(node: Node) -> Node:
    name: Node | None = getattr(node, "name", None)
    return name if name is not None else node


def _at(node: Node, other_file: str | None) -> str:
    """'line N' (same file) or 'path:N' for the first definition, in a message."""
    file, line, _ = _where(_name_node(node))
    if file is None:
        return "elsewhere"
    return f"line {line}" if file == other_file else f"{file}:{line}"


def _replace(node: Any, **changes: Any) -> Any:
    """A copy of ``node`` with ``changes`` (AST nodes are frozen under graphql-core 3.3)."""
    fields = {key: getattr(node, key, None) for key in node.keys}
    fields.update(changes)
    return type(node)(**fields)


class _NoDescriptions(Visitor):
    def enter(self, node: Node, *_args: Any) -> Any:
        if getattr(node, "description", None) is not None:
            return _replace(node, description=None)
        return None


def _signature(node: Node) -> str:
    """The node as SDL without descriptions: two definitions with one signature mean the
    same thing to validation and to generated code."""
    return print_ast(visit(node, _NoDescriptions()))


class _Deduper:
    def __init__(self, fallback: str) -> None:
        self.fallback = fallback
        self.warnings: list[Diagnostic] = []

    def unique(
        self, what: str, owner: str, items: Iterable[Node], seen: dict[str, Node]
    ) -> list[Node]:
        """``items`` without later definitions identical to an earlier one of the same name
        (each a warning); different duplicates are kept for graphql-core to reject."""
        kept: list[Node] = []
        for item in items:
            name = _name_node(item)
            key = getattr(name, "value", None)
            first = seen.get(key) if isinstance(key, str) else None
            if first is None:
                if isinstance(key, str):
                    seen[key] = item
                kept.append(item)
                continue
            same = _signature(first) == _signature(item)
            if not same:
                kept.append(item)
                continue
            if what == "argument":
                label = f"{owner}({key}:)"
            else:
                label = f"{owner}.{key}" if owner else str(key)
            file, _, _ = _where(name)
            if what in ("union member", "interface"):
                message = f"{owner} lists {what} '{key}' twice"
                hint = f"remove the repeated '{key}'"
            else:
                message = (
                    f"{what} '{label}' is defined twice (first at {_at(first, file)});"
                    " the first definition is used"
                )
                hint = "remove the duplicate definition (it differs at most in its description)"
            self.warnings.append(warning(message, name, hint, self.fallback))
        return kept

    def arguments(self, owner: str, node: Node) -> Node:
        args = getattr(node, "arguments", None)
        if not args:
            return node
        kept = self.unique("argument", owner, args, {})
        if len(kept) == len(args):
            return node
        return _replace(node, arguments=tuple(kept))  # type: ignore[no-any-return]


def dedupe(document: DocumentNode, fallback: str) -> tuple[DocumentNode, list[Diagnostic]]:
    """Drop repeated definitions identical to the first (warnings); leave the others."""
    deduper = _Deduper(fallback)
    definitions: list[Node] = list(
        deduper.unique(
            "type",
            "",
            [d for d in document.definitions if isinstance(d, TypeDefinitionNode)],
            {},
        )
    )
    directive_defs = deduper.unique(
        "directive",
        "",
        [d for d in document.definitions if isinstance(d, DirectiveDefinitionNode)],
        {},
    )
    keep_ids = {id(d) for d in definitions} | {id(d) for d in directive_defs}
    fields_seen: dict[str, dict[str, Node]] = {}
    members_seen: dict[str, dict[str, Node]] = {}
    ifaces_seen: dict[str, dict[str, Node]] = {}
    result: list[DefinitionNode] = []
    for definition in document.definitions:
        if (
            isinstance(definition, (TypeDefinitionNode, DirectiveDefinitionNode))
            and id(definition) not in keep_ids
        ):
            continue
        if isinstance(definition, DirectiveDefinitionNode):
            result.append(deduper.arguments(f"@{definition.name.value}", definition))  # type: ignore[arg-type]
        elif isinstance(definition, _TYPE_DEFS + _TYPE_EXTS):
            result.append(_dedupe_type(deduper, definition, fields_seen, members_seen, ifaces_seen))
        else:
            result.append(definition)
    if not deduper.warnings:
        return document, []
    return DocumentNode(definitions=tuple(result)), deduper.warnings


def _dedupe_type(
    deduper: _Deduper,
    definition: Any,
    fields_seen: dict[str, dict[str, Node]],
    members_seen: dict[str, dict[str, Node]],
    ifaces_seen: dict[str, dict[str, Node]],
) -> Any:
    name = definition.name.value
    changes: dict[str, tuple[Node, ...]] = {}
    for attr, what in (("fields", "field"), ("values", "enum value")):
        items = getattr(definition, attr, None)
        if not items:
            continue
        if attr == "fields":
            what = (
                "input field"
                if isinstance(
                    definition, (InputObjectTypeDefinitionNode, InputObjectTypeExtensionNode)
                )
                else "field"
            )
        # arguments first, so that fields differing only in a repeated argument compare equal
        items_ = [
            deduper.arguments(f"{name}.{item.name.value}", item)
            if isinstance(item, FieldDefinitionNode)
            else item
            for item in items
        ]
        kept = deduper.unique(what, name, items_, fields_seen.setdefault(name, {}))
        if len(kept) != len(items) or any(a is not b for a, b in zip(kept, items, strict=False)):
            changes[attr] = tuple(kept)
    for attr, what, seen in (
        ("types", "union member", members_seen),
        ("interfaces", "interface", ifaces_seen),
    ):
        items = getattr(definition, attr, None)
        if not items:
            continue
        kept = deduper.unique(what, name, items, seen.setdefault(name, {}))
        if len(kept) != len(items):
            changes[attr] = tuple(kept)
    return _replace(definition, **changes) if changes else definition


def validate_sdl_split(
    document: DocumentNode,
) -> tuple[list[GraphQLError], list[GraphQLError]]:
    """(fatal errors, spec-only findings) of the SDL rules, in one traversal."""
    spec_only: list[GraphQLError] = []
    rules = [*FATAL_SDL_RULES, *(_collected(rule, spec_only) for rule in SPEC_ONLY_SDL_RULES)]
    fatal = validate_sdl(document, rules=rules)
    return fatal, spec_only


def _collected(rule: type[ASTValidationRule], sink: list[GraphQLError]) -> type[ASTValidationRule]:
    """``rule`` reporting into ``sink`` instead of the validation context."""

    class Collected(rule):  # type: ignore[valid-type,misc]
        def report_error(self, error: GraphQLError) -> None:
            sink.append(error)

    Collected.__name__ = rule.__name__
    return Collected


def one_of_unsupported(document: DocumentNode) -> list[Node]:
    """``@oneOf`` uses on input objects that this graphql-core (3.2) cannot enforce."""
    if ONE_OF_SUPPORTED:
        return []
    found: list[Node] = []
    for definition in document.definitions:
        if isinstance(definition, (InputObjectTypeDefinitionNode, InputObjectTypeExtensionNode)):
            for directive in definition.directives or ():
                if directive.name.value == "oneOf":
                    found.append(directive)
    return found


def filter_schema_errors(
    errors: Sequence[GraphQLError], own_default_errors: bool
) -> list[GraphQLError]:
    """``validate_schema`` errors that stay fatal (the rules checked here dropped)."""
    return [
        error
        for error in errors
        if not _CHECKED_HERE.match(error.message)
        and not (own_default_errors and _DEFAULT_VALUE.match(error.message))
    ]


def check_built(schema: GraphQLSchema, fallback: str) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(errors, warnings) of the rules checked here on the built schema, the same under
    graphql-core 3.2 and 3.3."""
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []

    def fatal(message: str, node: Node | None) -> None:
        errors.append(located("SCHEMA_INVALID", message, node, fallback, "fix the default value"))

    def check_default(label: str, value: Any) -> None:
        node = value.ast_node
        default = getattr(node, "default_value", None) if node is not None else None
        if default is not None and value_from_ast(default, value.type) is Undefined:
            fatal(f"{label} has invalid default value: {print_ast(default)}.", default)

    def check_deprecated_required(kind: str, label: str, value: Any, required: bool) -> None:
        if required and value.deprecation_reason is not None:
            node = value.ast_node
            warnings.append(
                warning(
                    f"required {kind} {label} is deprecated",
                    _name_node(node) if node is not None else None,
                    f"give {label} a default value or make it nullable, or drop @deprecated",
                    fallback,
                )
            )

    for directive in schema.directives:
        if directive.ast_node is None:
            continue  # a built-in directive
        for arg_name, arg in directive.args.items():
            label = f"@{directive.name}({arg_name}:)"
            check_deprecated_required("argument", label, arg, is_required_argument(arg))
            check_default(label, arg)
    for type_name, type_ in schema.type_map.items():
        if type_name.startswith("__") or (type_.ast_node is None and not type_.extension_ast_nodes):
            continue
        if is_object_type(type_) or is_interface_type(type_):
            for field_name, field in type_.fields.items():
                for arg_name, arg in field.args.items():
                    label = f"{type_name}.{field_name}({arg_name}:)"
                    check_deprecated_required("argument", label, arg, is_required_argument(arg))
                    check_default(label, arg)
            for iface in type_.interfaces:
                for field_name, iface_field in iface.fields.items():
                    field = type_.fields.get(field_name)
                    if (
                        field is not None
                        and field.deprecation_reason is not None
                        and iface_field.deprecation_reason is None
                    ):
                        node = field.ast_node
                        warnings.append(
                            warning(
                                f"{type_name}.{field_name} is deprecated but the interface"
                                f" field {iface.name}.{field_name} is not",
                                _name_node(node) if node is not None else None,
                                f"deprecate {iface.name}.{field_name} too, or drop"
                                f" @deprecated from {type_name}.{field_name}",
                                fallback,
                            )
                        )
        elif is_input_object_type(type_):
            for field_name, input_field in type_.fields.items():
                label = f"{type_name}.{field_name}"
                check_deprecated_required(
                    "input field", label, input_field, is_required_input_field(input_field)
                )
                check_default(label, input_field)
    warnings.extend(_shared_roots(schema, fallback))
    return errors, warnings


def _shared_roots(schema: GraphQLSchema, fallback: str) -> list[Diagnostic]:
    roots = [
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
        ("subscription", schema.subscription_type),
    ]
    operation_nodes: dict[str, Node] = {}
    for node in (schema.ast_node, *schema.extension_ast_nodes):
        for operation in getattr(node, "operation_types", None) or ():
            operation_nodes.setdefault(operation.operation.value, operation)
    found: list[Diagnostic] = []
    first: dict[str, str] = {}
    for operation, root in roots:
        if root is None:
            continue
        if root.name in first:
            found.append(
                warning(
                    f"type {root.name} is the {first[root.name]} and the {operation} root",
                    operation_nodes.get(operation) or root.ast_node,
                    "give each operation its own root type",
                    fallback,
                )
            )
        else:
            first[root.name] = operation
    return found
