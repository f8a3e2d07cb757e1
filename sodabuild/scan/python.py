"""The Python scanner: module-level bindings, imports and ``gql()`` definitions of one file.

``scan_python`` is a pure function of (path, bytes, gql modules): no file system, no global
state, so its result can be cached per file fingerprint. It uses the stdlib ``ast`` and
records, for every definition, the string literal and how its positions map back into the
file (exactly when the literal's source text equals its value, else to the literal's start).
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass, field

from sodabuild.diagnostics import Diagnostic, Severity


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


@dataclass(frozen=True, slots=True)
class StringPosition:
    """Where a gql() string's content starts in the host file, and whether it maps exactly."""

    line: int
    column: int
    exact: bool

    def map(self, line: int, column: int) -> tuple[int, int]:
        """Host (line, column) of a 1-based position inside the string's value."""
        if not self.exact:
            return self.line, self.column
        if line == 1:
            return self.line, self.column + column - 1
        return self.line + line - 1, column


@dataclass(frozen=True, slots=True)
class FragmentArg:
    """A fragment argument of gql(): a name or a dotted module attribute."""

    parts: tuple[str, ...]
    line: int
    column: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class GqlDefinition:
    """``Name = gql("<source>", *fragment args)`` at module level."""

    name: str
    line: int
    column: int
    source: str
    position: StringPosition
    args: tuple[FragmentArg, ...]


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
    _by_name: dict[str, ImportBinding | GqlDefinition] = field(
        default_factory=dict, compare=False, repr=False
    )

    def bound_names(self) -> frozenset[str]:
        """Every module-level name bound in the module."""
        return frozenset(self._by_name) | self.other_names

    def binding(self, name: str) -> ImportBinding | GqlDefinition | None:
        """What a module-level name is bound to (the last binding wins, as in Python)."""
        return self._by_name.get(name)


_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


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
        if current is not node and isinstance(current, _SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(current))
    return names


def _char_column(line_text: bytes, byte_offset: int) -> int:
    """1-based character column of a UTF-8 byte offset (ast offsets are in bytes)."""
    return len(line_text[:byte_offset].decode("utf-8", errors="replace")) + 1


_LEAD_BYTE = re.compile(rb"[\xc0-\xff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
        self.lines = data.split(b"\n")
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

    def record_import(self, statement: ast.Import | ast.ImportFrom) -> None:
        line, column = self.at(statement)
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    binding = ImportBinding(alias.asname, alias.name, 0, None, line, column)
                    callee: tuple[str, ...] = (alias.asname, "gql")
                else:
                    top = alias.name.split(".")[0]
                    binding = ImportBinding(top, alias.name, 0, None, line, column, True)
                    callee = (*alias.name.split("."), "gql")
                self.imports.append(binding)
                self.by_name[binding.name] = binding
                if alias.name in self.gql_modules:
                    self.gql_callees.add(callee)
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
            if statement.level == 0 and alias.name == "gql" and module in self.gql_modules:
                self.gql_callees.add((binding.name,))
            full = f"{module}.{alias.name}" if module else alias.name
            if statement.level == 0 and full in self.gql_modules:
                self.gql_callees.add((binding.name, "gql"))

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

    def callee(self, node: ast.expr) -> tuple[str, ...] | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return tuple(reversed(parts))
        return None

    def is_gql_call(self, node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and bool(self.gql_callees)
            and self.callee(node.func) in self.gql_callees
        )

    def string_position(self, node: ast.Constant, value: str) -> StringPosition:
        line, column = self.at(node)
        segment = self.source_segment(node)
        if segment is None:
            return StringPosition(line, column, False)
        prefix_length = 0
        while prefix_length < len(segment) and segment[prefix_length] in "rRuU":
            prefix_length += 1
        rest = segment[prefix_length:]
        for quote in ('"""', "'''", '"', "'"):
            if rest.startswith(quote) and rest.endswith(quote) and len(rest) >= 2 * len(quote):
                body = rest[len(quote) : len(rest) - len(quote)]
                # CRLF files: the value has "\n" where the source has "\r\n"; lines and
                # columns still correspond one to one
                exact = body == value or body.replace("\r\n", "\n") == value
                return StringPosition(line, column + prefix_length + len(quote), exact)
        return StringPosition(line, column, False)

    def definition(self, name: str, target: ast.expr, call: ast.Call) -> GqlDefinition | None:
        if call.keywords:
            self.diag(
                "GQL_ARG_INVALID",
                "gql() takes no keyword arguments",
                call.keywords[0],
                hint='pass fragments positionally: gql("...", FragmentA, FragmentB)',
            )
            return None
        if not call.args:
            self.diag("GQL_NON_LITERAL", "gql() needs a GraphQL string as first argument", call)
            return None
        first = call.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            self.diag(
                "GQL_NON_LITERAL",
                "the first argument of gql() must be a plain string literal",
                first,
                hint="write the document inline; f-strings, variables and concatenation "
                "cannot be analysed at build time",
            )
            return None
        args: list[FragmentArg] = []
        ok = True
        for arg in call.args[1:]:
            parts = self.callee(arg)
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
        if not ok:
            return None
        line, column = self.at(target)
        source = first.value
        position = self.string_position(first, source)
        surrogate = _SURROGATE.search(source)
        if surrogate is not None:
            # Not Unicode: no output could hold it (UTF-8, JSON). Reported here, and the
            # definition goes on with U+FFFD so its users are not blamed.
            before = source[: surrogate.start()]
            at_line, at_column = position.map(
                before.count("\n") + 1, surrogate.start() - before.rfind("\n")
            )
            self.diagnostics.append(
                Diagnostic(
                    "GQL_SYNTAX",
                    f"GraphQL syntax: lone surrogate U+{ord(surrogate.group()):04X} in the "
                    "gql() string (not a Unicode character)",
                    self.path,
                    at_line,
                    at_column,
                    hint="remove the \\ud800-\\udfff escape; write the character itself",
                )
            )
            source = _SURROGATE.sub("\ufffd", source)
        return GqlDefinition(name, line, column, source, position, tuple(args))

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

        definition_calls: set[int] = set()
        for statement in self.top_level(tree.body):
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
                assert isinstance(value, ast.Call)
                definition_calls.add(id(value))
                found = self.definition(targets[0].id, targets[0], value)
                if found is not None:
                    self.definitions.append(found)
                    self.by_name[found.name] = found
                    self.other.discard(found.name)
                else:
                    self.forget(targets[0].id)
                continue
            self.record_other(statement)

        if self.gql_callees:
            for node in ast.walk(tree):
                if self.is_gql_call(node) and id(node) not in definition_calls:
                    self.diag(
                        "GQL_NOT_A_DEFINITION",
                        "gql() here is not a module-level `Name = gql(...)` assignment, "
                        "so it is not built",
                        node,
                        hint="assign the document to a module-level name to build it",
                        severity=Severity.WARNING,
                    )
        bound = [d for d in self.definitions if self.by_name.get(d.name) is d]
        return ModuleScan(
            self.path,
            imports=tuple(self.imports),
            star_imports=tuple(self.star_imports),
            definitions=tuple(bound),
            other_names=frozenset(self.other),
            diagnostics=tuple(self.diagnostics),
            _by_name=dict(self.by_name),
        )


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


def prefilter(data: bytes, marker: bytes) -> bool:
    """Cheap byte test: can this file hold a gql() definition at all?"""
    return marker in data


def scan_python(path: str, data: bytes, gql_modules: tuple[str, ...]) -> ModuleScan:
    """Scan one Python file. ``path`` is only used to locate diagnostics."""
    return _Scanner(path, data, gql_modules).scan()
