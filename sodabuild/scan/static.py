"""Static strings: an expression IR the scanner records, and its evaluation to located text.

The Python scanner turns the argument of a ``gql()`` call (or a marked string, or a
module-level constant) into a small, picklable expression tree: literals, numbers, names
to look up in other modules, ``+``, implicit concatenation, ``%``, f-strings,
``str.format``, ``textwrap.dedent``, ``"".join([...])``, ``strip()``. Anything else is a
:class:`Dynamic` leaf that says which sub-expression is not static and why.

:func:`evaluate` computes the value, keeping for every character the file, line and column
it comes from (a tuple of :class:`Span`), so a GraphQL error inside a spliced piece is
reported in the file that holds the piece. Names are looked up through a callback (the
resolve stage follows imports and re-exports). Every value equals what Python itself
computes: formatting, dedenting and stripping are done by Python on the joined text, and
only the position map is computed here (a mismatch falls back to a coarser map, never to
different text).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from sodabuild.pickling import by_fields

# -- the IR -----------------------------------------------------------------------------


@by_fields
@dataclass(frozen=True, slots=True)
class Lit:
    """A string literal; ``line``/``column`` locate ``value[0]`` in the host file, and
    ``exact`` says whether the source spells the value character for character."""

    value: str
    line: int
    column: int
    exact: bool


@by_fields
@dataclass(frozen=True, slots=True)
class Scalar:
    """An int, float, bool or None literal (formatted into text by %, f-strings, format)."""

    value: int | float | bool | None
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Ref:
    """A module-level name (``("X",)``) or a module attribute (``("mod", "X")``) to look up
    in the module that holds the expression."""

    parts: tuple[str, ...]
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Embed:
    """A substitution ``${X}`` (or ``${mod.X}``) of a TypeScript/JavaScript tagged template:
    a name bound to a static string is spliced, as :class:`Ref` is; any other name adds
    nothing to the text: the scanner also passes it as a fragment argument (graphql-tag
    appends an interpolated document's definitions), and composition reports it if it is
    not a fragment."""

    parts: tuple[str, ...]
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Concat:
    """``a + b``, implicit concatenation, and an f-string's parts."""

    items: tuple[Expr, ...]


@by_fields
@dataclass(frozen=True, slots=True)
class Field:
    """A replacement field of an f-string: ``{value!conversion:spec}``."""

    value: Expr
    conversion: str  # "" | "s" | "r" | "a"
    spec: Expr | None
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Percent:
    """``fmt % args`` (args: a :class:`Seq` for a tuple display, a :class:`Mapping` for a
    dict display, else one value)."""

    fmt: Expr
    args: Expr
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Format:
    """``fmt.format(*args, **kwargs)``."""

    fmt: Expr
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Seq:
    """A tuple or list display."""

    items: tuple[Expr, ...]


@by_fields
@dataclass(frozen=True, slots=True)
class Mapping:
    """A dict display with string keys."""

    items: tuple[tuple[str, Expr], ...]


@by_fields
@dataclass(frozen=True, slots=True)
class Method:
    """``textwrap.dedent(value)`` (name "dedent") or ``value.strip()`` and its kin."""

    name: str  # "dedent" | "strip" | "lstrip" | "rstrip"
    value: Expr
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Join:
    """``sep.join([items])``."""

    sep: Expr
    items: tuple[Expr, ...]
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Choice:
    """A conditional between values (``X if c else Y``, ``c and X or Y``). The scanner
    expands the ones it can see into variants; one met during evaluation is not static."""

    options: tuple[Expr, ...]
    line: int
    column: int


@by_fields
@dataclass(frozen=True, slots=True)
class Dynamic:
    """A sub-expression whose value is known only at run time, and why."""

    reason: str
    line: int
    column: int


Expr = (
    Lit
    | Scalar
    | Ref
    | Embed
    | Concat
    | Field
    | Percent
    | Format
    | Seq
    | Mapping
    | Method
    | Join
    | Choice
) | Dynamic


def _children(node: Expr) -> list[Expr]:
    if isinstance(node, Concat | Seq):
        return list(node.items)
    if isinstance(node, Field):
        return [node.value] + ([node.spec] if node.spec is not None else [])
    if isinstance(node, Percent):
        return [node.fmt, node.args]
    if isinstance(node, Format):
        return [node.fmt, *node.args, *(value for _, value in node.kwargs)]
    if isinstance(node, Mapping):
        return [value for _, value in node.items]
    if isinstance(node, Method):
        return [node.value]
    if isinstance(node, Join):
        return [node.sep, *node.items]
    if isinstance(node, Choice):
        return list(node.options)
    return []


def choices_of(expr: Expr) -> list[Choice]:
    """The conditionals in ``expr``, outermost first, in source order."""
    found: list[Choice] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Choice):
            found.append(node)
        stack.extend(reversed(_children(node)))
    return found


