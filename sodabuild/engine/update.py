"""The change-set fast path: apply edited files to the last build's graph in place.

A live session keeps its last clean build (``SessionMemory.graph``: scans, name-resolution
memo with the files each answer read, compositions with their keys and outcomes, the
definition graph with reverse edges, validation results, elements, output assemblers).
When only existing files changed, ``apply_changes`` redoes just what they reach:

1. re-read the named files; one whose bytes are unchanged costs nothing more;
2. re-scan the changed ones, re-link their imports, and update the plans' entries when a
   file gained or lost definitions;
3. forget the resolution answers that read a changed file; the affected definitions are
   those in changed files and those whose fragment-argument resolution read one;
4. recompose them and, transitively, their users (early cutoff keeps unchanged users as
   cache hits: a composition is keyed by what its fragments produced);
5. validate what recomposed, remake those elements, re-emit (only changed chunks are
   rebuilt) and write only outputs whose bytes changed;
6. patch the warm state.

Anything it does not handle raises :class:`NeedsFullBuild` and the session runs the full
incremental build instead, from the warm state the fast path never touched: a file that is
new, gone or a schema, any diagnostic (errors and warnings are reported by the full
build, with its attribution rules), a graph filter in force, ``--check``. The memory it
shares with the full build (assemblers, built schemas) is a pure cache, so a fast path
abandoned half-way leaves nothing wrong behind. Both paths give byte-identical outputs
(the property test runs both against clean builds).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sodabuild.emit.outputs import Element
from sodabuild.engine.pipeline import (
    BuildResult,
    NeedsFullBuild,
    ProjectResult,
    _Build,
    _Timer,
    diagnostic_key,
)
from sodabuild.engine.state import CacheCounts, ComposedEntry, WarmState
from sodabuild.memory import gc_frozen, gc_paused
from sodabuild.resolve import DefRef

if TYPE_CHECKING:
    from sodabuild.compose.document import Composed

REUSED = "reused: its gql() string and its fragments' documents are unchanged"


__all__ = ["NeedsFullBuild", "apply_changes"]


def apply_changes(graph: _Build, changed: Iterable[str], warm: WarmState) -> BuildResult:
    """Apply modified files (workspace-relative) to ``graph``, the session's last build.

    ``warm`` is the state that build left; it is not modified (on NeedsFullBuild the
    session falls back to it). On success ``graph`` is the new build's graph.
    """
    if graph.check or graph.memory.graph is not graph:
        raise NeedsFullBuild("no clean build to start from")
    if any(plan.pruned for plan in graph.plans):
        raise NeedsFullBuild("a graph filter is in force: its selection may change")
    edited = set(changed)
    if not edited.isdisjoint(graph.documents.index_deps):
        raise NeedsFullBuild("a file that by-name fragment lookups read changed")
    _begin(graph, warm)
    entries = _Entries()
    with gc_paused():
        files = _refresh(graph, sorted(edited), entries)
        projects = {graph.plans[index].project.name for index in entries.plans}
        if not projects.isdisjoint(graph.documents.indexes):
            raise NeedsFullBuild("documents came or went: by-name fragment lookups may change")
        dirty = _recompose(graph, files, entries) if files else set()
        _carry_over(graph, dirty | entries.removed)
    with gc_frozen():
        touched = _rebuild_elements(graph, files, dirty)
        for index, plan in enumerate(graph.plans):
            if index in entries.plans:
                graph.outputs.emit(plan)  # definitions came or went: emit all (texts are cached)
            elif index in touched:
                graph.outputs.emit(plan, touched[index])
            else:
                graph.outputs.keep(plan)
        graph.outputs.commit()
    state = _patched_state(graph, warm, files, dirty, entries.removed)
    result = graph.finish(state)
    result.mode = "changes"
    return result


def _begin(graph: _Build, warm: WarmState) -> None:
    graph.warm = graph.store.warm = warm
    graph.timer = _Timer()
    graph.cache = graph.store.cache = CacheCounts()
    graph.store.counts = replace(graph.store.counts, read=0, parsed=0)
    graph.store.file_reasons = {}
    graph.validation.validated_count = 0
    graph.validation.combined_parts = graph.validation.combined_aborted = 0
    graph.outputs.begin()
    graph.started_ns = time.time_ns()
    graph.strict = True
    graph._seen = set()
    graph.results = {p.name: ProjectResult(p.name, p.root, p.out_dir) for p in graph.selected}
    for plan in graph.plans:
        graph.results[plan.project.name].modules += len(plan.files)


@dataclass
class _Entries:
    """Definitions that appeared in or went from the changed files, and their plans."""

    added: set[DefRef] = field(default_factory=set)
    removed: set[DefRef] = field(default_factory=set)
    plans: set[int] = field(default_factory=set)


def _update_entries(graph: _Build, path: str, entries: _Entries) -> None:
    """A changed file's definitions, as discovery would now list them, in every plan."""
    for index, plan in enumerate(graph.plans):
        if path not in plan.files:
            continue
        old = plan.by_file.get(path)
        new = graph.discovery.file_entries(path, plan.rule)
        if new == old:
            continue
        entries.removed |= set(old or ()) - set(new or ())
        entries.added |= set(new or ()) - set(old or ())
        entries.plans.add(index)
        if new is None:
            del plan.by_file[path]
        else:
            plan.by_file[path] = new
        order = {file: position for position, file in enumerate(plan.files)}
        plan.by_file = dict(sorted(plan.by_file.items(), key=lambda item: order[item[0]]))
        plan.refs = [ref for refs in plan.by_file.values() for ref in refs]


