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

from sodabuild.config.locate import locate
from sodabuild.config.model import ResolvedProject, ResolvedWorkspace
from sodabuild.diagnostics import Diagnostic, Severity, SodabuildError
from sodabuild.discover import Matcher, discover_files
from sodabuild.emit.outputs import Element
from sodabuild.engine.documents import DocumentStage, text_signature
from sodabuild.engine.outputs import OutputStage
from sodabuild.engine.sources import SourceStore
from sodabuild.engine.state import (
    STATE_VERSION,
    CacheCounts,
    ComposedEntry,
    SessionMemory,
    WarmState,
    digest,
)
from sodabuild.engine.validation import ValidationStage
from sodabuild.graph import DefinitionGraph, ModuleGraph
from sodabuild.memory import gc_frozen, gc_paused
from sodabuild.render.progress import Progress, active
from sodabuild.resolve import DefRef, ModRef, ModuleResolver, NameResolver, Unresolved
from sodabuild.resolve.modules import ConstRef, Target
from sodabuild.rules.load import RuleSet
from sodabuild.rules.model import PruningFilter, Rule
from sodabuild.scan import GqlDefinition, ModuleScan
from sodabuild.scan.registry import SCANNERS
from sodabuild.session.fingerprint import DirStamp

if TYPE_CHECKING:
    from sodabuild.compose.document import Composed, Parsed, Problem
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

    @property
    def ok(self) -> bool:
        errors = any(d.severity is Severity.ERROR for d in self.diagnostics)
        return not errors and self.failed_definitions == 0


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


#: How often (in definitions or files) a long loop reports progress.
PROGRESS_STRIDE = 256


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
        self.timings[self.name] += time.perf_counter() - self.start


