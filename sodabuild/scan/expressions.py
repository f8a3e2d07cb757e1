"""Python expressions to the static-string IR (``scan.static``), with Python's scoping.

:class:`IrBuilder` converts the argument of a ``gql()`` call, a marked string or a
module-level constant into IR. Names are followed as Python binds them: a function's own
names bound once before use (inlined), enclosing functions' names, class attributes through
``self``/``cls``/the class name, module-level names bound once (inlined) and imported names
(left as :class:`~sodabuild.scan.static.Ref` for the resolve stage). A parameter, a name
bound more than once or in a loop, a call other than the string methods we know, and any
other run-time construct become a :class:`~sodabuild.scan.static.Dynamic` leaf that names
the sub-expression and the reason.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field

from sodabuild.scan.static import (
    Choice,
    Concat,
    Dynamic,
    Expr,
    Format,
    Join,
    Mapping,
    Method,
    Percent,
    Ref,
    Scalar,
    Seq,
)

#: Nodes that open a scope of their own (their names are not the enclosing scope's).
NESTED_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


@dataclass
class Binding:
    """One binding of a name in a scope: the assigned value, or None (not an assignment of
    a plain value: a loop target, an import, ``+=``, unpacking...) with a reason."""

    value: ast.expr | None
    line: int
    reason: str = ""
    in_loop: bool = False


@dataclass
class Scope:
    """A module, class or function body: its names and how each is bound."""

    kind: str  # "module" | "class" | "function"
    name: str
    node: ast.AST | None
    parent: Scope | None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    params: set[str] = field(default_factory=set)
    globals: set[str] = field(default_factory=set)
    #: The class a function is a method of (for ``self.X`` / ``cls.X``).
    owner: Scope | None = None

    @property
    def qualname(self) -> list[str]:
        names: list[str] = []
        scope: Scope | None = self
        while scope is not None and scope.kind != "module":
            names.append(scope.name)
            scope = scope.parent
        return list(reversed(names))


def _targets(node: ast.AST) -> list[str]:
    names: list[str] = []
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.append(child.id)
        elif isinstance(child, ast.Starred) and isinstance(child.value, ast.Name):
            names.append(child.value.id)
    return names


def _walrus_names(node: ast.AST) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.NamedExpr) and isinstance(current.target, ast.Name):
            found.append(current.target.id)
        if current is not node and isinstance(current, NESTED_SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(current))
    return found


def collect(scope: Scope, body: list[ast.stmt], in_loop: bool = False, walrus: bool = True) -> None:
    """Record how each name of ``body`` (this scope only) is bound. ``walrus``: whether the
    module may hold ``:=`` at all (the search for it walks every expression)."""

    def bind(name: str, binding: Binding) -> None:
        scope.bindings.setdefault(name, []).append(binding)

    def other(node: ast.AST, line: int, reason: str) -> None:
        for name in _targets(node):
            bind(name, Binding(None, line, reason, in_loop))

    for statement in body:
        line = statement.lineno
        nested = isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if walrus and not nested:
            for name in _walrus_names(statement):
                bind(name, Binding(None, line, "bound by :=", in_loop))
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    bind(target.id, Binding(statement.value, line, "", in_loop))
                elif not isinstance(target, ast.Attribute | ast.Subscript):
                    other(target, line, "bound by unpacking")
        elif isinstance(statement, ast.AnnAssign):
            if isinstance(statement.target, ast.Name) and statement.value is not None:
                bind(statement.target.id, Binding(statement.value, line, "", in_loop))
        elif isinstance(statement, ast.AugAssign):
            other(statement.target, line, "changed by an augmented assignment (+= ...)")
        elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bind(statement.name, Binding(None, line, "a function or class"))
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            for alias in statement.names:
                name = (alias.asname or alias.name).split(".")[0]
                if name != "*":
                    bind(name, Binding(None, line, "an import"))
        elif isinstance(statement, ast.Global | ast.Nonlocal):
            scope.globals.update(statement.names)
        elif isinstance(statement, ast.Delete):
            for target in statement.targets:
                other(target, line, "deleted")
        elif isinstance(statement, ast.For | ast.AsyncFor):
            other(statement.target, line, "a loop variable")
            collect(scope, statement.body + statement.orelse, True, walrus)
        elif isinstance(statement, ast.While):
            collect(scope, statement.body + statement.orelse, True, walrus)
        elif isinstance(statement, ast.If):
            collect(scope, statement.body + statement.orelse, in_loop, walrus)
        elif isinstance(statement, ast.With | ast.AsyncWith):
            for item in statement.items:
                if item.optional_vars is not None:
                    other(item.optional_vars, line, "bound by `with ... as`")
            collect(scope, statement.body, in_loop, walrus)
        elif isinstance(statement, ast.Try | ast.TryStar):
            for handler in statement.handlers:
                if handler.name:
                    bind(handler.name, Binding(None, handler.lineno, "an exception"))
                collect(scope, handler.body, in_loop, walrus)
            collect(scope, statement.body + statement.orelse + statement.finalbody, in_loop, walrus)
        elif isinstance(statement, ast.Match):
            for case in statement.cases:
                for node in ast.walk(case.pattern):
                    bound = getattr(node, "name", None)
                    if isinstance(bound, str):
                        bind(bound, Binding(None, line, "bound by a match pattern"))
                collect(scope, case.body, in_loop, walrus)


def function_scope(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, parent: Scope, walrus: bool = True
) -> Scope:
    name = node.name if not isinstance(node, ast.Lambda) else "<lambda>"
    scope = Scope("function", name, node, parent)
    arguments = node.args
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        scope.params.add(arg.arg)
    if arguments.vararg is not None:
        scope.params.add(arguments.vararg.arg)
    if arguments.kwarg is not None:
        scope.params.add(arguments.kwarg.arg)
    if parent.kind == "class":
        scope.owner = parent
    if isinstance(node, ast.Lambda):
        return scope
    collect(scope, node.body, walrus=walrus)
    return scope


def class_scope(node: ast.ClassDef, parent: Scope, walrus: bool = True) -> Scope:
    scope = Scope("class", node.name, node, parent)
    collect(scope, node.body, walrus=walrus)
    return scope


def _snippet(text: str | None, limit: int = 60) -> str:
    if not text:
        return "this expression"
    flat = " ".join(text.split())
    return f"`{flat if len(flat) <= limit else flat[: limit - 3] + '...'}`"


@dataclass
class IrBuilder:
    """AST -> IR for one module. ``at`` gives a node's (line, character column);
    ``segment`` its source text; ``literal`` the located IR of a string constant;
    ``dedent_callees`` the spellings of ``textwrap.dedent`` in the module."""

    module: Scope
    at: Callable[[ast.AST], tuple[int, int]]
    segment: Callable[[ast.AST], str | None]
    literal: Callable[[ast.Constant], Expr]
    fstring: Callable[[ast.JoinedStr, Callable[[ast.expr], Expr]], Expr]
    dedent_callees: set[tuple[str, ...]]
    #: Module-level names bound by imports (left as Ref), and star imports exist.
    imported: set[str] = field(default_factory=set)
    star: bool = False
    classes: dict[str, Scope] = field(default_factory=dict)
    #: Module-level classes not yet analysed (``ClassName.X`` analyses one on first use).
    class_nodes: dict[str, ast.ClassDef] = field(default_factory=dict)
    walrus: bool = True
    _active: set[tuple[int, str]] = field(default_factory=set)

    def dynamic(self, node: ast.AST, reason: str) -> Dynamic:
        line, column = self.at(node)
        return Dynamic(f"{_snippet(self.segment(node))} {reason}", line, column)

    def build(self, node: ast.expr, scope: Scope) -> Expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return self.literal(node)
            if node.value is None or isinstance(node.value, int | float | bool):
                line, column = self.at(node)
                return Scalar(node.value, line, column)
            return self.dynamic(node, f"is a {type(node.value).__name__}, not a string")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = node.operand
            if isinstance(operand, ast.Constant) and isinstance(operand.value, int | float):
                line, column = self.at(node)
                return Scalar(-operand.value, line, column)
        if isinstance(node, ast.JoinedStr):
            return self.fstring(node, lambda value: self.build(value, scope))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add):
                left, right = self.build(node.left, scope), self.build(node.right, scope)
                items: list[Expr] = []
                for side in (left, right):
                    items.extend(side.items if isinstance(side, Concat) else (side,))
                return Concat(tuple(items))
            if isinstance(node.op, ast.Mod):
                line, column = self.at(node)
                return Percent(
                    self.build(node.left, scope), self.args(node.right, scope), line, column
                )
            return self.dynamic(node, "is arithmetic, not string composition")
        if isinstance(node, ast.Name):
            return self.name(node, scope)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, scope)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if isinstance(node, ast.IfExp):
            line, column = self.at(node)
            return Choice(
                (self.build(node.body, scope), self.build(node.orelse, scope)), line, column
            )
        if isinstance(node, ast.BoolOp):
            line, column = self.at(node)
            if isinstance(node.op, ast.And):
                # `flag and X`: the value used as a string is the last operand
                return self.build(node.values[-1], scope)
            return Choice(tuple(self.build(value, scope) for value in node.values), line, column)
        if isinstance(node, ast.Tuple | ast.List):
            return Seq(tuple(self.build(item, scope) for item in node.elts))
        return self.dynamic(node, "is computed at run time")

    def args(self, node: ast.expr, scope: Scope) -> Expr:
        if isinstance(node, ast.Tuple):
            return Seq(tuple(self.build(item, scope) for item in node.elts))
        if isinstance(node, ast.Dict):
            items: list[tuple[str, Expr]] = []
            for key, value in zip(node.keys, node.values, strict=True):
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    return self.dynamic(node, "has keys that are not string literals")
                items.append((key.value, self.build(value, scope)))
            return Mapping(tuple(items))
        return self.build(node, scope)

    # -- names ------------------------------------------------------------------------

    def name(self, node: ast.Name, scope: Scope) -> Expr:
        name = node.id
        current: Scope | None = scope
        first = True
        while current is not None:
            if current.kind == "class" and not first:
                current = current.parent  # class bodies do not enclose their methods
                continue
            if current.kind == "module" or name in current.globals:
                return self.module_name(node, name)
            if name in current.params:
                return self.dynamic(
                    node, f"is a parameter of {current.name}(): known only at run time"
                )
            if name in current.bindings:
                return self.bound(node, name, current, before=first and current.kind == "function")
            current = current.parent
            first = False
        return self.module_name(node, name)

    def bound(self, node: ast.AST, name: str, scope: Scope, before: bool = False) -> Expr:
        """The IR of ``name``'s one binding in ``scope``; with ``before``, the binding must
        come before the use (a function's own local)."""
        bindings = scope.bindings[name]
        if len(bindings) > 1:
            lines = ", ".join(str(b.line) for b in bindings[:4])
            return self.dynamic(node, f"is bound more than once (lines {lines})")
        binding = bindings[0]
        if binding.value is None:
            return self.dynamic(node, f"is {binding.reason} (line {binding.line})")
        if binding.in_loop:
            return self.dynamic(node, f"is bound in a loop (line {binding.line})")
        if before and binding.line >= getattr(node, "lineno", 0):
            return self.dynamic(node, f"is used before it is bound (line {binding.line})")
        key = (id(scope), name)
        if key in self._active:
            return self.dynamic(node, "is defined in terms of itself")
        self._active.add(key)
        try:
            return self.build(binding.value, scope)
        finally:
            self._active.discard(key)

    def module_name(self, node: ast.AST, name: str) -> Expr:
        line, column = self.at(node)
        if name in self.module.bindings:
            bindings = self.module.bindings[name]
            if name in self.imported and len(bindings) == 1:
                return Ref((name,), line, column)
            return self.bound(node, name, self.module)
        if self.star:
            return Ref((name,), line, column)  # maybe from `from m import *`
        return self.dynamic(node, "is not bound in this module")

    def attribute(self, node: ast.Attribute, scope: Scope) -> Expr:
        base = node.value
        if isinstance(base, ast.Name):
            owner: Scope | None = None
            function = scope
            while function.kind == "class" and function.parent is not None:
                function = function.parent
            if base.id in ("self", "cls") and function.kind == "function":
                owner = function.owner
            elif base.id in self.class_nodes and base.id not in self.imported:
                owner = self.class_of(base.id)
            if owner is not None:
                if node.attr in owner.bindings:
                    return self.bound(node, node.attr, owner)
                return self.dynamic(
                    node,
                    f"is not bound in the body of class {owner.name} "
                    "(inherited or set at run time)",
                )
        parts = callee(node)
        if parts is not None and parts[0] in self.imported and not _local(parts[0], scope):
            line, column = self.at(node)
            return Ref(parts, line, column)
        return self.dynamic(node, "is an attribute known only at run time")

    def class_of(self, name: str) -> Scope:
        """The scope of the module-level class ``name`` (analysed once, when first used)."""
        found = self.classes.get(name)
        if found is None:
            found = self.classes[name] = class_scope(
                self.class_nodes[name], self.module, self.walrus
            )
        return found

    # -- calls ------------------------------------------------------------------------

    def call(self, node: ast.Call, scope: Scope) -> Expr:
        func = node.func
        line, column = self.at(node)
        has_star = any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        )
        if isinstance(func, ast.Attribute) and not has_star:
            if func.attr == "format":
                return Format(
                    self.build(func.value, scope),
                    tuple(self.build(arg, scope) for arg in node.args),
                    tuple((k.arg or "", self.build(k.value, scope)) for k in node.keywords),
                    line,
                    column,
                )
            if func.attr == "join" and len(node.args) == 1 and not node.keywords:
                items = node.args[0]
                if isinstance(items, ast.List | ast.Tuple):
                    return Join(
                        self.build(func.value, scope),
                        tuple(self.build(item, scope) for item in items.elts),
                        line,
                        column,
                    )
                return self.dynamic(items, "is not a list or tuple display of strings")
            if func.attr in ("strip", "lstrip", "rstrip") and not node.args and not node.keywords:
                return Method(func.attr, self.build(func.value, scope), line, column)
        spelled = callee(func)
        if spelled in self.dedent_callees and len(node.args) == 1 and not node.keywords:
            return Method("dedent", self.build(node.args[0], scope), line, column)
        return self.dynamic(node, "is a call: its result is known only at run time")


def _local(name: str, scope: Scope) -> bool:
    """Whether a function or class scope (not the module) binds ``name``."""
    current: Scope | None = scope
    while current is not None and current.kind != "module":
        if name in current.bindings or name in current.params:
            return True
        current = current.parent
    return False


def callee(node: ast.expr) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return None


def string_tokens(segment: str) -> list[tuple[int, int, str]] | None:
    """The string tokens of an implicitly concatenated literal: (line offset, column
    offset, token text), offsets relative to the segment's start (None if not lexable)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(segment).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    found = []
    for token in tokens:
        if token.type == tokenize.STRING:
            found.append((token.start[0] - 1, token.start[1], token.string))
        elif token.type not in (
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.COMMENT,
            tokenize.ENDMARKER,
            tokenize.INDENT,
            tokenize.DEDENT,
        ):
            if token.type == tokenize.OP and token.string in "()":
                continue
            return None
    return found
