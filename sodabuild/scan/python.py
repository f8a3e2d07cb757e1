"""The Python scanner: imports, module-level bindings, documents and constants of one file.

``scan_python`` is a pure function of (path, bytes, gql modules): no file system, no global
state, so its result can be cached per file fingerprint. It uses the stdlib ``ast``. Every
``gql()`` call, anywhere in the module, and every assignment marked ``# language=GraphQL``
is a :class:`GqlDefinition` whose document is static-string IR (``scan/static.py``, built
by ``scan/expressions.py``), one per variant of its conditionals; module-level names bound
once to string-like values are recorded as IR too, for other modules to splice. Positions
are characters, exact where the source spells a literal's value.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sodabuild.diagnostics import Diagnostic, Severity
from sodabuild.pickling import by_fields
from sodabuild.scan.expressions import (
    NESTED_SCOPES,
    IrBuilder,
    Scope,
    callee,
    class_scope,
    collect,
    function_scope,
    string_tokens,
)
from sodabuild.scan.static import (
    Concat,
    Dynamic,
    Expr,
    Field,
    Format,
    Lit,
    Method,
    NotStatic,
    Percent,
    Ref,
    evaluate,
    joined,
    local_lookup,
    variants,
)

#: Most variants built for one document (each conditional multiplies them).
MAX_VARIANTS = 16


@by_fields
@dataclass(frozen=True, slots=True)
class ImportBinding:
    """A module-level name bound by an import statement.

    ``from .a.b import C as D`` -> name "D", module "a.b", level 1, attr "C".
    ``import a.b as x`` -> name "x", module "a.b", attr None, binds_top False.
    ``import a.b`` -> name "a", module "a.b", attr None, binds_top True (binds package a).
    """

    name: str
    module: str
    level: int
    attr: str | None
    line: int
    column: int
    binds_top: bool = False
    #: ``module`` is a JavaScript module specifier (``"./a"``, ``"@/graphql/a"``,
    #: ``"pkg"``), resolved by the JS rules (``resolve.specifiers``), not a dotted name;
    #: ``attr`` "default" is a default import, None a namespace import.
    specifier: bool = False


@by_fields
@dataclass(frozen=True, slots=True)
class FragmentArg:
    """A fragment argument of gql(): a name or a dotted module attribute.

    ``embedded``: a ``${X}`` substitution of a TypeScript/JavaScript template rather than
    an argument; it is a fragment only when the name denotes a document (a name bound to a
    static string is spliced into the text instead, see ``scan.static.Embed``)."""

    parts: tuple[str, ...]
    line: int
    column: int
    embedded: bool = False

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@by_fields
@dataclass(frozen=True, slots=True)
class GqlDefinition:
    """A GraphQL document the scanner found: a ``gql()`` call anywhere in the module, a
    string marked ``# language=GraphQL``, or a definition of a ``.graphql`` file.

    ``name`` is its id in the module: the module-level name it is bound to
    (``X = gql(...)``), else ``<scope>.<label>`` (enclosing classes and functions, then the
    operation or fragment name, else the looked-up name, else the assigned name), with
    ``~2``, ``~3``... on a clash.
    ``expr`` is the document as static-string IR (``scan.static``); ``variant`` numbers
    the variants of one call's conditionals (0: no conditional), ``call`` the call.
    """

    name: str
    line: int
    column: int
    expr: Expr
    args: tuple[FragmentArg, ...]
    kind: str = "call"  # "call" | "marked" | "file"
    binding: str | None = None
    call: int = 0
    variant: int = 0


@by_fields
@dataclass(frozen=True, slots=True)
class ModuleScan:
    """What the scanner found in one module."""

    path: str
    imports: tuple[ImportBinding, ...] = ()
    star_imports: tuple[ImportBinding, ...] = ()
    definitions: tuple[GqlDefinition, ...] = ()
    #: Module-level names bound by something other than an import or a gql() definition.
    other_names: frozenset[str] = frozenset()
    diagnostics: tuple[Diagnostic, ...] = ()
    parsed: bool = True
    #: Module-level names (and ``Class.attr``) bound once to a string-like expression.
    constants: dict[str, Expr] = field(default_factory=dict, compare=False, repr=False)
    _by_name: dict[str, ImportBinding | GqlDefinition] = field(
        default_factory=dict, compare=False, repr=False
    )
    _by_id: dict[str, GqlDefinition] = field(default_factory=dict, compare=False, repr=False)

    def bound_names(self) -> frozenset[str]:
        """Every module-level name bound in the module."""
        return frozenset(self._by_name) | self.other_names

    def binding(self, name: str) -> ImportBinding | GqlDefinition | None:
        """What a module-level name is bound to (the last binding wins, as in Python)."""
        return self._by_name.get(name)

    def definition(self, name: str) -> GqlDefinition | None:
        """The definition whose id in the module is ``name``."""
        if not self._by_id and self.definitions:
            self._by_id.update((d.name, d) for d in self.definitions)
        return self._by_id.get(name)


def _stored_names(node: ast.AST) -> list[str]:
    """Names bound or deleted by ``node`` in its own scope (nested scopes are skipped)."""
    names: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store | ast.Del):
            names.append(current.id)
        elif isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(current.name)
            continue
        elif isinstance(current, ast.alias):
            names.append((current.asname or current.name).split(".")[0])
        elif isinstance(current, ast.MatchAs | ast.MatchStar) and current.name:
            names.append(current.name)
        elif isinstance(current, ast.MatchMapping) and current.rest:
            names.append(current.rest)
        if current is not node and isinstance(current, NESTED_SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(current))
    return names


def _char_column(line_text: bytes, byte_offset: int) -> int:
    """1-based character column of a UTF-8 byte offset (ast offsets are in bytes)."""
    return len(line_text[:byte_offset].decode("utf-8", errors="replace")) + 1


_LEAD_BYTE = re.compile(rb"[\xc0-\xff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BYTE_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class _ByteColumns:
    """Byte offset -> 0-based character offset within lines of UTF-8 bytes, in O(log n)
    per query: ASCII lines map one to one; other lines keep the offsets of their multi-byte
    characters (computed once per line). A file with one huge line stays linear."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.tables: dict[int, tuple[list[int], list[int]]] = {}

    def offset(self, index: int, byte_offset: int) -> int:
        table = self.tables.get(index)
        if table is None:
            line = self.lines[index]
            starts: list[int] = []
            extra: list[int] = []
            total = 0
            for match in _LEAD_BYTE.finditer(line):
                lead = line[match.start()]
                total += 3 if lead >= 0xF0 else 2 if lead >= 0xE0 else 1
                starts.append(match.start())
                extra.append(total)
            table = self.tables[index] = (starts, extra)
        starts, extra = table
        if not starts:  # ASCII
            return byte_offset
        before = bisect.bisect_left(starts, byte_offset)
        return byte_offset - (extra[before - 1] if before else 0)


