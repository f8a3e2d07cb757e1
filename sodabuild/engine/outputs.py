"""Emit and write: each plan's outputs staged per project, then one commit per project.

:class:`OutputStage` turns a plan's elements into bytes with the project's
:class:`~sodabuild.emit.outputs.Assembler` (kept by the session: only changed elements are
serialized again), stages them, and commits each project's out_dir as a whole
(``write/commit.py``), or compares with ``--check``. It records what it wrote (stamps of
files and directories) for the next build's no-op check. Its inputs are explicit: the
workspace root, the selected projects and their results, the previous build's state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sodabuild.config.model import ResolvedProject
from sodabuild.diagnostics import Diagnostic
from sodabuild.emit.outputs import Assembler, Element
from sodabuild.engine.state import WarmState
from sodabuild.session.fingerprint import DirStamp, Stamp
from sodabuild.write.commit import CommitMemo, owned_by

if TYPE_CHECKING:
    from graphql import GraphQLSchema

    from sodabuild.engine.pipeline import Plan, ProjectResult


@dataclass
class Staged:
    """A project's outputs waiting for its commit (out_dir-relative path -> bytes)."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: ``dir/*.suffix`` of the per-module outputs (their stale files are removed).
    owned: set[str] = field(default_factory=set)
    #: Those of chunk outputs (the summary counts chunks).
    chunks: set[str] = field(default_factory=set)
    #: Whether any plan emitted anew (else every output stands as written).
    dirty: bool = False
    #: Whether every plan's schema built (a project with a broken schema writes nothing).
    ok: bool = True