def pick(expr: Expr, chosen: dict[int, int]) -> Expr:
    """``expr`` with each conditional (by ``id``) replaced by its chosen option."""
    if isinstance(expr, Choice):
        return pick(expr.options[chosen.get(id(expr), 0)], chosen)
    if isinstance(expr, Concat):
        return Concat(tuple(pick(item, chosen) for item in expr.items))
    if isinstance(expr, Seq):
        return Seq(tuple(pick(item, chosen) for item in expr.items))
    if isinstance(expr, Field):
        spec = pick(expr.spec, chosen) if expr.spec is not None else None
        return Field(pick(expr.value, chosen), expr.conversion, spec, expr.line, expr.column)
    if isinstance(expr, Percent):
        return Percent(pick(expr.fmt, chosen), pick(expr.args, chosen), expr.line, expr.column)
    if isinstance(expr, Format):
        return Format(
            pick(expr.fmt, chosen),
            tuple(pick(arg, chosen) for arg in expr.args),
            tuple((key, pick(value, chosen)) for key, value in expr.kwargs),
            expr.line,
            expr.column,
        )
    if isinstance(expr, Mapping):
        return Mapping(tuple((key, pick(value, chosen)) for key, value in expr.items))
    if isinstance(expr, Method):
        return Method(expr.name, pick(expr.value, chosen), expr.line, expr.column)
    if isinstance(expr, Join):
        return Join(
            pick(expr.sep, chosen),
            tuple(pick(item, chosen) for item in expr.items),
            expr.line,
            expr.column,
        )
    return expr


def variants(expr: Expr, limit: int) -> list[Expr] | None:
    """Every combination of the conditionals' options (None when more than ``limit``)."""
    choices = choices_of(expr)
    if not choices:
        return [expr]
    combos: list[dict[int, int]] = [{}]
    for choice in choices:
        combos = [
            {**combo, id(choice): index} for combo in combos for index in range(len(choice.options))
        ]
        if len(combos) > limit:
            return None
    found: list[Expr] = []
    seen: set[Expr] = set()
    for combo in combos:
        picked = pick(expr, combo)
        if picked not in seen:  # a nested conditional not taken gives the same variant
            seen.add(picked)
            found.append(picked)
    return found


# -- located text -----------------------------------------------------------------------


@by_fields
@dataclass(frozen=True, slots=True)
class Span:
    """A run of characters from one place: ``text[0]`` is at (line, column) of ``path``;
    when ``exact``, the following characters follow it in the file."""

    text: str
    path: str
    line: int
    column: int
    exact: bool

    def at(self, offset: int) -> tuple[int, int]:
        """Host (line, column) of ``text[offset]``."""
        if not self.exact or offset <= 0:
            return self.line, self.column
        before = self.text[:offset]
        newlines = before.count("\n")
        if not newlines:
            return self.line, self.column + offset
        return self.line + newlines, offset - before.rfind("\n")

    def cut(self, start: int, end: int) -> Span:
        line, column = self.at(start)
        return Span(self.text[start:end], self.path, line, column, self.exact)


Text = tuple[Span, ...]


def joined(text: Text) -> str:
    return "".join(span.text for span in text)


def slice_text(text: Text, start: int, end: int) -> Text:
    """The spans covering ``joined(text)[start:end]``."""
    out: list[Span] = []
    offset = 0
    for span in text:
        low, high = offset, offset + len(span.text)
        offset = high
        if high <= start or low >= end:
            continue
        out.append(span.cut(max(start - low, 0), min(end, high) - low))
    return tuple(out)


def locate(text: Text, offset: int) -> tuple[str, int, int] | None:
    """(path, line, column) of character ``offset`` of ``joined(text)``."""
    position = 0
    last: Span | None = None
    for span in text:
        if offset < position + len(span.text):
            return (span.path, *span.at(offset - position))
        position += len(span.text)
        last = span
    if last is None:
        return None
    return (last.path, *last.at(len(last.text)))


# -- evaluation -------------------------------------------------------------------------


