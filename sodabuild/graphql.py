"""Run-time ``gql()``: the document the build made, prebuilt or composed the same way.

    from sodabuild.graphql import gql
    GetUser = gql('query GetUser($id: ID!) { user(id: $id) { ...UserFields } }', UserFields)

``GetUser.document`` is byte-identical to the document of ``GetUser`` in the build's
artifact; ``.hash`` equals the artifact's ``hash`` and the persisted-query id (without its
``sha256:`` prefix).

Two modes give the same objects (document, hash, name, kind, operation, variables,
fragment names):

- **prebuilt** (zero-runtime): when the calling module's project was built with a
  ``runtime_output`` (the built-in rule declares one), ``gql()`` looks its arguments up in
  that module's index (``<out_dir>/runtime/<module>.json``) and returns the prebuilt
  document without parsing, composing or importing graphql-core. The out_dir is found
  from the module's file: ``__generated__`` (the default) in the module's directory or a
  parent, or a directory named in ``SODABUILD_OUT_DIRS`` (``os.pathsep``-separated, relative
  to the project root) for projects that configure another ``out_dir``;
- **compose**: parse and compose with :func:`sodabuild.compose.document.compose`, as the
  build does (graphql-core is imported then).

``SODABUILD_RUNTIME`` = ``auto`` (default: prebuilt when found, else compose) |
``compose`` | ``prebuilt`` (as auto, but a module without an index is warned about). A
call whose arguments are not in its module's index (the source changed since the build)
is composed, with one :class:`PrebuiltOutputWarning` per module.

``GetUser.to_gql()`` is what the gql client library's own ``gql()`` returns for that
document (gql 3.x: a ``DocumentNode``; gql 4.x: a ``GraphQLRequest``), for
``gql.Client.execute``; gql is imported only then, sodabuild does not depend on it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = [
    "GraphQLCompositionError",
    "GraphQLDocument",
    "PrebuiltOutputWarning",
    "gql",
    "runtime_key",
]


_SURROGATE = re.compile("[\ud800-\udfff]")

#: Where a project's run-time indexes live below its out_dir (the built-in rule's path).
RUNTIME_DIR = "runtime"
DEFAULT_OUT_DIR = "__generated__"


class GraphQLCompositionError(ValueError):
    """A gql() call that cannot be composed (the build reports the same problem, located)."""


class PrebuiltOutputWarning(UserWarning):
    """A module's prebuilt documents are missing or stale: composed at run time instead."""


def runtime_key(source: str, fragment_hashes: Sequence[str]) -> str:
    """The key of a gql() call in its module's run-time index: its string and the hashes
    of the fragments it passes (the build computes the same from the evaluated string)."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass"))
    for fragment_hash in fragment_hashes:
        digest.update(b"\0" + fragment_hash.encode())
    return digest.hexdigest()


class _Prebuilt:
    """An index entry with the attributes of a composition (no AST until asked)."""

    __slots__ = (
        "document",
        "fragment_names",
        "hash",
        "kind",
        "name",
        "operation",
        "type_condition",
        "variables",
    )

    def __init__(self, entry: dict[str, Any]) -> None:
        self.document: str = entry["document"]
        self.hash: str = entry["hash"]
        self.name: str = entry["name"]
        self.kind: str = entry["kind"]
        self.operation: str | None = entry["operation"]
        self.type_condition: str | None = entry["type_condition"]
        self.fragment_names: tuple[str, ...] = tuple(entry["fragments"])
        self.variables: tuple[tuple[str, str, str | None], ...] = tuple(
            (name, type_, default) for name, type_, default in entry["variables"]
        )


class GraphQLDocument:
    """A composed GraphQL document: an operation or a fragment with its fragments."""

    __slots__ = ("_composed", "_fragments", "_prebuilt", "_source")

    def __init__(
        self,
        composed: Any,
        prebuilt: _Prebuilt | None = None,
        source: str = "",
        fragments: tuple[GraphQLDocument, ...] = (),
    ) -> None:
        self._composed = composed
        self._prebuilt = prebuilt
        self._source = source
        self._fragments = fragments

    def _composition(self) -> Any:
        """The composition (made now for a prebuilt document: its AST was asked for, or a
        stale call passes it as a fragment)."""
        if self._composed is None:
            self._composed = _compose(self._source, self._fragments)
        return self._composed

    @property
    def _shown(self) -> Any:
        return self._prebuilt if self._prebuilt is not None else self._composed

    @property
    def prebuilt(self) -> bool:
        """Whether this document came from the build's run-time index (zero-runtime)."""
        return self._prebuilt is not None

    @property
    def document(self) -> str:
        """The canonical printed document (definition, then fragments sorted by name)."""
        return str(self._shown.document)

    @property
    def name(self) -> str:
        return str(self._shown.name)

    @property
    def kind(self) -> str:
        """``"operation"`` or ``"fragment"``."""
        return str(self._shown.kind)

    @property
    def operation(self) -> str | None:
        """``"query"``, ``"mutation"`` or ``"subscription"`` for operations."""
        return self._shown.operation  # type: ignore[no-any-return]

    @property
    def type_condition(self) -> str | None:
        return self._shown.type_condition  # type: ignore[no-any-return]

    @property
    def hash(self) -> str:
        """``sha256:<hex>`` of :attr:`document`."""
        return str(self._shown.hash)

    @property
    def fragment_names(self) -> tuple[str, ...]:
        if self._prebuilt is not None:
            return self._prebuilt.fragment_names
        return tuple(piece.name for piece in self._composed.fragments)

    @property
    def variables(self) -> tuple[tuple[str, str, str | None], ...]:
        return tuple(self._shown.variables)

    @property
    def ast(self) -> Any:
        """The graphql-core ``DocumentNode`` of the composed document."""
        return self._composition().ast()

    def to_gql(self) -> Any:
        """This document as the installed gql client library's ``gql()`` returns it.

        gql 3.x: a graphql-core ``DocumentNode``, for
        ``client.execute(doc.to_gql(), variable_values=...)``; gql 4.x: a new
        ``gql.GraphQLRequest`` each call, for ``client.execute(request)`` after setting
        ``request.variable_values`` (or ``GraphQLRequest(doc.to_gql(), variable_values=...)``).
        Either way gql executes exactly :attr:`document`. The object itself cannot be
        passed to gql: gql 3.x requires a ``DocumentNode`` instance and gql 4.x a
        ``GraphQLRequest``, and both define ``kind``/``document`` differently from this class.
        """
        try:
            library = importlib.import_module("gql")
        except ImportError as exc:
            raise ImportError(
                "GraphQLDocument.to_gql() needs the gql client library (pip install gql)"
            ) from exc
        return library.gql(self.document)

    def __str__(self) -> str:
        return self.document

    def __repr__(self) -> str:
        return f"<GraphQLDocument {self.kind} {self.name} {self.hash[:19]}>"