def _refresh(graph: _Build, paths: list[str], entries: _Entries) -> list[str]:
    """Re-read the named files; the ones whose content changed, re-scanned and re-linked."""
    schema_paths = {path for plan in graph.plans for path, _ in plan.schema_files or ()}
    changed: list[str] = []
    with graph.timer.phase("scan"):
        for path in paths:
            if path not in graph.store.stamps or path in schema_paths:
                raise NeedsFullBuild(f"{path}: not a source the last build read")
            before = graph.store.scanned().get(path)
            verdict = graph.store.refresh(path)
            if verdict is None:
                raise NeedsFullBuild(f"{path}: cannot be read (removed?)")
            if not verdict:
                continue
            changed.append(path)
            _update_entries(graph, path, entries)
            after = graph.store.scan(path) if before is not None else None
            if after is not None and (after.diagnostics or not after.parsed):
                raise NeedsFullBuild(f"{path}: has problems to report")
    with graph.timer.phase("resolve"):
        for path in changed:
            for imported in graph.module_graph.imports.pop(path, set()):
                graph.module_graph.importers[imported].discard(path)
            if any(path in plan.files for plan in graph.plans):
                graph.discovery.link_modules([path])
        graph.names.forget(set(changed))
    return changed


def _recompose(graph: _Build, changed: list[str], entries: _Entries) -> set[DefRef]:
    """Recompose what the changed files reach; the definitions that were recomposed."""
    affected = {ref for path in changed for ref in graph.composition.read_by.get(path, ())}
    affected |= entries.added
    dirty = set(affected)
    stack = list(affected)
    users = graph.definition_graph.users
    while stack:
        for user in users.get(stack.pop(), ()):
            if user not in dirty:
                dirty.add(user)
                stack.append(user)
    dirty -= entries.removed
    for ref in entries.removed:
        _forget_definition(graph, ref)
    for ref in dirty:
        graph.composition.compositions.pop(ref, None)
        graph.composition.outcomes.pop(ref, None)
        graph.documents.forget(ref)
        graph.definition_graph.unlink(ref)
    with graph.timer.phase("compose"):
        resolve_before = graph.timer.timings["resolve"]
        for ref in sorted(dirty, key=lambda r: (r.path, r.name)):
            if graph.composition.composed(ref) is None:
                raise NeedsFullBuild(f"{ref.path}::{ref.name} does not compose")
    graph.timer.timings["compose"] -= graph.timer.timings["resolve"] - resolve_before
    if _operation_names_changed(graph, dirty):
        for plan in graph.plans:
            if not dirty.isdisjoint(plan.elements):
                graph.duplicates(plan.project, plan.refs)
    graph.cache.hit(len(graph.composition.compositions) - len(dirty))
    return dirty


def _carry_over(graph: _Build, recomposed: set[DefRef]) -> None:
    """Report again the last build's warnings that still hold: those of inputs the fast
    path does not re-read, and those some definition not recomposed met (a recomposed one
    reports its own afresh, which aborts the fast path)."""
    for met_by in graph.diagnostic_refs.values():
        met_by -= recomposed  # they met nothing this time (or the fast path was aborted)
    graph.strict = False
    try:
        for project, diagnostics in graph.carried.items():
            for diagnostic in diagnostics:
                owners = graph.diagnostic_refs.get(diagnostic_key(diagnostic))
                if owners is not None and not owners:
                    continue  # met only by definitions recomposed without meeting it
                graph.report(diagnostic, project=project)
    finally:
        graph.strict = True


def _forget_definition(graph: _Build, ref: DefRef) -> None:
    """A definition that no longer exists leaves the graph (its users were re-resolved)."""
    for table in (
        graph.composition.compositions,
        graph.composition.outcomes,
        graph.composition.keys,
        graph.composition.sources,
    ):
        table.pop(ref, None)
    graph.documents.forget(ref)
    graph.composition.warnings.pop(ref, None)
    graph.composition.targets.pop(ref, None)
    for path in graph.composition.resolution_deps.pop(ref, ()):
        graph.composition.read_by[path].discard(ref)
    graph.definition_graph.unlink(ref)
    graph.definition_graph.users.pop(ref, None)
    for plan in graph.plans:
        plan.elements.pop(ref, None)


def _operation_names_changed(graph: _Build, dirty: set[DefRef]) -> bool:
    """Whether a recomposed operation's name (the persisted-query key) is new."""
    assert graph.warm is not None
    for ref in dirty:
        entry = graph.warm.composed.get(ref)
        now = graph.composition.compositions.get(ref)
        before: Composed | None = entry.composed if entry is not None else None  # type: ignore[assignment]
        if (
            now is not None
            and now.kind == "operation"
            and (before is None or before.kind != "operation" or before.name != now.name)
        ):
            return True
    return False


def _rebuild_elements(
    graph: _Build, changed: list[str], dirty: set[DefRef]
) -> dict[int, list[Element]]:
    """Validate and remake the elements of recomposed definitions and of changed files
    (their lines may have moved); the changed elements by plan index."""
    touched: dict[int, list[Element]] = {}
    in_changed = set(changed)
    for index, plan in enumerate(graph.plans):
        refs = [ref for ref in plan.refs if ref in dirty or ref.path in in_changed]
        if not refs:
            continue
        before = {ref: plan.elements.get(ref) for ref in refs}
        with graph.timer.phase("validate"):
            assert plan.schema_files is not None
            graph.validation.prevalidate(
                plan.schema_files, plan.schema_id, refs, graph.validation.validated
            )
        graph.build_elements(plan, refs)
        remade = [plan.elements[ref] for ref in refs if plan.elements[ref] != before[ref]]
        if remade:
            touched[index] = remade
    graph.validation.validated_ok |= {key for key, ok in graph.validation.validated.items() if ok}
    return touched


def _patched_state(
    graph: _Build, warm: WarmState, changed: list[str], dirty: set[DefRef], gone: set[DefRef]
) -> WarmState:
    """The warm state after this update: the previous one with the changed entries."""
    store = graph.store
    composed = dict(warm.composed)
    for ref in gone:
        composed.pop(ref, None)
    for ref in dirty:
        result: Composed | None = graph.composition.compositions.get(ref)
        assert result is not None
        stripped = result.stripped()
        composed[ref] = ComposedEntry(
            graph.composition.keys[ref],
            stripped,
            graph.composition.warnings[ref],
            *graph.composition.sources[ref],
        )
        graph.composition.compositions[ref] = stripped
    reasons = dict.fromkeys(warm.reasons, REUSED)
    for ref in gone:
        reasons.pop(f"{ref.path}::{ref.name}", None)
    reasons.update(
        (f"{ref.path}::{ref.name}", graph.composition.reasons[f"{ref.path}::{ref.name}"])
        for ref in dirty
    )
    file_reasons = dict.fromkeys(warm.file_reasons, "unchanged (not named by the change set)")
    file_reasons.update(store.file_reasons)
    graph.composition.reasons = reasons
    return replace(
        warm,
        # stamps taken now are compared against the old recording time: conservative, a
        # file stamped in an earlier build stays racy exactly as long as it was
        files={**warm.files, **{path: store.stamps[path] for path in store.file_reasons}},
        scans={**warm.scans, **{p: store.scans_used[p] for p in changed if p in store.scans_used}},
        markers={
            **warm.markers,
            **{p: store.markers_used[p] for p in changed if p in store.markers_used},
        },
        composed=composed,
        validated=warm.validated | graph.validation.validated_ok,
        outputs=dict(graph.outputs.output_stamps),
        outputs_recorded_ns=time.time_ns(),
        output_dirs=dict(graph.outputs.output_dirs),
        reasons=reasons,
        file_reasons=file_reasons,
    )
