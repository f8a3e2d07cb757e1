"""Graph filters: parse ``--graph-filter``, merge it with a rule's default, select nodes.

A filter picks *roots* among a build's definitions (include/exclude globs and kinds), widens
them by ``depth`` hops to the definitions that use them, then adds every fragment the
selection spreads, so each composed document stays complete. A pattern containing ``::``
matches canonical ids (``src/a.py::Name``, ``project:src/a.py::Name``); any other pattern
matches module paths. Globs are those of :func:`sodabuild.discover.files.glob_regex`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from sodabuild.diagnostics import Diagnostic, SodabuildError
from sodabuild.discover.files import glob_regex
from sodabuild.rules.model import PruningFilter

T = TypeVar("T", bound=Hashable)

Kind = Literal["operation", "fragment"]

#: Predicate names of ``--graph-filter``, in the order :func:`describe` writes them.
PREDICATES = ("include", "exclude", "kind", "depth")
KINDS: tuple[Kind, ...] = ("operation", "fragment")

_EXAMPLE = "include=src/billing/**,kind=operation,depth=1"
_DIGITS = re.compile(r"[0-9]+")


class FilterSyntaxError(ValueError):
    """A malformed ``--graph-filter`` value: the value, what is wrong, how to fix it."""

    def __init__(self, value: str, message: str, hint: str) -> None:
        super().__init__(f"{message} in '{value}'")
        self.value = value
        self.message = message
        self.hint = hint


def parse_graph_filters(values: Sequence[str]) -> dict[str, Any]:
    """Parse repeated ``--graph-filter`` values into ``PruningFilter`` keyword arguments.

    Each value holds comma-separated ``name=value`` predicates. ``include``/``exclude``
    accumulate in order (duplicates dropped), ``kind`` accumulates (duplicates dropped),
    ``depth`` may be given once (or again with the same value). Only given fields are
    returned, sequences as tuples. Raises :class:`FilterSyntaxError`.
    """
    globs: dict[str, list[str]] = {"include": [], "exclude": []}
    kinds: list[Kind] = []
    depth: int | None = None
    given: set[str] = set()
    for value in values:
        for raw in value.split(","):
            predicate = raw.strip()
            if not predicate:
                raise FilterSyntaxError(
                    value,
                    "empty predicate",
                    f"separate predicates with single commas, e.g. {_EXAMPLE}",
                )
            name, equals, argument = predicate.partition("=")
            name, argument = name.strip(), argument.strip()
            if not equals:
                shape = f"{name}=..." if name in PREDICATES else "name=value"
                raise FilterSyntaxError(
                    value,
                    f"predicate '{predicate}' has no '='",
                    f"write {shape}, e.g. {_EXAMPLE}",
                )
            if name not in PREDICATES:
                close = difflib.get_close_matches(name, PREDICATES, n=1)
                guess = f"did you mean '{close[0]}'? " if close else ""
                problem = f"unknown predicate '{name}'" if name else "predicate without a name"
                raise FilterSyntaxError(
                    value,
                    problem,
                    f"{guess}known predicates: {', '.join(PREDICATES)}",
                )
            given.add(name)
            if name in globs:
                if not argument:
                    raise FilterSyntaxError(
                        value,
                        f"empty glob after '{name}='",
                        f"give a module glob ({name}=src/**) or an id glob ({name}=**::Invoice*)",
                    )
                if argument not in globs[name]:
                    globs[name].append(argument)
            elif name == "kind":
                if argument not in KINDS:
                    raise FilterSyntaxError(
                        value,
                        f"unknown kind '{argument}'",
                        "kind is 'operation' or 'fragment'; repeat kind= for both",
                    )
                kind: Kind = "operation" if argument == "operation" else "fragment"
                if kind not in kinds:
                    kinds.append(kind)
            else:
                if not _DIGITS.fullmatch(argument):
                    raise FilterSyntaxError(
                        value,
                        f"bad depth '{argument}'",
                        "depth is a non-negative integer: how many hops of users to add, e.g. depth=1",
                    )
                number = int(argument)
                if depth is not None and depth != number:
                    raise FilterSyntaxError(
                        value,
                        f"depth given twice ({depth} and {number})",
                        "give depth= once",
                    )
                depth = number
    result: dict[str, Any] = {}
    for name in ("include", "exclude"):
        if name in given:
            result[name] = tuple(globs[name])
    if "kind" in given:
        result["kinds"] = tuple(kinds)
    if "depth" in given:
        result["depth"] = depth
    return result


def effective_filter(default: PruningFilter, given: Mapping[str, Any]) -> PruningFilter:
    """The filter a build applies: the rule's ``default`` with each field in ``given`` replaced.

    Replacement is per field, not a merge: ``include=...`` on the command line drops the
    rule's include globs but keeps its exclude globs, kinds and depth.
    """
    return PruningFilter.model_validate({**default.model_dump(), **given})


def is_everything(f: PruningFilter) -> bool:
    """True when ``f`` selects every candidate (no include/exclude/kinds, depth 0 or unset)."""
    return not f.include and not f.exclude and not f.kinds and not f.depth


def describe(f: PruningFilter) -> str:
    """The canonical ``--graph-filter`` value of ``f`` (``""`` when it selects everything).

    Duplicates are dropped; ``parse_graph_filters([describe(f)])`` gives ``f`` back unless a
    glob is empty, holds a comma or starts or ends with whitespace (the CLI cannot write those).
    """
    if is_everything(f):
        return ""
    parts = [f"include={glob}" for glob in dict.fromkeys(f.include)]
    parts += [f"exclude={glob}" for glob in dict.fromkeys(f.exclude)]
    parts += [f"kind={kind}" for kind in dict.fromkeys(f.kinds)]
    if f.depth is not None:
        parts.append(f"depth={f.depth}")
    return ",".join(parts)


def usage_error(exc: FilterSyntaxError) -> SodabuildError:
    """The ``USAGE`` error the CLI reports for a malformed ``--graph-filter`` value."""
    return SodabuildError(
        [
            Diagnostic(
                "USAGE",
                f"invalid graph filter '{exc.value}': {exc.message}",
                "--graph-filter",
                hint=exc.hint,
            )
        ]
    )


# -- matching --------------------------------------------------------------------------------


def _compiled(patterns: Iterable[str]) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    """(module-path regexes, canonical-id regexes) of ``patterns``."""
    modules: list[re.Pattern[str]] = []
    ids: list[re.Pattern[str]] = []
    for pattern in patterns:
        (ids if "::" in pattern else modules).append(glob_regex(pattern))
    return modules, ids


def _any(
    compiled: tuple[list[re.Pattern[str]], list[re.Pattern[str]]],
    module: Callable[[], str],
    canonical_id: Callable[[], str],
) -> bool:
    modules, ids = compiled
    if modules:
        path = module()
        if any(regex.match(path) for regex in modules):
            return True
    if ids:
        ident = canonical_id()
        return any(regex.match(ident) for regex in ids)
    return False


def matches(f: PruningFilter, module: str, canonical_id: str) -> bool:
    """The include/exclude part of ``f``: included (or no includes) and not excluded."""
    if f.include and not _any(_compiled(f.include), lambda: module, lambda: canonical_id):
        return False
    return not _any(_compiled(f.exclude), lambda: module, lambda: canonical_id)


def select(
    candidates: Iterable[T],
    f: PruningFilter,
    *,
    module_of: Callable[[T], str],
    id_of: Callable[[T], str],
    kind_of: Callable[[T], str],
    fragments_of: Callable[[T], Iterable[T]],
    users_of: Callable[[T], Iterable[T]],
) -> set[T]:
    """The nodes ``f`` selects: roots among ``candidates``, their users within ``depth`` hops,
    and everything those spread (transitively) via ``fragments_of``.

    The result may hold nodes that are not candidates (another project's fragments); the
    caller intersects. Iterative; cycles are fine. An everything filter calls nothing.
    """
    if is_everything(f):
        return set(candidates)
    include = _compiled(f.include)
    exclude = _compiled(f.exclude)
    kinds = frozenset(f.kinds)
    selected: set[T] = set()
    frontier: list[T] = []
    for node in candidates:
        if node in selected:
            continue
        if kinds and kind_of(node) not in kinds:
            continue
        module = _lazy(module_of, node)
        ident = _lazy(id_of, node)
        if f.include and not _any(include, module, ident):
            continue
        if _any(exclude, module, ident):
            continue
        selected.add(node)
        frontier.append(node)
    # users within `depth` hops, breadth first: a node is reached at its shortest distance
    for _ in range(f.depth or 0):
        reached: list[T] = []
        for node in frontier:
            for user in users_of(node):
                if user not in selected:
                    selected.add(user)
                    reached.append(user)
        if not reached:
            break
        frontier = reached
    # the dependency closure, so every selected document stays complete
    stack = list(selected)
    while stack:
        for fragment in fragments_of(stack.pop()):
            if fragment not in selected:
                selected.add(fragment)
                stack.append(fragment)
    return selected


def _lazy(function: Callable[[T], str], node: T) -> Callable[[], str]:
    return lambda: function(node)


# -- definition kinds ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<skip>[\t\n\r ,\ufeff]+|#[^\n\r]*)"
    r'|(?P<string>"""(?:\\"""|(?!""")[\s\S])*+"""|"(?:\\[\s\S]|[^"\\\n\r])*+")'
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)"
    r"|(?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<open>[{(\[])"
    r"|(?P<close>[})\]])"
    r"|(?P<other>[\s\S])"
)
_OPERATION_KEYWORDS = frozenset({"query", "mutation", "subscription"})


def definition_kind(source: str) -> Kind:
    """Whether a gql() string defines an operation or a fragment, without a GraphQL parse.

    Ignored tokens (BOM, whitespace, commas, ``#`` comments) and a description string are
    skipped; a first definition that is not ``fragment ...`` makes an operation. A string
    that starts with fragments but also holds an operation is an operation too, as in
    :func:`sodabuild.compose.document.parse_definition` (the operation is the main one).
    """
    depth = 0
    first = True
    at_start = True  # the next significant token at depth 0 begins a definition
    for token in _TOKEN.finditer(source):
        group = token.lastgroup
        if group == "skip":
            continue
        text = token.group()
        if depth == 0 and at_start:
            if group == "string":
                continue  # a description
            if text == "{" or (group == "name" and text in _OPERATION_KEYWORDS):
                return "operation"
            if first and text != "fragment":
                return "operation"
            first = at_start = False
        if group == "open":
            depth += 1
        elif group == "close" and depth:
            depth -= 1
            # a selection set opened at depth 0 ends its definition
            at_start = depth == 0 and text == "}"
    return "operation" if first else "fragment"