def config_location(
    workspace: ResolvedWorkspace, project: ResolvedProject, key: str
) -> tuple[str, int | None, int | None]:
    """Where ``key`` of a project is written (project file first, then inline)."""
    root = Path(workspace.root)
    index = [p.name for p in workspace.projects].index(project.name)
    for file in reversed(project.config_files):
        try:
            text = (root / file).read_text(encoding="utf-8")
        except OSError:
            continue
        path: tuple[str | int, ...] = (
            ("projects", index, key) if file == workspace.file else ("project", key)
        )
        found = locate(text, path)
        if found is not None:
            return file, found[0], found[1]
    return project.config_files[-1], None, None


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
    ) -> None:
        self.workspace = workspace
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
        self.dir_stamps: dict[str, DirStamp] = {}
        self._keys: dict[DefRef, str] = {}
        self._outcome: dict[DefRef, str] = {}
        self._sources: dict[DefRef, tuple[str, tuple[tuple[str, str], ...]]] = {}
        self.reasons: dict[str, str] = {}
        self._targets: dict[DefRef, tuple[DefRef, ...]] = {}
        self._warnings: dict[DefRef, tuple[Diagnostic, ...]] = {}
        self.started_ns = time.time_ns()
        self.resolvers = {p.name: self._resolver(p) for p in workspace.projects}
        self.names = NameResolver(self._scan_reporting, self._resolver_for)
        self.module_graph = ModuleGraph()
        self.definition_graph = DefinitionGraph()
        self.results = {p.name: ProjectResult(p.name, p.root, p.out_dir) for p in selected}
        self.current: str = selected[0].name if selected else ""
        self._seen: set[tuple[str, str | None, int | None, int | None, str]] = set()
        self._requester: dict[str, str] = {}
        self._parsed: dict[DefRef, Parsed | None] = {}
        self._composed: dict[DefRef, Composed | None] = {}
        self._in_progress: list[DefRef] = []
        self._host: HostMap | None = None
        #: What a live session keeps between builds: built schemas, output assemblers.
        self.memory = memory if memory is not None else SessionMemory()
        self.plans: list[Plan] = []
        #: The files each definition's fragment-argument resolution read (what re-resolves it).
        self.resolution_deps: dict[DefRef, frozenset[str]] = {}
        #: The reverse: file -> definitions whose resolution read it.
        self.read_by: dict[str, set[DefRef]] = {}
        #: Compositions holding ASTs, stripped when the build is kept (``retain``).
        self._with_ast: set[DefRef] = set()
        #: Validate: schemas built once, documents validated against them.
        self.validation = ValidationStage(
            self.store.data,
            self.store.problems,
            lambda project, key: config_location(self.workspace, project, key),
            self.memory.schemas,
            lambda: self.warm,
            lambda: self.cache,
            self._composed.get,
            self.full,
            lambda: {f"{ref.path}::{ref.name}": ref for ref in self._parsed},
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
        )
        #: Set while a change set is applied to this graph: any diagnostic aborts it.
        self.strict = False
        #: The definitions being composed (innermost last): who meets a warning.
        self._composing: list[DefRef] = []
        #: Definition warnings (OWNED_WARNINGS) -> the definitions that met them.
        self.diagnostic_refs: dict[tuple[Any, ...], set[DefRef]] = {}
        #: The warnings of the last build, by project, that the fast path carries over.
        self.carried: dict[str, list[Diagnostic]] = {}
        #: Static text of each definition, and fragments found by name.
        self.documents = DocumentStage(
            self.store.scan,
            self.names,
            self.definition,
            self.project_of,
            self.project_refs,
            self.report,
        )

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
        return ModuleResolver(project.aliases, project.source_roots, others, self.store.exists)

    def _resolver_for(self, path: str) -> ModuleResolver:
        owner = self.owner(path)
        return self.resolvers[owner.name if owner else self.current]

    def report(self, diagnostic: Diagnostic, project: str | None = None) -> None:
        """Record a diagnostic once per build, on the project that met it first (and, for
        a definition's warnings, which definitions met it: see ``carried``)."""
        if self.strict:
            raise NeedsFullBuild(diagnostic.render())
        key = diagnostic_key(diagnostic)
        if self._composing and diagnostic.code in OWNED_WARNINGS:
            self.diagnostic_refs.setdefault(key, set()).add(self._composing[-1])
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

    def rule_objects(self, project: ResolvedProject) -> list[Rule]:
        found = []
        for name in project.rules:
            rule = self.rules.get(name)
            if rule is None:
                file, line, column = config_location(self.workspace, project, "rules")
                raise SodabuildError(
                    [
                        Diagnostic(
                            "RULE_UNKNOWN",
                            f"project '{project.name}' selects unknown rule '{name}'",
                            file,
                            line,
                            column,
                            hint=self.rules.unknown_hint(name),
                        )
                    ],
                    root=str(self.root),
                )
            found.append(rule)
        from sodabuild.emit.registry import output_key
        from sodabuild.rules.model import outputs_problem

        kinds = [output_key(o) for rule in found for o in rule.outputs]
        problem = (
            "declare the same output twice (one output per kind and format)"
            if len(kinds) != len(set(kinds))
            # the rules share the project's out_dir: their paths may not collide either
            else outputs_problem([o for rule in found for o in rule.outputs])
        )
        if problem is not None:
            file, line, column = config_location(self.workspace, project, "rules")
            raise SodabuildError(
                [
                    Diagnostic(
                        "RULE_INVALID",
                        f"rules {', '.join(project.rules)} of '{project.name}': {problem}",
                        file,
                        line,
                        column,
                        hint="give each output of the project's rules its own path",
                    )
                ],
                root=str(self.root),
            )
        return found

    def discover(self, project: ResolvedProject, rule: Rule) -> list[str]:
        include = project.include if project.include is not None else rule.discovery.include
        matcher = Matcher(tuple(include), (*rule.discovery.exclude, *project.exclude))
        suffixes = [
            s for s, scanner in project.extensions.items() if scanner in rule.discovery.scanners
        ]
        skipped: list[Diagnostic] = []
        files = discover_files(
            self.workspace.root,
            project.root,
            matcher,
            suffixes,
            skip_dirs=(project.out_dir, self.workspace.cache_dir),
            dir_stamps=self.dir_stamps,
            skipped_inputs=skipped,
        )
        for diagnostic in skipped:  # special files and symlinks leaving the workspace
            self.report(diagnostic)
        schemas = {path for p in self.workspace.projects for path in p.schema_paths}
        files = [path for path in files if path not in schemas]
        self.store.add_known(files)
        return files

    def entries(self, files: list[str], rule: Rule) -> dict[str, list[DefRef]]:
        """The definitions of the files that pass the rule's pre-filter, by file."""
        by_file: dict[str, list[DefRef]] = {}
        total = len(files)
        for done, path in enumerate(files, 1):
            refs = self.file_entries(path, rule)
            if refs is not None:
                by_file[path] = refs
            if not done % PROGRESS_STRIDE:
                self.progress.update(f"scan {self.current}", done, total, "files")
        return by_file

    def file_entries(self, path: str, rule: Rule) -> list[DefRef] | None:
        prefiltered = SCANNERS[self._scanner_for(path)].prefiltered
        if prefiltered and not self.store.has_marker(path, rule.discovery.prefilter.encode()):
            return None
        self.scan_diagnostics(path)
        scan = self.store.scan(path)
        if scan is None:
            return None
        return [DefRef(path, d.name) for d in scan.definitions]

    def link_modules(self, files: list[str]) -> None:
        for path in files:
            scan = self.store.scanned().get(path)
            if scan is None:
                continue
            resolver = self._resolver_for(path)
            for binding in scan.imports:
                target = resolver.resolve(path, binding.level, binding.module)
                if target is not None:
                    self.module_graph.add(path, target)

    def host(self) -> HostMap:
        if self._host is None:
            from sodabuild.validate.documents import HostMap

            self._host = HostMap()
        return self._host

    def parsed(self, ref: DefRef) -> Parsed | None:
        if ref in self._parsed:
            return self._parsed[ref]
        from graphql import GraphQLError

        from sodabuild.compose.document import parse_definition
        from sodabuild.scan.static import joined

        definition = self.definition(ref)
        source_name = f"{ref.path}::{ref.name}"
        document = self.documents.documents.get(ref)
        text = document.text if document is not None else self.documents.text(ref, quiet=True)
        assert text is not None
        host = self.host()
        host.register(source_name, text)

        def origin(node: Any) -> tuple[str, int, int] | None:
            location = node.loc.source.get_location(node.loc.start)
            return host.locate(source_name, location.line, location.column)

        result: Parsed | None = None
        try:
            result, problems = parse_definition(joined(text), source_name, ref, origin)
        except GraphQLError as exc:
            self.report(
                Diagnostic(
                    "GQL_SYNTAX",
                    f"GraphQL syntax: {exc.message.removeprefix('Syntax Error: ')}",
                    *self._syntax_location(exc, ref, definition),
                    hint="fix the GraphQL syntax inside the gql() string",
                )
            )
            problems = []
        for problem in problems:
            self.report(self.problem(problem, ref, definition))
        self._parsed[ref] = result
        return result

    def _syntax_location(
        self, exc: Any, ref: DefRef, definition: GqlDefinition
    ) -> tuple[str, int, int]:
        if exc.locations:
            location = exc.locations[0]
            found = self.host().locate(f"{ref.path}::{ref.name}", location.line, location.column)
            if found is not None:
                return found
        return ref.path, definition.line, definition.column

    def problem(self, problem: Problem, ref: DefRef, definition: GqlDefinition) -> Diagnostic:
        severity = Severity.WARNING if problem.warning else Severity.ERROR
        file, line, column = ref.path, definition.line, definition.column
        if problem.arg is not None and problem.arg < len(definition.args):
            arg = definition.args[problem.arg]
            line, column = arg.line, arg.column
        elif problem.node is not None and problem.node.loc is not None:
            source = problem.node.loc.source
            location = source.get_location(problem.node.loc.start)
            found = self.host().locate(source.name, location.line, location.column)
            if found is not None:
                file, line, column = found
        return Diagnostic(problem.code, problem.message, file, line, column, problem.hint, severity)

    def lookup_arg(self, ref: DefRef, index: int) -> Target:
        """What ``ref``'s fragment argument ``index`` names (nothing reported)."""
        arg = self.definition(ref).args[index]
        target = self.names.name(ref.path, arg.parts[0])
        for part in arg.parts[1:]:
            target = self.names.attribute(target, part)
        return target

    def resolve_arg(self, ref: DefRef, index: int) -> DefRef | None:
        arg = self.definition(ref).args[index]
        target = self.lookup_arg(ref, index)
        where = (ref.path, arg.line, arg.column)
        if isinstance(target, DefRef):
            self.scan_diagnostics(target.path)
            return target
        if isinstance(target, ModRef):
            message = f"'{arg.text}' is a module, not a gql() fragment"
            self.report(Diagnostic("GQL_ARG_NOT_FRAGMENT", message, *where))
            return None
        if isinstance(target, ConstRef):
            self.report(
                Diagnostic(
                    "GQL_ARG_NOT_FRAGMENT",
                    f"'{arg.text}' is a string, not a gql() fragment",
                    *where,
                    hint="splice the string into the document (`+`), or remove the argument "
                    "and let the spread resolve by name",
                )
            )
            return None
        assert isinstance(target, Unresolved)
        if target.diagnostic is not None:
            self.report(target.diagnostic)
        elif target.kind == "unbound":
            self.report(
                Diagnostic(
                    "GQL_ARG_UNBOUND",
                    f"'{arg.text}' is not bound in this module",
                    *where,
                    hint=f"import the fragment, e.g. `from <module> import {arg.parts[-1]}`",
                )
            )
        elif target.kind == "external_module":
            self.report(
                Diagnostic(
                    "GQL_ARG_NOT_FRAGMENT",
                    f"'{arg.text}' names a module outside the workspace, not a gql() fragment",
                    *where,
                    hint="pass names bound to module-level `X = gql(...)` fragments",
                )
            )
        elif target.kind == "not_definition":
            self.report(
                Diagnostic(
                    "GQL_ARG_NOT_FRAGMENT",
                    f"'{arg.text}' is not a gql() definition",
                    *where,
                    hint="pass names bound to module-level `X = gql(...)` fragments",
                )
            )
        return None

    def _scanner_for(self, path: str) -> str:
        """The scanner the owning project's extension map gives ``path`` (a module reached
        through an import with an unmapped suffix is Python)."""
        suffix = posixpath.splitext(path)[1]
        return self.project_of(path).extensions.get(suffix, "python")

    def composed(self, ref: DefRef) -> Composed | None:
        """``ref`` composed with its fragments (memoized; None when it fails)."""
        if ref in self._composed:
            return self._composed[ref]
        self._composing.append(ref)
        try:
            return self._compose(ref)
        finally:
            self._composing.pop()

    def _compose(self, ref: DefRef) -> Composed | None:
        from sodabuild.compose.document import compose

        definition = self.definition(ref)
        text = self.documents.text(ref)
        read: set[str] = {ref.path}
        if text is None:
            self.documents.dynamic.add(ref)
            self.reasons[f"{ref.path}::{ref.name}"] = (
                "not built: part of its document is known only at run time (GQL_DYNAMIC)"
            )
            self._composed[ref] = None
            self._depends(ref, read | self.documents.deps(ref), ())
            return None
        read |= self.documents.deps(ref)
        project = self.project_of(ref.path)
        if project.fragments == "names" and definition.args:
            arg = definition.args[0]
            self.report(
                Diagnostic(
                    "GQL_ARG_INVALID",
                    f"project '{project.name}' resolves fragments by name "
                    '(fragments = "names"): fragment arguments are not used',
                    ref.path,
                    arg.line,
                    arg.column,
                    hint='remove the arguments, or set fragments = "both" in the project',
                )
            )
            self._composed[ref] = None
            self._depends(ref, read, ())
            return None
        self._in_progress.append(ref)
        args: list[Composed | None] = []
        targets: list[DefRef] = []
        identities: list[object] = []
        for index, arg in enumerate(definition.args):
            with self.timer.phase("resolve"), self.names.recording() as deps:
                target = self.resolve_arg(ref, index)
            read |= deps
            if target is not None:
                targets.append(target)
            args.append(self._argument(ref, target, (ref.path, arg.line, arg.column)))
            identities.append(target)
        passed = {arg.name for arg in args if arg is not None}
        # an argument that failed fails this definition: no by-name lookups to report
        by_name = all(arg is not None for arg in args)
        document = self.documents.document(ref, passed, by_name)
        assert document is not None
        self.documents.documents[ref] = document
        read |= document.deps
        for target in document.targets:
            targets.append(target)
            args.append(self._argument(ref, target, (ref.path, definition.line, definition.column)))
            identities.append(target)
        self._in_progress.pop()
        self._depends(ref, read, tuple(targets))
        if document.ambiguous:
            self.documents.report_ambiguous(ref, document)
            self._composed[ref] = None
            return None
        if any(target in self.documents.dynamic for target in targets):
            self.documents.dynamic.add(ref)  # a fragment it uses is reported as dynamic
        key: str | None = None
        source = text_signature(document.text, project.fragments)
        arg_outcomes = tuple((f"{t.path}::{t.name}", self._outcome.get(t, "")) for t in targets)
        if all(arg is not None for arg in args):
            # fragments enter the key by what they produced (early cutoff: a fragment whose
            # document comes out the same does not invalidate its users)
            key = digest([source, *(f"{name}={outcome}" for name, outcome in arg_outcomes)])
        entry = self.warm.composed.get(ref) if self.warm else None
        self.reasons[f"{ref.path}::{ref.name}"] = self._why(entry, key, source, arg_outcomes)
        if entry is not None and entry.key == key:
            self.cache.hit()
            cached: Composed = entry.composed  # type: ignore[assignment]
            for warning in entry.warnings:
                self.report(warning)
            self._record(ref, key, cached, entry.warnings, tuple(targets), (source, arg_outcomes))
            return cached
        parsed = self.parsed(ref)
        if parsed is None:
            self._composed[ref] = None
            return None
        self.cache.miss()
        scan = self.store.scan(ref.path)
        bound = scan.bound_names() if scan else frozenset()
        result, problems = compose(parsed, ref, args, identities, bound)
        diagnostics = [
            self.documents.unknown_hint(self.problem(p, ref, definition), project, ref)
            for p in problems
        ]
        for diagnostic in diagnostics:
            self.report(diagnostic)
        if result is None or key is None:
            self._composed[ref] = None
            return None
        self._record(ref, key, result, tuple(diagnostics), tuple(targets), (source, arg_outcomes))
        if entry is not None:
            previous: Composed = entry.composed  # type: ignore[assignment]
            before = digest([previous.hash, *(str(piece.identity) for piece in previous.fragments)])
            if before == self._outcome[ref]:
                self.reasons[f"{ref.path}::{ref.name}"] += (
                    "; its document came out the same, so nothing that uses it was"
                    " recomposed (propagation stopped here)"
                )
        return result

    def _argument(
        self, ref: DefRef, target: DefRef | None, where: tuple[str, int, int]
    ) -> Composed | None:
        """The composition of a fragment ``ref`` uses (None if it fails or is a cycle)."""
        if target is None:
            return None
        if target in self._in_progress:
            cycle = [*self._in_progress[self._in_progress.index(target) :], target]
            names = " -> ".join(r.name for r in cycle)
            self.report(
                Diagnostic(
                    "GQL_FRAGMENT_CYCLE",
                    f"fragment cycle: {names}",
                    *where,
                    hint="fragments cannot include themselves, directly or through others",
                )
            )
            return None
        return self.composed(target)

    def _depends(self, ref: DefRef, read: set[str], targets: tuple[DefRef, ...]) -> None:
        """Record the files ``ref``'s resolution read and the definitions it uses."""
        for path in self.resolution_deps.get(ref, ()):
            self.read_by[path].discard(ref)
        self.resolution_deps[ref] = frozenset(read)
        for path in read:
            self.read_by.setdefault(path, set()).add(ref)
        self.definition_graph.link(ref, targets)

    @staticmethod
    def _why(
        entry: ComposedEntry | None,
        key: str | None,
        source: str,
        args: tuple[tuple[str, str], ...],
    ) -> str:
        if key is None:
            return "failed: a fragment argument did not resolve or compose (see diagnostics)"
        if entry is None:
            return "composed: not in the cache (new, or a cold build)"
        if entry.key == key:
            return "reused: its gql() string and its fragments' documents are unchanged"
        if entry.source != source:
            return "recomposed: its gql() string changed"
        before = dict(entry.args)
        changed = [name for name, outcome in args if before.get(name) != outcome]
        gone = [name for name in before if name not in dict(args)]
        return "recomposed: fragment argument(s) changed: " + ", ".join(changed + gone)

    def _record(
        self,
        ref: DefRef,
        key: str,
        result: Composed,
        warnings: tuple[Diagnostic, ...],
        targets: tuple[DefRef, ...],
        inputs: tuple[str, tuple[tuple[str, str], ...]],
    ) -> None:
        self._composed[ref] = result
        if result.has_ast:
            self._with_ast.add(ref)
        self._keys[ref] = key
        self._outcome[ref] = digest(
            [result.hash, *(str(piece.identity) for piece in result.fragments)]
        )
        self._sources[ref] = inputs
        self._warnings[ref] = warnings
        self._targets[ref] = targets

    def full(self, ref: DefRef) -> Composed:
        """The composed definition with its AST (a cache hit has none: compose it again)."""
        from sodabuild.compose.document import compose

        current = self._composed[ref]
        assert current is not None
        if current.has_ast:
            return current
        parsed = self.parsed(ref)
        assert parsed is not None
        targets = self._targets[ref]
        args = [self.full(target) for target in targets]
        scan = self.store.scan(ref.path)
        bound = scan.bound_names() if scan else frozenset()
        result, _ = compose(parsed, ref, args, list(targets), bound)
        assert result is not None and result.hash == current.hash, ref
        self._composed[ref] = result
        self._with_ast.add(ref)
        return result

    def duplicates(self, project: ResolvedProject, refs: list[DefRef]) -> None:
        first: dict[str, DefRef] = {}
        for ref in refs:
            composed = self._composed.get(ref)
            parsed = self._parsed.get(ref)
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
                before = self._composed.get(other)
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
                self._composed[ref] = None
            else:
                first[name] = ref

    def warm_state(self) -> WarmState:
        """What this build leaves for the next one."""
        from sodabuild.session.fingerprint import dir_stamp

        dirs = dict(self.dir_stamps)
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
                    self._keys[ref],
                    composed.stripped(),
                    self._warnings[ref],
                    *self._sources[ref],
                )
                for ref, composed in self._composed.items()
                if composed is not None and ref in self._keys
            },
            reasons=dict(self.reasons),
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
        passed = self._targets.get(ref, ())[: len(definition.args)]
        hashes = [self._composed[target].hash for target in passed]  # type: ignore[union-attr]
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
            target = self.lookup_arg(ref, index)
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
                    for rule in self.rule_objects(project):
                        progress.update(
                            f"discover {project.name}", index, len(self.selected), "projects"
                        )
                        with self.timer.phase("discover"):
                            files = self.discover(project, rule)
                        progress.update(f"scan {project.name}", 0, len(files), "files")
                        with self.timer.phase("scan"):
                            by_file = self.entries(files, rule)
                        with self.timer.phase("resolve"):
                            self.link_modules(files)
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
                        self.composed(ref)
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
        return (
            f"searched {where} for {listed(include or ())} ({'the project' if own else 'the rule'}"
            f"'s include globs{minus}); a Python file is parsed only if it contains {markers} "
            f"or `language=GraphQL` ({passed} of {len(python)} did), and then gql() counts when "
            f"imported from {modules} ([plugins.graphql] gql_modules) and a string when marked "
            f"`# language=GraphQL`; {suffixes} files count when they hold an operation or a "
            "fragment"
        )

    def build_elements(self, plan: Plan, refs: list[DefRef]) -> None:
        """Validate ``refs`` and (re)make their elements; a failure drops its element."""
        result = self.results[plan.project.name]
        for ref in refs:
            plan.elements.pop(ref, None)
            composed = self._composed.get(ref)
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
            "definitions": len(self._composed),
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
        built = BuildResult(
            self.workspace.name,
            self.workspace.root,
            [self.results[p.name] for p in self.selected],
            dict(self.timer.timings),
            self.counts(),
            self.module_graph,
            self.definition_graph,
            self.check,
            state if state is not None else self.warm_state(),
        )
        self.retain(built)
        return built

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
        for ref in self._with_ast:
            composed = self._composed.get(ref)
            if composed is not None:
                self._composed[ref] = composed.stripped()
        self._with_ast.clear()
        self._parsed.clear()
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
) -> BuildResult:
    """Build the selected projects (all by default); with ``check`` nothing is written.

    ``warm`` is a previous build's state (``BuildResult.state``): results whose inputs are
    unchanged are reused from it, and the outputs are byte-identical to a cold build's.
    ``graph_filter``: the fields given by ``--graph-filter`` (see sodabuild.prune).
    """
    selected = select_projects(workspace, projects)
    return _Build(workspace, rules, selected, check, warm, memory, graph_filter).run()
