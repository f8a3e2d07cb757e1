"""Typed results: per source module, a Python module of pydantic models and TypedDicts.

``python_types_output(path = "types")`` writes, for each source module with elements, the
module ``<path>/<module path>.py`` (``app/users/queries.py`` -> ``types/app/users/queries.py``;
``.graphql`` files as ``queries_graphql.py``), ``__init__.py`` files that make the tree a
package, and ``<path>/_schema.py``: the schema types the modules share (enums, input types,
custom scalars, the model base). In a module:

- an operation ``GetUser`` gives the model ``GetUserResult`` of its result (constants
  ``DOCUMENT``, ``HASH``, ``NAME`` as class variables) and ``GetUserVariables``, a
  ``TypedDict`` keyed by the variables' wire names;
- a fragment ``UserFields`` gives the model ``UserFields``; a selection that spreads it
  gives a subclass of it, so a fragment's type is reusable; fragments of other modules of
  the project are imported (relative imports), a fragment spliced into a document as text is
  imported when it equals a fragment of the project, otherwise (and for fragments of other
  projects, and to break import cycles) its models are defined in the module;
- nested selections give ``<Parent>_<response key>`` models; a selection on an interface
  or union that tells types apart (inline fragments, fragments on other types) gives one
  model per concrete type it distinguishes (``<Parent>_<Type>``) and a fallback
  ``<Parent>_Other`` for every other type (also types the server adds later), discriminated
  by ``__typename``; fallbacks are open (``extra="allow"``). Without ``__typename`` in that
  selection set, the selection is the open fallback model alone.

The analysis is one :class:`_Shaper` per emission: each selection becomes a
:class:`ClassSpec` (one model) or a :class:`UnionSpec` (a discriminated union), each owned
by one operation or fragment (an :class:`Owner`). Shapes of a project fragment are computed
once (from its own element) and shared by every module that spreads it; names are given
per module (``_Names``) and what another module imports from it is its exports. The emitter
(:class:`TypedModules`) keeps every stage per module and redoes only what changed: shapes of
dirty modules, names whose copies changed, text whose imports changed.

Consistency between emissions: a fragment's shapes are kept (``_MemoEntry``) by owner
(element id and line), document, fragment ids and by-name lookups, and reused only while
the fragment shapes they extend are this emission's (``_Shaper.remembered``): a module never
holds two generations of one fragment's models. An element that fails validation never
reaches the emitter; one that selects what the schema lacks would be skipped
(``_NotInSchema``).

Cost (10,000-module app, ~36,000 models): documents are read by a parser of the canonical
text (``_parse_definition``, not graphql-core's), a nested selection that only reaches a
fragment's models is resolved once per emission (``_Shaper.selection``), field types are
planned once per type and field (``field_plan``), and the emission runs with the cyclic GC
paused (it makes no cyclic garbage) and freezes what it keeps (``freeze_more``).
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from graphql import (
    BooleanValueNode,
    DefinitionNode,
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeNode,
    parse,
)

from sodabuild.compose.printer import print_document
from sodabuild.memory import freeze_more, gc_paused

if TYPE_CHECKING:
    from sodabuild.config.model import ScalarMapping
    from sodabuild.emit.outputs import Element
    from sodabuild.emit.registry import ElementTable
    from sodabuild.rules.model import Output

#: The module of shared schema types, at the root of the generated package.
SCHEMA_MODULE = "_schema"
#: The tag of a union's fallback model (``__`` names are reserved in GraphQL: no type has it).
OTHER_TAG = "__other__"
BUILTIN_SCALARS = {"ID": "str", "String": "str", "Int": "int", "Float": "float", "Boolean": "bool"}
#: Attribute names a model may not use (``BaseModel`` members, the operation constants).
_RESERVED_ATTRS = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "from_orm",
        "json",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
        "DOCUMENT",
        "HASH",
        "NAME",
    }
)
#: Names the shared module defines besides the schema's types.
_SCHEMA_HELPERS = ("Model", "OpenEnum", "by_typename", "annotations", "enum", "typing", "pydantic")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER = "# Generated by sodabuild (python_types_output); do not edit.\n# ruff: noqa\n"


# -- shapes ---------------------------------------------------------------------------------


# Owner, Ann and FieldSpec are named tuples: made and compared by the hundred thousand on a
# large project (a tuple is made and compared in C; frozen dataclasses are not).


class Owner(NamedTuple):
    """An operation or fragment whose models one module defines.

    ``key``: the element id for an element of the project, else ``copy:<name>:<digest>``
    (a fragment spliced into documents as text, or one of another project)."""

    key: str
    kind: str  # "operation" | "fragment"
    name: str
    element: str | None = None
    module: str | None = None
    line: int = 0


class Ann(NamedTuple):
    """A field's type: ``py`` (a builtin), ``scalar`` (a custom scalar), ``enum``, ``json``
    (introspection), ``list`` (of ``inner``) or ``shape`` (a nested model)."""

    kind: str
    name: str = ""
    nullable: bool = True
    inner: Ann | None = None
    shape: ClassSpec | UnionSpec | None = None


class FieldSpec(NamedTuple):
    key: str  # the response key
    attr: str  # the Python attribute
    ann: Ann
    default_none: bool  # under @include/@skip: absent when the condition says so


@dataclass(eq=False, slots=True)
class ClassSpec:
    """One model: the merged fields of a selection on one type, and the fragment models it
    extends."""

    owner: Owner
    path: tuple[str, ...]
    type_name: str
    fields: dict[str, FieldSpec]
    bases: tuple[ClassSpec, ...]
    note: str = ""
    #: A fallback model: keeps the fields it does not declare (``extra="allow"``), as
    #: objects of types it cannot tell apart may carry more.
    open: bool = False
    ancestors: frozenset[ClassSpec] = frozenset()
    #: The fields the class body declares (new, or different from a base's), and whether
    #: the declaration narrows a base's list (``# type: ignore[assignment]``).
    declared: tuple[tuple[FieldSpec, bool], ...] = ()


@dataclass(eq=False, slots=True)
class UnionSpec:
    """A selection on an interface or union that tells types apart: a model per
    distinguished type, the fallback, and the ``__typename`` key that picks one."""

    owner: Owner
    path: tuple[str, ...]
    type_name: str
    members: dict[str, ClassSpec]
    other: ClassSpec
    key: str
    attrs: tuple[str, ...]


Shape = ClassSpec | UnionSpec


@dataclass(frozen=True, slots=True)
class InAnn:
    """A variable's or input field's type: ``py``, ``scalar``, ``enum``, ``input``, ``list``."""

    kind: str
    name: str = ""
    nullable: bool = True
    inner: InAnn | None = None


@dataclass(frozen=True, slots=True)
class VarSpec:
    name: str
    ann: InAnn
    optional: bool  # NotRequired: nullable or with a default


@dataclass(eq=False, slots=True)
class _Item:
    """An element a module defines models for."""

    owner: Owner
    shape: Shape
    element: Element
    variables: tuple[VarSpec, ...] | None  # operations


def _pyname(key: str) -> str:
    """The attribute a response key prefers (keywords and BaseModel names get ``_``;
    leading underscores go: pydantic keeps them private)."""
    found = _PYNAMES.get(key)
    if found is None:
        name = key.lstrip("_") or "field"
        if keyword.iskeyword(name) or name in _RESERVED_ATTRS or name.startswith("model_"):
            name += "_"
        found = _PYNAMES[key] = name
    return found


_PYNAMES: dict[str, str] = {}


def _identifier(text: str) -> str:
    if text.isascii() and text.isidentifier():  # (most are: no substitution to make)
        name = text
    else:
        name = re.sub(r"[^A-Za-z0-9_]", "_", text) or "_"
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


def _conditional(directives: Iterable[DirectiveNode] | None) -> bool | None:
    """Whether @include/@skip make a selection conditional: None when they leave it out
    always (a literal ``@skip(if: true)``)."""
    conditional = False
    for directive in directives or ():
        name = directive.name.value
        if name not in ("include", "skip"):
            continue
        value = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
        if isinstance(value, BooleanValueNode):
            if value.value != (name == "include"):
                return None
        else:
            conditional = True
    return conditional


# -- documents ------------------------------------------------------------------------------
#
# The shaper reads composed documents, which are canonical prints (``compose/printer.py``):
# a small parser of that text (a regular expression splits it into tokens, a descent reads
# the structure the models need) is several times faster than graphql-core's and builds
# plain slotted nodes. Anything it does not expect (it never should) is parsed by
# graphql-core instead, and converted to the same nodes.


class _Set:
    """A selection set."""

    __slots__ = ("selections",)

    def __init__(self, selections: tuple[_Selection, ...]) -> None:
        self.selections = selections


class _Field:
    """A field: ``key`` is its response key; ``cond`` what its @include/@skip decide
    (``_conditional``)."""

    __slots__ = ("cond", "key", "name", "selection_set")

    def __init__(self, key: str, name: str, cond: bool | None, selection_set: _Set | None):
        self.key = key
        self.name = name
        self.cond = cond
        self.selection_set = selection_set


class _Inline:
    __slots__ = ("cond", "selection_set", "type_condition")

    def __init__(self, type_condition: str | None, cond: bool | None, selection_set: _Set):
        self.type_condition = type_condition
        self.cond = cond
        self.selection_set = selection_set


class _Spread:
    __slots__ = ("cond", "name")

    def __init__(self, name: str, cond: bool | None) -> None:
        self.name = name
        self.cond = cond


_Selection = _Field | _Inline | _Spread
#: A variable's type: a named type, or ("list" | "non_null", the type inside).
_TypeRef = str | tuple[str, Any]


class _FragmentDef:
    """A fragment definition and its canonical text."""

    __slots__ = ("_spreads", "name", "selection_set", "text", "type_condition")

    def __init__(self, name: str, type_condition: str, selection_set: _Set, text: str) -> None:
        self.name = name
        self.type_condition = type_condition
        self.selection_set = selection_set
        self.text = text
        self._spreads: frozenset[str] | None = None

    @property
    def spreads(self) -> frozenset[str]:
        """The names of the fragments spread anywhere in it."""
        if self._spreads is None:
            self._spreads = frozenset(_spreads(self.selection_set))
        return self._spreads


class _OperationDef:
    """An operation: its type (``query``...), and variables as (name, type, has default)."""

    __slots__ = ("operation", "selection_set", "variables")

    def __init__(
        self,
        operation: str,
        variables: tuple[tuple[str, _TypeRef, bool], ...],
        selection_set: _Set,
    ) -> None:
        self.operation = operation
        self.variables = variables
        self.selection_set = selection_set


_Definition = _FragmentDef | _OperationDef

_TOKEN = re.compile(
    r"[\s,]*"
    r"(\.\.\.|[!$&():=@\[\]{|}]|[_A-Za-z][_0-9A-Za-z]*|-?[0-9][_0-9A-Za-z.+\-]*"
    r'|"""(?:[^"\\]|\\[\s\S]|"(?!""))*"""|"(?:[^"\\\n\r]|\\.)*")',
    re.ASCII,
)
#: What separates tokens (ignored), for the check that the tokens cover the text.
_IGNORED = str.maketrans(dict.fromkeys(" \t\n\r\f\v,"))
_OPERATIONS = frozenset(("query", "mutation", "subscription"))


class _Unexpected(Exception):
    """A document the fast parser does not read (graphql-core parses it)."""


class _Parser:
    """Executable definitions of canonical text (``_parse_definition``)."""

    __slots__ = ("i", "tokens")

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.i = 0

    def take(self) -> str:
        try:
            token = self.tokens[self.i]
        except IndexError:
            raise _Unexpected from None
        self.i += 1
        return token

    def peek(self) -> str:
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def expect(self, token: str) -> None:
        if self.take() != token:
            raise _Unexpected

    def name(self) -> str:
        token = self.take()
        first = token[:1]
        if not (first.isalpha() or first == "_"):
            raise _Unexpected
        return token

    def definition(self, text: str) -> _Definition:
        if self.peek()[:1] == '"':  # a description
            self.i += 1
        token = self.take()
        if token == "{":
            self.i -= 1
            return _OperationDef("query", (), self.selection_set())
        if token == "fragment":
            name = self.name()
            if self.peek() == "(":  # fragment variables (experimental): not read
                raise _Unexpected
            if self.take() != "on":
                raise _Unexpected
            condition = self.name()
            self.directives()
            return _FragmentDef(name, condition, self.selection_set(), text)
        if token not in _OPERATIONS:
            raise _Unexpected
        if self.peek() not in ("(", "@", "{"):
            self.name()
        variables: list[tuple[str, _TypeRef, bool]] = []
        if self.peek() == "(":
            self.i += 1
            while self.peek() != ")":
                if self.peek()[:1] == '"':
                    self.i += 1
                self.expect("$")
                name = self.name()
                self.expect(":")
                type_ref = self.type_ref()
                default = self.peek() == "="
                if default:
                    self.i += 1
                    self.value()
                self.directives()
                variables.append((name, type_ref, default))
            self.i += 1
        self.directives()
        return _OperationDef(token, tuple(variables), self.selection_set())

    def type_ref(self) -> _TypeRef:
        token = self.take()
        found: _TypeRef
        if token == "[":
            found = ("list", self.type_ref())
            self.expect("]")
        elif token[0].isalpha() or token[0] == "_":
            found = token
        else:
            raise _Unexpected
        if self.peek() == "!":
            self.i += 1
            found = ("non_null", found)
        return found

    def selection_set(self) -> _Set:
        # (the hot loop: the index is a local, the token list ends with "", and indexing
        # past it raises IndexError, which _parse_definition turns into _Unexpected)
        tokens = self.tokens
        i = self.i
        if tokens[i] != "{":
            raise _Unexpected
        i += 1
        selections: list[_Selection] = []
        while True:
            token = tokens[i]
            i += 1
            if token == "}":
                self.i = i
                return _Set(tuple(selections))
            if token == "...":
                self.i = i
                following = tokens[i]
                if following == "on":
                    self.i += 1
                    condition: str | None = self.name()
                    selections.append(_Inline(condition, self.directives(), self.selection_set()))
                elif following in ("@", "{"):
                    selections.append(_Inline(None, self.directives(), self.selection_set()))
                else:
                    name = self.name()
                    if self.peek() == "(":  # fragment arguments (experimental)
                        self.arguments()
                    selections.append(_Spread(name, self.directives()))
                i = self.i
                continue
            first = token[:1]
            if not (first.isalpha() or first == "_"):
                raise _Unexpected
            key = name = token
            following = tokens[i]
            if following == ":":
                name = tokens[i + 1]
                first = name[:1]
                if not (first.isalpha() or first == "_"):
                    raise _Unexpected
                i += 2
                following = tokens[i]
            if following == "(" or following == "@" or following == "{":
                self.i = i
                if following == "(":
                    self.arguments()
                cond = self.directives() if self.peek() == "@" else False
                nested = self.selection_set() if self.peek() == "{" else None
                i = self.i
                selections.append(_Field(key, name, cond, nested))
            else:
                selections.append(_Field(key, name, False, None))

    def arguments(self) -> dict[str, str]:
        """Skip ``(name: value ...)``; the kind of each value that is a literal boolean
        (``"true"``/``"false"``), else ``""``."""
        self.expect("(")
        found: dict[str, str] = {}
        while self.peek() != ")":
            name = self.name()
            self.expect(":")
            found[name] = self.value()
        self.i += 1
        return found

    def value(self) -> str:
        token = self.take()
        if token in ("true", "false"):
            return token
        if token == "$":
            self.name()
        elif token == "[":
            while self.peek() != "]":
                self.value()
            self.i += 1
        elif token == "{":
            while self.peek() != "}":
                self.name()
                self.expect(":")
                self.value()
            self.i += 1
        elif token in _PUNCTUATORS or token == "":
            raise _Unexpected
        return ""

    def directives(self) -> bool | None:
        """Skip directives; what @include/@skip decide, as ``_conditional`` says."""
        conditional: bool | None = False
        while self.peek() == "@":
            self.i += 1
            name = self.name()
            arguments = self.arguments() if self.peek() == "(" else {}
            if name not in ("include", "skip") or conditional is None:
                continue
            value = arguments.get("if", "")
            if value:
                if (value == "true") != (name == "include"):
                    conditional = None
            else:
                conditional = True
        return conditional


_PUNCTUATORS = frozenset("!$&():=@[]{|}") | {"..."}


def _parse_definition(text: str) -> _Definition:
    """The one executable definition ``text`` holds (canonical text); ``_Unexpected`` for
    anything else."""
    tokens = _TOKEN.findall(text)
    if "".join(tokens).translate(_IGNORED) != text.translate(_IGNORED):
        raise _Unexpected  # a character no token covers
    tokens.append("")  # the end
    parser = _Parser(tokens)
    try:
        definition = parser.definition(text)
    except IndexError:
        raise _Unexpected from None
    if parser.i != len(tokens) - 1:
        raise _Unexpected
    return definition


def _converted(definitions: Iterable[DefinitionNode]) -> tuple[_Definition, ...]:
    """graphql-core's definitions as the shaper's nodes."""
    found: list[_Definition] = []
    for node in definitions:
        if isinstance(node, FragmentDefinitionNode):
            found.append(
                _FragmentDef(
                    node.name.value,
                    node.type_condition.name.value,
                    _converted_set(node.selection_set),
                    print_document(node),
                )
            )
        elif isinstance(node, OperationDefinitionNode):
            variables = tuple(
                (
                    v.variable.name.value,
                    _converted_type(v.type),
                    v.default_value is not None,
                )
                for v in node.variable_definitions or ()
            )
            found.append(
                _OperationDef(node.operation.value, variables, _converted_set(node.selection_set))
            )
    return tuple(found)


def _converted_type(node: TypeNode) -> _TypeRef:
    if isinstance(node, NonNullTypeNode):
        return ("non_null", _converted_type(node.type))
    if isinstance(node, ListTypeNode):
        return ("list", _converted_type(node.type))
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def _converted_set(node: SelectionSetNode) -> _Set:
    selections: list[_Selection] = []
    for selection in node.selections:
        cond = _conditional(selection.directives)
        if isinstance(selection, FieldNode):
            nested = selection.selection_set
            selections.append(
                _Field(
                    (selection.alias or selection.name).value,
                    selection.name.value,
                    cond,
                    _converted_set(nested) if nested is not None else None,
                )
            )
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            selections.append(
                _Inline(
                    condition.name.value if condition else None,
                    cond,
                    _converted_set(selection.selection_set),
                )
            )
        elif isinstance(selection, FragmentSpreadNode):
            selections.append(_Spread(selection.name.value, cond))
    return _Set(tuple(selections))


_Occurrences = list[tuple[_Field, bool]]
_TYPENAME = Ann("py", "str", nullable=False)
_JSON = Ann("json")
_NONE: frozenset[ClassSpec] = frozenset()
#: How a field's type is annotated (``_Shaper.field_plan``).
_Plan = tuple[Ann | None, GraphQLNamedType | None, tuple[bool, ...], bool]
#: The fields every selection may have.
_META_PLANS: dict[str, _Plan] = {
    "__typename": (_TYPENAME, None, (), True),
    "__schema": (_JSON, None, (), True),
    "__type": (_JSON, None, (), True),
}


class _Scope:
    """The fragments one document can spread, and the owner of each one's models."""

    def __init__(
        self,
        element: str,
        fragments: dict[str, _FragmentDef],
        owners: dict[str, Owner],
        interned: dict[tuple[tuple[str, int, Owner | None], ...], int],
    ) -> None:
        self.element = element  # the id of the element whose document this is
        self.fragments = fragments
        self.owners = owners
        #: What the fragments named (and those they spread) resolve to here, by names: the
        #: part of ``_Shaper.selection``'s memo key that the scope decides, as a number per
        #: distinct resolution (``interned`` is shared by the scopes of one emission).
        self.resolutions: dict[str | frozenset[str], int] = {}
        self.interned = interned

    def resolution(self, names: str | frozenset[str]) -> int:
        """What the fragments ``names`` (one name, or several) and those they spread
        (transitively) resolve to here, as a number equal for equal resolutions."""
        found = self.resolutions.get(names)
        if found is None:
            roots = (names,) if isinstance(names, str) else names
            closure = set(roots)
            for name in roots:
                closure |= _reachable(name, self.fragments)
            resolved = tuple(
                (name, id(self.fragments.get(name)), self.owners.get(name))
                for name in sorted(closure)
            )
            found = self.resolutions[names] = self.interned.setdefault(resolved, len(self.interned))
        return found


class _Shaper:
    """Shapes of the elements of one project, against its schema and scalar mapping."""

    def __init__(
        self,
        schema: GraphQLSchema,
        elements: Mapping[str, Element],
        memo: dict[str, _MemoEntry],
        refs: dict[str, frozenset[Owner]],
        candidates: Mapping[str, tuple[tuple[str, str], ...]],
    ) -> None:
        self.schema = schema
        self.elements = elements
        #: The project's fragments of each name: (element id, hash), sorted by id.
        self._candidates = candidates
        #: Fragment shapes this emission has taken from ``memo`` or computed, by owner key
        #: and line (what ``_memo_key`` tells apart, for one set of elements).
        self.current: dict[tuple[str, int], Shape] = {}
        #: Fragment shapes by owner and element (``_memo_key``), with the by-name lookups
        #: they depend on (kept by the emitter).
        self.memo = memo
        #: The owners each owner's models refer to (kept by the emitter).
        self.refs = refs
        #: Field types without a nested model, one object each.
        self.anns: dict[Ann, Ann] = {}
        #: Parsed definitions by text, for this emission (not kept: the shapes are).
        self.pieces: dict[str, _FragmentDef] = {}
        #: The fragment each selection set of a fragment in ``pieces`` belongs to (by id).
        self.set_fragment: dict[int, str] = {}
        #: Nested selections whose shape is another owner's (a fragment's model, reached
        #: again from another document): by their inputs (see ``selection``).
        self.reused: dict[tuple[Any, ...], tuple[Shape, list[Shape]]] = {}
        self.interned: dict[tuple[tuple[str, int, Owner | None], ...], int] = {}
        #: Per type and field name, how the field is annotated (``field_plan``).
        self.type_plans: dict[str, dict[str, _Plan]] = {}
        self._applies: dict[str, Callable[[str | None], bool]] = {}
        self._applies_all: dict[str, Callable[[str | None], bool]] = {}
        self._groupings: dict[
            tuple[str, tuple[str, ...]],
            list[tuple[GraphQLObjectType, tuple[bool, ...], Callable[[str | None], bool]]],
        ] = {}
        self.by_name: dict[str, list[str]] = {}
        #: The element that stands for equal fragments of one module (a marked string also
        #: passed to gql() is two elements): the first by id, as the module lists them.
        self.canonical: dict[str, str] = {}
        #: The owner of each element's models (``element_owner``).
        self.owners: dict[str, Owner] = {}
        first: dict[tuple[str, str, str], str] = {}
        for key in sorted(elements):
            element = elements[key]
            if element.kind == "fragment":
                self.by_name.setdefault(element.name, []).append(key)
                same = (element.module, element.name, element.hash)
                self.canonical[key] = first.setdefault(same, key)

    # -- owners and scopes

    def element_owner(self, element: Element) -> Owner:
        found = self.owners.get(element.id)
        if found is None:
            canonical = self.elements[self.canonical.get(element.id, element.id)]
            found = self.owners[element.id] = Owner(
                canonical.id,
                canonical.kind,
                canonical.name,
                canonical.id,
                canonical.module,
                canonical.line,
            )
        return found

    def definitions(self, document: str) -> tuple[_Definition, ...]:
        """The definitions of a composed document. A document is its definitions joined by
        blank lines, and fragments recur in many documents: each fragment is parsed once
        per emission (a split inside a string leaves a piece that does not parse: then the
        whole document is parsed, by graphql-core)."""
        pieces = document.split("\n\nfragment ")
        texts = [pieces[0], *("fragment " + piece for piece in pieces[1:])]
        found: list[_Definition] = []
        for text in texts:
            node: _Definition | None = self.pieces.get(text)
            if node is None:
                try:
                    node = _parse_definition(text)
                except _Unexpected:
                    return _converted(parse(document, no_location=True).definitions)
                if isinstance(node, _FragmentDef):  # operations do not recur
                    self.pieces[text] = node
                    _index_sets(node.selection_set, node.name, self.set_fragment)
            found.append(node)
        return tuple(found)

    def candidates(self, name: str) -> tuple[tuple[str, str], ...]:
        return self._candidates.get(name, ())

    def scope(
        self, element: Element, lookups: dict[str, tuple[tuple[str, str], ...]]
    ) -> tuple[_Definition, _Scope]:
        definitions = self.definitions(element.document)
        main = definitions[0]
        fragments = {
            d.name: d
            for d in definitions[1:]
            if isinstance(d, _FragmentDef)  # the main definition is not spread
        }
        by_id = {}
        for key in element.fragments:
            found = self.elements.get(key)
            if found is not None and found.kind == "fragment":
                by_id[found.name] = found
        owners: dict[str, Owner] = {}
        if isinstance(main, _FragmentDef):
            owners[main.name] = self.element_owner(element)
            fragments[main.name] = main
        for name in fragments:
            if name in owners:
                continue
            if name in by_id:
                owners[name] = self.element_owner(by_id[name])
                continue
            closure = self.closure(name, fragments)
            lookups[name] = self.candidates(name)
            match = next(
                (k for k in self.by_name.get(name, ()) if self.elements[k].document == closure),
                None,
            )
            if match is not None:
                owners[name] = self.element_owner(self.elements[match])
            else:
                digest = hashlib.sha256(closure.encode("utf-8", "surrogatepass")).hexdigest()
                owners[name] = Owner(f"copy:{name}:{digest[:16]}", "fragment", name)
        return main, _Scope(element.id, fragments, owners, self.interned)

    @staticmethod
    def closure(name: str, fragments: dict[str, _FragmentDef]) -> str:
        """The text of fragment ``name`` as an element of its own: it, then the fragments it
        spreads (transitively) sorted by name."""
        names = [name, *sorted(_reachable(name, fragments))]
        return "\n\n".join(fragments[n].text for n in names)

    # -- elements

    def item(self, element: Element, lookups: dict[str, tuple[tuple[str, str], ...]]) -> _Item:
        main, scope = self.scope(element, lookups)
        owner = self.element_owner(element)
        if isinstance(main, _FragmentDef):
            shape = self.fragment(scope, main.name)
            return _Item(owner, shape, element, None)
        root = self.schema.get_root_type(OperationType(main.operation))
        if root is None:
            raise _NotInSchema(f"no {main.operation} type")
        shape = self.selection(scope, owner, (), root, [(main.selection_set, False)], [], top=True)
        variables = tuple(
            VarSpec(name, self.input_ann(type_ref), type_ref[0] != "non_null" or default)
            for name, type_ref, default in main.variables
        )
        self.refs[owner.key] = self.referenced(owner, shape)
        return _Item(owner, shape, element, variables)

    def fragment(self, scope: _Scope, name: str) -> Shape:
        """The shape of fragment ``name`` (memoized: a project fragment's shape is computed
        from its own element, whoever spreads it); one object per owner in an emission."""
        owner = scope.owners[name]
        shape = self.current.get((owner.key, owner.line))
        if shape is None:
            element = self.elements.get(owner.element) if owner.element else None
            shape = self.remembered(owner, element)
            if shape is None:
                shape = self.make_fragment(scope, name, owner, element)
        return shape

    def remembered(self, owner: Owner, element: Element | None) -> Shape | None:
        """The memoized shape of ``owner``'s fragment, if it still holds: the by-name
        lookups it made find the same fragments, and every fragment shape it was made with
        is the one this emission has for that fragment (else it would mix two generations
        of a fragment's models: an earlier build's, which it extends, and a new one)."""
        entry = self.memo.get(_memo_key(owner, element))
        if entry is None or any(self.candidates(n) != c for n, c in entry.lookups.items()):
            return None
        for dependency, shape in entry.dependencies:
            if self.owner_shape(dependency) is not shape:
                return None
        self.current[(owner.key, owner.line)] = entry.shape
        self.refs[owner.key] = entry.refs
        return entry.shape

    def owner_shape(self, owner: Owner) -> Shape | None:
        """This emission's shape of ``owner``'s fragment, made if needed (None when the
        owner is gone, or is a spliced copy whose memoized shape no longer holds: only a
        document holding it can remake it)."""
        found = self.current.get((owner.key, owner.line))
        if found is not None:
            return found
        element = None
        if owner.element is not None:
            element = self.elements.get(owner.element)
            if element is None or self.element_owner(element) != owner:
                return None
        found = self.remembered(owner, element)
        if found is None and element is not None:
            _, scope = self.scope(element, {})
            if scope.owners.get(owner.name) != owner:
                return None
            found = self.make_fragment(scope, owner.name, owner, element)
        return found

    def make_fragment(
        self, scope: _Scope, name: str, owner: Owner, element: Element | None
    ) -> Shape:
        if element is not None and scope.element != element.id:
            _, scope = self.scope(element, {})
        definition = scope.fragments[name]
        condition = self.schema.get_type(definition.type_condition)
        if condition is None:
            raise _NotInSchema(definition.type_condition)
        shape = self.selection(
            scope, owner, (), condition, [(definition.selection_set, False)], [], top=True
        )
        names = _reachable(name, scope.fragments) | {name}
        refs = self.refs[owner.key] = self.referenced(owner, shape)
        self.current[(owner.key, owner.line)] = shape
        # the shapes of the fragments it refers to are this emission's (they were made or
        # taken before it, through ``fragment``)
        dependencies: list[tuple[Owner, Shape]] = []
        for ref in sorted(refs, key=lambda o: o.key):
            found = self.current.get((ref.key, ref.line))
            if found is None:
                return shape  # (never: not remembered, made again when asked)
            dependencies.append((ref, found))
        self.memo[_memo_key(owner, element)] = _MemoEntry(
            shape, {n: self.candidates(n) for n in sorted(names)}, tuple(dependencies), refs
        )
        return shape

    @staticmethod
    def referenced(owner: Owner, shape: Shape) -> frozenset[Owner]:
        """The other owners whose models ``owner``'s models use (bases, fields, members)."""
        found: set[Owner] = set()
        seen: set[int] = set()
        stack: list[Shape] = [shape]
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            if current.owner != owner:
                found.add(current.owner)
                continue
            if isinstance(current, UnionSpec):
                stack.extend(current.members.values())
                stack.append(current.other)
                continue
            stack.extend(current.bases)
            for spec in current.fields.values():
                inner = _shape_of(spec.ann)
                if inner is not None:
                    stack.append(inner)
        return frozenset(found)

    # -- selections

    def applies_to(self, target: GraphQLNamedType) -> Callable[[str | None], bool]:
        """Whether a type condition holds for objects of ``target`` (one function per type,
        remembering its answers)."""
        found = self._applies.get(target.name)
        if found is not None:
            return found
        schema = self.schema
        name = target.name
        is_object = isinstance(target, GraphQLObjectType)
        answers: dict[str, bool] = {}

        def applies(condition: str | None) -> bool:
            if condition is None or condition == name:
                return True
            answer = answers.get(condition)
            if answer is None:
                ctype = schema.get_type(condition)
                answer = answers[condition] = (
                    is_object
                    and isinstance(ctype, GraphQLInterfaceType | GraphQLUnionType)
                    and schema.is_sub_type(ctype, target)
                )
            return answer

        self._applies[name] = applies
        return applies

    def applies_to_all(self, abstract: GraphQLNamedType) -> Callable[[str | None], bool]:
        """Conditions true for every object of ``abstract``, also those of types added later."""
        found = self._applies_all.get(abstract.name)
        if found is None:
            names = {abstract.name}
            if isinstance(abstract, GraphQLInterfaceType):
                names.update(i.name for i in abstract.interfaces)
            found = self._applies_all[abstract.name] = lambda condition: (
                condition is None or condition in names
            )
        return found

    def conditions(self, scope: _Scope, selections: list[tuple[_Set, bool]]) -> tuple[str, ...]:
        """The type conditions of the inline fragments and fragments at this level."""
        found: dict[str, None] = {}
        seen: set[str] = set()
        stack = [selection_set for selection_set, _ in selections]
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, _Inline):
                    if selection.type_condition is not None:
                        found[selection.type_condition] = None
                    stack.append(selection.selection_set)
                elif isinstance(selection, _Spread):
                    definition = scope.fragments.get(selection.name)
                    if definition is not None and selection.name not in seen:
                        seen.add(selection.name)
                        found[definition.type_condition] = None
                        stack.append(definition.selection_set)
        return tuple(found)

    def collect(
        self,
        scope: _Scope,
        selections: list[tuple[_Set, bool]],
        applies: Callable[[str | None], bool],
    ) -> tuple[dict[str, _Occurrences], list[str]]:
        """The fields (response key -> occurrences, conditional or not) that apply, and the
        fragments spread unconditionally at this level."""
        fields: dict[str, _Occurrences] = {}
        spreads: list[str] = []
        for selection_set, conditional in selections:
            _walk(selection_set, conditional, True, fields, spreads, scope.fragments, applies)
        return fields, spreads

    def selection(
        self,
        scope: _Scope,
        owner: Owner,
        path: tuple[str, ...],
        parent: GraphQLNamedType,
        selections: list[tuple[_Set, bool]],
        inherited: list[Shape],
        top: bool = False,
    ) -> Shape:
        """The shape of ``selections`` on ``parent``.

        A nested selection made only of fragments' selection sets often is one of the
        fragments' own models (the selection adds nothing to what a base has): that result
        depends on the selection sets, the inherited shapes, the parent type and what the
        fragments resolve to in ``scope``, never on ``owner`` or ``path`` (they only name
        new models), so it is remembered by those and reused by every other document that
        reaches the same fragment selection."""
        key: tuple[Any, ...] | None = None
        if not top:
            set_fragment = self.set_fragment
            first: str | None = None
            several = False
            for selection_set, _ in selections:
                name = set_fragment.get(id(selection_set))
                if name is None:
                    break
                if first is None:
                    first = name
                elif name != first:
                    several = True
            else:
                if first is not None:
                    names: str | frozenset[str] = first
                    if several:
                        names = frozenset(set_fragment[id(s)] for s, _ in selections)
                    key = (
                        id(parent),
                        tuple([(id(s), c) for s, c in selections]),
                        tuple([id(s) for s in inherited]),
                        scope.resolution(names),
                    )
                    found = self.reused.get(key)
                    if found is not None:
                        return found[0]
        shape = self._selection(scope, owner, path, parent, selections, inherited, top)
        if key is not None and shape.owner != owner:
            self.reused[key] = (shape, inherited)
        return shape

    def _selection(
        self,
        scope: _Scope,
        owner: Owner,
        path: tuple[str, ...],
        parent: GraphQLNamedType,
        selections: list[tuple[_Set, bool]],
        inherited: list[Shape],
        top: bool,
    ) -> Shape:
        if not isinstance(parent, GraphQLInterfaceType | GraphQLUnionType):
            fields, spreads = self.collect(scope, selections, self.applies_to(parent))
            bases = self.pick(scope, spreads, inherited, parent.name)
            return self.klass(scope, owner, path, parent, fields, bases, top)
        base_fields, base_spreads = self.collect(scope, selections, self.applies_to_all(parent))
        signature = _signature(base_fields)
        # Types the type conditions treat alike get the same fields: collected once.
        conditions = self.conditions(scope, selections)
        groups: dict[tuple[bool, ...], tuple[dict[str, _Occurrences], list[str]] | None] = {}
        per_type: dict[str, tuple[GraphQLObjectType, dict[str, _Occurrences], list[str]]] = {}
        for possible, key, applies in self.grouping(parent, conditions):
            if key not in groups:
                fields, spreads = self.collect(scope, selections, applies)
                differs = _signature(fields) != signature
                groups[key] = (fields, spreads) if differs else None
            group = groups[key]
            if group is not None:
                per_type[possible.name] = (possible, *group)
        typename = next(
            (
                key
                for key, occurrences in base_fields.items()
                if occurrences[0][0].name == "__typename"
                and any(not conditional for _, conditional in occurrences)
            ),
            None,
        )
        if not per_type or typename is None:
            note = ""
            if per_type:
                listed = ", ".join(sorted(per_type))
                note = (
                    f"__typename is not selected here, so every {parent.name} parses as this"
                    f" model: select it to get a model per type ({listed})"
                )
            bases = self.pick(scope, base_spreads, inherited, None)
            return self.klass(
                scope, owner, path, parent, base_fields, bases, top, note, open_=bool(per_type)
            )
        members = {
            name: self.klass(
                scope,
                owner,
                (*path, name),
                possible,
                fields,
                self.pick(scope, spreads, inherited, name),
                False,
            )
            for name, (possible, fields, spreads) in per_type.items()
        }
        other = self.klass(
            scope,
            owner,
            (*path, "Other"),
            parent,
            base_fields,
            self.pick(scope, base_spreads, inherited, None),
            False,
            open_=True,
        )
        attrs = tuple(sorted({spec.fields[typename].attr for spec in (*members.values(), other)}))
        union = UnionSpec(owner, path, parent.name, members, other, typename, attrs)
        if not top:
            same = [
                base
                for base in inherited
                if isinstance(base, UnionSpec)
                and base.other is other
                and base.members == members
                and base.key == typename
            ]
            if same:
                return same[0]
        return union

    def grouping(
        self, parent: GraphQLInterfaceType | GraphQLUnionType, conditions: tuple[str, ...]
    ) -> list[tuple[GraphQLObjectType, tuple[bool, ...], Callable[[str | None], bool]]]:
        """The possible types of ``parent`` that ``conditions`` tell apart from the fallback
        (by name), each with what the conditions say of it."""
        if not conditions:
            return []
        found = self._groupings.get((parent.name, conditions))
        if found is None:
            fallback = self.applies_to_all(parent)
            base_key = tuple([fallback(c) for c in conditions])
            found = []
            for possible in sorted(self.schema.get_possible_types(parent), key=lambda t: t.name):
                applies = self.applies_to(possible)
                key = tuple([applies(c) for c in conditions])
                if key != base_key:
                    found.append((possible, key, applies))
            self._groupings[(parent.name, conditions)] = found
        return found

    def pick(
        self, scope: _Scope, spreads: list[str], inherited: list[Shape], type_name: str | None
    ) -> list[ClassSpec]:
        """The models a model for ``type_name`` (None: the fallback) extends: those of the
        fragments spread at its level and those its parent's bases have at its key."""
        shapes = [self.fragment(scope, name) for name in spreads] + inherited
        picked: list[ClassSpec] = []
        for shape in shapes:
            if isinstance(shape, UnionSpec):
                chosen = shape.members.get(type_name, shape.other) if type_name else shape.other
            else:
                chosen = shape
            if chosen not in picked:
                picked.append(chosen)
        return picked

    def klass(
        self,
        scope: _Scope,
        owner: Owner,
        path: tuple[str, ...],
        gtype: GraphQLNamedType,
        fields: dict[str, _Occurrences],
        bases: list[ClassSpec],
        top: bool,
        note: str = "",
        open_: bool = False,
    ) -> ClassSpec:
        if len(bases) > 1:
            bases = _feasible(
                [
                    b
                    for b in bases
                    if not any(b in other.ancestors for other in bases if other is not b)
                ]
            )
        if not bases:
            attrs: dict[str, str] = {}
        elif len(bases) == 1:  # (a model's attribute names are distinct: it is kept)
            attrs = {key: spec.attr for key, spec in bases[0].fields.items()}
        else:
            attrs, bases = _inherited_attrs(bases)
        new = [key for key in fields if key not in attrs]
        if new:
            used = set(attrs.values())
            # __typename first: it keeps its attribute name whatever the other keys are
            first = [key for key in new if fields[key][0][0].name == "__typename"]
            if first:
                new = first + [key for key in new if fields[key][0][0].name != "__typename"]
            for key in new:
                name = _pyname(key)
                while name in used:
                    name += "_"
                attrs[key] = name
                used.add(name)
        plans = self.type_plans.get(gtype.name)
        if plans is None:
            plans = self.type_plans[gtype.name] = dict(_META_PLANS)
        specs: dict[str, FieldSpec] = {}
        for key, occurrences in fields.items():
            if len(occurrences) == 1:
                node, default_none = occurrences[0]
            else:
                node = occurrences[0][0]
                default_none = all(conditional for _, conditional in occurrences)
            plan = plans.get(node.name)
            if plan is None:
                definition = getattr(gtype, "fields", {}).get(node.name)
                if definition is None:
                    raise _NotInSchema(f"{gtype.name}.{node.name}")
                plan = plans[node.name] = self.field_plan(definition.type)
            leaf, named, lists, nullable = plan
            if leaf is not None:
                ann = leaf
            else:
                assert named is not None
                # Inside the field, what its own conditions decide is given: a sub-field
                # is conditional when the field is there without it (the field also
                # comes from another, differently conditioned occurrence).
                relative = not default_none or len(occurrences) > 1
                nested = [
                    (n.selection_set, conditional and relative)
                    for n, conditional in occurrences
                    if n.selection_set is not None
                ]
                inherited = []
                for base in bases:
                    spec = base.fields.get(key)
                    if spec is not None:
                        inner = _shape_of(spec.ann)
                        if inner is not None:
                            inherited.append(inner)
                shape = self.selection(scope, owner, (*path, key), named, nested, inherited)
                ann = Ann("shape", named.name, nullable, None, shape)
                for list_nullable in lists:
                    ann = Ann("list", "", list_nullable, ann, None)
            specs[key] = FieldSpec(key, attrs[key], ann, default_none)
        if (
            not top
            and len(bases) == 1
            and not note
            and bases[0].open == open_
            and bases[0].fields == specs
        ):
            return bases[0]
        declared: list[tuple[FieldSpec, bool]] = []
        if not bases:
            declared = [(spec, False) for spec in specs.values()]
        elif len(bases) == 1:
            base_fields = bases[0].fields
            for key, spec in specs.items():
                mine = base_fields.get(key)
                if mine is None:
                    declared.append((spec, False))
                elif mine != spec:
                    declared.append((spec, not _compatible(spec.ann, mine.ann)))
        else:
            for key, spec in specs.items():
                found = [base.fields[key] for base in bases if key in base.fields]
                if found and all(b == spec for b in found):
                    continue
                narrows = any(not _compatible(spec.ann, b.ann) for b in found)
                declared.append((spec, narrows))
        ancestors = frozenset(bases).union(*(b.ancestors for b in bases)) if bases else _NONE
        return ClassSpec(
            owner, path, gtype.name, specs, tuple(bases), note, open_, ancestors, tuple(declared)
        )

    def field_plan(self, gtype: Any) -> _Plan:
        """A field type's annotation when it has no nested model; else (None and) its named
        type, the nullability of its list levels (innermost first) and of the named type."""
        nullable = True
        if isinstance(gtype, GraphQLNonNull):
            nullable, gtype = False, gtype.of_type
        if isinstance(gtype, GraphQLList):
            leaf, named, lists, inner_nullable = self.field_plan(gtype.of_type)
            if leaf is not None:
                ann = Ann("list", "", nullable, leaf)
                return self.anns.setdefault(ann, ann), None, (), True
            return None, named, (*lists, nullable), inner_nullable
        if isinstance(gtype, GraphQLScalarType):
            if gtype.name in BUILTIN_SCALARS:
                ann = Ann("py", BUILTIN_SCALARS[gtype.name], nullable)
            else:
                ann = Ann("scalar", gtype.name, nullable)
        elif isinstance(gtype, GraphQLEnumType):
            ann = Ann("enum", gtype.name, nullable)
        else:
            return None, gtype, (), nullable
        return self.anns.setdefault(ann, ann), None, (), True  # leaf types recur: one object

    def input_ann(self, type_ref: _TypeRef) -> InAnn:
        nullable = True
        if isinstance(type_ref, tuple) and type_ref[0] == "non_null":
            nullable, type_ref = False, type_ref[1]
        if isinstance(type_ref, tuple):
            return InAnn("list", nullable=nullable, inner=self.input_ann(type_ref[1]))
        return _named_input(self.schema.get_type(type_ref), type_ref, nullable)


