"""The canonical text of an executable GraphQL document: our own printer.

A printed document is what the artifact holds and what its persisted-query id hashes, so
its bytes must not change with a graphql-core release (3.2 and 3.3 already print object
values, long lists and long argument lists differently). This printer writes exactly what
graphql-core 3.3's ``print_ast`` writes for executable definitions (operations, fragments
and everything inside them; ``tests/test_printer.py`` compares the two; a client that
re-prints a document with 3.3, like the ``gql`` library, sends the same text), with plain
strings:

- a selection set is a block (``{``, one selection per line indented by two spaces, ``}``);
- arguments go one per line when ``name(args)`` would exceed 80 characters, object values
  become a block past 80 and lists one value per line past 80;
- variable definitions go one per line when one of them spans several lines;
- an anonymous query without variables or directives prints in the short form ``{ ... }``.
"""

from __future__ import annotations

import re
from typing import Any

#: graphql-core 3.3's wrapping limit (of a printed piece, newlines included).
MAX_LINE_LENGTH = 80

_LINE_TERMINATOR = re.compile(r"\r\n|[\n\r]")

_ESCAPES = {
    **{code: f"\\u{code:04X}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}


def print_document(node: Any) -> str:
    """The canonical text of a document or of one executable definition."""
    return _print(node)


def print_string(value: str) -> str:
    """A string value as a quoted GraphQL literal (control characters escaped)."""
    return f'"{value.translate(_ESCAPES)}"'


def print_block_string(value: str) -> str:
    """A block string value in the indented block form (graphql-js's rules)."""
    escaped = value.replace('"""', '\\"""')
    lines = _LINE_TERMINATOR.split(escaped)
    single_line = len(lines) == 1
    leading_new_line = len(lines) > 1 and all(not line or line[0] in " \t" for line in lines[1:])
    trailing_triple_quotes = escaped.endswith('\\"""')
    trailing_quote = value.endswith('"') and not trailing_triple_quotes
    trailing_new_line = trailing_quote or value.endswith("\\")
    multiple_lines = (
        not single_line
        or len(value) > 70
        or trailing_new_line
        or leading_new_line
        or trailing_triple_quotes
    )
    skip_leading = single_line and bool(value) and value[0] in " \t"
    before = "\n" if (multiple_lines and not skip_leading) or leading_new_line else ""
    after = "\n" if multiple_lines or trailing_new_line else ""
    return f'"""{before}{escaped}{after}"""'


# -- pieces --------------------------------------------------------------------------------


def _join(items: Any, separator: str = "") -> str:
    return separator.join(item for item in items if item)


def _wrap(start: str, text: str, end: str = "") -> str:
    return f"{start}{text}{end}" if text else ""


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ") if text else ""


def _block(items: list[str]) -> str:
    return _wrap("{\n", _indent(_join(items, "\n")), "\n}")


def _all(nodes: Any) -> list[str]:
    return [_print(node) for node in nodes or ()]


def _directives(node: Any) -> str:
    return _join(_all(node.directives), " ")


def _description(node: Any) -> str:
    description = getattr(node, "description", None)  # executable descriptions: 3.3 only
    return _wrap("", _print(description), "\n") if description is not None else ""


def _with_arguments(prefix: str, arguments: list[str]) -> str:
    if not arguments:
        return prefix
    if len(prefix) + len(_join(arguments, ", ")) + 2 > MAX_LINE_LENGTH:
        return prefix + _wrap("(\n", _indent(_join(arguments, "\n")), "\n)")
    return prefix + _wrap("(", _join(arguments, ", "), ")")


# -- nodes ---------------------------------------------------------------------------------


def _operation(node: Any) -> str:
    definitions = _all(node.variable_definitions)
    if any("\n" in definition for definition in definitions):
        variables = _wrap("(\n", _join(definitions, "\n"), "\n)")
    else:
        variables = _wrap("(", _join(definitions, ", "), ")")
    operation = node.operation.value
    name = _print(node.name) if node.name else ""
    prefix = _join(
        (
            _description(node),
            _join((operation, _join((name, variables)), _directives(node)), " "),
        )
    )
    selections = _print(node.selection_set)
    if operation == "query" and prefix == operation:
        return selections
    return _join((prefix + " ", selections))


def _variable_definition(node: Any) -> str:
    default = node.default_value
    return _join(
        (
            _description(node),
            _print(node.variable),
            ": ",
            _print(node.type),
            _wrap(" = ", _print(default)) if default is not None else "",
            _wrap(" ", _directives(node)),
        )
    )


def _field(node: Any) -> str:
    alias = _wrap("", node.alias.value, ": ") if node.alias else ""
    selections = node.selection_set
    return _join(
        (
            _with_arguments(alias + node.name.value, _all(node.arguments)),
            _wrap(" ", _directives(node)),
            _wrap(" ", _print(selections)) if selections is not None else "",
        )
    )


def _fragment_spread(node: Any) -> str:
    arguments = _all(getattr(node, "arguments", None))  # fragment arguments: 3.3 only
    return _join(
        (_with_arguments("..." + node.name.value, arguments), _wrap(" ", _directives(node)))
    )


def _inline_fragment(node: Any) -> str:
    condition = _print(node.type_condition) if node.type_condition else ""
    return _join(
        ("...", _wrap("on ", condition), _directives(node), _print(node.selection_set)), " "
    )


def _fragment_definition(node: Any) -> str:
    return _join(
        (
            _description(node),
            "fragment ",
            node.name.value,
            _wrap("(", _join(_all(node.variable_definitions), ", "), ")"),
            " on ",
            _print(node.type_condition),
            " ",
            _wrap("", _directives(node), " "),
            _print(node.selection_set),
        )
    )


def _selection_set(node: Any) -> str:
    return _block(_all(node.selections)) if node.selections else "{}"


def _list_value(node: Any) -> str:
    values = _all(node.values)
    if 2 + len(_join(values, ", ")) > MAX_LINE_LENGTH:
        return _wrap("[\n", _indent(_join(values, "\n")), "\n]")
    return "[" + _join(values, ", ") + "]"


def _object_value(node: Any) -> str:
    fields = _all(node.fields)
    if 4 + len(_join(fields, ", ")) > MAX_LINE_LENGTH:
        return _block(fields)
    return "{ " + _join(fields, ", ") + " }"


def _string_value(node: Any) -> str:
    return print_block_string(node.value) if node.block else print_string(node.value)


def _pair(node: Any) -> str:
    name: str = node.name.value
    return name + ": " + _print(node.value)


_PRINTERS: dict[str, Any] = {
    "document": lambda node: _join(_all(node.definitions), "\n\n"),
    "operation_definition": _operation,
    "variable_definition": _variable_definition,
    "selection_set": _selection_set,
    "field": _field,
    "argument": _pair,
    "fragment_argument": _pair,
    "fragment_spread": _fragment_spread,
    "inline_fragment": _inline_fragment,
    "fragment_definition": _fragment_definition,
    "name": lambda node: node.value,
    "variable": lambda node: "$" + node.name.value,
    "int_value": lambda node: node.value,
    "float_value": lambda node: node.value,
    "string_value": _string_value,
    "boolean_value": lambda node: "true" if node.value else "false",
    "null_value": lambda node: "null",
    "enum_value": lambda node: node.value,
    "list_value": _list_value,
    "object_value": _object_value,
    "object_field": _pair,
    "directive": lambda node: (
        "@" + node.name.value + _wrap("(", _join(_all(node.arguments), ", "), ")")
    ),
    "named_type": lambda node: node.name.value,
    "list_type": lambda node: "[" + _print(node.type) + "]",
    "non_null_type": lambda node: _print(node.type) + "!",
}


def _print(node: Any) -> str:
    printer = _PRINTERS.get(node.kind)
    if printer is None:
        raise TypeError(f"not an executable GraphQL node: {node.kind}")
    text: str = printer(node)
    return text
