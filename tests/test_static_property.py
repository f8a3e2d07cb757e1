"""Property: static string compositions spread over 2-3 modules of a package evaluate, through
the scanner's IR and a lookup over the scans, to exactly the strings Python computes when it
imports the package; every located character points into its file, and exact spans spell the
file's text."""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.scan.python import ModuleScan, scan_python
from sodabuild.scan.static import Expr, NotStatic, Span, evaluate, joined, locate

MODULES = ("a", "b", "c")
_packages = itertools.count()

# Literal text: letters, blanks, the characters that are special to f-strings, str.format()
# and % formatting, quotes, a backslash and a non-ASCII letter.
# Plain characters are drawn more often, so many literals spell their value exactly.
_ALPHABET = [*"abxyz abxyz{}%#é", '"', "'", "\\", "\n", "\t"]
_TEXT = st.text(alphabet=st.sampled_from(_ALPHABET), max_size=6)

_STR_SPECS = ("", ">8", "<5", "^7", "*^9", ".2")
_INT_SPECS = ("", "03d", "x", ">5", "+d", ",", "b")
_FLOAT_SPECS = ("", ".2f", "e", ">10.3f", ".1%")
_STR_PERCENT = ("%s", "%r", "%10s", "%-6s", "%a", "%.2s")
_INT_PERCENT = ("%d", "%03d", "%x", "%s", "%+d", "%5i")
_FLOAT_PERCENT = ("%.2f", "%s", "%e", "%g", "%08.3f")


@dataclass(frozen=True)
class Name:
    spelling: str  # how the module being generated spells it: "A0" or "a.A0"
    kind: str  # "str" | "int" | "float" | "width" (a small int for a nested field width)


@dataclass
class Module:
    name: str
    imports: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    #: Module-level names another module may import from this one: name -> kind.
    exported: dict[str, str] = field(default_factory=dict)
    #: Names this module defines (and their kind), in order.
    defined: dict[str, str] = field(default_factory=dict)

    def source(self) -> str:
        head = ["import textwrap", "from textwrap import dedent", *self.imports, ""]
        return "\n".join([*head, *self.lines, ""])