class _Scanner:
    def __init__(self, path: str, data: bytes, gql_modules: tuple[str, ...]) -> None:
        self.path = path
        # Python accepts a UTF-8 BOM; editors count columns after it
        self.data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        self.lines = _BYTE_LINE_BREAK.split(self.data)
        self.columns = _ByteColumns(self.lines)
        #: The decoded text, its line starts (as ``ast`` counts lines) and their bytes: made
        #: once per file, so locating each string costs no re-split of the file.
        self.text = ""
        self.text_starts: list[int] = [0]
        self.text_columns = _ByteColumns([])
        self.gql_modules = gql_modules
        self.diagnostics: list[Diagnostic] = []
        self.imports: list[ImportBinding] = []
        self.star_imports: list[ImportBinding] = []
        self.definitions: list[GqlDefinition] = []
        self.other: set[str] = set()
        self.by_name: dict[str, ImportBinding | GqlDefinition] = {}
        #: Callee spellings that mean the gql function, e.g. ("gql",), ("sg", "gql").
        self.gql_callees: set[tuple[str, ...]] = set()
        self.dedent_callees: set[tuple[str, ...]] = set()
        self.calls = 0
        self.ids: set[str] = set()
        #: Names of module-level ``X = gql(...)`` bindings, each kept for its first call.
        self.reserved: set[str] = set()
        self.marked_lines: set[int] = set()
        self.comment_lines: set[int] = set()
        self.walrus = True
        self.interesting: list[int] = []

    def column(self, line: int, byte_offset: int) -> int:
        if 0 < line <= len(self.lines):
            return self.columns.offset(line - 1, byte_offset) + 1
        return byte_offset + 1

    def index_text(self, text: str) -> None:
        self.text = text
        starts = [0]
        lines: list[bytes] = []
        for match in _LINE_BREAK.finditer(text):
            lines.append(text[starts[-1] : match.start()].encode("utf-8", "surrogatepass"))
            starts.append(match.end())
        lines.append(text[starts[-1] :].encode("utf-8", "surrogatepass"))
        self.text_starts = starts
        self.text_columns = _ByteColumns(lines)

    def source_segment(self, node: ast.AST) -> str | None:
        """``ast.get_source_segment(text, node)`` without re-splitting the file per call."""
        try:
            line, end_line = node.lineno - 1, node.end_lineno  # type: ignore[attr-defined]
            column, end_column = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        except AttributeError:
            return None
        if end_line is None or end_column is None:
            return None
        end_line -= 1
        if not (0 <= line <= end_line < len(self.text_starts)):
            return None
        start = self.text_starts[line] + self.text_columns.offset(line, column)
        end = self.text_starts[end_line] + self.text_columns.offset(end_line, end_column)
        return self.text[start:end]

    def at(self, node: ast.AST) -> tuple[int, int]:
        line = getattr(node, "lineno", 1)
        return line, self.column(line, getattr(node, "col_offset", 0))

    def diag(
        self,
        code: str,
        message: str,
        node: ast.AST,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        line, column = self.at(node)
        self.diagnostics.append(Diagnostic(code, message, self.path, line, column, hint, severity))

    # -- bindings -------------------------------------------------------------------------

    def top_level(self, body: list[ast.stmt]) -> list[ast.stmt]:
        """Module-level statements, including those in module-level if/try/with blocks."""
        statements: list[ast.stmt] = []
        for statement in body:
            statements.append(statement)
            if isinstance(statement, ast.If):
                statements.extend(self.top_level(statement.body + statement.orelse))
            elif isinstance(statement, ast.Try):
                blocks = statement.body + statement.orelse + statement.finalbody
                for handler in statement.handlers:
                    blocks += handler.body
                statements.extend(self.top_level(blocks))
            elif isinstance(statement, ast.With):
                statements.extend(self.top_level(statement.body))
        return statements

    def note_callees(self, statement: ast.Import | ast.ImportFrom) -> None:
        """The spellings of the gql function and of ``textwrap.dedent`` an import makes."""
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                parts = (alias.asname,) if alias.asname else tuple(alias.name.split("."))
                if alias.name in self.gql_modules:
                    self.gql_callees.add((*parts, "gql"))
                if alias.name == "textwrap":
                    self.dedent_callees.add((*parts, "dedent"))
            return
        module = statement.module or ""
        if statement.level:
            return
        for alias in statement.names:
            name = alias.asname or alias.name
            if alias.name == "gql" and module in self.gql_modules:
                self.gql_callees.add((name,))
            if f"{module}.{alias.name}" in self.gql_modules:
                self.gql_callees.add((name, "gql"))
            if module == "textwrap" and alias.name == "dedent":
                self.dedent_callees.add((name,))

    def record_import(self, statement: ast.Import | ast.ImportFrom) -> None:
        line, column = self.at(statement)
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    binding = ImportBinding(alias.asname, alias.name, 0, None, line, column)
                else:
                    top = alias.name.split(".")[0]
                    binding = ImportBinding(top, alias.name, 0, None, line, column, True)
                self.imports.append(binding)
                self.by_name[binding.name] = binding
            return
        module = statement.module or ""
        for alias in statement.names:
            binding = ImportBinding(
                alias.asname or alias.name, module, statement.level, alias.name, line, column
            )
            if alias.name == "*":
                self.star_imports.append(binding)
                continue
            self.imports.append(binding)
            self.by_name[binding.name] = binding

    def record_other(self, statement: ast.stmt) -> None:
        """Forget every module-level name the statement (re)binds or deletes.

        Bodies of module-level if/try/with are visited on their own (see top_level), so only
        the parts of those statements outside their bodies are walked here.
        """
        nodes: list[ast.AST]
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.forget(statement.name)
            return
        if isinstance(statement, ast.If):
            nodes = [statement.test]
        elif isinstance(statement, ast.With):
            nodes = [item.optional_vars or item.context_expr for item in statement.items]
        elif isinstance(statement, ast.Try):
            nodes = []
            for handler in statement.handlers:
                if handler.name:
                    self.forget(handler.name)
        else:
            nodes = [statement]
        for node in nodes:
            for name in _stored_names(node):
                self.forget(name)

    def forget(self, name: str) -> None:
        self.other.add(name)
        self.by_name.pop(name, None)

    # -- gql calls ------------------------------------------------------------------------

    def is_gql_call(self, node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and bool(self.gql_callees)
            and callee(node.func) in self.gql_callees
        )

    # -- strings ----------------------------------------------------------------------

    def offset_position(self, node: ast.AST, segment: str, offset: int) -> tuple[int, int]:
        """Host (line, column) of character ``offset`` of ``node``'s source segment."""
        line, column = self.at(node)
        newlines = segment.count("\n", 0, offset)
        if not newlines:
            return line, column + offset
        return line + newlines, offset - segment.rfind("\n", 0, offset)

    def literal_at(self, text: str, value: str, line: int, column: int) -> Lit:
        """The IR of one string token ``text`` (prefix and quotes included) at (line,
        column): exact when its body spells ``value`` character for character."""
        prefix_length = 0
        while prefix_length < len(text) and text[prefix_length] in "rRuUbB":
            prefix_length += 1
        rest = text[prefix_length:]
        for quote in ('"""', "'''", '"', "'"):
            if rest.startswith(quote) and rest.endswith(quote) and len(rest) >= 2 * len(quote):
                body = rest[len(quote) : len(rest) - len(quote)]
                # CRLF files: the value has "\n" where the source has "\r\n"; lines and
                # columns still correspond one to one
                exact = body == value or body.replace("\r\n", "\n") == value
                return Lit(value, line, column + prefix_length + len(quote), exact)
        return Lit(value, line, column, False)

    def literal(self, node: ast.Constant) -> Expr:
        value = node.value
        assert isinstance(value, str)
        line, column = self.at(node)
        segment = self.source_segment(node)
        if segment is None:
            return Lit(value, line, column, False)
        single = self.literal_at(segment, value, line, column)
        if single.exact:
            return single
        tokens = string_tokens(segment)  # implicit concatenation: locate each part
        if tokens is None or len(tokens) < 2:
            return single
        parts: list[Lit] = []
        for line_offset, column_offset, token in tokens:
            try:
                part = ast.literal_eval(token)
            except (ValueError, SyntaxError):
                return single
            if not isinstance(part, str):
                return single
            at_line = line + line_offset
            at_column = column + column_offset if not line_offset else column_offset + 1
            parts.append(self.literal_at(token, part, at_line, at_column))
        if "".join(p.value for p in parts) != value:
            return single
        return Concat(tuple(parts))

    def fstring(self, node: ast.JoinedStr, build: Callable[[ast.expr], Expr]) -> Expr:
        """An f-string: literal runs located in the source, fields built by ``build``."""
        line, column = self.at(node)
        segment = self.source_segment(node)
        located = _fstring_runs(segment) if segment is not None else None
        items: list[Expr] = []
        runs = iter(located or ())
        for value in node.values:
            run = next(runs, None) if located is not None else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                if run is not None and run[0] == "literal" and segment is not None:
                    at_line, at_column = self.offset_position(node, segment, run[1])
                    raw = segment[run[1] : run[2]]
                    items.append(Lit(value.value, at_line, at_column, raw == value.value))
                else:
                    located = None
                    items.append(Lit(value.value, line, column, False))
            elif isinstance(value, ast.FormattedValue):
                if run is not None and run[0] == "field" and segment is not None:
                    at_line, at_column = self.offset_position(node, segment, run[1])
                else:
                    located = None
                    at_line, at_column = line, column
                spec: Expr | None = None
                if isinstance(value.format_spec, ast.JoinedStr):
                    spec = _loose_fstring(value.format_spec, build, at_line, at_column)
                conversion = chr(value.conversion) if value.conversion > 0 else ""
                items.append(Field(build(value.value), conversion, spec, at_line, at_column))
        return Concat(tuple(items))

    # -- definitions ----------------------------------------------------------------------

    def fragment_args(self, call: ast.Call) -> tuple[FragmentArg, ...] | None:
        """The fragment arguments of a gql() call (None after reporting a bad one)."""
        if call.keywords:
            self.diag(
                "GQL_ARG_INVALID",
                "gql() takes no keyword arguments",
                call.keywords[0],
                hint='pass fragments positionally: gql("...", FragmentA, FragmentB)',
            )
            return None
        args: list[FragmentArg] = []
        ok = True
        for arg in call.args[1:]:
            parts = callee(arg)
            if parts is None or isinstance(arg, ast.Starred):
                self.diag(
                    "GQL_ARG_INVALID",
                    "a fragment argument of gql() must be a name or module.name",
                    arg,
                    hint="bind the fragment to a module-level name and pass that name",
                )
                ok = False
                continue
            line, column = self.at(arg)
            args.append(FragmentArg(parts, line, column))
        return tuple(args) if ok else None

    def add_definitions(
        self,
        node: ast.AST,
        value: ast.expr,
        scope: Scope,
        target: str | None,
        binding: bool,
        kind: str,
        args: tuple[FragmentArg, ...],
        builder: IrBuilder,
    ) -> list[GqlDefinition]:
        """One definition per variant of ``value`` (the document expression)."""
        self.calls += 1
        expr = builder.build(value, scope)
        found = variants(expr, MAX_VARIANTS)
        if found is None:
            line, column = self.at(value)
            found = [
                Dynamic(
                    f"the document has more than {MAX_VARIANTS} variants "
                    "(conditionals multiply them)",
                    line,
                    column,
                )
            ]
        line, column = self.at(node)
        made: list[GqlDefinition] = []
        for index, variant in enumerate(found):
            if binding and target is not None and len(found) == 1 and target in self.reserved:
                # a module-level `X = gql(...)` keeps the id X, whatever comes before it
                self.reserved.discard(target)
                self.ids.add(target)
                name = target
            else:
                if binding and target is not None and len(found) == 1:
                    name = target
                else:
                    # a looked-up constant's name says more than a local `query = ...`
                    label = _label(variant, self.path) or _ref_label(variant) or target or "gql"
                    name = ".".join([*scope.qualname, label])
                name = self.unique(name)
            made.append(
                GqlDefinition(
                    name,
                    line,
                    column,
                    variant,
                    args,
                    kind,
                    target if binding else None,
                    self.calls,
                    index + 1 if len(found) > 1 else 0,
                )
            )
        self.definitions.extend(made)
        return made

    def unique(self, name: str) -> str:
        """``name``, or ``name~2``... if taken (or kept for a module-level binding)."""
        return unique_id(name, self.ids, self.reserved)

    def interesting_lines(self) -> list[int]:
        """Sorted lines that may hold a gql() call (its callee name followed by a
        parenthesis) or a marked statement: the definition walk skips everything else."""
        lines: set[int] = set()
        names = {spelling[-1] for spelling in self.gql_callees}
        if names:
            pattern = r"(?<![\w])(?:" + "|".join(sorted(map(re.escape, names))) + r")\s*\("
            starts = self.text_starts  # as ast counts lines
            for match in re.finditer(pattern, self.text):
                lines.add(bisect.bisect_right(starts, match.start()))
        for line in self.marked_lines:
            lines.update((line, line + 1))
        return sorted(lines)

    def marked(self, statement: ast.stmt) -> bool:
        if not self.marked_lines:
            return False
        first = statement.lineno
        last = statement.end_lineno or first
        return (
            first in self.marked_lines
            or last in self.marked_lines
            or (first - 1 in self.marked_lines and first - 1 in self.comment_lines)
        )

    def find_definitions(
        self, tree: ast.Module, module: Scope, builder: IrBuilder
    ) -> dict[int, GqlDefinition]:
        """Every gql() call and marked string of the module, in source order; the
        definition made for each module-level ``X = gql(...)`` call, by call node id."""
        bound: dict[int, GqlDefinition] = {}
        handled: set[int] = set()
        stack: list[tuple[ast.AST, Scope]] = [(tree, module)]
        interesting = self.interesting
        while stack:
            node, scope = stack.pop()
            first = getattr(node, "lineno", None)
            if first is not None:  # skip what spans no gql() call and no mark
                at = bisect.bisect_left(interesting, first)
                if at == len(interesting) or interesting[at] > (node.end_lineno or first):  # type: ignore[attr-defined]
                    continue
            inner = scope
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                for part in [*getattr(node, "decorator_list", ()), *node.args.defaults]:
                    stack.append((part, scope))
                inner = function_scope(node, scope, self.walrus)
                body: list[ast.AST] = (
                    list(node.body) if isinstance(node.body, list) else [node.body]
                )
                stack.extend((child, inner) for child in reversed(body))
                continue
            if isinstance(node, ast.ClassDef):
                inner = class_scope(node, scope, self.walrus)
                if scope.kind == "module":
                    builder.classes.setdefault(node.name, inner)
                children = [*node.decorator_list, *node.bases, *node.keywords]
                stack.extend((child, inner) for child in reversed(node.body))
                stack.extend((child, scope) for child in reversed(children))
                continue
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                target = targets[-1] if targets else None
                name = (
                    target.id
                    if isinstance(target, ast.Name)
                    else target.attr
                    if isinstance(target, ast.Attribute)
                    else None
                )
                value = node.value
                binding = (
                    scope.kind == "module" and len(targets) == 1 and isinstance(target, ast.Name)
                )
                if self.is_gql_call(value):
                    assert isinstance(value, ast.Call)
                    handled.add(id(value))
                    made = self.call_definitions(node, value, scope, name, binding, builder)
                    if made and binding:
                        bound[id(value)] = made[0]
                    stack.extend(_compound_args(value, inner))
                    continue
                elif self.marked(node) and name is not None:
                    self.add_definitions(
                        targets[0] if binding else node,
                        value,
                        scope,
                        name,
                        binding,
                        "marked",
                        (),
                        builder,
                    )
            elif isinstance(node, ast.Call) and id(node) not in handled and self.is_gql_call(node):
                handled.add(id(node))
                self.call_definitions(node, node, scope, None, False, builder)
                stack.extend(_compound_args(node, inner))
                continue
            stack.extend((child, inner) for child in reversed(list(ast.iter_child_nodes(node))))
        return bound

    def call_definitions(
        self,
        node: ast.AST,
        call: ast.Call,
        scope: Scope,
        target: str | None,
        binding: bool,
        builder: IrBuilder,
    ) -> list[GqlDefinition]:
        if not call.args:
            self.diag("GQL_NON_LITERAL", "gql() needs a GraphQL string as first argument", call)
            return []
        args = self.fragment_args(call)
        if args is None:
            return []
        where = node.targets[0] if isinstance(node, ast.Assign) and binding else node
        if isinstance(node, ast.AnnAssign) and binding:
            where = node.target
        if not binding and node is not call:
            where = call
        return self.add_definitions(
            where, call.args[0], scope, target, binding, "call", args, builder
        )

    def constants(self, module: Scope, builder: IrBuilder) -> dict[str, Expr]:
        """Module-level names (and module-level classes' attributes) bound once to a
        string-like expression, as IR (what other modules may splice)."""
        found: dict[str, Expr] = {}
        classes = [(f"{name}.", builder.class_of(name)) for name in builder.class_nodes]
        for prefix, scope in [("", module), *classes]:
            for name, bindings in scope.bindings.items():
                value = bindings[0].value
                if bindings[0].in_loop:
                    continue
                if len(bindings) == 1 and value is not None and _string_like(value):
                    if self.is_gql_call(value):
                        continue
                    found[prefix + name] = builder.build(value, scope)
        return found

    def scan(self) -> ModuleScan:
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = self.data.count(b"\n", 0, exc.start) + 1
            line_start = self.data.rfind(b"\n", 0, exc.start) + 1
            column = _char_column(self.data[line_start:], exc.start - line_start)
            self.diagnostics.append(
                Diagnostic(
                    "PY_DECODE",
                    f"not valid UTF-8: {exc.reason}",
                    self.path,
                    line,
                    column,
                    hint="save the file as UTF-8",
                )
            )
            return ModuleScan(self.path, diagnostics=tuple(self.diagnostics), parsed=False)
        self.index_text(text)
        try:
            tree = ast.parse(text, filename=self.path)
        except (RecursionError, MemoryError):
            # CPython's parser gives up on very deep nesting without a position.
            line, column = _deepest_bracket(text)
            self.diagnostics.append(
                Diagnostic(
                    "PY_SYNTAX",
                    "invalid Python: the code is nested too deeply for the Python parser",
                    self.path,
                    line,
                    column,
                    hint="split the expression; the module's definitions are skipped until then",
                )
            )
            return ModuleScan(self.path, diagnostics=tuple(self.diagnostics), parsed=False)
        except ValueError as exc:  # Python 3.11: "source code string cannot contain null bytes"
            nul = text.find("\x00")
            line = text.count("\n", 0, max(nul, 0)) + 1
            column = max(nul, 0) - text.rfind("\n", 0, max(nul, 0))
            self.diagnostics.append(
                Diagnostic(
                    "PY_SYNTAX",
                    f"invalid Python: {exc}",
                    self.path,
                    line,
                    column,
                    hint="remove the NUL byte; the module's definitions are skipped until then",
                )
            )
            return ModuleScan(self.path, diagnostics=tuple(self.diagnostics), parsed=False)
        except SyntaxError as exc:
            line = exc.lineno or 1
            offset = exc.offset or 1
            nul = text.find("\x00") if "null bytes" in str(exc.msg) else -1
            if nul >= 0:  # CPython reports NUL bytes at 1:1
                line = text.count("\n", 0, nul) + 1
                offset = nul - text.rfind("\n", 0, nul)
            self.diagnostics.append(
                Diagnostic(
                    "PY_SYNTAX",
                    f"invalid Python: {exc.msg}",
                    self.path,
                    line,
                    offset,
                    hint="fix the syntax error; the module's definitions are skipped until then",
                )
            )
            return ModuleScan(self.path, diagnostics=tuple(self.diagnostics), parsed=False)

        top = self.top_level(tree.body)
        # imports inside functions and blocks count too (walked only when the text has one)
        nested = _INDENTED_IMPORT.search(self.text) is not None
        for statement in _all_statements(tree.body) if nested else top:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                self.note_callees(statement)
        self.walrus = ":=" in self.text
        module = Scope("module", "", tree, None)
        collect(module, tree.body, walrus=self.walrus)
        self.marked_lines, self.comment_lines = _marked_lines(self.text)
        self.interesting = self.interesting_lines()
        imported = {
            (alias.asname or alias.name).split(".")[0]
            for statement in top
            if isinstance(statement, ast.Import | ast.ImportFrom)
            for alias in statement.names
        }
        builder = IrBuilder(
            module,
            self.at,
            self.source_segment,
            self.literal,
            self.fstring,
            self.dedent_callees,
            imported=imported - {"*"},
            star=any(
                alias.name == "*"
                for statement in top
                if isinstance(statement, ast.ImportFrom)
                for alias in statement.names
            ),
            # ClassName.X reads, also in functions above the class (analysed on first use)
            class_nodes={s.name: s for s in top if isinstance(s, ast.ClassDef)},
            walrus=self.walrus,
        )
        for statement in top:
            if isinstance(statement, ast.Assign | ast.AnnAssign):
                assigned = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                if (
                    len(assigned) == 1
                    and isinstance(assigned[0], ast.Name)
                    and statement.value is not None
                    and self.is_gql_call(statement.value)
                ):
                    self.reserved.add(assigned[0].id)
        bound = self.find_definitions(tree, module, builder) if self.interesting else {}

        for statement in top:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                self.record_import(statement)
                continue
            value = getattr(statement, "value", None)
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                targets = [statement.target]
            if (
                len(targets) == 1
                and isinstance(targets[0], ast.Name)
                and value is not None
                and self.is_gql_call(value)
            ):
                found = bound.get(id(value))
                if found is not None:
                    self.by_name[targets[0].id] = found
                    self.other.discard(targets[0].id)
                else:
                    self.forget(targets[0].id)
                continue
            self.record_other(statement)

        definitions = tuple(self.definitions)
        return ModuleScan(
            self.path,
            imports=tuple(self.imports),
            star_imports=tuple(self.star_imports),
            definitions=definitions,
            other_names=frozenset(self.other),
            diagnostics=tuple(self.diagnostics),
            constants=self.constants(module, builder),
            _by_name=dict(self.by_name),
            _by_id={d.name: d for d in definitions},
        )


def _compound_args(call: ast.Call, scope: Scope) -> list[tuple[ast.AST, Scope]]:
    """The arguments of a handled gql() call that may hold another call (literals and
    names, nearly all of them, are not walked again)."""
    parts = [*call.args, *(keyword.value for keyword in call.keywords)]
    return [
        (part, scope) for part in reversed(parts) if not isinstance(part, ast.Constant | ast.Name)
    ]


def unique_id(name: str, taken: set[str], reserved: Collection[str] = ()) -> str:
    """``name``, or ``name~2``, ``name~3``... (the first not in ``taken`` or ``reserved``),
    added to ``taken``: how definition ids of one file are kept unique."""
    found = name
    number = 2
    while found in taken or found in reserved:
        found = f"{name}~{number}"
        number += 1
    taken.add(found)
    return found


def _all_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Every statement, in every block (bodies of functions, classes, if, try...)."""
    found: list[ast.stmt] = []
    stack = list(reversed(body))
    while stack:
        statement = stack.pop()
        found.append(statement)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(statement, name, None)
            if isinstance(block, list):
                stack.extend(reversed(block))
        for handler in getattr(statement, "handlers", ()):
            stack.extend(reversed(handler.body))
        for case in getattr(statement, "cases", ()):
            stack.extend(reversed(case.body))
    return found


def _deepest_bracket(text: str) -> tuple[int, int]:
    """(line, column) of the first bracket at the deepest nesting level (a rough scan that
    ignores strings and comments: only used to locate a "nested too deeply" error)."""
    depth = best = 0
    where = 0
    for match in re.finditer(r"[(\[{]|[)\]}]", text):
        if match.group() in "([{":
            depth += 1
            if depth > best:
                best, where = depth, match.start()
        elif depth:
            depth -= 1
    line = text.count("\n", 0, where) + 1
    return line, where - text.rfind("\n", 0, where)


_INDENTED_IMPORT = re.compile(r"^[ \t]+(?:import|from)\b", re.MULTILINE)
_MARK = re.compile(r"#\s*language\s*[=:]\s*graphql\b", re.IGNORECASE)
_MARK_BYTES = re.compile(rb"language\s*[=:]\s*graphql", re.IGNORECASE)
_OPERATION = re.compile(
    r"(?:[\s,\ufeff]|#[^\n]*)*(?:(?:query|mutation|subscription)\s+|fragment\s+)([_A-Za-z]\w*)"
)
_STRING_METHODS = ("format", "join", "strip", "lstrip", "rstrip", "dedent")
_STRING_LIKE = (
    ast.Constant,
    ast.JoinedStr,
    ast.BinOp,
    ast.Name,
    ast.Attribute,
    ast.IfExp,
    ast.BoolOp,
)


def _string_like(node: ast.expr) -> bool:
    """Whether a module-level value may be a static string (worth recording as IR)."""
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, str | int | float | bool)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            return func.attr in _STRING_METHODS
        return isinstance(func, ast.Name) and func.id == "dedent"
    return isinstance(node, _STRING_LIKE)


def _marked_lines(text: str) -> tuple[set[int], set[int]]:
    """Lines holding a ``# language=GraphQL`` comment, and which of them hold only it."""
    marked: set[int] = set()
    comment_only: set[int] = set()
    if "anguage" not in text and "ANGUAGE" not in text:
        return marked, comment_only
    for match in _MARK.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        line = text.count("\n", 0, match.start()) + 1
        marked.add(line)
        if not text[line_start : match.start()].strip():
            comment_only.add(line)
    return marked, comment_only


def _label(expr: Expr, path: str) -> str | None:
    """The operation or fragment name the document starts with, if this module alone
    spells it."""
    try:
        text = joined(evaluate(expr, path, local_lookup, max_length=1 << 20))
    except NotStatic:
        first: Expr | None = expr
        while first is not None and not isinstance(first, Lit):
            if isinstance(first, Concat):
                first = first.items[0] if first.items else None
            elif isinstance(first, Percent | Format):
                first = first.fmt
            elif isinstance(first, Method):
                first = first.value
            else:
                first = None
        text = first.value if first is not None else ""
    match = _OPERATION.match(text)
    return match.group(1) if match else None


def _ref_label(expr: Expr) -> str | None:
    """The last name of the document when it is one looked-up name (``gql(QUERY)``)."""
    return expr.parts[-1] if isinstance(expr, Ref) else None


_QUOTES = ('"""', "'''", '"', "'")


def _fstring_runs(segment: str) -> list[tuple[str, int, int]] | None:
    """An f-string token's literal runs and fields: (kind, start, end) offsets into
    ``segment`` (None when it is not one plain f-string token)."""
    prefix = 0
    while prefix < len(segment) and segment[prefix] in "fFrR":
        prefix += 1
    if "f" not in segment[:prefix].lower():
        return None
    tokens = string_tokens(segment)
    if tokens is None or len(tokens) != 1:
        return None  # implicitly concatenated with other strings: located coarsely
    rest = segment[prefix:]
    quote = next((q for q in _QUOTES if rest.startswith(q)), None)
    if quote is None or not rest.endswith(quote) or len(rest) < 2 * len(quote):
        return None
    start = prefix + len(quote)
    end = len(segment) - len(quote)
    runs: list[tuple[str, int, int]] = []
    index = literal = start
    while index < end:
        char = segment[index]
        if char in "{}" and segment[index : index + 2] in ("{{", "}}"):
            index += 2
            continue
        if char == "{":
            if literal < index:
                runs.append(("literal", literal, index))
            depth = 1
            cursor = index + 1
            in_string: str | None = None
            while cursor < end and depth:
                current = segment[cursor]
                if in_string is not None:
                    if current == in_string:
                        in_string = None
                elif current in "'\"":
                    in_string = current
                elif current in "{[(":
                    depth += 1
                elif current in "}])":
                    depth -= 1
                cursor += 1
            if depth:
                return None
            runs.append(("field", index, cursor))
            index = literal = cursor
            continue
        index += 1
    if literal < end:
        runs.append(("literal", literal, end))
    return runs


def _loose_fstring(
    node: ast.JoinedStr, build: Callable[[ast.expr], Expr], line: int, column: int
) -> Expr:
    """A format spec (an f-string inside a field), located at its field."""
    items: list[Expr] = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            items.append(Lit(value.value, line, column, False))
        elif isinstance(value, ast.FormattedValue):
            conversion = chr(value.conversion) if value.conversion > 0 else ""
            spec = (
                _loose_fstring(value.format_spec, build, line, column)
                if isinstance(value.format_spec, ast.JoinedStr)
                else None
            )
            items.append(Field(build(value.value), conversion, spec, line, column))
    return Concat(tuple(items))


def prefilter(data: bytes, marker: bytes) -> bool:
    """Cheap byte test: can this file hold a gql() call or a marked string at all?"""
    return marker in data or (b"anguage" in data and _MARK_BYTES.search(data) is not None)


def scan_python(path: str, data: bytes, gql_modules: tuple[str, ...]) -> ModuleScan:
    """Scan one Python file. ``path`` is only used to locate diagnostics."""
    return _Scanner(path, data, gql_modules).scan()
