"""The TypeScript/JavaScript scanner: imports, exports, documents and constants of one file.

``scan_typescript`` is, like the Python scanner, a pure function of (path, bytes, options)
whose result is cached per file fingerprint. It parses with tree-sitter (imported on first
use; the grammar follows the suffix: ``.ts .mts .cts`` TypeScript, ``.tsx`` TSX, anything
else JavaScript with JSX) and reads:

* documents, anywhere in the file: a template tagged ``gql``/``graphql`` (or ``x.gql``...,
  type arguments allowed), and a call ``gql(doc)`` / ``graphql(doc, [FragA, mod.FragB])``
  (gql.tada) whose ``doc`` is a string, an untagged template, a name or a ``+`` of those
  (a call with another first argument, ``graphql({schema, source})``, is not a document).
  A tagged template's ``${X}`` is an :class:`~sodabuild.scan.static.Embed` and an
  embedded :class:`~sodabuild.scan.python.FragmentArg` (spliced when X is a string, a
  fragment when it is a document, as graphql-tag does); an untagged template splices
  strings only, so its ``${X}`` is a :class:`~sodabuild.scan.static.Ref` and no argument;
  any other substitution is :class:`~sodabuild.scan.static.Dynamic`. So a definition's
  ``args`` are either its template's embeds or its array's items, in source order
  (function-local names aside, below);
* ``import``/``export ... from`` bindings (``ImportBinding.specifier``, located at the
  specifier), ``export *`` as star imports, type-only imports and exports left out;
* top-level ``const`` names bound to a string, an untagged template or a ``+`` of string
  parts (``constants``; also other names, as in the Python scanner), local re-exports and
  aliases (``export { X as Y }``, ``export default X``, ``const Y = X``: Y is bound to X's
  import, document or constant), and every other top-level name (type-only declarations
  left out).

A document bound by a top-level ``const/let/var X = ...`` has the id X, ``export default``
the id "default"; any other is ``<scopes>.<label>``: the enclosing functions, methods and
classes (an anonymous function or class takes the name JavaScript infers from a
``const X =``, a property key, an assignment or a class field, else ``<anonymous>``), then
the operation or fragment name (an inlined function-local string's too), the looked-up
name, the assigned name or "anonymous", with ``~2``... against clashes and top-level
names. An alias of a document is bound to the same definition (``_by_name`` and
``_by_id``); a reference through the alias resolves to the definition's own id.

Function-local names. A name (``${X}``, ``${X.y}``, a ``+`` operand, ``gql(X)``, an array
item) used inside a function, an arrow function, a method, a static block or a nested
block is looked up as JavaScript scopes it: the closest declaration of X around the use
(parameters, ``var`` in its function, ``let``/``const``/classes/functions in their block,
loop and catch variables, a function or class expression's own name) wins; with none, X
is a module-level name, looked up by the build as before. A ``const`` (or a ``let`` never
assigned again) declared before the use, not by destructuring, is followed:

* bound to a string-like value (what a top-level constant may be): its IR is inlined
  where X is used (its pieces keep their own positions), and no argument is passed;
* bound to a document of this file: an embed, an array item passes it under a key of
  ``_by_name`` that no JavaScript name and no GraphQL name can be (its id, which holds a
  dot, e.g. ``Comp.F``; ``<block>.`` before an id of a top-level block, which has none),
  so the build's ``NameResolver`` finds the definition and ``bound_names`` users (a
  spread never passed) never meet it; where a string is expected it is Dynamic;
* bound to another name (``const F = Other``, ``const F = mod.Other``): what that name
  means where the value is.

Any other local (a parameter, ``var``, ``let`` assigned again, declared after the use or
in terms of itself, destructured, bound to a call...) is a Dynamic leaf that says why
(the document is reported as not static), not a name the build would call unbound; in a
``graphql(doc, [...])`` array it is appended to the document's IR, a local string there
is reported (``GQL_ARG_NOT_FRAGMENT``) and the call skipped. The lookup is lazy: only
names used inside a scope are searched for, once per top-level statement and name, by
finding the name's occurrences in the statement's bytes (``find_bindings``); a file whose
documents are all at the top level walks no scope.

Positions are characters of the file (1-based lines, a line break being ``\\r\\n``, ``\\r``
or ``\\n``; after a UTF-8 BOM; an astral character is one column), exact where a literal
piece has no escape. A file that does not parse (an ERROR or MISSING node, a JSX closing
tag that does not match), or is not UTF-8, is one ``TS_SYNTAX`` diagnostic and no bindings.
``options`` is not read: the tags are ``gql`` and ``graphql`` whatever they are imported from.
"""

from __future__ import annotations

import bisect
import re
import threading
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple

from sodabuild.diagnostics import Diagnostic
from sodabuild.scan.python import (
    FragmentArg,
    GqlDefinition,
    ImportBinding,
    ModuleScan,
    _ByteColumns,
    _label,
    unique_id,
)
from sodabuild.scan.static import Concat, Dynamic, Embed, Expr, Lit, Ref

if TYPE_CHECKING:
    from tree_sitter import Language, Node, Parser, Tree, TreeCursor

#: A tag's name (a longer name holding it is told apart by the node it is in).
_TAG = re.compile(rb"g(?:raph)?ql")
_GENERIC_TAG = re.compile(rb"(?:gql|graphql)\s*<")
#: A ``>`` followed by a template: the end of type arguments of a tagged template.
_TYPE_ARGS_END = re.compile(rb">[ \t\r\n]*`")
_BYTE_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_LINE_BREAK = re.compile(r"\r\n?")
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_BOM = b"\xef\xbb\xbf"
_CLOSING_TAG = re.compile(rb"</")

#: Expressions that only wrap a value (for types or grouping).
_WRAPPERS = frozenset(
    {
        "parenthesized_expression",
        "as_expression",
        "satisfies_expression",
        "non_null_expression",
        "type_assertion",
    }
)
_FUNCTIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_expression",
        "function",
        "generator_function",
        "arrow_function",
        "method_definition",
    }
)
_STRING_PARTS = frozenset({"string", "template_string", "member_expression", "identifier"})
_CLASSES = frozenset({"class_declaration", "abstract_class_declaration", "class"})
_NAMED_DECLARATIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "abstract_class_declaration",
        "enum_declaration",
        "internal_module",
        "module",
    }
)
#: First arguments that make a ``graphql(...)`` call something else (graphql-js's
#: ``graphql({schema, source})``, a callback...), not a document.
_NOT_DOCUMENTS = frozenset(
    {
        "object",
        "array",
        "arrow_function",
        "function_expression",
        "function",
        "number",
        "true",
        "false",
        "null",
        "undefined",
        "regex",
        "class",
        "spread_element",
    }
)
#: The scope name of a function or class JavaScript gives no name (in definition ids).
ANONYMOUS_SCOPE = "<anonymous>"
#: What a ``let``/``const``, a class or a function declaration binds in (the nearest).
_BLOCK_SCOPES = frozenset(
    {
        "statement_block",
        "switch_body",
        "for_statement",
        "for_in_statement",
        "class_static_block",
        "program",
    }
)
#: What a ``var`` binds in (the nearest).
_VAR_SCOPES = _FUNCTIONS | {"class_static_block", "program"}
#: Nodes a use must be inside to possibly name a local (not a module-level name).
_LOCAL_SCOPES = (_BLOCK_SCOPES - {"program"}) | _FUNCTIONS | {"catch_clause", "class"}
_PATTERNS = frozenset({"object_pattern", "array_pattern", "rest_pattern"})
#: Declarations whose ``name`` binds in the enclosing block, and what they bind.
_DECLARES = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "enum_declaration": "enum",
    "internal_module": "namespace",
    "module": "namespace",
}
#: Expressions whose own name binds inside themselves (``function F() {...}``).
_SELF_NAMED = {
    "function_expression": "function",
    "function": "function",
    "generator_function": "function",
    "class": "class",
}
#: Nodes that spell a name a declaration may bind (a TypeScript class name is a type's).
_NAME_NODES = frozenset({"identifier", "shorthand_property_identifier_pattern", "type_identifier"})
#: Bytes of names (``$``, ``_``, ASCII letters and digits, any byte of a non-ASCII
#: character): a name found in the text must not be next to one.
_NAME_BYTES = frozenset(b"$_0123456789" + bytes(range(65, 91)) + bytes(range(97, 123)))
_NAME_BYTES |= frozenset(range(128, 256))
#: How deep a local may be defined through other locals before it is not followed.
_MAX_LOCAL_DEPTH = 64
#: The first part of a placeholder name for a local document (replaced by its key, the
#: definition id, once ids are chosen); no source spells it.
_PLACEHOLDER = "\0"

