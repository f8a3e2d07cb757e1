"""Validate: each project's schema, built once, and documents validated against it.

:class:`ValidationStage` reads a project's schema files, builds the schema once per build
(and keeps it in the session's memory), reports its problems (spec findings as
``SCHEMA_SPEC`` warnings, replayed from the warm state when the schema is not built
again), proves most documents valid at once (``validate/combined.py``, then a process
pool) and validates the rest one by one on located ASTs so their errors point into the
file that holds the failing piece. Its inputs are explicit callables: file bytes, the
warm state, compositions, the diagnostic sink.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sodabuild.config.model import ResolvedProject
from sodabuild.diagnostics import Diagnostic
from sodabuild.engine.state import CacheCounts, WarmState
from sodabuild.resolve import DefRef
from sodabuild.scan import GqlDefinition
from sodabuild.validate.schema import schema_hash

if TYPE_CHECKING:
    from sodabuild.compose.document import Composed
    from sodabuild.engine.pipeline import Plan
    from sodabuild.validate.documents import HostMap
    from sodabuild.validate.schema import LoadedSchema


class ValidationStage:
    """Schemas and validation results of one build (built schemas outlive it in memory)."""

    def __init__(
        self,
        data: Callable[[str], bytes | None],
        problems: dict[str, Diagnostic],
        locate: Callable[[ResolvedProject, str], tuple[str, int | None, int | None]],
        schema_cache: dict[str, LoadedSchema],
        warm: Callable[[], WarmState | None],
        cache: Callable[[], CacheCounts],
        composed: Callable[[DefRef], Composed | None],
        full: Callable[[DefRef], Composed],
        origins: Callable[[], dict[str, DefRef]],
        host: Callable[[], HostMap],
        definition: Callable[[DefRef], GqlDefinition],
        report: Callable[[Diagnostic], None],
    ) -> None:
        self.data = data
        self.problems = problems
        self.locate = locate
        #: Built schemas by hash, kept by a live session between builds.
        self.schema_cache = schema_cache
        self.warm = warm
        self.cache = cache
        self.composed = composed
        self.full = full
        self.origins = origins
        self.host = host
        self.definition = definition
        self.report = report
        #: This build's schemas by their files, and the hashes of the projects' schemas.
        self.built: dict[tuple[str, ...], LoadedSchema] = {}
        self.schema_ids: set[str] = set()
        self.good_schemas: set[str] = set()
        #: SCHEMA_SPEC warnings of the schemas this build used (built or replayed), by hash.
        self.schema_warnings: dict[str, tuple[Diagnostic, ...]] = {}
        #: (document hash, schema hash) -> valid, this build; and the valid ones so far.
        self.validated: dict[tuple[str, str], bool] = {}
        self.validated_ok: set[tuple[str, str]] = set()
        self.validated_count = 0
        self.combined_parts = 0  # combined documents validated (validate/combined.py)
        self.combined_aborted = 0  # of those, aborted by graphql-core (then halved)

    def check_schema(self, plan: Plan, refs: list[DefRef]) -> None:
        """The plan's schema files and hash, ``refs`` prevalidated against it, and whether
        the schema builds (its problems reported)."""
        plan.schema_files = self.schema_files(plan.project)
        plan.schema_id = schema_hash(plan.schema_files) if plan.schema_files is not None else ""
        self.schema_ids.add(plan.schema_id)
        if plan.schema_files is not None:
            self.prevalidate(plan.schema_files, plan.schema_id, refs, self.validated)
        built = self.built.get(tuple(p for p, _ in plan.schema_files or ()))
        plan.schema_ok = plan.schema_files is not None and not (
            built is not None and built.schema is None
        )
        if plan.schema_ok:
            self.good_schemas.add(plan.schema_id)

    def schema_files(self, project: ResolvedProject) -> list[tuple[str, bytes]] | None:
        """The project's schema files as (path, bytes); None after reporting what is missing."""
        if not project.schema_paths:
            file, line, column = self.locate(project, "schema")
            self.report(
                Diagnostic(
                    "SCHEMA_NOT_FOUND",
                    f"project '{project.name}' configures no schema",
                    file,
                    line,
                    column,
                    hint='set schema = "schema.graphql" in [project] of the project file',
                )
            )
            return None
        files: list[tuple[str, bytes]] = []
        missing = []
        for path in project.schema_paths:
            data = self.data(path)
            if data is None and path in self.problems:
                self.report(self.problems[path])  # too large: never read
                return None
            if data is None:
                missing.append(path)
            else:
                files.append((path, data))
        if missing:
            file, line, column = self.locate(project, "schema")
            for path in missing:
                self.report(
                    Diagnostic(
                        "SCHEMA_NOT_FOUND",
                        f"schema file '{path}' does not exist",
                        file,
                        line,
                        column,
                        hint="fix the schema path; it is relative to the project root",
                    )
                )
            return None
        return files

    def schema(self, files: list[tuple[str, bytes]], identity: str) -> LoadedSchema:
        """Build (once per build) the schema of these files, whose hash is ``identity``;
        its diagnostics are reported."""
        from sodabuild.validate.schema import load_known_schema, load_schema

        key = tuple(path for path, _ in files)
        if key not in self.built:
            loaded = self.schema_cache.get(identity)
            if loaded is None:
                warm = self.warm()
                if warm is not None and identity in warm.validated_schemas:
                    loaded = load_known_schema(files, warm.schema_warnings.get(identity, ()))
                else:
                    loaded = load_schema(files)
                if loaded.schema is not None:
                    self.schema_cache[identity] = loaded
            self.built[key] = loaded
            for diagnostic in loaded.diagnostics:
                self.report(diagnostic)
            if loaded.schema is not None and loaded.diagnostics:
                self.schema_warnings[identity] = tuple(loaded.diagnostics)
        return self.built[key]

    def prevalidate(
        self,
        files: list[tuple[str, bytes]],
        schema_hash: str,
        refs: list[DefRef],
        validated: dict[tuple[str, str], bool],
    ) -> LoadedSchema | None:
        """Prove most documents valid at once; what is left goes to a process pool if large.

        First the whole project as one combined document (each definition traversed once,
        see validate/combined.py); the documents it cannot vouch for are validated one by
        one, on several processes when there are many. Failures end up in ``validate``,
        which locates their diagnostics.
        """
        from sodabuild.validate.combined import known_valid
        from sodabuild.validate.parallel import passing

        warm = self.warm()
        candidates: dict[tuple[str, str], tuple[DefRef, Composed]] = {}
        for ref in refs:
            composed = self.composed(ref)
            if composed is None:
                continue
            key = (composed.hash, schema_hash)
            if key in validated:
                continue
            if warm is not None and key in warm.validated:
                self.cache().hit()
                validated[key] = True
                continue
            if key not in candidates:
                self.cache().miss()
                candidates[key] = (ref, composed)
        if not candidates and (warm is None or schema_hash not in warm.validated_schemas):
            # nothing to validate, but a schema never seen before is still checked
            loaded = self.schema(files, schema_hash)
            return loaded if loaded.schema is not None else None
        if not candidates:
            # a known-good schema is not built again; its warnings are replayed
            assert warm is not None
            warnings = warm.schema_warnings.get(schema_hash, ())
            if warnings and schema_hash not in self.schema_warnings:
                self.schema_warnings[schema_hash] = warnings
                for diagnostic in warnings:
                    self.report(diagnostic)
            return None
        loaded = self.schema(files, schema_hash)
        if loaded.schema is None:
            return None
        candidates = {key: (ref, self.full(ref)) for key, (ref, _) in candidates.items()}
        origins = self.origins()
        combined = known_valid(loaded.schema, list(candidates.values()), origins)
        proven = combined.proven
        self.combined_parts += combined.parts
        self.combined_aborted += combined.aborted
        self.validated_count += len(candidates)
        pending: dict[tuple[str, str], tuple[str, bool]] = {}
        for index, (key, (_, composed)) in enumerate(candidates.items()):
            if index in proven:
                validated[key] = True
            else:
                pending[key] = (composed.document, composed.kind == "fragment")
        results = passing(loaded.schema, list(pending.values()))
        if results is None:
            return loaded
        for key, ok in zip(pending, results, strict=True):
            if ok:
                validated[key] = True
        return loaded

    def validate(
        self,
        ref: DefRef,
        composed: Composed,
        files: list[tuple[str, bytes]],
        schema_hash: str,
        validated: dict[tuple[str, str], bool],
    ) -> bool:
        """Known-good documents pass; others are validated here on located ASTs."""
        from sodabuild.validate.documents import validate_composed

        key = (composed.hash, schema_hash)
        if validated.get(key):
            return True
        loaded = self.schema(files, schema_hash)
        if loaded.schema is None:
            return False
        definition = self.definition(ref)
        diagnostics = validate_composed(
            loaded.schema,
            self.full(ref),
            self.host(),
            (ref.path, definition.line, definition.column),
        )
        for diagnostic in diagnostics:
            self.report(diagnostic)
        if not diagnostics:
            validated[key] = True
        return not diagnostics