def gql(source: str, *fragments: GraphQLDocument) -> GraphQLDocument:
    """The document of ``source`` with the fragments it spreads: prebuilt by the build when
    its module's run-time index has it, else composed; raises on what the build rejects."""
    if not isinstance(source, str):
        raise TypeError("gql() takes the GraphQL document as its first argument, a str")
    for fragment in fragments:
        if not isinstance(fragment, GraphQLDocument):
            raise TypeError(f"gql() fragment arguments must be gql() results, not {fragment!r}")
    mode = os.environ.get("SODABUILD_RUNTIME", "auto")
    if mode != "compose":
        caller = sys._getframe(1).f_globals.get("__file__")
        entry = _prebuilt(caller, source, fragments, mode == "prebuilt")
        if entry is not None:
            return GraphQLDocument(None, entry, source, fragments)
    return GraphQLDocument(_compose(source, fragments), None, source, fragments)


def _compose(source: str, fragments: tuple[GraphQLDocument, ...]) -> Any:
    from graphql import GraphQLError

    from sodabuild.compose.document import compose, parse_definition

    surrogate = _SURROGATE.search(source)
    if surrogate is not None:
        # The build rejects it too (GQL_SYNTAX): no output could encode it.
        raise GraphQLCompositionError(
            f"lone surrogate U+{ord(surrogate.group()):04X} at index {surrogate.start()} of "
            "the gql() string (not a Unicode character)"
        )
    identity = object()
    try:
        parsed, problems = parse_definition(source, "gql", identity)
    except GraphQLError as exc:
        raise GraphQLCompositionError(str(exc)) from None
    if parsed is not None:
        args = [f._composition() for f in fragments]
        composed, problems = compose(parsed, identity, args, [id(a.main) for a in args])
        if composed is not None:
            return composed
    errors = [p.message for p in problems if not p.warning]
    raise GraphQLCompositionError("; ".join(errors))


# -- the run-time indexes -----------------------------------------------------------------

#: Module file -> its index (documents by key), or None when it has none.
_indexes: dict[str, dict[str, Any] | None] = {}
_warned: set[str] = set()


def _prebuilt(
    caller: object, source: str, fragments: tuple[GraphQLDocument, ...], required: bool
) -> _Prebuilt | None:
    if not isinstance(caller, str):
        return None  # gql() called from code without a file (a REPL, exec)
    index = _indexes.get(caller, _indexes)
    if index is _indexes:
        index = _indexes[caller] = _load_index(caller)
    if index is None:
        if required:
            _warn(caller, "has no prebuilt documents (no runtime index found for it)")
        return None
    entry = index.get(runtime_key(source, [f.hash for f in fragments]))
    if entry is None:
        _warn(caller, "has gql() calls the last build did not see (outputs are stale)")
        return None
    return _Prebuilt(entry)


def _warn(module: str, problem: str) -> None:
    if module in _warned:
        return
    _warned.add(module)
    warnings.warn(
        f"{module} {problem}: composing at run time; run `sodabuild build` to update them",
        PrebuiltOutputWarning,
        stacklevel=4,
    )


#: Directory -> the runtime directories below it (``<dir>/<out_dir>/runtime``), memoized:
#: modules of one project share their ancestors.
_runtime_dirs: dict[str, list[str]] = {}


def _runtime_dirs_of(directory: str) -> list[str]:
    found = _runtime_dirs.get(directory)
    if found is None:
        names = [
            DEFAULT_OUT_DIR,
            *filter(None, os.environ.get("SODABUILD_OUT_DIRS", "").split(os.pathsep)),
        ]
        candidates = (os.path.join(directory, name, RUNTIME_DIR) for name in names)
        found = _runtime_dirs[directory] = [c for c in candidates if os.path.isdir(c)]
    return found


def _load_index(module_file: str) -> dict[str, Any] | None:
    """The documents of a module's run-time index: ``<root>/<out_dir>/runtime/<rel>.json``
    for the nearest project root above the module that has one."""
    module_file = os.path.abspath(module_file)
    directory = os.path.dirname(module_file)
    while True:
        for runtime in _runtime_dirs_of(directory):
            relative = os.path.relpath(module_file, directory).replace(os.sep, "/")
            try:
                with open(os.path.join(runtime, relative + ".json"), "rb") as handle:
                    data = json.loads(handle.read())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("module") == relative:
                documents = data.get("documents")
                return documents if isinstance(documents, dict) else None
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent
