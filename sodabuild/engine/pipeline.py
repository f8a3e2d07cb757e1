"""The cold build: discover -> scan -> resolve -> compose -> validate -> emit -> write.

``build_workspace`` runs every stage for the selected projects of a resolved workspace and
returns a :class:`BuildResult` (per-project outputs, element and module counts, located
diagnostics, phase timings and the module/definition graphs). Stages are pure functions of
explicit inputs (file bytes, config slices, rules, schema), so a later incremental engine
can cache them per module and per definition.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sodabuild.config.locate import config_location
from sodabuild.config.model import ResolvedProject, ResolvedWorkspace
from sodabuild.diagnostics import Diagnostic, Severity, SodabuildError
from sodabuild.emit.outputs import Element
from sodabuild.engine.composition import CompositionStage
from sodabuild.engine.discovery import PROGRESS_STRIDE, DiscoveryStage
from sodabuild.engine.documents import DocumentStage
from sodabuild.engine.outputs import OutputStage
from sodabuild.engine.sources import SourceStore
from sodabuild.engine.state import (
    STATE_VERSION,
    CacheCounts,
    ComposedEntry,
    SessionMemory,
    WarmState,
)
from sodabuild.engine.validation import ValidationStage
from sodabuild.graph import DefinitionGraph, ModuleGraph
from sodabuild.memory import gc_frozen, gc_paused
from sodabuild.render.progress import Progress, active
from sodabuild.resolve import DefRef, ModuleResolver, NameResolver
from sodabuild.rules.load import RuleSet
from sodabuild.rules.model import PruningFilter, Rule
from sodabuild.scan import GqlDefinition, ModuleScan

if TYPE_CHECKING:
    from sodabuild.compose.document import Composed
    from sodabuild.remote.share import RemoteShare
    from sodabuild.resolve.specifiers import SpecifierResolver
    from sodabuild.validate.documents import HostMap

PHASES = ("discover", "scan", "resolve", "compose", "validate", "emit", "write")


@dataclass
class ProjectResult:
    name: str
    root: str
    out_dir: str
    outputs: dict[str, str] = field(default_factory=dict)
    elements: int = 0
    modules: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failed_definitions: int = 0
    #: Documents not built because part of them is known only at run time (warned).
    dynamic_definitions: int = 0
    #: Documents the build covered (discovered, after the graph filter).
    documents: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    wrote: bool = False
    #: The graph filter in force (``--graph-filter`` over the rule's default); "" = all.
    graph_filter: str = ""
    #: Cache lookups this project's build made: {"hits", "misses", "skips"} (a result two
    #: projects use counts for the first that looked it up); None when they cannot be told
    #: apart (a live session applied an edit to several projects at once).
    cache: dict[str, int] | None = None
    #: The project's schema did not build or is missing (reported once per build, maybe on
    #: another project that reads the same schema files): nothing could be validated.
    schema_failed: bool = False

    @property
    def ok(self) -> bool:
        errors = any(d.severity is Severity.ERROR for d in self.diagnostics)
        return not errors and self.failed_definitions == 0 and not self.schema_failed


@dataclass
class BuildResult:
    workspace: str
    root: str
    projects: list[ProjectResult]
    timings: dict[str, float]
    counts: dict[str, int]
    module_graph: ModuleGraph
    definition_graph: DefinitionGraph
    check: bool = False
    state: WarmState | None = None
    #: "full": every stage ran (reusing the cache); "changes": a change set was applied
    #: to the session's last build (engine/update.py).
    mode: str = "full"
    #: What the remote cache did (``--json``: ``cache.remote``); None without one.
    remote: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.projects) and not (
            self.check and any(p.stale for p in self.projects)
        )


#: Warnings a definition meets while composed: the fast path carries them over while
#: some definition that met them is not recomposed (one that is reports afresh).
OWNED_WARNINGS = frozenset({"GQL_DYNAMIC", "GQL_UNUSED_FRAGMENT_ARG"})
#: Warnings of inputs the fast path never re-reads (schemas, discovery): carried over.
BUILD_WARNINGS = frozenset({"SCHEMA_SPEC", "INPUT_SKIPPED"})


def diagnostic_key(diagnostic: Diagnostic) -> tuple[Any, ...]:
    """What makes two diagnostics the same report."""
    d = diagnostic
    return (d.code, d.file, d.line, d.column, d.message)


class NeedsFullBuild(Exception):
    """A graph being updated met something only the full build handles (engine/update.py)."""


@dataclass(eq=False)
class Plan:
    """One rule applied to one project: its files, definitions, schema and elements."""

    project: ResolvedProject
    rule: Rule
    files: list[str]
    #: The definitions of each file that passes the pre-filter, in file order.
    by_file: dict[str, list[DefRef]]
    #: What the graph filter keeps of the plan's definitions (all of them by default).
    pruning: PruningFilter = field(default_factory=PruningFilter)
    #: The definitions the build covers, in file order (after pruning).
    refs: list[DefRef] = field(default_factory=list)
    pruned: bool = False
    schema_files: list[tuple[str, bytes]] | None = None
    schema_id: str = ""
    schema_ok: bool = False
    #: The definitions that built, as the outputs show them.
    elements: dict[DefRef, Element] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.refs = [ref for refs in self.by_file.values() for ref in refs]


class _Tally:
    """The cache lookups made inside a ``with`` block, added to a project's counts."""

    __slots__ = ("before", "cache", "into")

    def __init__(self, cache: CacheCounts, into: list[int]) -> None:
        self.cache, self.into, self.before = cache, into, (0, 0, 0)

    def __enter__(self) -> None:
        self.before = (self.cache.hits, self.cache.misses, self.cache.skips)

    def __exit__(self, *exc: object) -> None:
        hits, misses, skips = self.before
        self.into[0] += self.cache.hits - hits
        self.into[1] += self.cache.misses - misses
        self.into[2] += self.cache.skips - skips


class _Timer:
    """Wall time per phase; phases are entered per definition, so entering one is cheap."""

    def __init__(self) -> None:
        self.timings = dict.fromkeys(PHASES, 0.0)

    def phase(self, name: str) -> _Phase:
        return _Phase(self.timings, name)


class _Phase:
    __slots__ = ("name", "start", "timings")

    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name, self.start = timings, name, 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        timings = self.timings  # "remote" appears only in builds that use a remote cache
        timings[self.name] = timings.get(self.name, 0.0) + time.perf_counter() - self.start


class _Build:
    def __init__(
        self,
        workspace: ResolvedWorkspace,
        rules: RuleSet,
        selected: list[ResolvedProject],
        check: bool,
        warm: WarmState | None = None,
        memory: SessionMemory | None = None,
        graph_filter: Mapping[str, Any] | None = None,
        remote: RemoteShare | None = None,
    ) -> None:
        self.workspace = workspace
        #: The remote cache's share of the warm state (remote/share.py), if configured.
        self.remote = remote
        if remote is not None and (warm is None or warm.version != STATE_VERSION):
            warm = WarmState()  # what a fetch fills
        #: ``--graph-filter`` fields (prune.parse_graph_filters), over each rule's default.
        self.graph_filter = dict(graph_filter or {})
        self._users: dict[DefRef, list[DefRef]] | None = None
        self.warm = warm if warm is not None and warm.version == STATE_VERSION else None
        self.root = Path(workspace.root)
        self.rules = rules
        self.selected = selected
        self.check = check
        self.timer = _Timer()
        self.owners = sorted(
            workspace.projects, key=lambda p: (-len(p.root if p.root != "." else ""), p.name)
        )
        self.store = SourceStore(
            self.root,
            self._gql_modules_for,
            scanner_for=self._scanner_for,
            warm=self.warm,
            max_bytes=workspace.max_file_bytes,
        )
        self.cache = self.store.cache
        #: Where a long build says how far it is (a no-op unless the CLI shows a line).
        self.progress: Progress = active()
        #: Cache lookups per project [hits, misses, skips], and the counter they read.
        self.project_cache: dict[str, list[int]] = {}
        self._tallied: CacheCounts | None = None
        self.started_ns = time.time_ns()
        self.resolvers = {p.name: self._resolver(p) for p in workspace.projects}
        self.names = NameResolver(self._scan_reporting, self._resolver_for)
        self.module_graph = ModuleGraph()
        self.definition_graph = DefinitionGraph()
        self.results = {p.name: ProjectResult(p.name, p.root, p.out_dir) for p in selected}
        self.current: str = selected[0].name if selected else ""
        self._seen: set[tuple[str, str | None, int | None, int | None, str]] = set()
        self._requester: dict[str, str] = {}
        self._host: HostMap | None = None
        #: What a live session keeps between builds: built schemas, output assemblers.
        self.memory = memory if memory is not None else SessionMemory()
        self.plans: list[Plan] = []
        #: Static text of each definition, and fragments found by name.
        self.documents = DocumentStage(
            self.store.scan,
            self.names,
            self.definition,
            self.project_of,
            self.project_refs,
            self.report,
        )
        #: Discover and scan: files, definitions, imports.
        self.discovery = DiscoveryStage(
            workspace=workspace,
            rules=rules,
            store=self.store,
            module_graph=self.module_graph,
            resolver_for=self._resolver_for,
            scanner_for=self._scanner_for,
            scan_diagnostics=self.scan_diagnostics,
            report=self.report,
            progress=lambda: self.progress,
            current=lambda: self.current,
        )
        #: Compose: definitions with their fragments, cached by key.
        self.composition = CompositionStage(
            documents=self.documents,
            names=self.names,
            store=self.store,
            definition_graph=self.definition_graph,
            definition=self.definition,
            project_of=self.project_of,
            scan_diagnostics=self.scan_diagnostics,
            host=self.host,
            report=self.report,
            cache=lambda: self.cache,
            warm=lambda: self.warm,
            timer=lambda: self.timer,
        )
        #: Validate: schemas built once, documents validated against them.
        self.validation = ValidationStage(
            self.store.data,
            self.store.problems,
            lambda project, key: config_location(self.workspace, project, key),
            self.memory.schemas,
            lambda: self.warm,
            lambda: self.cache,
            self.composition.compositions.get,
            self.composition.full,
            lambda: {f"{ref.path}::{ref.name}": ref for ref in self.composition.parses},
            self.host,
            self.definition,
            self.report,
        )
        #: Emit and write: staged outputs, one commit per project.
        self.outputs = OutputStage(
            self.root,
            selected,
            lambda: self.results,
            self.memory.assemblers,
            lambda: self.warm,
            check,
            lambda name: self.timer.phase(name),
            lambda diagnostic, project: self.report(diagnostic, project=project),
            self.memory.commits,
        )
        #: Outputs that read the schema (typed results) share the one validation built.
        self.outputs.schema_source = lambda files, identity: (
            self.validation.schema(files, identity).schema
        )
        #: Set while a change set is applied to this graph: any diagnostic aborts it.
        self.strict = False
        #: Definition warnings (OWNED_WARNINGS) -> the definitions that met them.
        self.diagnostic_refs: dict[tuple[Any, ...], set[DefRef]] = {}
        #: The warnings of the last build, by project, that the fast path carries over.
        self.carried: dict[str, list[Diagnostic]] = {}

    # -- helpers ----------------------------------------------------------------------------

    def project_of(self, path: str) -> ResolvedProject:
        """The project that owns ``path`` (the current one for a file outside all)."""
        return self.owner(path) or self.workspace.project(self.current)

    def project_refs(self, name: str) -> Iterator[DefRef]:
        """Every discovered definition of project ``name`` (before the graph filter)."""
        for plan in self.plans:
            if plan.project.name == name:
                for refs in plan.by_file.values():
                    yield from refs

    def owner(self, path: str) -> ResolvedProject | None:
        for project in self.owners:
            if project.root == "." or path.startswith(project.root + "/"):
                return project
        return None

    def _gql_modules_for(self, path: str) -> tuple[str, ...]:
        project = self.project_of(path)
        return tuple(project.graphql_options().gql_modules)

    def _resolver(self, project: ResolvedProject) -> ModuleResolver:
        others = tuple(
            root
            for p in self.workspace.projects
            if p.name != project.name
            for root in p.source_roots
        )

        def specifiers() -> SpecifierResolver:
            from sodabuild.resolve.specifiers import SpecifierResolver, alias_patterns

            patterns = alias_patterns(project.aliases, project.ts_paths)
            return SpecifierResolver(patterns, project.ts_base_url, self.store.exists)

        return ModuleResolver(
            project.aliases, project.source_roots, others, self.store.exists, specifiers
        )

    def _resolver_for(self, path: str) -> ModuleResolver:
        owner = self.owner(path)
        return self.resolvers[owner.name if owner else self.current]

    def report(self, diagnostic: Diagnostic, project: str | None = None) -> None:
        """Record a diagnostic once per build, on the project that met it first (and, for
        a definition's warnings, which definitions met it: see ``carried``)."""
        if self.strict:
            raise NeedsFullBuild(diagnostic.render())
        key = diagnostic_key(diagnostic)
        if self.composition.composing and diagnostic.code in OWNED_WARNINGS:
            self.diagnostic_refs.setdefault(key, set()).add(self.composition.composing[-1])
        if key in self._seen:
            return
        self._seen.add(key)
        self.results[project or self.current].diagnostics.append(diagnostic)

    def canonical_id(self, ref: DefRef, project: ResolvedProject) -> str:
        owner = self.owner(ref.path)
        if owner is None:
            return f"//{ref.path}::{ref.name}"
        rel = ref.path if owner.root == "." else ref.path[len(owner.root) + 1 :]
        if owner.name == project.name:
            return f"{rel}::{ref.name}"
        return f"{owner.name}:{rel}::{ref.name}"

    def definition(self, ref: DefRef) -> GqlDefinition:
        scan = self.store.scan(ref.path)
        assert scan is not None
        found = scan.definition(ref.name)
        assert isinstance(found, GqlDefinition), ref
        return found

    def _scan_reporting(self, path: str) -> ModuleScan | None:
        """A scan for name resolution: a file walked through reports its own problems."""
        self.scan_diagnostics(path)
        return self.store.scan(path)

    def scan_diagnostics(self, path: str) -> None:
        scan = self.store.scan(path)
        if scan is not None and path not in self._requester:
            self._requester[path] = self.current
            for diagnostic in scan.diagnostics:
                self.report(diagnostic)

    # -- stages -----------------------------------------------------------------------------

    def host(self) -> HostMap:
        if self._host is None:
            from sodabuild.validate.documents import HostMap

            self._host = HostMap()
        return self._host

    def _scanner_for(self, path: str) -> str:
        """The scanner the owning project's extension map gives ``path`` (a module reached
        through an import with an unmapped suffix is Python)."""
        suffix = posixpath.splitext(path)[1]
        return self.project_of(path).extensions.get(suffix, "python")

    def duplicates(self, project: ResolvedProject, refs: list[DefRef]) -> None:
        first: dict[str, DefRef] = {}
        for ref in refs:
            composed = self.composition.compositions.get(ref)
            parsed = self.composition.parses.get(ref)
            if composed is not None:
                if composed.kind != "operation":
                    continue
                name = composed.name
            elif parsed is not None and parsed.main.kind == "operation_definition":
                name = parsed.main.name.value if parsed.main.name else ""
            else:
                continue
            if name in first:
                other = first[name]
                original = self.definition(other)
                definition = self.definition(ref)
                before = self.composition.compositions.get(other)
                if (other.path == ref.path and original.call == definition.call) or (
                    composed is not None and before is not None and composed.hash == before.hash
                ):
                    # variants of one call, or one document reached twice (a marked string
                    # also passed to gql()): the same operation, not a clash
                    continue
                self.report(
                    Diagnostic(
                        "GQL_DUPLICATE_OPERATION",
                        f"operation '{name}' is already defined at "
                        f"{other.path}:{original.line}:{original.column}",
                        ref.path,
                        definition.line,
                        definition.column,
                        hint="operation names key the persisted-query manifest; make them unique",
                    )
                )
                self.composition.compositions[ref] = None
            else:
                first[name] = ref

    def warm_state(self) -> WarmState:
        """What this build leaves for the next one."""
        from sodabuild.session.fingerprint import dir_stamp

        dirs = dict(self.discovery.dir_stamps)
        for directory in self.store.probed_dirs:
            dirs.setdefault(directory, dir_stamp(str(self.root / directory)))
        state = WarmState(
            recorded_ns=self.started_ns,
            files=dict(self.store.stamps),
            dirs=dirs,
            scans=dict(self.store.scans_used),
            markers=dict(self.store.markers_used),
            composed={
                ref: ComposedEntry(
                    self.composition.keys[ref],
                    composed.stripped(),
                    self.composition.warnings[ref],
                    *self.composition.sources[ref],
                )
                for ref, composed in self.composition.compositions.items()
                if composed is not None and ref in self.composition.keys
            },
            reasons=dict(self.composition.reasons),
            file_reasons=dict(self.store.file_reasons),
            validated=set(self.validation.validated_ok),
            validated_schemas=set(self.validation.good_schemas),
            schema_warnings={
                h: w
                for h, w in self.validation.schema_warnings.items()
                if h in self.validation.good_schemas
            },
            outputs=dict(self.outputs.output_stamps),
            outputs_recorded_ns=time.time_ns(),
            output_dirs=dict(self.outputs.output_dirs),
        )
        return state

    def element(self, ref: DefRef, composed: Composed, project: ResolvedProject) -> Element:
        definition = self.definition(ref)
        fragments = sorted(
            self.canonical_id(piece.element, project)
            for piece in composed.fragments
            if isinstance(piece.element, DefRef)
        )
        module = self.module_path(ref, project)
        return Element(
            id=self.canonical_id(ref, project),
            module=module,
            binding=ref.name,
            line=definition.line,
            kind=composed.kind,
            name=composed.name,
            operation=composed.operation,
            type_condition=composed.type_condition,
            document=composed.document,
            fragments=tuple(fragments),
            variables=composed.variables,
            hash=composed.hash,
            runtime_key=self.runtime_key(ref, definition),
            fragment_names=tuple(piece.name for piece in composed.fragments),
        )

    def runtime_key(self, ref: DefRef, definition: GqlDefinition) -> str:
        """What the run-time ``gql()`` of this call looks its prebuilt document up by: its
        evaluated string and the hashes of the fragments passed ("" if not a call)."""
        from sodabuild.graphql import runtime_key
        from sodabuild.scan.static import joined

        text = self.documents.text(ref, quiet=True)
        if definition.kind != "call" or text is None:
            return ""
        passed = self.composition.targets.get(ref, ())[: len(definition.args)]
        hashes = [self.composition.compositions[target].hash for target in passed]  # type: ignore[union-attr]
        return runtime_key(joined(text), hashes)

    # -- pruning ----------------------------------------------------------------------------

    def module_path(self, ref: DefRef, project: ResolvedProject) -> str:
        """``ref``'s module relative to the project root (as outputs show it)."""
        return ref.path if project.root == "." else ref.path[len(project.root) + 1 :]

    def fragments_of(self, ref: DefRef) -> list[DefRef]:
        """The definitions ``ref``'s gql() call passes (resolved quietly: building the
        definitions reports what does not resolve)."""
        found = []
        for index in range(len(self.definition(ref).args)):
            target = self.composition.lookup_arg(ref, index)
            if isinstance(target, DefRef):
                found.append(target)
        return found

    def users_of(self, ref: DefRef) -> list[DefRef]:
        """Definitions of the selected projects that pass ``ref`` (an index over every
        discovered definition, pruned or not, built once when a filter's depth asks)."""
        if self._users is None:
            self._users = {}
            for plan in self.plans:
                for refs in plan.by_file.values():
                    for user in refs:
                        for target in self.fragments_of(user):
                            self._users.setdefault(target, []).append(user)
        return self._users.get(ref, [])

    def prune(self, plan: Plan) -> None:
        """Apply the plan's graph filter: the rule's default with ``--graph-filter`` over it."""
        from sodabuild.prune import definition_kind, describe, effective_filter, select

        plan.pruning = effective_filter(plan.rule.pruning, self.graph_filter)
        self.results[plan.project.name].graph_filter = describe(plan.pruning)
        if not self.results[plan.project.name].graph_filter:
            return
        project = plan.project
        chosen = select(
            plan.refs,
            plan.pruning,
            module_of=lambda ref: self.module_path(ref, project),
            id_of=lambda ref: self.canonical_id(ref, project),
            kind_of=lambda ref: definition_kind(self.documents.source_text(ref)),
            fragments_of=self.fragments_of,
            users_of=self.users_of,
        )
        plan.refs = [ref for ref in plan.refs if ref in chosen]
        plan.pruned = True

    # -- the whole build --------------------------------------------------------------------

    def tally(self, project: str) -> _Tally:
        """Count the cache lookups of a ``with`` block for ``project``."""
        return _Tally(self.cache, self.project_cache.setdefault(project, [0, 0, 0]))

    def run(self) -> BuildResult:
        progress = self.progress
        self._tallied = self.cache
        with gc_paused():
            for index, project in enumerate(self.selected):
                self.current = project.name
                with self.tally(project.name):
                    for rule in self.discovery.rule_objects(project):
                        progress.update(
                            f"discover {project.name}", index, len(self.selected), "projects"
                        )
                        with self.timer.phase("discover"):
                            files = self.discovery.discover(project, rule)
                        if self.remote is not None and self.warm is not None:
                            with self.timer.phase("remote"):
                                if self.remote.wanted(files, self.warm):
                                    self.remote.fetch(
                                        project.name,
                                        self._remote_context(project, rule),
                                        self._remote_inputs(project, files),
                                        self.warm,
                                    )
                        progress.update(f"scan {project.name}", 0, len(files), "files")
                        with self.timer.phase("scan"):
                            by_file = self.discovery.entries(files, rule)
                        with self.timer.phase("resolve"):
                            self.discovery.link_modules(files)
                        self.plans.append(Plan(project, rule, files, by_file))
            self.no_documents()
            with self.timer.phase("resolve"):
                for plan in self.plans:
                    self.current = plan.project.name
                    with self.tally(plan.project.name):
                        self.prune(plan)
            resolve_before = self.timer.timings["resolve"]
            done, total = 0, sum(len(plan.refs) for plan in self.plans)
            progress.update("compose", done, total, "definitions")
            for plan in self.plans:
                self.current = plan.project.name
                with self.timer.phase("compose"), self.tally(plan.project.name):
                    for ref in plan.refs:
                        self.composition.composed(ref)
                        done += 1
                        if not done % PROGRESS_STRIDE:
                            progress.update("compose", done, total, "definitions")
            # argument resolution runs inside composition; count it once, under resolve
            self.timer.timings["compose"] -= self.timer.timings["resolve"] - resolve_before
        with gc_frozen():
            done = 0
            for plan in self.plans:
                self.current = plan.project.name
                self.results[plan.project.name].modules += len(plan.files)
                progress.update(f"validate {plan.project.name}", done, total, "definitions")
                with self.tally(plan.project.name):
                    self.duplicates(plan.project, plan.refs)
                    with self.timer.phase("validate"):
                        self.validation.check_schema(plan, plan.refs)
                    if not plan.schema_ok:
                        self.results[plan.project.name].schema_failed = True
                    self.build_elements(plan, plan.refs)
                done += len(plan.refs)
                progress.update("emit", done, total, "definitions")
                self.outputs.emit(plan)
            progress.update("write", len(self.selected), len(self.selected), "projects")
            self.outputs.commit()
            validation = self.validation
            validation.validated_ok = {key for key, ok in validation.validated.items() if ok}
        for identity in set(self.memory.schemas) - self.validation.schema_ids:
            del self.memory.schemas[identity]  # keep only the projects' current schemas
        return self.finish()

    def no_documents(self) -> None:
        """Warn about each selected project whose discovered files hold no document."""
        for project in self.selected:
            plans = [plan for plan in self.plans if plan.project.name == project.name]
            if not plans or any(plan.refs for plan in plans):
                continue
            if any(
                scan is not None and not scan.parsed
                for plan in plans
                for path in plan.by_file
                for scan in (self.store.scan(path),)
            ):
                continue  # a file that does not parse is reported; it may hold documents
            files = sum(len(plan.files) for plan in plans)
            file, line, column = config_location(self.workspace, project, "include")
            self.report(
                Diagnostic(
                    "GQL_NO_DOCUMENTS",
                    f"project '{project.name}' has no GraphQL documents: {files} files "
                    "discovered, none holds a gql() call, a marked string or a definition",
                    file,
                    line,
                    column,
                    hint=self.searched(project, plans),
                    severity=Severity.WARNING,
                ),
                project=project.name,
            )

    def searched(self, project: ResolvedProject, plans: list[Plan]) -> str:
        """What the scanners looked for, and where (the hint of GQL_NO_DOCUMENTS)."""

        def listed(values: Iterable[str]) -> str:
            return ", ".join(dict.fromkeys(values)) or "nothing"

        rules = [plan.rule for plan in plans]
        own = project.include is not None
        include = project.include if own else [g for r in rules for g in r.discovery.include]
        minus = f", minus {listed(project.exclude)}" if project.exclude else ""
        where = "the workspace root" if project.root == "." else project.root
        python = {p for plan in plans for p in plan.files if self._scanner_for(p) == "python"}
        passed = sum(1 for plan in plans for p in plan.by_file if p in python)
        markers = " or ".join(dict.fromkeys(repr(r.discovery.prefilter) for r in rules))
        suffixes = listed(s for s, scanner in project.extensions.items() if scanner == "graphql")
        modules = listed(project.graphql_options().gql_modules)
        scripts = {
            p
            for plan in plans
            for p in plan.files
            if self._scanner_for(p) in ("typescript", "javascript")
        }
        script_part = ""
        if scripts:
            read = sum(1 for plan in plans for p in plan.by_file if p in scripts)
            script_part = (
                f"; a TypeScript or JavaScript file is parsed only if it contains 'gql' or "
                f"'graphql' ({read} of {len(scripts)} did), and then graphql`...` and gql`...` "
                "tagged templates and gql()/graphql() calls count"
            )
        return (
            f"searched {where} for {listed(include or ())} ({'the project' if own else 'the rule'}"
            f"'s include globs{minus}); a Python file is parsed only if it contains {markers} "
            f"or `language=GraphQL` ({passed} of {len(python)} did), and then gql() counts when "
            f"imported from {modules} ([plugins.graphql] gql_modules) and a string when marked "
            f"`# language=GraphQL`{script_part}; {suffixes} files count when they hold an "
            "operation or a fragment"
        )

    def build_elements(self, plan: Plan, refs: list[DefRef]) -> None:
        """Validate ``refs`` and (re)make their elements; a failure drops its element."""
        result = self.results[plan.project.name]
        for ref in refs:
            plan.elements.pop(ref, None)
            composed = self.composition.compositions.get(ref)
            if composed is None:
                if (
                    ref not in self.documents.dynamic
                ):  # dynamic ones are warned, counted in finish()
                    result.failed_definitions += 1
                continue
            if not plan.schema_ok or plan.schema_files is None:
                continue
            with self.timer.phase("validate"):
                ok = self.validation.validate(
                    ref, composed, plan.schema_files, plan.schema_id, self.validation.validated
                )
            if not ok:
                result.failed_definitions += 1
                continue
            plan.elements[ref] = self.element(ref, composed, plan.project)

    def counts(self) -> dict[str, int]:
        return {
            "files_seen": self.store.counts.seen,
            "files_read": self.store.counts.read,
            "files_parsed": self.store.counts.parsed,
            "elements": sum(r.elements for r in self.results.values()),
            "definitions": len(self.composition.compositions),
            "documents_validated": self.validation.validated_count,
            "combined_parts": self.validation.combined_parts,
            "combined_aborted": self.validation.combined_aborted,
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
            "cache_skips": self.cache.skips,
            **self.outputs.chunk_counts,
            "module_edges": self.module_graph.edge_count(),
            "definition_edges": self.definition_graph.edge_count(),
        }

    def finish(self, state: WarmState | None = None) -> BuildResult:
        tallied = self._tallied is self.cache  # else a change set was applied: no tally
        for result in self.results.values():
            plans = [plan for plan in self.plans if plan.project.name == result.name]
            if tallied or len(self.results) == 1:
                hits, misses, skips = (
                    self.project_cache.get(result.name, [0, 0, 0])
                    if tallied
                    else (self.cache.hits, self.cache.misses, self.cache.skips)
                )
                result.cache = {"hits": hits, "misses": misses, "skips": skips}
            result.elements = sum(len(plan.elements) for plan in plans)
            result.documents = sum(len(plan.refs) for plan in plans)
            result.dynamic_definitions = sum(
                1 for plan in plans for ref in plan.refs if ref in self.documents.dynamic
            )
            result.diagnostics.sort(key=Diagnostic.sort_key)
        state = state if state is not None else self.warm_state()
        if self.remote is not None and not self.check:
            with self.timer.phase("remote"):
                for plan in self.plans:
                    self.remote.upload(
                        self._remote_context(plan.project, plan.rule),
                        self._remote_inputs(plan.project, plan.files),
                        state,
                    )
        built = BuildResult(
            self.workspace.name,
            self.workspace.root,
            [self.results[p.name] for p in self.selected],
            dict(self.timer.timings),
            self.counts(),
            self.module_graph,
            self.definition_graph,
            self.check,
            state,
        )
        self.retain(built)
        return built

    def _remote_context(self, project: ResolvedProject, rule: Rule) -> str:
        from sodabuild.remote.share import RemoteShare

        # both hold no absolute path: the same in every checkout
        return RemoteShare.context(project.model_dump_json(), rule.content_hash())

    def _remote_inputs(self, project: ResolvedProject, files: list[str]) -> dict[str, str]:
        """The project's inputs (discovered files and schemas) by content hash."""
        found = {}
        for path in [*files, *project.schema_paths]:
            digest = self.store.hash(path)
            if digest is not None:
                found[path] = digest
        return found

    def prepare(self) -> None:
        """Load what the next change would wait for: the modules that compose and validate,
        and each project's built schema (a build that reused every validation never built
        one)."""
        import sodabuild.compose.document
        import sodabuild.validate.combined
        import sodabuild.validate.documents  # noqa: F401

        for plan in self.plans:
            if plan.schema_files is not None and plan.schema_ok:
                self.validation.schema(plan.schema_files, plan.schema_id)

    def retain(self, result: BuildResult) -> None:
        """Keep this build as the session's graph for the next change set (the fast path
        in engine/update.py), without what it no longer needs: ASTs and file bytes."""
        self.memory.graph = None
        if self.check or not result.ok:
            return  # the fast path starts only from a clean, written build
        for project in result.projects:
            for diagnostic in project.diagnostics:
                code = diagnostic.code
                owned = (
                    code in OWNED_WARNINGS and diagnostic_key(diagnostic) in self.diagnostic_refs
                )
                if diagnostic.severity is Severity.ERROR or not (owned or code in BUILD_WARNINGS):
                    return  # a warning the fast path could not account for
        self.carried = {p.name: list(p.diagnostics) for p in result.projects}
        self.composition.strip()
        self.warm = self.store.warm = result.state  # not the one this build started from
        self._host = None
        self.store.release()
        self.memory.graph = self


def select_projects(workspace: ResolvedWorkspace, names: list[str] | None) -> list[ResolvedProject]:
    """The projects ``-p`` names (all without one); an unknown name is a USAGE error whose
    hint suggests the closest project name."""
    if not names:
        return list(workspace.projects)
    from sodabuild.render.suggestion import did_you_mean

    known = {p.name for p in workspace.projects}
    listed = f"projects of this workspace: {', '.join(sorted(known))}"
    unknown = [n for n in names if n not in known]
    if unknown:
        diagnostics = []
        for name in unknown:
            close = did_you_mean(name, known)
            hint = f"{close} ({listed})" if close else listed
            diagnostics.append(
                Diagnostic("USAGE", f"unknown project '{name}'", workspace.file, hint=hint)
            )
        raise SodabuildError(diagnostics, root=workspace.root)
    return [p for p in workspace.projects if p.name in set(names)]


def build_workspace(
    workspace: ResolvedWorkspace,
    rules: RuleSet,
    projects: list[str] | None = None,
    *,
    check: bool = False,
    warm: WarmState | None = None,
    memory: SessionMemory | None = None,
    graph_filter: Mapping[str, Any] | None = None,
    remote: RemoteShare | None = None,
) -> BuildResult:
    """Build the selected projects (all by default); with ``check`` nothing is written.

    ``warm`` is a previous build's state (``BuildResult.state``): results whose inputs are
    unchanged are reused from it, and the outputs are byte-identical to a cold build's.
    ``graph_filter``: the fields given by ``--graph-filter`` (see sodabuild.prune).
    """
    selected = select_projects(workspace, projects)
    return _Build(workspace, rules, selected, check, warm, memory, graph_filter, remote).run()