def _named_input(gtype: Any, name: str, nullable: bool) -> InAnn:
    if name in BUILTIN_SCALARS:
        return InAnn("py", BUILTIN_SCALARS[name], nullable)
    if isinstance(gtype, GraphQLEnumType):
        return InAnn("enum", name, nullable)
    if isinstance(gtype, GraphQLInputObjectType):
        return InAnn("input", name, nullable)
    return InAnn("scalar", name, nullable)


def _input_ann(gtype: Any) -> InAnn:
    nullable = True
    if isinstance(gtype, GraphQLNonNull):
        nullable, gtype = False, gtype.of_type
    if isinstance(gtype, GraphQLList):
        return InAnn("list", nullable=nullable, inner=_input_ann(gtype.of_type))
    return _named_input(gtype, gtype.name, nullable)


def _memo_key(owner: Owner, element: Element | None) -> str:
    """The memo key of a fragment's shapes: everything they hold. The shapes keep their
    ``owner``, compared whole (``_walk_owned``, ``referenced``) and shown (its line in the
    docstring): a fragment that only moved (an edit above it) is an equal document under
    another owner, so the owner's line is part of the key (else the moved fragment's item
    would get the shapes of its old owner, whose nested models it would never name)."""
    if element is None:
        return owner.key
    fragments = "|".join(element.fragments)
    return f"{owner.key}\x00{owner.line}\x00{element.hash}\x00{fragments}"


def _reachable(name: str, fragments: Mapping[str, _FragmentDef]) -> set[str]:
    """The fragments ``name`` spreads, transitively (not itself)."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = fragments.get(stack.pop())
        if current is None:
            continue
        for spread in current.spreads:
            if spread not in seen and spread != name and spread in fragments:
                seen.add(spread)
                stack.append(spread)
    return seen


def _walk(
    selection_set: _Set,
    conditional: bool,
    direct: bool,
    fields: dict[str, _Occurrences],
    spreads: list[str],
    fragments: Mapping[str, _FragmentDef],
    applies: Callable[[str | None], bool],
) -> None:
    """``_Shaper.collect`` of one selection set (a function, not a closure: a recursive
    closure is a reference cycle, garbage only the cyclic GC frees)."""
    for selection in selection_set.selections:
        found = selection.cond
        if found is None:
            continue
        flag = conditional or found
        if isinstance(selection, _Field):
            occurrences = fields.get(selection.key)
            if occurrences is None:
                fields[selection.key] = [(selection, flag)]
            else:
                occurrences.append((selection, flag))
        elif isinstance(selection, _Inline):
            if applies(selection.type_condition):
                _walk(selection.selection_set, flag, direct, fields, spreads, fragments, applies)
        else:
            name = selection.name
            definition = fragments.get(name)
            if definition is None or not applies(definition.type_condition):
                continue
            if direct and not flag and name not in spreads:
                spreads.append(name)
            _walk(definition.selection_set, flag, False, fields, spreads, fragments, applies)


def _index_sets(selection_set: _Set | None, name: str, index: dict[int, str]) -> None:
    """Record every selection set below ``selection_set`` (included) as fragment ``name``'s."""
    if selection_set is None:
        return
    index[id(selection_set)] = name
    for selection in selection_set.selections:
        if not isinstance(selection, _Spread):
            _index_sets(selection.selection_set, name, index)