class NotStatic(Exception):
    """The value depends on run time: ``reason`` at (path, line, column)."""

    def __init__(self, reason: str, path: str, line: int, column: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column


#: (module path, name parts, line, column) -> (path of the module that binds it, its IR).
Lookup = Callable[[str, tuple[str, ...], int, int], tuple[str, Expr]]

_Value = Text | int | float | bool | None | tuple[object, ...] | dict[str, object]


@by_fields
@dataclass(frozen=True, slots=True)
class _Seq:
    items: tuple[_Value, ...]


@by_fields
@dataclass(frozen=True, slots=True)
class _Map:
    items: tuple[tuple[str, _Value], ...]


def _plain(value: object) -> object:
    """The Python value of an evaluated value."""
    if _is_text(value):
        return joined(value)  # type: ignore[arg-type]
    if isinstance(value, _Seq):
        return tuple(_plain(item) for item in value.items)
    if isinstance(value, _Map):
        return {key: _plain(item) for key, item in value.items}
    return value


def _is_text(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(s, Span) for s in value)


class _Evaluator:
    def __init__(self, lookup: Lookup, max_length: int) -> None:
        self.lookup = lookup
        self.active: list[tuple[str, tuple[str, ...]]] = []
        self.max_length = max_length

    def text(self, expr: Expr, path: str, what: str = "a string") -> Text:
        value = self.value(expr, path)
        if not _is_text(value):
            line, column = _where(expr)
            raise NotStatic(
                f"{what} is expected here, but the value is {type(_plain(value)).__name__}",
                path,
                line,
                column,
            )
        return value  # type: ignore[return-value]

    def value(self, expr: Expr, path: str) -> object:
        if isinstance(expr, Lit):
            return (
                (Span(expr.value, path, expr.line, expr.column, expr.exact),) if expr.value else ()
            )
        if isinstance(expr, Scalar):
            return expr.value
        if isinstance(expr, Dynamic):
            raise NotStatic(expr.reason, path, expr.line, expr.column)
        if isinstance(expr, Ref | Embed):
            key = (path, expr.parts)
            if key in self.active:
                raise NotStatic(
                    f"'{'.'.join(expr.parts)}' is defined in terms of itself",
                    path,
                    expr.line,
                    expr.column,
                )
            try:
                found_path, found = self.lookup(path, expr.parts, expr.line, expr.column)
            except NotStatic:
                if isinstance(expr, Embed):
                    # not a string: a fragment passed by interpolation (no text of its
                    # own), or a name composition reports as a fragment argument
                    return ()
                raise
            self.active.append(key)
            try:
                return self.value(found, found_path)
            finally:
                self.active.pop()
        if isinstance(expr, Concat):
            parts: list[Span] = []
            for item in expr.items:
                parts.extend(self.text(item, path))
            self._check_length(parts, path, expr)
            return tuple(parts)
        if isinstance(expr, Seq):
            return _Seq(tuple(self.value(item, path) for item in expr.items))  # type: ignore[misc]
        if isinstance(expr, Mapping):
            return _Map(tuple((key, self.value(item, path)) for key, item in expr.items))  # type: ignore[misc]
        if isinstance(expr, Field):
            return self.field(expr, path)
        if isinstance(expr, Percent):
            return self.percent(expr, path)
        if isinstance(expr, Format):
            return self.format(expr, path)
        if isinstance(expr, Method):
            return self.method(expr, path)
        if isinstance(expr, Join):
            sep = self.text(expr.sep, path)
            parts = []
            for index, item in enumerate(expr.items):
                if index:
                    parts.extend(sep)
                parts.extend(self.text(item, path, "a string (join() takes strings)"))
            self._check_length(parts, path, expr)
            return tuple(parts)
        assert isinstance(expr, Choice)
        raise NotStatic(
            "picks between values at run time; a conditional is built as variants only "
            "where gql() is called or in names of that module",
            path,
            expr.line,
            expr.column,
        )

    def _check_length(self, parts: list[Span], path: str, expr: Expr) -> None:
        if sum(len(span.text) for span in parts) > self.max_length:
            line, column = _where(expr)
            raise NotStatic(
                f"the string grows beyond {self.max_length} characters", path, line, column
            )

    # -- formatting ---------------------------------------------------------------------

    def _formatted(
        self, value: object, conversion: str, spec: str, path: str, line: int, column: int
    ) -> Text:
        """``format(value!conversion, spec)``; plain text keeps its spans."""
        if _is_text(value) and conversion in ("", "s") and not spec:
            return value  # type: ignore[return-value]
        plain = _plain(value)
        if not isinstance(plain, str | int | float | bool | type(None)):
            raise NotStatic(f"cannot format a {type(plain).__name__} into text", path, line, column)
        if conversion == "r":
            plain = repr(plain)
        elif conversion == "a":
            plain = ascii(plain)
        elif conversion == "s":
            plain = str(plain)
        try:
            result = format(plain, spec)
        except (ValueError, TypeError) as exc:
            raise NotStatic(f"cannot format the value: {exc}", path, line, column) from None
        if _is_text(value) and value and conversion == "" and result == joined(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        return _derived(result, value, (path, line, column))

    def field(self, expr: Field, path: str) -> Text:
        value = self.value(expr.value, path)
        spec = joined(self.text(expr.spec, path)) if expr.spec is not None else ""
        return self._formatted(value, expr.conversion, spec, path, expr.line, expr.column)

    def percent(self, expr: Percent, path: str) -> Text:
        fmt = self.text(expr.fmt, path, "a format string")
        args = self.value(expr.args, path)
        fmt_plain = joined(fmt)
        plain_args = _plain(args)
        try:
            expected = fmt_plain % plain_args
        except (TypeError, ValueError, KeyError) as exc:
            raise NotStatic(f"% formatting fails: {exc}", path, expr.line, expr.column) from None
        positional = list(args.items) if isinstance(args, _Seq) else [args]
        mapping = dict(args.items) if isinstance(args, _Map) else None
        out: list[Span] = []
        last = 0
        index = 0
        for match in _PERCENT.finditer(fmt_plain):
            out.extend(slice_text(fmt, last, match.start()))
            last = match.end()
            key, flags, width, precision, kind = match.groups()
            if kind == "%":
                out.extend(slice_text(fmt, match.start(), match.start() + 1))
                continue
            value: object
            if key is not None and mapping is not None:
                value = mapping.get(key)
            elif key is None and mapping is None and index < len(positional):
                value = positional[index]
                index += 1
            else:
                return _coarse(expected, fmt, path, expr)
            if kind == "s" and _is_text(value) and not (flags or width or precision):
                out.extend(value)  # type: ignore[arg-type]
                continue
            try:
                piece = match.group() % (_plain(value),)
            except (TypeError, ValueError):
                return _coarse(expected, fmt, path, expr)
            out.extend(self._piece(piece, value, fmt, match.start(), path))
        out.extend(slice_text(fmt, last, len(fmt_plain)))
        result = tuple(span for span in out if span.text)
        self._check_length(list(result), path, expr)
        return result if joined(result) == expected else _coarse(expected, fmt, path, expr)

    def _piece(self, piece: str, value: object, fmt: Text, offset: int, path: str) -> Text:
        """Text formatted from ``value``, located at the value (or the placeholder)."""
        return _derived(piece, value, locate(fmt, offset) or (path, 1, 1))

    def format(self, expr: Format, path: str) -> Text:
        fmt = self.text(expr.fmt, path, "a format string")
        args = [self.value(arg, path) for arg in expr.args]
        kwargs = {key: self.value(value, path) for key, value in expr.kwargs}
        fmt_plain = joined(fmt)
        try:
            expected = fmt_plain.format(
                *(_plain(a) for a in args), **{k: _plain(v) for k, v in kwargs.items()}
            )
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise NotStatic(f"str.format() fails: {exc!s}", path, expr.line, expr.column) from None
        out: list[Span] = []
        auto = 0
        for kind, start, end, body in _format_parts(fmt_plain):
            if kind == "literal":
                out.extend(slice_text(fmt, start, end))
                continue
            if kind == "brace":
                out.extend(slice_text(fmt, start, start + 1))
                continue
            name, conversion, spec = body
            if name == "":
                if auto >= len(args):
                    return _coarse(expected, fmt, path, expr)
                value = args[auto]
                auto += 1
            elif name.isdigit() and int(name) < len(args):
                value = args[int(name)]
            elif name in kwargs:
                value = kwargs[name]
            else:
                return _coarse(expected, fmt, path, expr)
            if _is_text(value) and conversion in ("", "s") and not spec:
                out.extend(value)  # type: ignore[arg-type]
                continue
            try:
                template = (
                    "{"
                    + (f"!{conversion}" if conversion else "")
                    + (f":{spec}" if spec else "")
                    + "}"
                )
                piece = template.format(_plain(value))
            except (TypeError, ValueError, KeyError, IndexError):
                return _coarse(expected, fmt, path, expr)
            out.extend(self._piece(piece, value, fmt, start, path))
        result = tuple(span for span in out if span.text)
        self._check_length(list(result), path, expr)
        return result if joined(result) == expected else _coarse(expected, fmt, path, expr)

    def method(self, expr: Method, path: str) -> Text:
        value = self.text(expr.value, path)
        plain = joined(value)
        if expr.name == "strip":
            stripped = plain.strip()
            start = len(plain) - len(plain.lstrip())
            return slice_text(value, start, start + len(stripped))
        if expr.name == "lstrip":
            return slice_text(value, len(plain) - len(plain.lstrip()), len(plain))
        if expr.name == "rstrip":
            return slice_text(value, 0, len(plain.rstrip()))
        assert expr.name == "dedent"
        expected = textwrap.dedent(plain)
        # dedent only deletes characters (margins, whitespace-only lines): align greedily
        out: list[Span] = []
        at = 0
        for span in value:
            run_start: int | None = None
            for index, char in enumerate(span.text):
                if at < len(expected) and expected[at] == char:
                    if run_start is None:
                        run_start = index
                    at += 1
                elif run_start is not None:
                    out.append(span.cut(run_start, index))
                    run_start = None
            if run_start is not None:
                out.append(span.cut(run_start, len(span.text)))
        result = tuple(out)
        if joined(result) != expected:
            return _coarse(expected, value, path, expr)
        return result


def _derived(text: str, value: object, fallback: tuple[str, int, int]) -> Text:
    """``text`` computed from ``value`` (formatted), located at the value's first piece when
    it is text, else at ``fallback``; never exact (its characters are not the source's)."""
    if not text:
        return ()
    origin = value[0] if _is_text(value) and value else None  # type: ignore[index]
    if isinstance(origin, Span):
        return (Span(text, origin.path, origin.line, origin.column, False),)
    return (Span(text, *fallback, False),)


def _coarse(expected: str, near: Text, path: str, expr: Expr) -> Text:
    """The right text, located at its first piece only (when no finer map was found)."""
    if not expected:
        return ()
    first = near[0] if near else None
    if first is not None:
        return (Span(expected, first.path, first.line, first.column, False),)
    line, column = _where(expr)
    return (Span(expected, path, line, column, False),)


def _where(expr: Expr) -> tuple[int, int]:
    line = getattr(expr, "line", None)
    if line is not None:
        return line, expr.column  # type: ignore[union-attr]
    for child in _children(expr):
        return _where(child)
    return 1, 1


_PERCENT = re.compile(
    r"%(?:\(([^)]*)\))?([#0\- +]*)(\*|\d+)?(?:\.(\*|\d*))?[hlL]?([diouxXeEfFgGcrsa%])"
)


_FIELD = re.compile(r"([^!:]*)(?:!([^:]*))?(?::(.*))?\Z", re.S)


def _format_parts(fmt: str) -> list[tuple[str, int, int, tuple[str, str, str]]]:
    """``str.format`` template parts: ("literal", start, end), ("brace", start, end) for
    ``{{``/``}}``, ("field", start, end, (name, conversion, spec))."""
    parts: list[tuple[str, int, int, tuple[str, str, str]]] = []
    none = ("", "", "")
    index = 0
    literal = 0
    while index < len(fmt):
        char = fmt[index]
        if char in "{}" and fmt[index : index + 2] in ("{{", "}}"):
            if literal < index:
                parts.append(("literal", literal, index, none))
            parts.append(("brace", index, index + 2, none))
            index += 2
            literal = index
            continue
        if char == "{":
            depth = 1
            end = index + 1
            while end < len(fmt) and depth:
                depth += {"{": 1, "}": -1}.get(fmt[end], 0)
                end += 1
            found = _FIELD.match(fmt[index + 1 : end - 1])
            assert found is not None
            name, conversion, spec = found.group(1), found.group(2) or "", found.group(3) or ""
            if literal < index:
                parts.append(("literal", literal, index, none))
            parts.append(("field", index, end, (name, conversion, spec)))
            index = literal = end
            continue
        index += 1
    if literal < len(fmt):
        parts.append(("literal", literal, len(fmt), none))
    return parts


def evaluate(expr: Expr, path: str, lookup: Lookup, max_length: int = 1 << 22) -> Text:
    """The located text of ``expr`` (held by the module ``path``); raises NotStatic."""
    evaluator = _Evaluator(lookup, max_length)
    try:
        return evaluator.text(expr, path)
    except RecursionError:
        line, column = _where(expr)
        raise NotStatic("the expression nests too deeply to evaluate", path, line, column) from None


def local_lookup(path: str, parts: tuple[str, ...], line: int, column: int) -> tuple[str, Expr]:
    """A lookup that knows no other module (what the scanner can evaluate alone)."""
    raise NotStatic(f"'{'.'.join(parts)}' is defined elsewhere", path, line, column)
