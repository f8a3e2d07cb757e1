"""Output kinds: what a rule's ``<kind>_output(...)`` writes, behind one interface.

Each kind is an :class:`Emitter` made from the declared :class:`~sodabuild.rules.model.Output`
and fed an :class:`ElementTable` (kept by ``emit.outputs.Assembler``: each element's JSON
text computed once, elements grouped by module, the manifest's operations). A whole-file
output is spliced from the cached texts; a per-module output rebuilds only the modules
whose elements changed and owns the files of its suffix below its directory (a stale one
is removed at commit). A new kind is one class and one :data:`KINDS` entry; the Starlark
constructor ``<kind>_output`` and the config checks follow from the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from graphql import GraphQLSchema

    from sodabuild.emit.outputs import Element
    from sodabuild.rules.model import Output


@dataclass
class ElementTable:
    """A project's elements as the emitters read them (maintained by the Assembler)."""

    project: str
    schema_hash: str = ""
    elements: dict[str, Element] = field(default_factory=dict)
    #: ``"id": {...}`` JSON text of each element (as ``dumps`` writes it inside a map).
    texts: dict[str, bytes] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # sorted
    modules: dict[str, list[str]] = field(default_factory=dict)  # module -> sorted ids
    #: Operations by (name, id), one per distinct (name, document): what manifests list.
    operations: list[Element] = field(default_factory=list)
    #: Apollo manifest entry text of each operation, computed once.
    operation_texts: dict[str, bytes] = field(default_factory=dict)
    #: The project's resolved plugin options (``[plugins.<name>]``), for emitters that
    #: read them (set by the OutputStage before each emission).
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Builds the project's schema when an emitter first asks for it (set by the
    #: OutputStage for the length of one emission): outputs that do not need the schema
    #: never build it.
    schema_source: Callable[[], GraphQLSchema | None] | None = None
    _schema: tuple[str, GraphQLSchema | None] | None = None

    def schema(self) -> GraphQLSchema | None:
        """The project's GraphQL schema (None without one), built once per schema hash."""
        if self._schema is not None and self._schema[0] == self.schema_hash:
            return self._schema[1]
        if self.schema_source is None:
            return None
        built = self.schema_source()
        self._schema = (self.schema_hash, built)
        return built


class Emitter(Protocol):
    """One declared output of one project."""

    #: ``dir/*.suffix`` of the per-module files this output owns, or None.
    owned: str | None

    def files(self, table: ElementTable, dirty: set[str]) -> dict[str, bytes]:
        """Every file of this output (out_dir-relative path -> bytes); ``dirty``: the
        modules whose elements changed since the last call (per-module outputs rebuild
        those only)."""
        ...

    def counts(self) -> tuple[int, int]:
        """(files reused, files rebuilt) by the last call, for per-module outputs."""
        ...


@dataclass(frozen=True)
class Kind:
    """An output kind: its emitter and the formats it accepts (None: no format)."""

    make: Callable[[Output], Emitter]
    per_module: bool = False  # a directory of files, one per module with elements
    formats: tuple[str, ...] | None = None
    default_format: str | None = None
    description: str = ""
    #: The Starlark constructor (default ``<kind>_output``).
    constructor: str = ""


class _WholeFile:
    owned: str | None = None

    def __init__(self, output: Output, write: Callable[[ElementTable], bytes]) -> None:
        self.path = output.path
        self.write = write

    def files(self, table: ElementTable, dirty: set[str]) -> dict[str, bytes]:
        return {self.path: self.write(table)}

    def counts(self) -> tuple[int, int]:
        return 0, 0