def _spreads(selection_set: _Set | None) -> Iterable[str]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, _Spread):
            yield selection.name
        else:
            yield from _spreads(selection.selection_set)


def _signature(fields: dict[str, _Occurrences]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple(
        (key, tuple(id(node) * 2 + conditional for node, conditional in occurrences))
        for key, occurrences in fields.items()
    )


def _shape_of(ann: Ann) -> Shape | None:
    while ann.inner is not None:
        ann = ann.inner
    return ann.shape


def _compatible(child: Ann, base: Ann) -> bool:
    """Whether mypy accepts ``child`` overriding ``base`` (models are subclasses by
    construction; lists are invariant)."""
    if child == base:
        return True
    if (child.nullable and not base.nullable) or child.kind != base.kind:
        return False
    if child.kind == "list":
        assert child.inner is not None and base.inner is not None
        return child.inner == base.inner
    return True


def _inherited_attrs(bases: list[ClassSpec]) -> tuple[dict[str, str], list[ClassSpec]]:
    """Attribute names fixed by the bases; a base that names a key differently than an
    earlier one (or one attribute for two keys) is not extended."""
    attrs: dict[str, str] = {}
    used: dict[str, str] = {}
    kept: list[ClassSpec] = []
    for base in bases:
        mine = {key: spec.attr for key, spec in base.fields.items()}
        if any(
            attrs.get(key, attr) != attr or used.get(attr, key) != key for key, attr in mine.items()
        ):
            continue
        kept.append(base)
        for key, attr in mine.items():
            attrs[key] = attr
            used[attr] = key
    return attrs, kept


def _mro(spec: ClassSpec, memo: dict[int, list[ClassSpec]]) -> list[ClassSpec] | None:
    found = memo.get(id(spec))
    if found is None:
        merged = _merge([[*m] for m in (_mro(b, memo) for b in spec.bases) if m is not None])
        if merged is None:
            return None
        found = memo[id(spec)] = [spec, *merged]
    return found


def _merge(sequences: list[list[ClassSpec]]) -> list[ClassSpec] | None:
    result: list[ClassSpec] = []
    sequences = [s for s in sequences if s]
    while sequences:
        for sequence in sequences:
            head = sequence[0]
            if not any(head in s[1:] for s in sequences):
                break
        else:
            return None
        result.append(head)
        sequences = [[c for c in s if c is not head] for s in sequences]
        sequences = [s for s in sequences if s]
    return result


def _feasible(bases: list[ClassSpec]) -> list[ClassSpec]:
    """The bases, less the last ones while Python could not order them (C3)."""
    memo: dict[int, list[ClassSpec]] = {}
    while len(bases) > 1:
        lines = [_mro(b, memo) for b in bases]
        if all(m is not None for m in lines) and (
            _merge([[*m] for m in lines if m is not None] + [list(bases)]) is not None
        ):
            break
        bases = bases[:-1]
    return bases


# -- names ----------------------------------------------------------------------------------


class _Registry:
    """Module-level names, unique, given in a deterministic order (``_2``, ``_3`` on clash)."""

    def __init__(self, reserved: Iterable[str]) -> None:
        self.taken = set(reserved)

    def claim(self, wanted: str) -> str:
        name = _identifier(wanted)
        candidate, n = name, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{name}_{n}"
        self.taken.add(candidate)
        return candidate


def _top_name(owner: Owner) -> str:
    name = owner.name or "Anonymous"
    return f"{name}Result" if owner.kind == "operation" else name


@dataclass(eq=False, slots=True)
class _ModuleShapes:
    module: str
    items: list[_Item]
    #: Spliced fragment names looked up among the project's fragments, and what was found.
    lookups: dict[str, tuple[tuple[str, str], ...]]
    #: Every owner the module's models reach (transitively), by key.
    reach: dict[str, Owner]
    #: The module of each of those owners (None: no element of the project).
    homes: dict[str, str | None]
    #: Shared schema types the module uses: ("enum" | "input" | "scalar", name).
    needs: frozenset[tuple[str, str]]


@dataclass(eq=False, slots=True)
class _Names:
    shapes: _ModuleShapes
    local: list[Owner]
    copies: frozenset[str]
    names: dict[tuple[str, tuple[str, ...]], str]
    variables: dict[str, str]
    taken: set[str]
    #: What other modules may import: (owner key, path) -> name, for own fragments.
    exports: dict[tuple[str, tuple[str, ...]], str]
    digest: str = ""
    #: Owners imported, by key -> their module; those modules, sorted.
    imports: dict[str, str] = field(default_factory=dict)
    import_homes: tuple[str, ...] = ()
    #: The modules of reached owners in this module's component when named.
    same: frozenset[str] = frozenset()
    #: ``_State.component_version`` when ``same`` was last checked.
    version: int = -1


def _walk_owned(owner: Owner, shape: Shape) -> list[Shape]:
    """``owner``'s shapes under ``shape``, parents first, in field order."""
    found: list[Shape] = []
    _visit_owned(owner, shape, found, set())
    return found


def _visit_owned(owner: Owner, current: Shape, found: list[Shape], seen: set[int]) -> None:
    if current.owner != owner or id(current) in seen:
        return
    seen.add(id(current))
    found.append(current)
    if isinstance(current, UnionSpec):
        for member in current.members.values():
            _visit_owned(owner, member, found, seen)
        _visit_owned(owner, current.other, found, seen)
        return
    for spec in current.fields.values():
        inner = _shape_of(spec.ann)
        if inner is not None:
            _visit_owned(owner, inner, found, seen)


def _name_module(
    shapes: _ModuleShapes, copies: list[tuple[Owner, Shape]], copy_keys: frozenset[str]
) -> _Names:
    registry = _Registry((SCHEMA_MODULE, "typing", "pydantic"))
    owned: list[tuple[Owner, Shape]] = [(item.owner, item.shape) for item in shapes.items]
    owned.extend(copies)
    names: dict[tuple[str, tuple[str, ...]], str] = {}
    # Fragments first: their models are named exactly as the fragments (reusable types);
    # operation results, variables and nested models are named after them.
    for owner, _ in sorted(owned, key=lambda pair: pair[0].kind != "fragment"):
        names[(owner.key, ())] = registry.claim(_top_name(owner))
    variables = {
        item.owner.key: registry.claim(f"{item.owner.name or 'Anonymous'}Variables")
        for item in shapes.items
        if item.variables is not None
    }
    for owner, shape in owned:
        top = names[(owner.key, ())]
        for current in _walk_owned(owner, shape):
            if current.path:
                names[(owner.key, current.path)] = registry.claim("_".join((top, *current.path)))
    own_fragments = {item.owner.key for item in shapes.items if item.owner.kind == "fragment"}
    exports = {k: v for k, v in names.items() if k[0] in own_fragments}
    names_obj = _Names(
        shapes,
        [owner for owner, _ in owned],
        copy_keys,
        names,
        variables,
        registry.taken,
        exports,
    )
    names_obj.imports = {
        key: home
        for key, home in shapes.homes.items()
        if key not in copy_keys and home is not None and home != shapes.module
    }
    names_obj.import_homes = tuple(sorted(set(names_obj.imports.values())))
    names_obj.digest = hashlib.sha256(
        json.dumps(sorted((k, list(p), v) for (k, p), v in exports.items())).encode()
    ).hexdigest()
    return names_obj


# -- rendering ------------------------------------------------------------------------------


def _literal(text: str) -> str:
    """A Python string literal of ``text`` (JSON's escapes are Python's; what
    ``json.dumps(text, ensure_ascii=False)`` writes)."""
    return _encode_string(text)


_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def _doc(text: str) -> str:
    """A docstring of ``text`` (which may hold a file path: anything)."""
    if re.search(r'["\\]|[^\x20-\x7e\u00a0-\uffff]', text):
        return _literal(text)
    return f'"""{text}"""'


def _tuple(items: Iterable[str]) -> str:
    texts = [_literal(item) for item in items]
    return f"({texts[0]},)" if len(texts) == 1 else f"({', '.join(texts)})"


def _document_literal(text: str, indent: str) -> str:
    lines = text.splitlines(keepends=True)
    if len(lines) <= 1:
        return _literal(text)
    inner = "".join([f"{indent}    {literal}\n" for literal in map(_encode_string, lines)])
    return f"(\n{inner}{indent})"


class _Renderer:
    """The text of one generated module."""

    def __init__(
        self,
        names: _Names,
        target: tuple[str, ...],
        homes: Mapping[str, tuple[tuple[str, ...], _Names]],
        schema_names: Mapping[str, str],
        enum_values: Mapping[str, tuple[str, ...]],
    ) -> None:
        self.names = names
        self.target = target
        #: owner key -> (target of its home module, that module's names).
        self.homes = homes
        self.schema_names = schema_names
        self.enum_values = enum_values
        self.local_keys = {owner.key for owner in names.local}
        self.registry = _Registry(names.taken)
        self.imports: dict[tuple[str, ...], dict[str, str]] = {}  # home -> remote -> local
        self.aliases: dict[tuple[str, tuple[str, ...]], str] = {}
        self.emitted: set[int] = set()
        self.blocks: list[str] = []

    def ref(self, shape: Shape) -> str:
        key = (shape.owner.key, shape.path)
        if shape.owner.key in self.local_keys:
            return self.names.names[key]
        found = self.aliases.get(key)
        if found is None:
            home_target, home_names = self.homes[shape.owner.key]
            remote = home_names.exports[key]
            found = self.registry.claim(remote) if remote in self.registry.taken else remote
            self.registry.taken.add(found)
            self.imports.setdefault(home_target, {})[remote] = found
            self.aliases[key] = found
        return found

    def schema_ref(self, name: str) -> str:
        return f"{SCHEMA_MODULE}.{self.schema_names[name]}"

    def ann(self, ann: Ann) -> str:
        if ann.kind == "list":
            assert ann.inner is not None
            text = f"list[{self.ann(ann.inner)}]"
        elif ann.kind == "shape":
            assert ann.shape is not None
            text = self.ref(ann.shape)
        elif ann.kind == "py":
            text = ann.name
        elif ann.kind == "json":
            text = "pydantic.JsonValue"
        else:
            text = self.schema_ref(ann.name)
        return f"{text} | None" if ann.nullable else text

    def in_ann(self, ann: InAnn) -> str:
        if ann.kind == "list":
            assert ann.inner is not None
            text = f"list[{self.in_ann(ann.inner)}]"
        elif ann.kind == "py":
            text = ann.name
        elif ann.kind == "enum":
            values = ", ".join(_literal(v) for v in self.enum_values.get(ann.name, ()))
            text = self.schema_ref(ann.name)
            if values:
                text = f"{text} | typing.Literal[{values}]"
        else:
            text = self.schema_ref(ann.name)
        return f"{text} | None" if ann.nullable else text

    def emit(self, shape: Shape) -> None:
        """``shape`` and, first, the local shapes it needs."""
        if shape.owner.key not in self.local_keys or id(shape) in self.emitted:
            return
        self.emitted.add(id(shape))
        if isinstance(shape, UnionSpec):
            for member in shape.members.values():
                self.emit(member)
            self.emit(shape.other)
            self.blocks.append(self.union(shape))
            return
        for base in shape.bases:
            self.emit(base)
        for spec in shape.fields.values():
            inner = _shape_of(spec.ann)
            if inner is not None:
                self.emit(inner)
        self.blocks.append(self.klass(shape))

    def union(self, shape: UnionSpec) -> str:
        name = self.ref(shape)
        parts = [
            f"    typing.Annotated[{self.ref(member)}, pydantic.Tag({_literal(type_name)})]"
            for type_name, member in shape.members.items()
        ]
        parts.append(
            f"    typing.Annotated[{self.ref(shape.other)}, pydantic.Tag({_literal(OTHER_TAG)})]"
        )
        union = "\n    | ".join(p.strip() for p in parts)
        pick = (
            f"{SCHEMA_MODULE}.by_typename({_literal(shape.key)}, {_tuple(shape.attrs)},"
            f" {_tuple(shape.members)})"
        )
        return (
            f"{name}: typing.TypeAlias = typing.Annotated[\n"
            f"    {union},\n"
            f"    {pick},\n"
            "]\n"
            f'"""{shape.type_name}: one model per type this selection tells apart, else'
            f' {self.ref(shape.other)}."""\n'
        )

    def klass(self, spec: ClassSpec) -> str:
        name = self.ref(spec)
        bases = ", ".join(self.ref(b) for b in spec.bases) or f"{SCHEMA_MODULE}.Model"
        lines: list[str] = []
        if spec.note:
            lines.append(f"# {spec.note}")
        lines.append(f"class {name}({bases}):")
        body: list[str] = []
        if not spec.path:
            body.append(f"    {_doc(self.describe(spec.owner, spec.type_name))}")
            element = self.element(spec.owner)
            if spec.owner.kind == "operation" and element is not None:
                body.append("")
                body.append(
                    "    DOCUMENT: typing.ClassVar[str] = "
                    + _document_literal(element.document, "    ")
                )
                body.append(f"    HASH: typing.ClassVar[str] = {_literal(element.hash)}")
                body.append(f"    NAME: typing.ClassVar[str] = {_literal(element.name)}")
            if spec.declared or spec.open:
                body.append("")
        if spec.open and not any(base.open for base in spec.bases):
            body.append('    model_config = pydantic.ConfigDict(extra="allow")')
        for field_spec, narrows in spec.declared:
            annotation = self.ann(field_spec.ann)
            if field_spec.default_none and not field_spec.ann.nullable:
                annotation += " | None"
            line = f"    {field_spec.attr}: {annotation}"
            alias = field_spec.attr != field_spec.key
            if alias:
                default = "None, " if field_spec.default_none else ""
                line += f" = pydantic.Field({default}alias={_literal(field_spec.key)})"
            elif field_spec.default_none:
                line += " = None"
            if narrows:
                line += "  # type: ignore[assignment]"
            body.append(line)
        if not body:
            body.append("    pass")
        return "\n".join(lines + body) + "\n"

    def element(self, owner: Owner) -> Element | None:
        for item in self.names.shapes.items:
            if item.owner.key == owner.key:
                return item.element
        return None

    def describe(self, owner: Owner, type_name: str) -> str:
        if owner.kind == "operation":
            element = self.element(owner)
            operation = element.operation if element is not None else "query"
            where = f" ({owner.module}, line {owner.line})" if owner.module else ""
            return f"Result of {operation} {owner.name}{where}."
        if owner.module and owner.key in {i.owner.key for i in self.names.shapes.items}:
            return f"Fragment {owner.name} on {type_name} ({owner.module}, line {owner.line})."
        return f"Fragment {owner.name} on {type_name} (as spliced into this module's documents)."

    def variables(self, item: _Item) -> str:
        assert item.variables is not None
        name = self.names.variables[item.owner.key]
        fields = []
        for var in item.variables:
            text = self.in_ann(var.ann)
            if var.optional:
                text = f"typing.NotRequired[{text}]"
            fields.append((var.name, text))
        doc = f'"""Variables of {item.owner.name}, by their wire names."""'
        if all(_IDENTIFIER.match(n) and not keyword.iskeyword(n) for n, _ in fields):
            body = "".join(f"    {n}: {t}\n" for n, t in fields)
            return f"class {name}(typing.TypedDict):\n    {doc}\n" + (f"\n{body}" if body else "")
        entries = "".join(f"        {_literal(n)}: {t},\n" for n, t in fields)
        return f'{name} = typing.TypedDict(\n    "{name}",\n    {{\n{entries}    }},\n)\n{doc}\n'

    def module(self) -> bytes:
        module_path = self.names.shapes.module
        for item in self.names.shapes.items:
            self.emit(item.shape)
        for item in self.names.shapes.items:
            if item.variables is not None:
                self.blocks.append(self.variables(item))
        dots = "." * len(self.target)
        head = [
            _doc(f"Typed results of {module_path} (generated by sodabuild; do not edit)."),
            "",
            _HEADER.rstrip("\n"),
            "",
            "import typing",
            "",
            "import pydantic",
            "",
            f"from {dots} import {SCHEMA_MODULE}",
        ]
        for home in sorted(self.imports):
            dotted = ".".join(home[:-1] if home[-1] == "__init__" else home)
            names = [
                remote if local == remote else f"{remote} as {local}"
                for remote, local in sorted(self.imports[home].items())
            ]
            line = f"from {dots}{dotted} import {', '.join(names)}"
            if len(line) > 100:
                listed = "".join(f"    {n},\n" for n in names)
                line = f"from {dots}{dotted} import (\n{listed})"
            head.append(line)
        text = "\n".join(head) + "\n\n\n" + "\n\n".join(self.blocks)
        return text.encode("utf-8", "backslashreplace")


# -- the shared schema module ---------------------------------------------------------------


def _schema_closure(
    schema: GraphQLSchema, needs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """``needs`` plus what their input types use."""
    found: set[tuple[str, str]] = set()
    stack = list(needs)
    while stack:
        need = stack.pop()
        if need in found:
            continue
        found.add(need)
        if need[0] != "input":
            continue
        gtype = schema.get_type(need[1])
        if isinstance(gtype, GraphQLInputObjectType):
            for input_field in gtype.fields.values():
                ann = _input_ann(input_field.type)
                while ann.inner is not None:
                    ann = ann.inner
                if ann.kind != "py":
                    stack.append((ann.kind, ann.name))
    return found


def _schema_names(
    needs: Iterable[tuple[str, str]], scalars: Mapping[str, ScalarMapping]
) -> dict[str, str]:
    """Name of each schema type in the shared module (clear of the helpers and modules)."""
    modules = {m.type.split(".")[0] for m in scalars.values() if "." in m.type}
    for mapping in scalars.values():
        for hook in (mapping.parse, mapping.serialize):
            if hook and "." in hook:
                modules.add(hook.split(".")[0])
    taken = set(_SCHEMA_HELPERS) | modules
    names: dict[str, str] = {}
    for _, name in sorted(needs, key=lambda n: n[1]):
        if name in names:
            continue
        candidate = _identifier(name)
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        names[name] = candidate
    return names


def _enum_member(value: str, used: set[str]) -> str:
    name = value
    if name.startswith("_"):
        name = "V" + name
    if keyword.iskeyword(name) or name in ("name", "value", "mro"):
        name += "_"
    while name in used:
        name += "_"
    used.add(name)
    return name


_SCHEMA_PRELUDE = '''

class Model(pydantic.BaseModel):
    """Base of the generated models: built on first use, fields by name or by alias."""

    model_config = pydantic.ConfigDict(
        defer_build=True, populate_by_name=True, protected_namespaces=()
    )


class OpenEnum(str, enum.Enum):
    """A schema enum that also accepts values added to the schema after this was generated:
    an unknown value is a member of its own (``Color("PURPLE").value == "PURPLE"``)."""

    @classmethod
    def _missing_(cls, value: object) -> typing.Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return cls._value2member_map_.setdefault(value, member)


def by_typename(
    key: str, attrs: tuple[str, ...], known: tuple[str, ...]
) -> pydantic.Discriminator:
    """Picks a union's model by ``__typename`` (``key`` in the data, one of ``attrs`` on a
    model); any other type name picks the fallback model."""
    names = frozenset(known)

    def pick(value: object) -> str:
        if isinstance(value, dict):
            name = value.get(key)
        else:
            name = next((getattr(value, a) for a in attrs if hasattr(value, a)), None)
        return name if isinstance(name, str) and name in names else "__other__"

    return pydantic.Discriminator(pick)
'''


def _render_schema(
    schema: GraphQLSchema,
    needs: set[tuple[str, str]],
    scalars: Mapping[str, ScalarMapping],
    names: Mapping[str, str],
) -> bytes:
    modules: set[str] = set()
    blocks: list[str] = []

    def module_of(path: str) -> None:
        if "." in path:
            modules.add(path.rsplit(".", 1)[0])

    def ref(ann: InAnn) -> str:
        if ann.kind == "list":
            assert ann.inner is not None
            text = f"list[{ref(ann.inner)}]"
        elif ann.kind == "py":
            text = ann.name
        elif ann.kind == "enum":
            gtype = schema.get_type(ann.name)
            values = list(gtype.values) if isinstance(gtype, GraphQLEnumType) else []
            text = names[ann.name]
            if values:
                text += f" | typing.Literal[{', '.join(_literal(v) for v in values)}]"
        else:
            text = names[ann.name]
        return f"{text} | None" if ann.nullable else text

    for kind, name in sorted(needs, key=lambda n: (n[1], n[0])):
        gtype = schema.get_type(name)
        local = names[name]
        if kind == "scalar":
            mapping = scalars.get(name)
            if mapping is None:
                blocks.append(
                    f"{local}: typing.TypeAlias = pydantic.JsonValue\n"
                    f'"""Scalar {name}: any JSON value (map it in [plugins.graphql.scalars])."""\n'
                )
                continue
            module_of(mapping.type)
            parts = [mapping.type]
            if mapping.parse:
                module_of(mapping.parse)
                parts.append(f"pydantic.PlainValidator({mapping.parse})")
            if mapping.serialize:
                module_of(mapping.serialize)
                parts.append(f"pydantic.PlainSerializer({mapping.serialize})")
            value = parts[0] if len(parts) == 1 else f"typing.Annotated[{', '.join(parts)}]"
            blocks.append(f'{local}: typing.TypeAlias = {value}\n"""Scalar {name}."""\n')
        elif kind == "enum" and isinstance(gtype, GraphQLEnumType):
            used: set[str] = set()
            members = "".join(
                f"    {_enum_member(v, used)} = {_literal(v)}\n" for v in gtype.values
            )
            blocks.append(f'class {local}(OpenEnum):\n    """Enum {name}."""\n\n{members}')
        elif kind == "input" and isinstance(gtype, GraphQLInputObjectType):
            entries = []
            for field_name, input_field in gtype.fields.items():
                text = ref(_input_ann(input_field.type))
                if not isinstance(input_field.type, GraphQLNonNull) or (
                    input_field.default_value is not None
                    and repr(input_field.default_value) != "Undefined"
                ):
                    text = f"typing.NotRequired[{text}]"
                entries.append((field_name, text))
            doc = f'"""Input {name}."""'
            if all(_IDENTIFIER.match(n) and not keyword.iskeyword(n) for n, _ in entries):
                body = "".join(f"    {n}: {t}\n" for n, t in entries)
                blocks.append(f"class {local}(typing.TypedDict):\n    {doc}\n\n{body}")
            else:
                body = "".join(f"        {_literal(n)}: {_literal(t)},\n" for n, t in entries)
                blocks.append(
                    f'{local} = typing.TypedDict(\n    "{local}",\n    {{\n{body}    }},\n)\n{doc}\n'
                )
    head = [
        '"""Schema types shared by the typed results (generated by sodabuild; do not edit)."""',
        "",
        _HEADER.rstrip("\n"),
        "",
        "from __future__ import annotations",
        "",
        "import enum",
        "import typing",
        "",
        "import pydantic",
    ]
    extra = sorted(m for m in modules if m not in ("enum", "typing", "pydantic"))
    if extra:
        head.append("")
        head.extend(f"import {m}" for m in extra)
    text = "\n".join(head) + "\n" + _SCHEMA_PRELUDE
    if blocks:
        text += "\n\n" + "\n\n".join(blocks)
    return text.encode("utf-8", "backslashreplace")


# -- module paths ---------------------------------------------------------------------------


def module_targets(modules: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The generated module (path parts, no suffix) of each source module: identifiers
    only, ``.py`` dropped, other suffixes joined with ``_``; a clash (with another module, a
    package or ``_schema``) gets ``_2``, ``_3`` in source path order."""
    split: dict[str, tuple[tuple[str, ...], str]] = {}
    for module in sorted(modules):
        parts = module.split("/")
        leaf = parts[-1]
        leaf = leaf[:-3] if leaf.endswith(".py") else leaf.replace(".", "_")
        dirs = tuple(_identifier(p) for p in parts[:-1])
        leaf = "__init__" if leaf == "__init__" else _identifier(leaf)
        if dirs and dirs[0] == SCHEMA_MODULE:
            dirs = (SCHEMA_MODULE + "_", *dirs[1:])
        split[module] = (dirs, leaf)
    packages = {dirs[:i] for dirs, _ in split.values() for i in range(1, len(dirs) + 1)}
    taken: set[tuple[str, ...]] = {(SCHEMA_MODULE,)}
    targets: dict[str, tuple[str, ...]] = {}
    for module, (dirs, leaf) in split.items():
        candidate, n = (*dirs, leaf), 1
        while candidate in taken or (leaf != "__init__" and candidate in packages):
            n += 1
            candidate = (*dirs, f"{leaf}_{n}")
        taken.add(candidate)
        targets[module] = candidate
    return targets


# -- the emitter ----------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _MemoEntry:
    """A fragment's shape as the emitter keeps it between emissions."""

    shape: Shape
    #: The fragments it and those it spreads looked up by name, and what they found.
    lookups: dict[str, tuple[tuple[str, str], ...]]
    #: The other fragments' shapes it was made with (their owners, and those shapes).
    dependencies: tuple[tuple[Owner, Shape], ...]
    #: The owners its models refer to (``_Shaper.referenced``).
    refs: frozenset[Owner]


@dataclass
class _State:
    """What the emitter keeps between emissions (for one schema and scalar mapping)."""

    context: tuple[str, str] | None = None
    shapes: dict[str, _ModuleShapes] = field(default_factory=dict)
    names: dict[str, _Names] = field(default_factory=dict)
    #: module -> (render key, bytes)
    texts: dict[str, tuple[tuple[Any, ...], bytes]] = field(default_factory=dict)
    #: the shared module: (its key, bytes, names of schema types, enum values)
    schema: tuple[Any, bytes, dict[str, str], dict[str, tuple[str, ...]]] | None = None
    memo: dict[str, _MemoEntry] = field(default_factory=dict)
    refs: dict[str, frozenset[Owner]] = field(default_factory=dict)
    #: ``memo`` entries after the last pruning (it is pruned when it grew by a quarter).
    memo_kept: int = 0
    #: The schema types each fragment shape uses (by id; the shape is kept to check it).
    shape_needs: dict[int, tuple[Shape, frozenset[tuple[str, str]]]] = field(default_factory=dict)
    #: The module set, and its generated module paths, package __init__ imports and
    #: package files.
    layout: (
        tuple[
            frozenset[str],
            dict[str, tuple[str, ...]],
            dict[str, set[str]],
            set[str],
        ]
        | None
    ) = None
    #: Strongly connected component of each module (see ``_files``), from ``edges``;
    #: ``component_version`` counts its recomputations.
    component: dict[str, int] | None = None
    edges: dict[str, set[str]] = field(default_factory=dict)
    component_version: int = 0
    #: The schema types the modules use.
    needs: frozenset[tuple[str, str]] | None = None


def _scalars(plugins: Mapping[str, Mapping[str, Any]]) -> dict[str, ScalarMapping]:
    from sodabuild.config.model import GraphQLPluginOptions

    options = GraphQLPluginOptions.model_validate(dict(plugins.get("graphql", {})))
    return dict(options.scalars)


class TypedModules:
    """The ``python_types`` output of one project: see the module docstring."""

    def __init__(self, output: Output) -> None:
        self.directory = output.path
        self.owned: str | None = f"{output.path}/*.py"
        self.state = _State()
        self._counts = (0, 0)

    def counts(self) -> tuple[int, int]:
        return self._counts

    def files(self, table: ElementTable, dirty: set[str]) -> dict[str, bytes]:
        if not table.modules:
            self.state, self._counts = _State(), (0, 0)
            return {}
        scalars = _scalars(table.plugins)
        context = (
            table.schema_hash,
            json.dumps({k: v.model_dump() for k, v in sorted(scalars.items())}, sort_keys=True),
        )
        if self.state.context != context:
            self.state = _State(context=context)
        cell: list[GraphQLSchema] = []

        def schema() -> GraphQLSchema:
            if not cell:
                found = table.schema()
                if found is None:
                    raise _NoSchema
                cell.append(found)
            return cell[0]

        try:
            # Under gc_paused: the emission makes no cyclic garbage (no recursive closures;
            # documents are read by our parser, not graphql-core's, whose tokens link to
            # each other), while its objects, kept from module to module, made the cyclic GC
            # traverse them again and again (half of the emission's time on a large project).
            with gc_paused():
                files = self._files(table, dirty, self.state, schema, scalars)
                # the objects it keeps would be traversed by the first collection after
                # (a quarter of a second on a large project), for no garbage
                freeze_more()
                return files
        except _NoSchema:
            self.state, self._counts = _State(), (0, 0)
            return {}

    def _files(
        self,
        table: ElementTable,
        dirty: set[str],
        state: _State,
        schema: Callable[[], GraphQLSchema],
        scalars: Mapping[str, ScalarMapping],
    ) -> dict[str, bytes]:
        """Every file; per module, only what changed is redone (an edit of one module on a
        large project costs that module, plus checks that are a dict lookup per module)."""
        elements = table.elements
        fragment_ids: dict[str, list[str]] = {}
        for key, element in elements.items():
            if element.kind == "fragment":
                fragment_ids.setdefault(element.name, []).append(key)
        candidates = {
            name: tuple((k, elements[k].hash) for k in sorted(ids))
            for name, ids in fragment_ids.items()
        }
        reshaped = False
        removed = [m for m in state.shapes if m not in table.modules]
        for module in removed:
            del state.shapes[module]
            state.names.pop(module, None)
            state.texts.pop(module, None)
            reshaped = True
        reshaped_modules: list[str] = []
        shaper: _Shaper | None = None
        for module, ids in table.modules.items():
            found = state.shapes.get(module)
            if (
                found is None
                or module in dirty
                or any(candidates.get(n, ()) != c for n, c in found.lookups.items())
            ):
                if shaper is None:
                    shaper = _Shaper(schema(), elements, state.memo, state.refs, candidates)
                state.shapes[module] = self._shape_module(shaper, module, ids, elements)
                reshaped_modules.append(module)
                reshaped = True
        module_set = frozenset(table.modules)
        relaid = state.layout is None or state.layout[0] != module_set
        if relaid:
            targets = module_targets(module_set)
            by_target = {target: module for module, target in targets.items()}
            inits = {
                module: {
                    init
                    for depth in range(len(target) - 1)
                    if (init := by_target.get((*target[:depth], "__init__"))) not in (None, module)
                }
                for module, target in targets.items()
            }
            packages = {t[:i] for t in targets.values() for i in range(len(t))}
            package_files = {
                f"{self.directory}/{'/'.join((*package, '__init__'))}.py" for package in packages
            }
            state.layout = (module_set, targets, inits, package_files)
            state.component = None
        assert state.layout is not None
        _, targets, inits, package_files = state.layout
        # Import cycles are broken by copying: a module defines the models of fragments
        # homed in its own strongly connected component (of what its models reach, and of
        # the package __init__ modules that importing it runs).
        # (the components change only when a module's edges do: an edit reshapes a module,
        # rarely its edges)
        if state.component is None:
            state.edges = {
                module: _edges(module, shapes, inits[module])
                for module, shapes in state.shapes.items()
            }
            state.component = _components(state.edges)
            state.component_version += 1
        elif reshaped:
            changed = bool(removed)
            for module in removed:
                state.edges.pop(module, None)
            for module in reshaped_modules:
                edges = _edges(module, state.shapes[module], inits[module])
                if state.edges.get(module) != edges:
                    state.edges[module] = edges
                    changed = True
            if changed:
                state.component = _components(state.edges)
                state.component_version += 1
        component = state.component
        version = state.component_version
        renamed: set[str] = set()
        for module, shapes in state.shapes.items():
            previous = state.names.get(module)
            if previous is not None and previous.shapes is shapes and previous.version == version:
                continue
            mine = component[module]
            same = frozenset(
                h for h in set(shapes.homes.values()) if h is not None and component[h] == mine
            )
            if previous is not None and previous.shapes is shapes and previous.same == same:
                previous.version = version
                continue
            frozen = self._copies(state, shapes, module, same)
            if previous is None or previous.shapes is not shapes or previous.copies != frozen:
                copies = [
                    (shapes.reach[key], self._top_shape(state, shapes.reach[key], elements))
                    for key in sorted(frozen, key=lambda k: (shapes.reach[k].name, k))
                ]
                previous = state.names[module] = _name_module(shapes, copies, frozen)
                renamed.add(module)
            previous.same = same
            previous.version = version
        if reshaped or state.needs is None:
            needs: set[tuple[str, str]] = set()
            for shapes in state.shapes.values():
                needs |= shapes.needs
            state.needs = frozenset(needs)
        schema_key = state.needs
        reschemed = state.schema is None or state.schema[0] != schema_key
        if reschemed:
            gschema = schema()
            closure = _schema_closure(gschema, schema_key)
            schema_names = _schema_names(closure, scalars)
            enum_values = {
                n: tuple(t.values)
                for _, n in closure
                if isinstance(t := gschema.get_type(n), GraphQLEnumType)
            }
            text = _render_schema(gschema, closure, scalars, schema_names)
            state.schema = (schema_key, text, schema_names, enum_values)
        assert state.schema is not None
        _, schema_text, schema_names, enum_values = state.schema
        files: dict[str, bytes] = {f"{self.directory}/{SCHEMA_MODULE}.py": schema_text}
        built = 0
        for module in sorted(state.names):
            names = state.names[module]
            cached = state.texts.get(module)
            if (
                cached is not None
                and not (relaid or reschemed)
                and cached[0][0] is names
                and renamed.isdisjoint(names.import_homes)
            ):
                # (the render key below would be equal: same names, layout and schema
                # types, and the modules it imports from were not named again)
                files[f"{self.directory}/{'/'.join(targets[module])}.py"] = cached[1]
                continue
            deps = tuple(
                (home, targets[home], state.names[home].digest) for home in names.import_homes
            )
            render_key = (names, targets[module], deps, schema_key)
            if cached is None or cached[0] != render_key:
                homes = {
                    key: (targets[home], state.names[home]) for key, home in names.imports.items()
                }
                renderer = _Renderer(names, targets[module], homes, schema_names, enum_values)
                cached = state.texts[module] = (render_key, renderer.module())
                built += 1
            files[f"{self.directory}/{'/'.join(targets[module])}.py"] = cached[1]
        for path in package_files:
            files.setdefault(path, _PACKAGE_INIT)
        if reshaped and len(state.memo) > state.memo_kept * 5 // 4 + 64:
            self._prune(state, elements)
        self._counts = (len(state.names) - built, built)
        return dict(sorted(files.items()))

    def _copies(
        self, state: _State, shapes: _ModuleShapes, module: str, same: frozenset[str]
    ) -> frozenset[str]:
        """The fragments whose models ``module`` defines though another module (or no
        element of the project) owns them."""
        own = {item.owner.key for item in shapes.items}
        copy_keys: set[str] = set()
        stack = [item.owner for item in shapes.items]
        while stack:
            for ref in sorted(state.refs.get(stack.pop().key, ()), key=lambda o: o.key):
                if ref.key in own or ref.key in copy_keys:
                    continue
                where = shapes.homes.get(ref.key)
                if where is None or where == module or where in same:
                    copy_keys.add(ref.key)
                    stack.append(ref)
        return frozenset(copy_keys)

    def _prune(self, state: _State, elements: Mapping[str, Element]) -> None:
        """Forget the fragment shapes no module reaches any more."""
        owners = [
            owner
            for shapes in state.shapes.values()
            for owner in (*shapes.reach.values(), *(item.owner for item in shapes.items))
        ]
        live = {self._memo_key(owner, elements) for owner in owners}
        state.memo = {k: v for k, v in state.memo.items() if k in live}
        shapes = {id(entry.shape) for entry in state.memo.values()}
        state.shape_needs = {k: v for k, v in state.shape_needs.items() if k in shapes}
        keys = {owner.key for owner in owners}
        state.refs = {k: v for k, v in state.refs.items() if k in keys}
        state.memo_kept = len(state.memo)

    @staticmethod
    def _memo_key(owner: Owner, elements: Mapping[str, Element]) -> str:
        return _memo_key(owner, elements.get(owner.element) if owner.element else None)

    def _top_shape(self, state: _State, owner: Owner, elements: Mapping[str, Element]) -> Shape:
        return state.memo[self._memo_key(owner, elements)].shape

    def _shape_module(
        self, shaper: _Shaper, module: str, ids: list[str], elements: Mapping[str, Element]
    ) -> _ModuleShapes:
        lookups: dict[str, tuple[tuple[str, str], ...]] = {}
        items: list[_Item] = []
        seen: set[tuple[str, str, str]] = set()
        for key in ids:
            element = elements[key]
            identity = (element.kind, element.name, element.hash)
            if identity in seen:
                continue
            seen.add(identity)
            try:
                items.append(shaper.item(element, lookups))
            except _NotInSchema:
                # failed validation (reported there): no models (a build with an invalid
                # element writes nothing; an emitter handed one must not fail on it)
                continue
        reach: dict[str, Owner] = {}
        stack = [item.owner for item in items]
        while stack:
            for found in shaper.refs.get(stack.pop().key, frozenset()):
                if found.key not in reach:
                    reach[found.key] = found
                    stack.append(found)
        for item in items:
            reach.pop(item.owner.key, None)
        needs: set[tuple[str, str]] = set()
        seen_shapes: set[int] = set()
        for item in items:
            # (the shapes of other owners are those of ``reach``: counted below, once per
            # fragment shape for all modules)
            _needs_of(item.shape, needs, seen_shapes, item.owner)
            for var in item.variables or ():
                ann = var.ann
                while ann.inner is not None:
                    ann = ann.inner
                if ann.kind != "py":
                    needs.add((ann.kind, ann.name))
        shape_needs = self.state.shape_needs
        for owner in reach.values():
            top = shaper.current.get((owner.key, owner.line))
            if top is None:
                top = self._top_shape(self.state, owner, elements)
            cached = shape_needs.get(id(top))
            if cached is None or cached[0] is not top:
                cached = shape_needs[id(top)] = (top, _all_needs(top))
            needs |= cached[1]
        homes = {
            key: elements[owner.element].module
            if owner.element is not None and owner.element in elements
            else None
            for key, owner in reach.items()
        }
        return _ModuleShapes(
            module, items, lookups, dict(sorted(reach.items())), homes, frozenset(needs)
        )


_PACKAGE_INIT = b'"""Typed results (generated by sodabuild; do not edit)."""\n'


class _NoSchema(Exception):
    pass


class _NotInSchema(Exception):
    """A definition selects what the schema lacks (validation reports it; its element never
    reaches the emitter in a build, and an emitter given one skips it)."""


def _needs_of(
    shape: Shape, needs: set[tuple[str, str]], seen: set[int], owner: Owner | None = None
) -> None:
    """The schema types ``shape`` uses (with ``owner``: in its shapes only)."""
    if id(shape) in seen or (owner is not None and shape.owner != owner):
        return
    seen.add(id(shape))
    if isinstance(shape, UnionSpec):
        for member in (*shape.members.values(), shape.other):
            _needs_of(member, needs, seen, owner)
        return
    for base in shape.bases:
        _needs_of(base, needs, seen, owner)
    for spec in shape.fields.values():
        ann = spec.ann
        while ann.inner is not None:
            ann = ann.inner
        if ann.kind in ("scalar", "enum"):
            needs.add((ann.kind, ann.name))
        elif ann.shape is not None:
            _needs_of(ann.shape, needs, seen, owner)


def _all_needs(shape: Shape) -> frozenset[tuple[str, str]]:
    needs: set[tuple[str, str]] = set()
    _needs_of(shape, needs, set())
    return frozenset(needs)


def _edges(module: str, shapes: _ModuleShapes, inits: set[str]) -> set[str]:
    """The modules importing ``module`` runs: its models' homes and package __init__s."""
    return {h for h in shapes.homes.values() if h is not None and h != module} | inits


def _components(edges: Mapping[str, set[str]]) -> dict[str, int]:
    """Strongly connected components (Tarjan, iterative): module -> component number."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in edges:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = index[node]
                    if member == node:
                        break
    return component