_languages: dict[str, Language] = {}
_local = threading.local()


def grammar_for(path: str) -> str:
    """The tree-sitter grammar a file's suffix selects: "typescript", "tsx" or
    "javascript" (also for unknown suffixes)."""
    dot = path.rfind(".")
    suffix = path[dot:].lower() if dot > path.rfind("/") else ""
    if suffix in (".ts", ".mts", ".cts"):
        return "typescript"
    if suffix == ".tsx":
        return "tsx"
    return "javascript"


def _parser(grammar: str) -> Parser:
    """A parser for ``grammar``, made once per thread (a parser is not thread-safe)."""
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(grammar)
    if parser is None:
        from tree_sitter import Language, Parser

        language = _languages.get(grammar)
        if language is None:
            if grammar == "javascript":
                import tree_sitter_javascript

                capsule = tree_sitter_javascript.language()
            else:
                import tree_sitter_typescript

                capsule = (
                    tree_sitter_typescript.language_tsx()
                    if grammar == "tsx"
                    else tree_sitter_typescript.language_typescript()
                )
            language = _languages[grammar] = Language(capsule)
        parser = parsers[grammar] = Parser(language)
    return parser


# -- positions and text ---------------------------------------------------------------------


class _Positions:
    """Byte offset -> (line, character column), both 1-based, in O(log n) per query; the
    line table is made on the first query (an ASCII file needs no column table)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.starts: list[int] = []
        self.columns: _ByteColumns | None = None

    def _index(self) -> None:
        data = self.data
        if b"\r" in data:
            lines = _BYTE_LINE_BREAK.split(data)
            self.starts = [0]
            self.starts.extend(match.end() for match in _BYTE_LINE_BREAK.finditer(data))
        else:
            lines = data.split(b"\n")
            self.starts = list(accumulate(map(_PLUS_ONE, map(len, lines[:-1])), initial=0))
        if not data.isascii():
            self.columns = _ByteColumns(lines)

    def at(self, offset: int) -> tuple[int, int]:
        if not self.starts:
            self._index()
        index = bisect.bisect_right(self.starts, offset) - 1
        column = offset - self.starts[index]
        if self.columns is not None:
            column = self.columns.offset(index, column)
        return index + 1, column + 1


_PLUS_ONE = (1).__add__


def _cook(raw: str, template: bool) -> str | None:
    """The value of a literal's body (JavaScript escapes decoded; in a template, line
    breaks normalised to ``\\n``); None when an escape is invalid."""
    if template and "\r" in raw:
        raw = _LINE_BREAK.sub("\n", raw)
    if "\\" not in raw:
        return raw
    out: list[str] = []
    index = 0
    end = len(raw)
    while True:
        slash = raw.find("\\", index)
        if slash < 0:
            out.append(raw[index:])
            break
        out.append(raw[index:slash])
        if slash + 1 >= end:
            return None
        char = raw[slash + 1]
        index = slash + 2
        if char in "\n\u2028\u2029":
            continue  # a line continuation
        if char == "\r":
            if raw.startswith("\n", index):
                index += 1
            continue
        simple = _SIMPLE_ESCAPES.get(char)
        if simple is not None:
            out.append(simple)
        elif char == "x":
            digits = raw[index : index + 2]
            if len(digits) != 2 or not _is_hex(digits):
                return None
            out.append(chr(int(digits, 16)))
            index += 2
        elif char == "u":
            if raw.startswith("{", index):
                close = raw.find("}", index)
                digits = raw[index + 1 : close] if close > 0 else ""
                if not digits or not _is_hex(digits) or int(digits, 16) > 0x10FFFF:
                    return None
                out.append(chr(int(digits, 16)))
                index = close + 1
            else:
                digits = raw[index : index + 4]
                if len(digits) != 4 or not _is_hex(digits):
                    return None
                out.append(chr(int(digits, 16)))
                index += 4
        elif char in "0123456789":
            following = raw[index : index + 1]
            if char == "0" and not following.isdigit():
                out.append("\0")
            elif template:
                return None  # octal and \8 \9 are not allowed in templates
            elif char in "89":
                out.append(char)
            else:  # a legacy octal escape (sloppy-mode strings)
                length = 3 if char in "0123" else 2
                digits = char
                while len(digits) < length and raw[index : index + 1] in _OCTAL:
                    digits += raw[index]
                    index += 1
                out.append(chr(int(digits, 8)))
        else:
            out.append(char)
    value = "".join(out)
    if _SURROGATE_PAIR.search(value):  # "\uD83D\uDE00" is one character in JavaScript
        value = _SURROGATE_PAIR.sub(
            lambda m: m.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le"), value
        )
    return value


_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_OCTAL = frozenset("01234567")


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdefABCDEF" for char in text)


def _unwrap(node: Node) -> Node:
    """``(x)``, ``x as T``, ``x satisfies T``, ``x!``, ``<T>x`` -> ``x``."""
    while node.type in _WRAPPERS:
        values = _values(node)
        inner = values[-1] if node.type == "type_assertion" and values else _first_named(node)
        if inner is None:
            return node
        node = inner
    return node


def _operands(node: Node) -> list[Node]:
    """The operands of a ``+`` chain, left to right (unwrapped; built without recursion,
    so a long chain is no problem): ``[node]`` when it is not one."""
    operands: list[Node] = []
    stack = [node]
    while stack:
        current = _unwrap(stack.pop())
        if current.type == "binary_expression":
            operator = current.child_by_field_name("operator")
            left = current.child_by_field_name("left")
            right = current.child_by_field_name("right")
            if operator is not None and operator.type == "+" and left and right:
                stack.append(right)
                stack.append(left)
                continue
        operands.append(current)
    return operands


def _first_named(node: Node) -> Node | None:
    for child in node.named_children:
        if child.type != "comment":
            return child
    return None


def _values(node: Node) -> list[Node]:
    """The named children that are not comments (a call's arguments, an array's items)."""
    return [child for child in node.named_children if child.type != "comment"]


def _has_child(node: Node, kind: str) -> bool:
    return kind in [child.type for child in node.children]


def _scope_of(cursor: TreeCursor, kinds: frozenset[str]) -> tuple[int, int] | None:
    """The byte span of the nearest node of ``kinds`` above the cursor's node (the cursor
    was made at a top-level statement: above it, the module, None). A function's body is
    the function's scope (its parameters, its ``var`` and its ``let``/``const`` are one
    scope), a static block's body the block's."""
    while cursor.goto_parent():
        node = cursor.node
        if node is not None and node.type in kinds:
            if node.type == "statement_block" and cursor.goto_parent():
                parent = cursor.node
                if parent is not None and (
                    parent.type in _FUNCTIONS or parent.type == "class_static_block"
                ):
                    node = parent
            return node.start_byte, node.end_byte
    return None  # the module


# -- function-local names -------------------------------------------------------------------


class _Binding:
    """A declaration of a name below the top level (or, kind "write", an assignment to
    it): ``scope`` is the byte span it binds in (None: the module, or a write)."""

    __slots__ = ("declarator", "kind", "node", "owner", "pattern", "scope")

    def __init__(
        self,
        kind: str,
        node: Node,
        scope: tuple[int, int] | None,
        declarator: Node | None = None,
        pattern: bool = False,
        owner: Node | None = None,
    ) -> None:
        self.kind = kind  # const let var param loop catch function class enum namespace write
        self.node = node
        self.scope = scope
        self.declarator = declarator
        self.pattern = pattern
        self.owner = owner


class _Alias:
    """A local bound to a name (``const F = Other``, ``const F = mod.Other``): the
    module-level name it stands for."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.parts = parts