class PerModule:
    """A file per module under the output's directory, rebuilt when the module is dirty;
    ``write`` gets the module and its element ids (sorted), and returns None for a module
    that needs no file."""

    def __init__(
        self,
        output: Output,
        suffix: str,
        write: Callable[[ElementTable, str, list[str]], bytes | None],
    ) -> None:
        self.directory = output.path
        self.suffix = suffix
        self.owned: str | None = f"{output.path}/*{suffix}"
        self.write = write
        self._files: dict[str, bytes | None] = {}
        self._counts = (0, 0)

    def path(self, module: str) -> str:
        return f"{self.directory}/{module}{self.suffix}"

    def files(self, table: ElementTable, dirty: set[str]) -> dict[str, bytes]:
        kept = {m: data for m, data in self._files.items() if m in table.modules and m not in dirty}
        built = 0
        for module, keys in table.modules.items():
            if module not in kept:
                built += 1
                kept[module] = self.write(table, module, keys)
        self._files = kept
        self._counts = (len(kept) - built, built)
        return {self.path(m): data for m in table.modules if (data := kept[m]) is not None}

    def counts(self) -> tuple[int, int]:
        return self._counts


def _artifact(output: Output) -> Emitter:
    from sodabuild.emit.outputs import artifact_bytes

    return _WholeFile(output, lambda t: artifact_bytes(t.project, t.schema_hash, t))


def _manifest(output: Output) -> Emitter:
    from sodabuild.emit import outputs

    writers: dict[str, Callable[[ElementTable], bytes]] = {
        "apollo": outputs.apollo_manifest,
        "relay": lambda t: outputs.documents_by_id(t, _hex),
        "persisted-documents": lambda t: outputs.documents_by_id(t, lambda e: e.hash),
    }
    return _WholeFile(output, writers[output.format or "apollo"])


def _hex(element: Element) -> str:
    return element.hash.removeprefix("sha256:")


def _chunks(output: Output) -> Emitter:
    from sodabuild.emit.outputs import chunk_bytes

    return PerModule(output, ".json", lambda t, m, keys: chunk_bytes(m, [t.texts[k] for k in keys]))


def _runtime(output: Output) -> Emitter:
    from sodabuild.emit.outputs import runtime_index

    return PerModule(
        output, ".json", lambda t, m, keys: runtime_index(m, [t.elements[k] for k in keys])
    )


def _python_types(output: Output) -> Emitter:
    from sodabuild.emit.python_types import TypedModules

    return TypedModules(output)


KINDS: dict[str, Kind] = {
    "artifact": Kind(_artifact, description="every element by canonical id (artifact.json)"),
    "manifest": Kind(
        _manifest,
        formats=("apollo", "relay", "persisted-documents"),
        default_format="apollo",
        description="persisted operations: Apollo's manifest, Relay's {id: text}, or "
        "GraphQL-over-HTTP persisted documents ({'sha256:<hex>': text})",
    ),
    "chunks": Kind(
        _chunks,
        per_module=True,
        constructor="chunk_output",
        description="one JSON file per source module with elements",
    ),
    "runtime": Kind(
        _runtime,
        per_module=True,
        description="one JSON index per module: the prebuilt documents that"
        " sodabuild.graphql.gql() returns without composing (zero-runtime mode)",
    ),
    "python_types": Kind(
        _python_types,
        per_module=True,
        description="typed results: per source module, pydantic models of each operation's"
        " result, TypedDict variables, fragments as reusable types (a Python package)",
    ),
}


def constructor(kind: str) -> str:
    """The name a rule file calls to declare an output of ``kind``."""
    return KINDS[kind].constructor or f"{kind}_output"


def emitter(output: Output) -> Emitter:
    return KINDS[output.kind].make(output)


def output_key(output: Output) -> str:
    """How a project's summary names an output: its kind, with a non-default format."""
    kind = KINDS[output.kind]
    if output.format is None or output.format == kind.default_format:
        return output.kind
    return f"{output.kind}:{output.format}"


__all__ = [
    "KINDS",
    "ElementTable",
    "Emitter",
    "Kind",
    "PerModule",
    "constructor",
    "emitter",
    "output_key",
]