class OutputStage:
    """Staged outputs of the build's projects and their commit."""

    def __init__(
        self,
        root: Path,
        projects: list[ResolvedProject],
        results: Callable[[], Mapping[str, ProjectResult]],
        assemblers: dict[tuple[str, str], Assembler],
        warm: Callable[[], WarmState | None],
        check: bool,
        phase: Callable[[str], AbstractContextManager[None]],
        report: Callable[[Diagnostic, str], None],
        commits: dict[str, CommitMemo] | None = None,
    ) -> None:
        self.root = root
        self.projects = {project.name: project for project in projects}
        self._results = results
        self.assemblers = assemblers
        self.warm = warm
        self.check = check
        self.phase = phase
        self._report = report
        #: What each out_dir's last commit left (a live session keeps it between builds).
        self.commits = commits if commits is not None else {}
        self.staged: dict[str, Staged] = {}
        #: Stamps of every output file and directory as committed (the no-op check).
        self.output_stamps: dict[str, Stamp] = {}
        self.output_dirs: dict[str, DirStamp] = {}
        #: Builds a schema from (files, schema hash), for outputs that read the schema; the
        #: pipeline may set it to share the validation stage's schemas (else built here).
        self.schema_source: (
            Callable[[list[tuple[str, bytes]], str], GraphQLSchema | None] | None
        ) = None
        self._schemas: dict[str, GraphQLSchema | None] = {}
        #: Chunks assembled from the previous emission / serialized again / written to disk.
        self.chunk_counts = {"chunks_reused": 0, "chunks_rebuilt": 0, "chunks_written": 0}

    @property
    def results(self) -> Mapping[str, ProjectResult]:
        return self._results()

    def report(self, diagnostic: Diagnostic, project: str) -> None:
        self._report(diagnostic, project)

    def begin(self) -> None:
        """Start another build on this stage (the change-set fast path)."""
        self.staged = {}
        self.chunk_counts = dict.fromkeys(self.chunk_counts, 0)

    def previous_outputs(self, out_dir: str) -> dict[str, Stamp] | None:
        """The stamps of what the last build wrote in ``out_dir`` (out_dir-relative)."""
        warm = self.warm()
        if warm is None or not warm.outputs:
            return None
        prefix = out_dir + "/"
        return {
            path[len(prefix) :]: stamp
            for path, stamp in warm.outputs.items()
            if path.startswith(prefix)
        } or None

    def assembler(self, plan: Plan) -> Assembler:
        key = (plan.project.name, plan.rule.content_hash())
        found = self.assemblers.get(key)
        if found is None:
            found = self.assemblers[key] = Assembler(plan.project.name, plan.rule)
        return found

    def schema(self, plan: Plan) -> GraphQLSchema | None:
        """The plan's schema, for outputs that read it (typed results): asked for only when
        one needs it, built once per schema hash in this build (``schema_source``, when set,
        provides it instead: the pipeline's validation stage has usually built it)."""
        if not plan.schema_ok or plan.schema_files is None:
            return None
        if plan.schema_id not in self._schemas:
            if self.schema_source is not None:
                built = self.schema_source(plan.schema_files, plan.schema_id)
            else:
                from sodabuild.validate.schema import load_known_schema

                built = load_known_schema(plan.schema_files, ()).schema
            self._schemas[plan.schema_id] = built
        return self._schemas[plan.schema_id]

    def declare(self, plan: Plan) -> None:
        """Where the plan's outputs live, in its project's result."""
        from sodabuild.emit.registry import output_key

        result = self.results[plan.project.name]
        for output in plan.rule.outputs:
            result.outputs[output_key(output)] = f"{plan.project.out_dir}/{output.path}"

    def emit(self, plan: Plan, changed: list[Element] | None = None) -> None:
        """Emit a plan's outputs and stage them for its project's commit.

        ``changed``: only these elements changed since the last emission (the fast path).
        """
        project = plan.project
        with self.phase("emit"):
            assembler = self.assembler(plan)
            table = assembler.table
            table.plugins = project.plugins
            table.schema_source = lambda: self.schema(plan)
            try:
                if changed is None:
                    emitted = assembler.emit(plan.schema_id, list(plan.elements.values()))
                else:
                    emitted = assembler.update(plan.schema_id, changed)
            finally:
                table.schema_source = None  # the assembler outlives this build
        self.chunk_counts["chunks_reused"] += emitted.reused
        self.chunk_counts["chunks_rebuilt"] += emitted.built
        self.declare(plan)
        staged = self.staged.setdefault(project.name, Staged())
        staged.files.update(emitted.files)
        staged.dirty = True
        staged.ok &= plan.schema_ok
        staged.owned |= emitted.owned
        staged.chunks |= assembler.chunk_patterns

    def keep(self, plan: Plan) -> None:
        """A plan none of whose elements changed (the fast path): its outputs stand as
        written, and go into its project's commit unchanged if another plan's changed."""
        assembler = self.assembler(plan)
        self.declare(plan)
        self.chunk_counts["chunks_reused"] += assembler.chunk_count
        staged = self.staged.setdefault(plan.project.name, Staged())
        staged.files.update(assembler.files)
        staged.owned |= assembler.owned
        staged.chunks |= assembler.chunk_patterns

    def commit(self) -> None:
        """Write (or, with ``--check``, compare) each project's staged outputs as one
        atomic commit of its out_dir; a project with errors writes nothing."""
        from sodabuild.write.commit import check_committed, commit_outputs, recover

        for name, staged in self.staged.items():
            result = self.results[name]
            project = self.projects[name]
            if not staged.ok or not result.ok:
                continue
            out_dir = self.root / project.out_dir
            if not staged.dirty:
                if not self.check:
                    with suppress(OSError):  # a killed commit's leftovers
                        recover(out_dir)
                result.unchanged.extend(sorted(staged.files))
                result.wrote = True
                continue
            previous = self.previous_outputs(project.out_dir)
            warm = self.warm()
            recorded_ns = warm.outputs_recorded_ns if warm is not None else 0
            with self.phase("write"):
                if self.check:
                    result.stale.extend(
                        f"{project.out_dir}/{rel}"
                        for rel in check_committed(out_dir, staged.files, staged.owned, previous)
                    )
                    continue
                memo = self.commits.pop(str(out_dir), None)
                try:
                    report = commit_outputs(
                        self.root,
                        out_dir,
                        staged.files,
                        staged.owned,
                        previous,
                        recorded_ns,
                        memo,
                    )
                except OSError as exc:
                    where = Path(exc.filename or out_dir)
                    self.report(
                        Diagnostic(
                            "OUTPUT_WRITE",
                            f"cannot write outputs: {exc.strerror or exc}",
                            os.path.relpath(where, self.root),
                            hint="check permissions and free space of the out_dir; "
                            "outputs are never written through symlinks",
                        ),
                        project=name,
                    )
                    continue
            if report.memo is not None:
                self.commits[str(out_dir)] = report.memo
            result.written.extend(report.written)
            result.unchanged.extend(report.unchanged)
            self.chunk_counts["chunks_written"] += sum(
                1 for rel in report.written if owned_by(rel, staged.chunks)
            )
            result.removed.extend(report.removed)
            result.wrote = True
            for rel in previous or {}:
                self.output_stamps.pop(f"{project.out_dir}/{rel}", None)
            for rel, stamp in report.stamps.items():
                self.output_stamps[f"{project.out_dir}/{rel}"] = stamp
            self.stamp_dirs(project.out_dir, report.dirs)
        self.staged = {}

    def stamp_dirs(self, out_dir: str, dirs: Mapping[str, DirStamp]) -> None:
        """Record the committed out_dir's directories, for the no-op check."""
        inside = f"{out_dir}/"
        for path in [p for p in self.output_dirs if p == out_dir or p.startswith(inside)]:
            del self.output_dirs[path]
        for rel, stamp in dirs.items():
            self.output_dirs[f"{out_dir}/{rel}" if rel else out_dir] = stamp