def _escape(text: str, quote: str = '"', braces: bool = False, percent: bool = False) -> str:
    """``text`` as the body of a ``quote``-delimited literal (str.format/f-string braces and
    % signs doubled on request)."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif braces and char in "{}":
            out.append(char * 2)
        elif percent and char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


class _Gen:
    """Draws expressions over the names a module can see."""

    def __init__(self, draw: st.DrawFn, visible: list[Name]) -> None:
        self.draw = draw
        self.visible = visible

    def names(self, kind: str) -> list[Name]:
        return [name for name in self.visible if name.kind == kind]

    def choice(self, options: list[str] | tuple[str, ...]) -> str:
        return self.draw(st.sampled_from(list(options)))

    def literal(self) -> str:
        text = self.draw(_TEXT)
        style = self.draw(st.integers(0, 3))
        if style == 0:
            return repr(text)
        if style == 1:  # implicit concatenation, maybe over two lines
            other = self.draw(_TEXT)
            gap = self.choice((" ", "  ", "\n    "))
            single = _escape(other, quote="'")
            return '("' + _escape(text) + '"' + gap + "'" + single + "')"
        if style == 2:
            return '"' + _escape(text) + '"'
        return "'" + _escape(text, quote="'") + "'"

    def multiline(self) -> str:
        """A triple-quoted, indented block (for dedent)."""
        margin = " " * self.draw(st.integers(0, 4))
        rows = self.draw(
            st.lists(
                st.tuples(st.integers(0, 3), st.text(alphabet="abxyz{}% é", max_size=5)),
                min_size=1,
                max_size=4,
            )
        )
        body = "\n".join(margin + " " * extra + text for extra, text in rows)
        opening = self.choice(("\n", ""))
        return f'"""{opening}{body}\n"""'

    def number(self, kind: str) -> str:
        names = self.names(kind)
        if names and self.draw(st.booleans()):
            return self.choice([name.spelling for name in names])
        if kind == "int":
            return str(self.draw(st.integers(-500, 500))) if self.draw(st.booleans()) else "7"
        return repr(self.draw(st.sampled_from([0.5, 1.25, 3.0, 1e-3, 12345.678])))

    def operand(self, depth: int) -> str:
        """A string-valued operand (parenthesized when composite)."""
        names = self.names("str")
        pick = self.draw(st.integers(0, 5))
        if names and pick <= 2:
            return self.choice([name.spelling for name in names])
        if depth > 0 and pick == 3:
            return f"({self.string(depth - 1)})"
        return self.literal()

    def scalar(self) -> tuple[str, str]:
        """(spelling, kind) of any value: a string operand or a number."""
        kind = self.choice(("str", "str", "int", "float"))
        return (self.operand(0), kind) if kind == "str" else (self.number(kind), kind)

    def string(self, depth: int) -> str:
        form = self.draw(st.integers(0, 10))
        if form == 0:
            return self.literal()
        if form == 1:
            parts = [self.operand(depth) for _ in range(self.draw(st.integers(2, 3)))]
            return " + ".join(parts)
        if form == 2:
            return self.percent_tuple()
        if form == 3:
            return self.percent_dict()
        if form == 4:
            return self.fstring()
        if form == 5:
            return self.format_call()
        if form == 6:
            sep = self.draw(_TEXT)
            operands = [self.operand(depth) for _ in range(self.draw(st.integers(0, 3)))]
            items = ", ".join(operands)
            brackets = self.choice(("[]", "()"))
            if brackets == "()" and len(operands) == 1:
                items += ","
            return f"{sep!r}.join({brackets[0]}{items}{brackets[1]})"
        if form == 7:
            callee = self.choice(("textwrap.dedent", "dedent"))
            value = self.multiline() if self.draw(st.booleans()) else self.operand(depth)
            return f"{callee}({value})"
        if form == 8:
            method = self.choice(("strip", "lstrip", "rstrip"))
            return f"{self.operand(depth)}.{method}()"
        if form == 9:
            return self.multiline()
        names = self.names("str")
        return self.choice([name.spelling for name in names]) if names else self.literal()

    def percent_tuple(self) -> str:
        pieces: list[str] = []
        args: list[str] = []
        for _ in range(self.draw(st.integers(1, 3))):
            pieces.append(_escape(self.draw(_TEXT), percent=True))
            spelling, kind = self.scalar()
            table = {"str": _STR_PERCENT, "int": _INT_PERCENT, "float": _FLOAT_PERCENT}[kind]
            pieces.append(self.choice(table))
            args.append(spelling)
        pieces.append(_escape(self.draw(_TEXT), percent=True))
        fmt = "".join(pieces)
        if len(args) == 1 and self.draw(st.booleans()):
            single = args[0]
            return f'"{fmt}" % {single}'  # one operand: never a tuple here
        trailing = "," if len(args) == 1 else ""
        return f'"{fmt}" % ({", ".join(args)}{trailing})'

    def percent_dict(self) -> str:
        pieces: list[str] = []
        items: list[str] = []
        for index in range(self.draw(st.integers(1, 3))):
            pieces.append(_escape(self.draw(_TEXT), percent=True))
            spelling, kind = self.scalar()
            table = {"str": _STR_PERCENT, "int": _INT_PERCENT, "float": _FLOAT_PERCENT}[kind]
            placeholder = self.choice(table)
            pieces.append(f"%(k{index})" + placeholder[1:])
            items.append(f'"k{index}": {spelling}')
        pieces.append(_escape(self.draw(_TEXT), percent=True))
        return f'"{"".join(pieces)}" % {{{", ".join(items)}}}'

    def field(self, kind: str) -> tuple[str, str]:
        """(conversion, spec) for a value of ``kind``."""
        conversion = self.choice(("", "", "!r", "!s", "!a"))
        if conversion or kind == "str":
            specs = _STR_SPECS
        else:
            specs = _INT_SPECS if kind == "int" else _FLOAT_SPECS
        spec = self.choice(specs)
        return conversion, f":{spec}" if spec else ""

    def fstring(self) -> str:
        pieces: list[str] = []
        for _ in range(self.draw(st.integers(0, 3))):
            pieces.append(_escape(self.draw(_TEXT), braces=True))
            kind = self.choice(("str", "str", "int", "float"))
            names = self.names(kind)
            if names and self.draw(st.integers(0, 3)):
                value = self.choice([n.spelling for n in names])
            elif kind == "str":  # no backslash, no double quote inside a 3.11 f-string field
                value = repr(self.draw(st.text(alphabet="ab {}%é", max_size=4)))
            else:
                value = self.number(kind)
            conversion, spec = self.field(kind)
            widths = self.names("width")
            if widths and not self.draw(st.integers(0, 2)):  # a nested field in the spec
                align = self.choice((">", "<", "^"))
                spec = f":{align}{{{self.choice([n.spelling for n in widths])}}}"
            pieces.append("{" + value + conversion + spec + "}")
        pieces.append(_escape(self.draw(_TEXT), braces=True))
        return 'f"' + "".join(pieces) + '"'

    def format_call(self) -> str:
        pieces: list[str] = []
        args: list[str] = []
        kwargs: list[str] = []
        explicit = self.draw(st.booleans())
        for _ in range(self.draw(st.integers(0, 3))):
            pieces.append(_escape(self.draw(_TEXT), braces=True))
            spelling, kind = self.scalar()
            conversion, spec = self.field(kind)
            if self.draw(st.booleans()):
                key = f"k{len(kwargs)}"
                kwargs.append(f"{key}={spelling}")
            else:
                key = str(len(args)) if explicit else ""
                args.append(spelling)
            pieces.append("{" + key + conversion + spec + "}")
            if explicit and args and self.draw(st.booleans()):
                pieces.append("{0}")  # an argument used twice
        pieces.append(_escape(self.draw(_TEXT), braces=True))
        call_args = ", ".join([*args, *kwargs])
        return f'"{"".join(pieces)}".format({call_args})'


def _see(visible: list[Name], spelling: str, kind: str) -> None:
    visible.append(Name(spelling, kind))
    if kind == "width":  # a small non-negative int: a nested field width, or any int
        visible.append(Name(spelling, "int"))


@st.composite
def packages(draw: st.DrawFn) -> list[Module]:
    count = draw(st.integers(2, 3))
    modules: list[Module] = []
    for index in range(count):
        module = Module(MODULES[index])
        visible: list[Name] = []
        for earlier in modules:
            modes = draw(st.sets(st.sampled_from(("from", "module", "star")), min_size=1))
            exported = sorted(earlier.exported.items())
            # a name imported twice is bound twice: not static (two bindings), so each
            # name is imported by one `from` statement at most
            fresh = [(name, kind) for name, kind in exported if name not in module.exported]
            if "from" in modes and fresh:
                chosen = sorted(set(draw(st.lists(st.sampled_from(fresh), min_size=1, max_size=3))))
                names = ", ".join(name for name, _ in chosen)
                module.imports.append(f"from .{earlier.name} import {names}")
                for name, kind in chosen:
                    module.exported[name] = kind
                    _see(visible, name, kind)
            if "module" in modes:
                module.imports.append(f"from . import {earlier.name}")
                for name, kind in exported:
                    _see(visible, f"{earlier.name}.{name}", kind)
            if "star" in modes:
                module.imports.append(f"from .{earlier.name} import *")
                for name, kind in exported:
                    module.exported[name] = kind
                    _see(visible, name, kind)
        gen = _Gen(draw, visible)
        for number in range(draw(st.integers(1, 5))):
            constant = f"{module.name.upper()}{number}"
            kind = draw(st.sampled_from(("str", "str", "str", "int", "float", "width")))
            if kind == "str":
                value = gen.string(2)
            elif kind == "int":
                # non-negative: `N = -5` is not recorded as a constant (see
                # test_static_strings.test_negative_and_none_constants_are_recorded)
                value = str(draw(st.integers(0, 10**6)))
            elif kind == "width":
                value = str(draw(st.integers(0, 12)))
            else:
                value = repr(draw(st.sampled_from([0.25, 2.5, 100.0, 7e-5])))
            module.lines.append(f"{constant} = {value}")
            module.defined[constant] = kind
            module.exported[constant] = kind
            _see(visible, constant, kind)
        if index == count - 1:  # the final constant splices every string it sees
            strings = [name.spelling for name in visible if name.kind == "str"]
            module.lines.append(f"RESULT = {' + '.join(strings) if strings else repr('')}")
            module.defined["RESULT"] = "str"
        modules.append(module)
    return modules


# -- a lookup over the scans ---------------------------------------------------------------


def make_lookup(
    scans: dict[str, ModuleScan], paths: dict[str, str]
) -> Callable[[str, tuple[str, ...], int, int], tuple[str, Expr]]:
    """Follows ``from .m import X``, ``from . import m`` + ``m.X`` and ``from .m import *``
    over the scans of one package (``paths``: module name -> path)."""

    def resolve(path: str, name: str, line: int, column: int, depth: int = 0) -> tuple[str, Expr]:
        if depth > 10:
            raise NotStatic(f"'{name}': import cycle", path, line, column)
        scan = scans[path]
        if name in scan.constants:
            return path, scan.constants[name]
        for binding in scan.imports:
            if binding.name == name and binding.level == 1 and binding.module:
                assert binding.attr is not None
                return resolve(paths[binding.module], binding.attr, line, column, depth + 1)
        for star in reversed(scan.star_imports):
            try:
                return resolve(paths[star.module], name, line, column, depth + 1)
            except NotStatic:
                continue
        raise NotStatic(f"'{name}' is not a constant of {path}", path, line, column)

    def lookup(path: str, parts: tuple[str, ...], line: int, column: int) -> tuple[str, Expr]:
        if len(parts) == 1:
            return resolve(path, parts[0], line, column)
        for binding in scans[path].imports:
            if binding.name == parts[0] and binding.level == 1 and not binding.module:
                assert binding.attr is not None and len(parts) == 2
                return resolve(paths[binding.attr], parts[1], line, column)
        raise NotStatic(f"'{'.'.join(parts)}' is not a module attribute", path, line, column)

    return lookup


def import_package(root: Path, package: str, modules: list[Module]) -> dict[str, object]:
    """``{"a.A0": value, ...}``: the values Python computes for every defined name."""
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        values: dict[str, object] = {}
        for module in modules:
            loaded = importlib.import_module(f"{package}.{module.name}")
            for name in module.defined:
                values[f"{module.name}.{name}"] = getattr(loaded, name)
        return values
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def check_spans(text: tuple[Span, ...], files: dict[str, str]) -> None:
    for span in text:
        lines = files[span.path].split("\n")
        assert 1 <= span.line <= len(lines), span
        assert 1 <= span.column <= len(lines[span.line - 1]) + 1, span
        if not span.exact:
            continue
        assert lines[span.line - 1][span.column - 1 :].startswith(span.text.split("\n")[0]), span
        # every character of an exact span is where the span says
        for offset, char in enumerate(span.text):
            line, column = span.at(offset)
            host = lines[line - 1]
            assert (host[column - 1] if column <= len(host) else "\n") == char, (span, offset)
    full = joined(text)
    for offset in range(len(full)):
        where = locate(text, offset)
        assert where is not None and where[0] in files


@settings(
    max_examples=int(os.environ.get("SODABUILD_PROPERTY_EXAMPLES", "60")),
    deadline=None,
)
@given(packages())
def test_static_compositions_equal_python_values(modules: list[Module]) -> None:
    package = f"sodabuild_static_prop_{os.getpid()}_{next(_packages)}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        directory = root / package
        directory.mkdir()
        (directory / "__init__.py").write_text("")
        files: dict[str, str] = {}
        paths: dict[str, str] = {}
        for module in modules:
            path = directory / f"{module.name}.py"
            source = module.source()
            path.write_bytes(source.encode("utf-8"))
            files[str(path)] = source
            paths[module.name] = str(path)
        scans = {
            path: scan_python(path, source.encode("utf-8"), ("gql",))
            for path, source in files.items()
        }
        for scan in scans.values():
            assert scan.parsed and not scan.diagnostics, scan.diagnostics
        expected = import_package(root, package, modules)
    lookup = make_lookup(scans, paths)
    for module in modules:
        path = paths[module.name]
        for name, kind in module.defined.items():
            if kind != "str":
                continue
            assert name in scans[path].constants, (module.name, name)
            result = evaluate(scans[path].constants[name], path, lookup)
            assert joined(result) == expected[f"{module.name}.{name}"], (module.name, name)
            check_spans(result, files)