class _LocalDocument:
    """A local bound to a document: ``parts`` name it (a placeholder until ids are chosen);
    ``dynamic`` is what it is where a string is expected."""

    __slots__ = ("dynamic", "parts")

    def __init__(self, parts: tuple[str, ...], dynamic: Dynamic) -> None:
        self.parts = parts
        self.dynamic = dynamic


#: What a name means where it is used: None (a module-level name, looked up by the build),
#: an alias of one, a local document, or IR (a local string's, or Dynamic).
_Local = _Alias | _LocalDocument | Expr | None


def _closest(bindings: list[_Binding], offset: int) -> list[_Binding]:
    """The declarations whose scope is the innermost one holding ``offset``."""
    found: list[_Binding] = []
    best: tuple[int, int] | None = None
    for binding in bindings:
        scope = binding.scope
        if scope is None or not scope[0] <= offset < scope[1]:
            continue
        key = (scope[0], -scope[1])
        if best is None or key > best:
            best = key
            found = [binding]
        elif key == best:
            found.append(binding)
    return found


def _rebind(expr: Expr, keys: dict[str, str]) -> Expr:
    """``expr`` with placeholders of local documents replaced by their keys."""
    if isinstance(expr, Concat):
        return Concat(tuple(_rebind(item, keys) for item in expr.items))
    if isinstance(expr, Embed | Ref) and expr.parts[0] in keys:
        return type(expr)((keys[expr.parts[0]], *expr.parts[1:]), expr.line, expr.column)
    return expr


# -- the scanner ----------------------------------------------------------------------------


class _Context(NamedTuple):
    """Where a document's call is: the names of its enclosing functions and classes, the
    name it is assigned to, the top-level name it is bound to; the set and the start of
    the top-level declarator or ``export default`` to mark as bound (once the call is
    known to be a document); its top-level statement and whether a scope encloses it."""

    scopes: list[str]
    target: str | None
    binding: str | None
    mark: tuple[set[int], int] | None
    hint: tuple[Node, bool] | None


class _Document:
    """A document found in the walk, before its id is chosen."""

    __slots__ = (
        "args",
        "binding",
        "column",
        "expr",
        "line",
        "ref_label",
        "scopes",
        "start",
        "target",
    )

    def __init__(
        self,
        start: int,
        line: int,
        column: int,
        expr: Expr,
        args: tuple[FragmentArg, ...],
        scopes: list[str],
        target: str | None,
        binding: str | None,
        ref_label: str | None,
    ) -> None:
        self.start = start
        self.line = line
        self.column = column
        self.expr = expr
        self.args = args
        self.scopes = scopes
        self.target = target
        self.binding = binding
        self.ref_label = ref_label


class _Scanner:
    def __init__(self, path: str, data: bytes, language_name: str) -> None:
        self.path = path
        self.data = data
        self.language_name = language_name
        self.positions = _Positions(data)
        self.diagnostics: list[Diagnostic] = []
        self.imports: list[ImportBinding] = []
        self.star_imports: list[ImportBinding] = []
        self.other: set[str] = set()
        self.by_name: dict[str, ImportBinding | GqlDefinition] = {}
        self.constants: dict[str, Expr] = {}
        #: ``export { X as Y }``, ``export default X``, ``const Y = X``: Y -> X.
        self.aliases: list[tuple[str, str]] = []
        #: Start bytes of the top-level declarators and ``export default`` statements
        #: whose value is a document.
        self.bound_declarators: set[int] = set()
        self.bound_defaults: set[int] = set()
        #: Documents found so far, by the start byte of their call (a local bound to one).
        self.document_calls: dict[int, _Document] = {}
        #: The top-level statement a name being built is used in, and whether it is used
        #: inside a scope, when known (else ``local`` walks up from the use).
        self.scope_hint: tuple[Node, bool] | None = None
        #: The placeholders of local documents the IR holds (see ``follow``), how many
        #: times one was used, and the documents (by start) that use one.
        self.local_documents: set[str] = set()
        self.local_uses = 0
        self.rebind: set[int] = set()
        self.root: Node | None = None
        #: (start of a top-level statement, name) -> the bindings and writes of the name
        #: in the statement's nested scopes; a local's IR by its declarator's start.
        self.local_names: dict[tuple[int, bytes], list[_Binding]] = {}
        self.local_values: dict[int, Expr] = {}
        self.local_depth = 0

    # -- helpers ----------------------------------------------------------------------

    def text(self, node: Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def at(self, node: Node) -> tuple[int, int]:
        return self.positions.at(node.start_byte)

    def snippet(self, node: Node) -> str:
        text = " ".join(self.text(node).split())
        return text if len(text) <= 40 else text[:39] + "…"

    def diag(self, code: str, message: str, node: Node, hint: str | None = None) -> None:
        line, column = self.at(node)
        self.diagnostics.append(Diagnostic(code, message, self.path, line, column, hint))

    def string_value(self, node: Node) -> str | None:
        """The value of a string literal node (None when an escape is invalid)."""
        raw = self.data[node.start_byte + 1 : node.end_byte - 1].decode("utf-8", "replace")
        return _cook(raw, template=False)

    def key_text(self, node: Node) -> str:
        """The name a property key, method name or class field spells."""
        if node.type == "string":
            return self.string_value(node) or self.text(node)
        if node.type == "computed_property_name":
            return "<computed>"
        return self.text(node)

    def dotted(self, node: Node) -> tuple[str, ...] | None:
        """``a`` / ``a.b.c`` as name parts (None for anything else)."""
        parts: list[str] = []
        node = _unwrap(node)
        while node.type == "member_expression":
            prop = node.child_by_field_name("property")
            obj = node.child_by_field_name("object")
            if (
                prop is None
                or obj is None
                or prop.type != "property_identifier"
                or _has_child(node, "optional_chain")
            ):
                return None
            parts.append(self.text(prop))
            node = _unwrap(obj)
        if node.type != "identifier":
            return None
        parts.append(self.text(node))
        return tuple(reversed(parts))

    # -- static strings ---------------------------------------------------------------

    def literal(self, node: Node, start: int, end: int, template: bool) -> Expr:
        """The IR of the literal body ``data[start:end]`` (a string's or a template piece)."""
        raw = self.data[start:end].decode("utf-8", "replace")
        line, column = self.positions.at(start)
        value = _cook(raw, template)
        if value is None:
            return Dynamic(
                "the literal has an invalid escape sequence (its value is undefined)",
                *self.at(node),
            )
        return Lit(value, line, column, "\\" not in raw)

    def template(self, node: Node, embed: bool, args: list[FragmentArg] | None) -> Expr:
        """A template literal: its pieces, ``${X}`` as Embed (tagged, ``embed``; X also
        appended to ``args``) or Ref (untagged), anything else Dynamic; a function-local
        X as ``local`` says (its string's IR inlined, its document's key, or Dynamic)."""
        substitutions = [c for c in node.named_children if c.type == "template_substitution"]
        if not substitutions:
            return self.literal(node, node.start_byte + 1, node.end_byte - 1, True)
        items: list[Expr] = []
        piece = node.start_byte + 1
        for substitution in substitutions:
            if piece < substitution.start_byte:
                items.append(self.literal(node, piece, substitution.start_byte, True))
            piece = substitution.end_byte
            values = _values(substitution)
            parts = self.dotted(values[0]) if len(values) == 1 else None
            where = _unwrap(values[0]) if values else substitution
            line, column = self.at(where)
            if parts is None:
                reason = f"`${{{self.snippet(where)}}}` is computed at run time"
                items.append(Dynamic(reason, line, column))
                continue
            local = self.local(where, parts, substitution=True)
            if local is None:
                pass  # a module-level name (or one this module does not bind)
            elif isinstance(local, _Alias):
                parts = local.parts
            elif isinstance(local, _LocalDocument) and embed:
                parts = local.parts
                self.local_documents.add(parts[0])
                self.local_uses += 1
            else:
                value = local.dynamic if isinstance(local, _LocalDocument) else local
                items.extend(value.items if isinstance(value, Concat) else (value,))
                continue
            if embed:
                items.append(Embed(parts, line, column))
                if args is not None:
                    args.append(FragmentArg(parts, line, column, embedded=True))
            else:
                items.append(Ref(parts, line, column))
        if piece < node.end_byte - 1:
            items.append(self.literal(node, piece, node.end_byte - 1, True))
        return Concat(tuple(items))

    def string_like(self, node: Node) -> bool:
        """Whether a constant's value may be a static string (worth recording as IR): a
        string, an untagged template, ``a.b``, or a ``+`` of those and names."""
        operands = _operands(node)
        if len(operands) == 1:
            return operands[0].type in ("string", "template_string", "member_expression")
        return all(operand.type in _STRING_PARTS for operand in operands)

    def build(self, node: Node) -> Expr:
        """Static-string IR of an untagged expression (a constant, a call's argument)."""
        operands = _operands(node)
        if len(operands) > 1:
            items: list[Expr] = []
            for operand in operands:
                part = self.build_operand(operand)
                items.extend(part.items if isinstance(part, Concat) else (part,))
            return Concat(tuple(items))
        return self.build_operand(operands[0])

    def build_operand(self, node: Node) -> Expr:
        kind = node.type
        if kind == "string":
            return self.literal(node, node.start_byte + 1, node.end_byte - 1, False)
        if kind == "template_string":
            return self.template(node, embed=False, args=None)
        if kind in ("identifier", "member_expression"):
            parts = self.dotted(node)
            if parts is not None:
                local = self.local(node, parts)
                if local is None:
                    return Ref(parts, *self.at(node))
                if isinstance(local, _Alias):
                    return Ref(local.parts, *self.at(node))
                return local.dynamic if isinstance(local, _LocalDocument) else local
        return Dynamic(f"`{self.snippet(node)}` is computed at run time", *self.at(node))

    # -- function-local names -------------------------------------------------------

    def local(self, node: Node, parts: tuple[str, ...], substitution: bool = False) -> _Local:
        """What the name ``parts`` (a name or ``name.attr...``, spelled at ``node``, in a
        template's ``${...}`` if ``substitution``) means where it is used, by JavaScript's scoping: None
        when no function or block declares ``parts[0]`` around the use (a module-level
        name, as before); else what the closest declaration makes of it (see ``follow``).
        Only the top-level statement holding the use is searched, and only for that name."""
        if self.scope_hint is not None:
            statement, scoped = self.scope_hint
        else:
            statement = node
            scoped = False
            parent = node.parent
            while parent is not None and parent.type != "program":
                if parent.type in _LOCAL_SCOPES:
                    scoped = True
                statement = parent
                parent = parent.parent
        if not scoped:
            return None
        key = (statement.start_byte, parts[0].encode())
        bindings = self.local_names.get(key)
        if bindings is None:
            bindings = self.local_names[key] = self.find_bindings(statement, key[1])
        closest = _closest(bindings, node.start_byte)
        if not closest:
            return None
        if self.local_depth >= _MAX_LOCAL_DEPTH:
            reason = "is defined through too many local names to follow"
            return Dynamic(f"`{self.shown(node, substitution)}` {reason}", *self.at(node))
        self.local_depth += 1
        try:
            return self.follow(closest, bindings, node, parts, substitution)
        finally:
            self.local_depth -= 1

    def find_bindings(self, statement: Node, name: bytes) -> list[_Binding]:
        """The declarations of (and assignments to) ``name`` inside ``statement``: each
        occurrence of the name's bytes is reached by a cursor going down from the
        statement, which then climbs as far as ``classify`` needs (a cursor keeps its
        path: ``Node.parent`` searches from the root at every step)."""
        found: list[_Binding] = []
        data = self.data
        end = statement.start_byte
        limit = statement.end_byte
        while True:
            start = data.find(name, end, limit)
            if start < 0:
                break
            end = start + len(name)
            if (start and data[start - 1] in _NAME_BYTES) or (
                end < limit and data[end] in _NAME_BYTES
            ):
                continue  # a part of a longer name
            if data[start - 2 : start] == b"${" and data[end : end + 1] == b"}":
                continue  # ${X}: a use (the common one), or no code at all
            cursor = statement.walk()
            while cursor.goto_first_child_for_byte(start) is not None:
                pass
            node = cursor.node
            if node is None or node.start_byte != start or node.end_byte != end:
                continue  # in a string, a comment...
            if node.type in _NAME_NODES:
                binding = self.classify(cursor, node)
                if binding is not None:
                    found.append(binding)
        return found

    def classify(self, cursor: TreeCursor, node: Node) -> _Binding | None:
        """The declaration (or assignment) that the name ``node`` (the cursor's node) is
        the target of, if any (None: a use)."""
        nested = False  # inside a destructuring pattern
        while True:
            field = cursor.field_name
            if not cursor.goto_parent():
                return None
            parent = cursor.node
            if parent is None:
                return None
            kind = parent.type
            if kind in _PATTERNS:
                nested = True
            elif kind == "pair_pattern":
                if field != "value":
                    return None
            elif kind in ("assignment_pattern", "object_assignment_pattern"):
                if field != "left":
                    return None  # a default value is a use
            elif kind in ("required_parameter", "optional_parameter"):
                if field != "pattern":
                    return None
            elif kind == "formal_parameters":
                owner = cursor.node if cursor.goto_parent() else None
                if owner is None:
                    return None
                return _Binding("param", node, (owner.start_byte, owner.end_byte), owner=owner)
            elif kind == "arrow_function":
                if field != "parameter":
                    return None
                return _Binding("param", node, (parent.start_byte, parent.end_byte), owner=parent)
            elif kind == "variable_declarator":
                declaration = cursor.node if cursor.goto_parent() else None
                if field != "name" or declaration is None:
                    return None
                if declaration.type == "variable_declaration":
                    scope = _scope_of(cursor, _VAR_SCOPES)
                    declared = "var"
                else:
                    scope = _scope_of(cursor, _BLOCK_SCOPES)
                    declared = "const" if _has_child(declaration, "const") else "let"
                return _Binding(declared, node, scope, parent, nested)
            elif kind == "catch_clause":
                if field != "parameter":
                    return None
                return _Binding("catch", node, (parent.start_byte, parent.end_byte))
            elif kind == "for_in_statement":
                if field != "left":
                    return None
                declared_by = parent.child_by_field_name("kind")
                if declared_by is None:
                    return _Binding("write", node, None)  # for (x of xs): assigns x
                if declared_by.type == "var":
                    return _Binding("loop", node, _scope_of(cursor, _VAR_SCOPES))
                return _Binding("loop", node, (parent.start_byte, parent.end_byte))
            elif kind in _DECLARES:
                if field != "name":
                    return None
                return _Binding(_DECLARES[kind], node, _scope_of(cursor, _BLOCK_SCOPES))
            elif kind in _SELF_NAMED:
                if field != "name":
                    return None
                return _Binding(_SELF_NAMED[kind], node, (parent.start_byte, parent.end_byte))
            elif kind in ("assignment_expression", "augmented_assignment_expression"):
                return _Binding("write", node, None) if field == "left" else None
            elif kind == "update_expression":
                return _Binding("write", node, None)
            elif kind != "parenthesized_expression":
                return None

    def follow(
        self,
        closest: list[_Binding],
        bindings: list[_Binding],
        node: Node,
        parts: tuple[str, ...],
        substitution: bool,
    ) -> _Local:
        """What a use at ``node`` of a name declared by ``closest`` (its innermost scope's
        declarations) means: a ``const`` (or a ``let`` never assigned again) declared
        before the use, without destructuring, is followed: to a string (its IR), a
        document (:class:`_LocalDocument`) or another name (:class:`_Alias`, or what
        that name means there); anything else is Dynamic, saying why."""

        def dynamic(reason: str) -> Dynamic:
            return Dynamic(f"`{self.shown(node, substitution)}` {reason}", *self.at(node))

        for binding in closest:
            if binding.kind == "param" and binding.owner is not None:
                return dynamic(
                    f"is a parameter of {self.function_name(binding.owner)}, known only at run time"
                )
        binding = closest[0]
        where = self.at(binding.node)[0]
        if len(closest) > 1:
            lines = ", ".join(str(self.at(b.node)[0]) for b in closest[:4])
            return dynamic(f"is declared more than once (lines {lines})")
        kind = binding.kind
        if kind == "let":
            write = self.reassignment(binding, bindings)
            if write is not None:
                return dynamic(
                    f"is declared with let (line {where}) and assigned at line "
                    f"{self.at(write)[0]}: known only at run time"
                )
        elif kind == "var":
            return dynamic(
                f"is declared with var (line {where}): it may be assigned again; "
                "declare it with const"
            )
        elif kind == "loop":
            return dynamic(f"is a loop variable (line {where}), known only at run time")
        elif kind == "catch":
            return dynamic(f"is a caught exception (line {where}), known only at run time")
        elif kind != "const":
            article = "an" if kind == "enum" else "a"
            return dynamic(f"is {article} {kind} (line {where}), not a string or a document")
        declarator = binding.declarator
        if binding.pattern or declarator is None:
            return dynamic(f"is bound by destructuring (line {where}), known only at run time")
        if declarator.end_byte > node.start_byte:
            return dynamic(f"is used before its declaration (line {where})")
        value = declarator.child_by_field_name("value")
        if value is None:
            return dynamic(f"is declared without a value (line {where})")
        inner = _unwrap(value)
        rest = parts[1:]
        named = self.dotted(inner)
        if named is not None:  # const F = Other: what Other means there
            aliased = (*named, *rest)
            found = self.local(inner, aliased)
            return _Alias(aliased) if found is None else found
        if inner.type == "call_expression" and inner.start_byte in self.document_calls:
            if rest:
                return dynamic("is an attribute of a gql() document, known only at run time")
            return _LocalDocument(
                (f"{_PLACEHOLDER}{inner.start_byte}",),
                dynamic(f"is a gql() document (line {where}), not a string"),
            )
        if self.string_like(inner):
            if rest:
                return dynamic(f"is an attribute of a string (line {where}), not a string")
            expr = self.local_values.get(declarator.start_byte)
            if expr is None:
                expr = self.local_values[declarator.start_byte] = self.build(inner)
            return expr
        return dynamic(
            f"is bound to `{self.snippet(inner)}` (line {where}), known only at run time"
        )

    def reassignment(self, binding: _Binding, bindings: list[_Binding]) -> Node | None:
        """An assignment to the name ``binding`` declares, if there is one."""
        for write in bindings:
            if write.kind == "write" and binding in _closest(bindings, write.node.start_byte):
                return write.node
        return None

    def shown(self, node: Node, substitution: bool) -> str:
        """How a reason spells a use: ``${X}`` in a template, else ``X``."""
        return f"${{{self.snippet(node)}}}" if substitution else self.snippet(node)

    def function_name(self, function: Node) -> str:
        name = function.child_by_field_name("name")
        spelled = self.key_text(name) if name is not None else self.inferred_name(function)
        return f"{spelled}()" if spelled else "an anonymous function"

    # -- documents --------------------------------------------------------------------

    def documents(self, root: Node) -> list[_Document]:
        """Every tagged template and gql()/graphql() call of the file, in source order."""
        found: list[_Document] = []
        for match in _TAG.finditer(self.data):
            start, end = match.span()
            node = root.descendant_for_byte_range(start, end)
            if node is None or node.start_byte != start or node.end_byte != end:
                continue  # inside a string, a comment, a longer name...
            if node.type == "identifier":
                callee = node
            elif node.type == "property_identifier":
                member = node.parent
                if member is None or member.type != "member_expression":
                    continue
                if member.end_byte != end or _has_child(member, "optional_chain"):
                    continue
                callee = member
            else:
                continue
            call = callee.parent
            if call is None or call.type != "call_expression":
                continue
            function = call.child_by_field_name("function")
            if function is None or function != callee:
                continue
            arguments = call.child_by_field_name("arguments")
            if arguments is None:
                continue
            if arguments.type not in ("template_string", "arguments"):
                continue
            args: list[FragmentArg] = []
            expr: Expr | None
            ref_label: str | None = None
            uses = self.local_uses
            where = self.context(call)
            # a name used in the call is in the call's statement, and in a scope if the
            # call is (the walk to the top is done once, here)
            self.scope_hint = where.hint
            if arguments.type == "template_string":
                expr = self.template(arguments, embed=True, args=args)
            else:
                expr = self.call_document(call, arguments, args)
                first = _first_named(arguments)
                spelled = self.dotted(first) if first is not None else None
                ref_label = spelled[-1] if spelled is not None else None
            self.scope_hint = None
            if expr is None:
                continue
            if where.mark is not None:
                where.mark[0].add(where.mark[1])
            line, column = self.at(callee)
            document = _Document(
                call.start_byte,
                line,
                column,
                expr,
                tuple(args),
                where.scopes,
                where.target,
                where.binding,
                ref_label,
            )
            found.append(document)
            self.document_calls[call.start_byte] = document
            if self.local_uses != uses:
                self.rebind.add(call.start_byte)
        found.sort(key=lambda document: document.start)
        return found

    def call_document(self, call: Node, arguments: Node, args: list[FragmentArg]) -> Expr | None:
        """The document of ``gql(doc)`` / ``graphql(doc, [A, b.C])``; None when the call is
        something else (graphql-js's ``graphql({schema, source})``) or invalid (reported)."""
        values = _values(arguments)
        name = self.text(call.child_by_field_name("function") or call).rsplit(".", 1)[-1]
        if not values:
            self.diag(
                "GQL_NON_LITERAL",
                f"{name}() needs a GraphQL string as first argument",
                call,
                hint=f"pass the document: {name}(`query Name {{ ... }}`)",
            )
            return None
        first = _unwrap(values[0])
        if first.type in _NOT_DOCUMENTS:
            return None
        literal = first.type in ("string", "template_string")
        if len(values) > 2 or (len(values) == 2 and _unwrap(values[1]).type != "array"):
            if literal:  # a document with arguments it cannot have
                self.diag(
                    "GQL_ARG_INVALID",
                    f"{name}() takes a document and an array of fragments",
                    values[1],
                    hint=f"pass fragments as an array: {name}(`...`, [FragmentA, FragmentB])",
                )
            return None
        late: list[Expr] = []
        if len(values) == 2:
            ok = True
            for item in _values(_unwrap(values[1])):
                parts = self.dotted(item)
                if parts is None:
                    self.diag(
                        "GQL_ARG_INVALID",
                        f"a fragment argument of {name}() must be a name or module.name",
                        item,
                        hint="bind the fragment to a top-level name and pass that name",
                    )
                    ok = False
                    continue
                local = self.local(_unwrap(item), parts)
                if isinstance(local, _Alias | _LocalDocument):
                    parts = local.parts
                    if isinstance(local, _LocalDocument):
                        self.local_documents.add(parts[0])
                        self.local_uses += 1
                elif isinstance(local, Dynamic):
                    late.append(local)  # the document is not built: reported as dynamic
                    continue
                elif local is not None:
                    self.diag(
                        "GQL_ARG_NOT_FRAGMENT",
                        f"'{'.'.join(parts)}' is a string, not a gql() fragment",
                        item,
                        hint="splice the string into the document (`${...}`), or remove the "
                        "argument and let the spread resolve by name",
                    )
                    ok = False
                    continue
                args.append(FragmentArg(parts, *self.at(item)))
            if not ok:
                return None
        expr = self.build(first)
        if late:  # after the document's own text, so its label is still found
            items = expr.items if isinstance(expr, Concat) else (expr,)
            expr = Concat((*items, *late))
        return expr

    def inferred_name(self, node: Node) -> str | None:
        """The name JavaScript gives an anonymous function, class or value by where it is:
        ``const X = ...``, ``{X: ...}``, ``a.X = ...``, a class field ``X = ...``,
        ``export default ...``."""
        while True:
            parent = node.parent
            if parent is None:
                return None
            if parent.type not in _WRAPPERS:
                break
            node = parent
        kind = parent.type
        if kind == "variable_declarator":
            name = parent.child_by_field_name("name")
            if parent.child_by_field_name("value") == node and name is not None:
                return self.text(name) if name.type == "identifier" else None
        elif kind == "pair":
            key = parent.child_by_field_name("key")
            if parent.child_by_field_name("value") == node and key is not None:
                return self.key_text(key)
        elif kind in ("assignment_expression", "augmented_assignment_expression"):
            left = parent.child_by_field_name("left")
            if parent.child_by_field_name("right") == node and left is not None:
                left = _unwrap(left)
                if left.type == "identifier":
                    return self.text(left)
                if left.type == "member_expression":
                    prop = left.child_by_field_name("property")
                    return self.text(prop) if prop is not None else None
        elif kind in ("public_field_definition", "field_definition"):
            name = parent.child_by_field_name("name") or parent.child_by_field_name("property")
            if parent.child_by_field_name("value") == node and name is not None:
                return self.key_text(name)
        elif kind == "export_statement" and _has_child(parent, "default"):
            return "default"
        return None

    def context(self, call: Node) -> _Context:
        """Where a document's call is: see :class:`_Context`."""
        target = self.inferred_name(call)
        binding: str | None = None
        marks: set[int] | None = None
        parent = call.parent
        while parent is not None and parent.type in _WRAPPERS:
            parent = parent.parent
        if parent is not None and parent.type == "variable_declarator" and target is not None:
            declaration = parent.parent
            holder = declaration.parent if declaration is not None else None
            if holder is not None and holder.type == "export_statement":
                holder = holder.parent
            if holder is not None and holder.type == "program":
                binding = target
                marks = self.bound_declarators
        elif (
            parent is not None
            and parent.type == "export_statement"
            and target == "default"
            and parent.parent is not None
            and parent.parent.type == "program"
        ):
            binding = "default"
            marks = self.bound_defaults
        scopes: list[str] = []
        scoped = False
        statement = node = parent
        while node is not None and node.type != "program":
            kind = node.type
            if kind in _FUNCTIONS or kind in _CLASSES:
                name = node.child_by_field_name("name")
                if name is not None:
                    scopes.append(self.key_text(name))
                else:
                    scopes.append(self.inferred_name(node) or ANONYMOUS_SCOPE)
            scoped = scoped or kind in _LOCAL_SCOPES
            statement = node
            node = node.parent
        scopes.reverse()
        mark = (marks, parent.start_byte) if marks is not None and parent is not None else None
        hint = (statement, scoped) if statement is not None else None
        return _Context(scopes, target, binding, mark, hint)

    # -- top level --------------------------------------------------------------------

    def top_level(self, root: Node) -> None:
        """Imports, exports and declarations of the top-level statements."""
        for statement in root.named_children:
            kind = statement.type
            self.scope_hint = (statement, False)  # top-level constants: no local names
            if kind == "import_statement":
                self.record_import(statement)
            elif kind == "export_statement":
                self.record_export(statement)
            elif kind in ("lexical_declaration", "variable_declaration"):
                self.record_declaration(statement)
            elif kind in _NAMED_DECLARATIONS:
                self.record_named(statement)
            elif kind == "expression_statement":
                inner = _first_named(statement)
                if inner is not None and inner.type in ("internal_module", "module"):
                    self.record_named(inner)
        self.scope_hint = None

    def binding_at(self, node: Node, name: str, module: str, attr: str | None) -> ImportBinding:
        line, column = self.at(node)
        return ImportBinding(name, module, 0, attr, line, column, specifier=True)

    def bind_import(self, binding: ImportBinding) -> None:
        self.imports.append(binding)
        self.by_name[binding.name] = binding
        self.other.discard(binding.name)

    def source(self, statement: Node) -> str | None:
        source = statement.child_by_field_name("source")
        if source is None or source.type != "string":
            return None
        return self.string_value(source)

    def record_import(self, statement: Node) -> None:
        children = statement.children
        kinds = [child.type for child in children]
        if "type" in kinds or "typeof" in kinds:
            return  # import type ...
        if "import_clause" not in kinds:
            if "import_require_clause" in kinds:  # import X = require("..."): CommonJS
                name = _first_named(children[kinds.index("import_require_clause")])
                if name is not None and name.type == "identifier":
                    self.other.add(self.text(name))
            return  # import "./side-effect"
        clause = children[kinds.index("import_clause")]
        module = self.source(statement)
        if module is None:
            return
        for part in clause.named_children:
            if part.type == "identifier":
                self.bind_import(self.binding_at(part, self.text(part), module, "default"))
            elif part.type == "namespace_import":
                name = _first_named(part)
                if name is not None:
                    self.bind_import(self.binding_at(part, self.text(name), module, None))
            elif part.type == "named_imports":
                for specifier in part.named_children:
                    if specifier.type != "import_specifier" or _has_child(specifier, "type"):
                        continue
                    imported = specifier.child_by_field_name("name")
                    alias = specifier.child_by_field_name("alias") or imported
                    if imported is None or alias is None:
                        continue
                    self.bind_import(
                        self.binding_at(
                            specifier, self.key_text(alias), module, self.key_text(imported)
                        )
                    )

    def record_export(self, statement: Node) -> None:
        if _has_child(statement, "type"):
            return  # export type { ... }
        declaration = statement.child_by_field_name("declaration")
        default = _has_child(statement, "default")
        if declaration is not None:
            kind = declaration.type
            if kind in ("lexical_declaration", "variable_declaration"):
                self.record_declaration(declaration)
            elif kind in _NAMED_DECLARATIONS:
                self.record_named(declaration)
            if default:
                self.other.add("default")
            return
        value = statement.child_by_field_name("value")
        if default:
            if value is None:
                return
            inner = _unwrap(value)
            if inner.type == "identifier":
                self.aliases.append(("default", self.text(inner)))
            elif statement.start_byte not in self.bound_defaults:
                self.other.add("default")
            return
        module = self.source(statement)
        for part in statement.named_children:
            if part.type == "namespace_export" and module is not None:
                exported = _first_named(part)
                if exported is not None:
                    self.bind_import(self.binding_at(part, self.key_text(exported), module, None))
            elif part.type == "export_clause":
                for specifier in part.named_children:
                    if specifier.type != "export_specifier" or _has_child(specifier, "type"):
                        continue
                    local = specifier.child_by_field_name("name")
                    alias = specifier.child_by_field_name("alias") or local
                    if local is None or alias is None:
                        continue
                    name, original = self.key_text(alias), self.key_text(local)
                    if module is not None:
                        self.bind_import(self.binding_at(specifier, name, module, original))
                    elif name != original:
                        self.aliases.append((name, original))
        if module is not None and not any(
            part.type in ("namespace_export", "export_clause") for part in statement.named_children
        ):  # export * from "..."
            self.star_imports.append(self.binding_at(statement, "*", module, None))

    def record_named(self, declaration: Node) -> None:
        name = declaration.child_by_field_name("name")
        if name is not None:
            self.other.add(self.text(name))

    def record_declaration(self, declaration: Node) -> None:
        constant = _has_child(declaration, "const")
        for declarator in declaration.named_children:
            if declarator.type != "variable_declarator":
                continue
            name_node = declarator.child_by_field_name("name")
            if name_node is None:
                continue
            if name_node.type != "identifier":
                self.other.update(self.pattern_names(name_node))
                continue
            name = self.text(name_node)
            if declarator.start_byte in self.bound_declarators:
                continue  # a document (bound when ids are chosen)
            value = declarator.child_by_field_name("value")
            inner = _unwrap(value) if value is not None else None
            if constant and inner is not None:
                if inner.type == "identifier":
                    self.aliases.append((name, self.text(inner)))
                    continue
                if self.string_like(inner):
                    self.constants[name] = self.build(inner)
                    self.other.add(name)  # as the Python scanner: constants are names too
                    continue
            self.other.add(name)

    def pattern_names(self, pattern: Node) -> list[str]:
        """The names a destructuring pattern binds."""
        names: list[str] = []
        stack = [pattern]
        while stack:
            node = stack.pop()
            kind = node.type
            if kind in ("identifier", "shorthand_property_identifier_pattern"):
                names.append(self.text(node))
            elif kind in ("object_pattern", "array_pattern", "rest_pattern"):
                stack.extend(node.named_children)
            elif kind == "pair_pattern":
                value = node.child_by_field_name("value")
                if value is not None:
                    stack.append(value)
            elif kind in ("assignment_pattern", "object_assignment_pattern"):
                left = node.child_by_field_name("left")
                if left is not None:
                    stack.append(left)
        return names

    # -- ids and the result -----------------------------------------------------------

    def scan(self, root: Node) -> ModuleScan:
        self.root = root
        found = self.documents(root)
        self.top_level(root)
        reserved = set(self.by_name) | self.other | set(self.constants)
        reserved.update(name for name, _ in self.aliases)
        reserved.update(d.binding for d in found if d.binding is not None)
        taken: set[str] = set()
        ids: list[str] = []
        for document in found:
            if document.binding is not None:
                name = (
                    document.binding
                    if document.binding not in taken
                    else unique_id(document.binding, taken)
                )
                taken.add(name)
            else:
                label = (
                    _label(document.expr, self.path)
                    or document.ref_label
                    or document.target
                    or "anonymous"
                )
                name = unique_id(".".join([*document.scopes, label]), taken, reserved)
            ids.append(name)
        keys = self.local_keys(found, ids) if self.local_documents else {}
        definitions: list[GqlDefinition] = []
        for call, (document, name) in enumerate(zip(found, ids, strict=True), 1):
            expr, args = document.expr, document.args
            if document.start in self.rebind:
                expr = _rebind(expr, keys)
                args = tuple(
                    FragmentArg(
                        (keys[arg.parts[0]], *arg.parts[1:]), arg.line, arg.column, arg.embedded
                    )
                    if arg.parts[0] in keys
                    else arg
                    for arg in args
                )
            definition = GqlDefinition(
                name,
                document.line,
                document.column,
                expr,
                args,
                "template",
                document.binding,
                call,
                0,
            )
            definitions.append(definition)
            if document.binding is not None:
                self.by_name.setdefault(document.binding, definition)
                self.other.discard(document.binding)
        if keys:
            index = {document.start: i for i, document in enumerate(found)}
            for placeholder, key in keys.items():
                self.by_name[key] = definitions[index[int(placeholder[len(_PLACEHOLDER) :])]]
        by_id = {d.name: d for d in definitions}
        self.resolve_aliases(by_id)
        return ModuleScan(
            self.path,
            imports=tuple(self.imports),
            star_imports=tuple(self.star_imports),
            definitions=tuple(definitions),
            other_names=frozenset(self.other - set(self.by_name)),
            diagnostics=tuple(self.diagnostics),
            constants=self.constants,
            _by_name=self.by_name,
            _by_id=by_id,
        )

    def local_keys(self, found: list[_Document], ids: list[str]) -> dict[str, str]:
        """The key each local document passed by ``${X}`` or in an array is bound to in
        ``_by_name`` (the build resolves fragment arguments through it), by placeholder:
        its id, which has a dot (the scopes); ``<block>.`` before an id without one (a
        document of a top-level block). No name of JavaScript has a dot or a ``<``, so a
        key never shadows a module-level name, nor equals a GraphQL fragment name."""
        by_start = {document.start: name for document, name in zip(found, ids, strict=True)}
        taken = set(self.by_name)
        others = set(ids)
        keys: dict[str, str] = {}
        for placeholder in sorted(self.local_documents):
            name = by_start[int(placeholder[len(_PLACEHOLDER) :])]
            key = name if "." in name else f"<block>.{name}"
            keys[placeholder] = unique_id(key, taken, others - {name})
        return keys

    def resolve_aliases(self, by_id: dict[str, GqlDefinition]) -> None:
        """Bind each alias to what its original is bound to: the same document (also
        under the alias's id, which a reference through the alias names), import or
        constant; anything else makes it an other name."""
        targets = dict(self.aliases)
        for alias, _ in self.aliases:
            original = targets[alias]
            seen = {alias}
            while original in targets and original not in seen and original not in self.by_name:
                seen.add(original)
                original = targets[original]
            bound = self.by_name.get(original)
            if bound is not None and original != alias:
                if isinstance(bound, GqlDefinition):
                    if alias in by_id and by_id[alias] is not bound:
                        continue  # the id names another document of the file
                    by_id[alias] = bound
                self.by_name[alias] = bound
                self.other.discard(alias)
            elif original in self.constants and original != alias:
                self.constants[alias] = self.constants[original]
                self.other.add(alias)
            else:
                self.other.add(alias)


# -- syntax errors and type arguments -------------------------------------------------------


def _first_error(root: Node) -> Node:
    """The first ERROR or MISSING node of a tree that has one (in source order)."""
    node = root
    while not (node.is_error or node.is_missing):
        for child in node.children:
            if child.is_missing or child.has_error:
                node = child
                break
        else:
            return node
    return node


def _offending(error: Node) -> Node:
    """The token an ERROR node's parse broke at, by a heuristic: error recovery wraps the
    valid prefix of a statement in the node too, so it is the first token after the
    node's first one that no parse state follows (complete subtrees inside the node are
    skipped, nested ERROR nodes searched); else the node's first token."""
    stack = [error]
    while stack:
        node = stack.pop()
        for child in node.children:
            if (
                child.child_count == 0
                and child.start_byte > error.start_byte
                and child.next_parse_state == 0
            ):
                return child
        stack.extend(reversed([child for child in node.children if child.is_error]))
    first = error
    while first.child_count:
        first = first.children[0]
    return first


def _syntax_error(scanner: _Scanner, root: Node) -> Diagnostic:
    node = _first_error(root)
    language = scanner.language_name
    if node.is_missing:
        missing = f"`{node.type}`" if not node.is_named else node.type.replace("_", " ")
        message = f"{language} syntax error: expected {missing}"
        where = node
    else:
        where = _offending(node)
        token = scanner.data[where.start_byte : where.end_byte].decode("utf-8", "replace")
        token = " ".join(token.split())
        if len(token) > 30:
            token = token[:29] + "…"
        quoted = f"'{token}'" if "`" in token else f"`{token}`"
        message = (
            f"{language} syntax error: unexpected {quoted}"
            if token
            else f"{language} syntax error: unexpected end of file"
        )
    line, column = scanner.at(where)
    return Diagnostic(
        "TS_SYNTAX",
        message,
        scanner.path,
        line,
        column,
        hint="fix the syntax error; the file's documents are skipped until then",
    )


def _jsx_mismatch(scanner: _Scanner, root: Node) -> Diagnostic | None:
    """The first JSX closing tag that does not match its opening tag (the grammar accepts
    ``<div></span>``; TypeScript and Babel do not)."""
    data = scanner.data
    for match in _CLOSING_TAG.finditer(data):
        token = root.descendant_for_byte_range(match.start(), match.end())
        if token is None or token.type != "</" or token.start_byte != match.start():
            continue  # in a string, a comment, JSX text...
        closing = token.parent
        element = closing.parent if closing is not None else None
        if closing is None or element is None or element.type != "jsx_element":
            continue
        opening = element.child_by_field_name("open_tag")
        if opening is None:
            continue
        open_name, close_name = (
            _tag_name(scanner, tag.child_by_field_name("name")) for tag in (opening, closing)
        )
        if open_name != close_name:
            line, column = scanner.at(closing)
            return Diagnostic(
                "TS_SYNTAX",
                f"{scanner.language_name} syntax error: the closing tag `</{close_name}>` "
                f"does not match `<{open_name}>`",
                scanner.path,
                line,
                column,
                hint=f"close the element with `</{open_name}>`",
            )
    return None


def _tag_name(scanner: _Scanner, node: Node | None) -> str:
    return "".join(scanner.text(node).split()) if node is not None else ""


def _type_argument_spans(data: bytes, root: Node) -> list[tuple[int, int]]:
    """Byte spans of the type arguments of tagged templates (``tag<T>`...```): the
    grammar misparses them (as comparisons, or with a missing ``!``)."""
    spans: list[tuple[int, int]] = []
    for match in _TYPE_ARGS_END.finditer(data):
        close = match.start()
        if close and data[close - 1] in b"=-":
            continue  # => and -> are not closing brackets
        token = root.descendant_for_byte_range(close, close + 1)
        if token is None or token.type not in (">", ">>", ">>>"):
            continue  # inside a string, a template, a comment, JSX text
        parent = token.parent
        if parent is not None and parent.type.startswith("jsx"):
            continue
        open_ = _matching_open(data, close)
        if open_ is None:
            continue
        before = open_ - 1
        while before >= 0 and data[before] in b" \t\r\n":
            before -= 1
        if before < 0 or not (chr(data[before]).isalnum() or data[before] in b"_$)]"):
            continue
        opener = root.descendant_for_byte_range(open_, open_ + 1)
        if opener is None or opener.type != "<":
            continue
        if opener.parent is not None and opener.parent.type.startswith("jsx"):
            continue
        spans.append((open_, close + 1))
    return spans


def _matching_open(data: bytes, close: int) -> int | None:
    """The ``<`` the ``>`` at ``close`` closes, scanning back over brackets (None when the
    text between is not type arguments)."""
    depth = 0
    brackets: list[int] = []
    pairs = {ord(")"): ord("("), ord("]"): ord("["), ord("}"): ord("{")}
    index = close
    limit = max(close - 4096, 0)
    while index >= limit:
        char = data[index]
        if char in pairs:
            brackets.append(pairs[char])
        elif char in b"([{":
            if not brackets or brackets.pop() != char:
                return None
        elif not brackets:
            if char == ord(">") and (index == 0 or data[index - 1] not in b"=-"):
                depth += 1
            elif char == ord("<"):
                depth -= 1
                if depth == 0:
                    return index
            elif char in b";`":
                return None
        index -= 1
    return None


def _blank(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``data`` with the spans' bytes spaces (line breaks kept: offsets stay the same)."""
    out = bytearray(data)
    for start, end in spans:
        for index in range(start, end):
            if out[index] not in b"\r\n":
                out[index] = 0x20
    return bytes(out)


def _parse(parser: Parser, data: bytes) -> Tree:
    tree = parser.parse(data)
    root = tree.root_node
    if not root.has_error and _GENERIC_TAG.search(data) is None:
        return tree
    spans = _type_argument_spans(data, root)
    if not spans:
        return tree
    retried = parser.parse(_blank(data, spans))
    if retried.root_node.has_error and not root.has_error:
        return tree  # the blanked text is worse: keep what parsed
    return retried


def scan_typescript(path: str, data: bytes, options: tuple[str, ...]) -> ModuleScan:
    """Scan one TypeScript or JavaScript file (the grammar follows ``path``'s suffix).
    ``path`` is only used to choose the grammar and to locate diagnostics; ``options`` is
    not read (the tags are ``gql`` and ``graphql``, whatever module they come from)."""
    grammar = grammar_for(path)
    language_name = "JavaScript" if grammar == "javascript" else "TypeScript"
    if data.startswith(_BOM):
        data = data[len(_BOM) :]  # editors count columns after it
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = max(data.rfind(b"\n", 0, exc.start), data.rfind(b"\r", 0, exc.start)) + 1
        line = len(_BYTE_LINE_BREAK.findall(data, 0, line_start)) + 1
        column = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
        diagnostic = Diagnostic(
            "TS_SYNTAX",
            f"not valid UTF-8: {exc.reason}",
            path,
            line,
            column,
            hint="save the file as UTF-8",
        )
        return ModuleScan(path, diagnostics=(diagnostic,), parsed=False)
    tree = _parse(_parser(grammar), data)
    scanner = _Scanner(path, data, language_name)
    root = tree.root_node
    if root.has_error:
        return ModuleScan(path, diagnostics=(_syntax_error(scanner, root),), parsed=False)
    if grammar != "typescript" and b"</" in data:
        mismatch = _jsx_mismatch(scanner, root)
        if mismatch is not None:
            return ModuleScan(path, diagnostics=(mismatch,), parsed=False)
    return scanner.scan(root)
