"""Compose: each definition's string parsed, its fragment arguments resolved through the
module graph (and by name, through the documents stage), composed with the compositions
they name, and cached by key with early cutoff (a composition is keyed by its string and
what its fragments produced, so an unchanged fragment stops propagation).

Inputs: the documents stage (static text, by-name lookups), the name resolver, the file
store (scans), the definitions, and the build's reporting, cache counters, warm state and
timer (callables: a change set swaps them per update). Outputs: ``compositions`` and the
tables the incremental fast path patches (``keys``, ``outcomes``, ``sources``,
``targets``, ``warnings``, ``resolution_deps``/``read_by``), the definition graph's edges,
and why each definition was (re)composed (``reasons``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sodabuild.config.model import ResolvedProject
from sodabuild.diagnostics import Diagnostic, Severity
from sodabuild.engine.documents import DocumentStage, text_signature
from sodabuild.engine.sources import SourceStore
from sodabuild.engine.state import CacheCounts, ComposedEntry, WarmState, digest
from sodabuild.graph import DefinitionGraph
from sodabuild.resolve import DefRef, ModRef, NameResolver, Unresolved
from sodabuild.resolve.modules import ConstRef, Target
from sodabuild.scan import GqlDefinition

if TYPE_CHECKING:
    from sodabuild.compose.document import Composed, Parsed, Problem
    from sodabuild.engine.pipeline import _Timer
    from sodabuild.validate.documents import HostMap


class CompositionStage:
    """Compositions of a build (or of a live session's graph), made on demand and memoized."""

    def __init__(
        self,
        *,
        documents: DocumentStage,
        names: NameResolver,
        store: SourceStore,
        definition_graph: DefinitionGraph,
        definition: Callable[[DefRef], GqlDefinition],
        project_of: Callable[[str], ResolvedProject],
        scan_diagnostics: Callable[[str], None],
        host: Callable[[], HostMap],
        report: Callable[[Diagnostic], None],
        cache: Callable[[], CacheCounts],
        warm: Callable[[], WarmState | None],
        timer: Callable[[], _Timer],
    ) -> None:
        self.documents = documents
        self.names = names
        self.store = store
        self.definition_graph = definition_graph
        self.definition = definition
        self.project_of = project_of
        self.scan_diagnostics = scan_diagnostics
        self.host = host
        self.report = report
        self.cache = cache
        self.warm = warm
        self.timer = timer
        self.parses: dict[DefRef, Parsed | None] = {}
        self.compositions: dict[DefRef, Composed | None] = {}
        #: Cache key, outcome (what it produced), inputs (for ``explain``), warnings and
        #: composition arguments of each definition composed.
        self.keys: dict[DefRef, str] = {}
        self.outcomes: dict[DefRef, str] = {}
        self.sources: dict[DefRef, tuple[str, tuple[tuple[str, str], ...]]] = {}
        self.warnings: dict[DefRef, tuple[Diagnostic, ...]] = {}
        self.targets: dict[DefRef, tuple[DefRef, ...]] = {}
        #: Why each definition was (re)composed or reused, by ``path::name``.
        self.reasons: dict[str, str] = {}
        #: The files each definition's fragment-argument resolution read (what re-resolves it).
        self.resolution_deps: dict[DefRef, frozenset[str]] = {}
        #: The reverse: file -> definitions whose resolution read it.
        self.read_by: dict[str, set[DefRef]] = {}
        #: Compositions holding ASTs, stripped when the build is kept (``strip``).
        self.with_ast: set[DefRef] = set()
        #: Definitions being resolved (a cycle check), and being composed (innermost last:
        #: who meets a warning).
        self.in_progress: list[DefRef] = []
        self.composing: list[DefRef] = []

    def parsed(self, ref: DefRef) -> Parsed | None:
        if ref in self.parses:
            return self.parses[ref]
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
        self.parses[ref] = result
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
                    hint=(
                        f"import the fragment, e.g. `import {{ {arg.parts[-1]} }} from"
                        ' "./fragments"` (a name local to a function is not followed)'
                        if arg.embedded
                        else f"import the fragment, e.g. `from <module> import {arg.parts[-1]}`"
                    ),
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

    def composed(self, ref: DefRef) -> Composed | None:
        """``ref`` composed with its fragments (memoized; None when it fails)."""
        if ref in self.compositions:
            return self.compositions[ref]
        self.composing.append(ref)
        try:
            return self._compose(ref)
        finally:
            self.composing.pop()

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
            self.compositions[ref] = None
            self._depends(ref, read | self.documents.deps(ref), ())
            return None
        read |= self.documents.deps(ref)
        project = self.project_of(ref.path)
        explicit = [arg for arg in definition.args if not arg.embedded]
        if project.fragments == "names" and explicit:
            arg = explicit[0]
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
            self.compositions[ref] = None
            self._depends(ref, read, ())
            return None
        self.in_progress.append(ref)
        args: list[Composed | None] = []
        targets: list[DefRef] = []
        identities: list[object] = []
        #: the index in ``definition.args`` of each argument composed (a spliced ${X} is not)
        positions: list[int] = []
        for index, arg in enumerate(definition.args):
            if arg.embedded:
                # a ${X} substitution: a string was spliced into the text; a document is
                # a fragment (by-name projects find it by name anyway); anything else is
                # reported as a fragment argument would be
                with self.names.recording() as deps:
                    found = self.lookup_arg(ref, index)
                read |= deps
                if isinstance(found, ConstRef) or (
                    project.fragments == "names" and isinstance(found, DefRef)
                ):
                    continue
            with self.timer().phase("resolve"), self.names.recording() as deps:
                target = self.resolve_arg(ref, index)
            read |= deps
            if target is not None:
                targets.append(target)
            args.append(self._argument(ref, target, (ref.path, arg.line, arg.column)))
            identities.append(target)
            positions.append(index)
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
        self.in_progress.pop()
        self._depends(ref, read, tuple(targets))
        if document.ambiguous:
            self.documents.report_ambiguous(ref, document)
            self.compositions[ref] = None
            return None
        if any(target in self.documents.dynamic for target in targets):
            self.documents.dynamic.add(ref)  # a fragment it uses is reported as dynamic
        key: str | None = None
        source = text_signature(document.text, project.fragments)
        arg_outcomes = tuple((f"{t.path}::{t.name}", self.outcomes.get(t, "")) for t in targets)
        if all(arg is not None for arg in args):
            # fragments enter the key by what they produced (early cutoff: a fragment whose
            # document comes out the same does not invalidate its users)
            key = digest([source, *(f"{name}={outcome}" for name, outcome in arg_outcomes)])
        warm = self.warm()
        entry = warm.composed.get(ref) if warm is not None else None
        self.reasons[f"{ref.path}::{ref.name}"] = self._why(entry, key, source, arg_outcomes)
        if entry is not None and key is not None and entry.key == key:
            self.cache().hit()
            cached: Composed = entry.composed  # type: ignore[assignment]
            for warning in entry.warnings:
                self.report(warning)
            self._record(ref, key, cached, entry.warnings, tuple(targets), (source, arg_outcomes))
            return cached
        parsed = self.parsed(ref)
        if parsed is None:
            self.compositions[ref] = None
            return None
        self.cache().miss()
        scan = self.store.scan(ref.path)
        bound = scan.bound_names() if scan else frozenset()
        result, problems = compose(parsed, ref, args, identities, bound)
        if len(positions) != len(definition.args):
            problems = [
                replace(p, arg=positions[p.arg] if p.arg < len(positions) else None)
                if p.arg is not None
                else p
                for p in problems
            ]
        diagnostics = [
            self.documents.unknown_hint(self.problem(p, ref, definition), project, ref)
            for p in problems
        ]
        for diagnostic in diagnostics:
            self.report(diagnostic)
        if result is None or key is None:
            self.compositions[ref] = None
            return None
        self._record(ref, key, result, tuple(diagnostics), tuple(targets), (source, arg_outcomes))
        if entry is not None:
            previous: Composed = entry.composed  # type: ignore[assignment]
            before = digest([previous.hash, *(str(piece.identity) for piece in previous.fragments)])
            if before == self.outcomes[ref]:
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
        if target in self.in_progress:
            cycle = [*self.in_progress[self.in_progress.index(target) :], target]
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
        self.compositions[ref] = result
        if result.has_ast:
            self.with_ast.add(ref)
        self.keys[ref] = key
        self.outcomes[ref] = digest(
            [result.hash, *(str(piece.identity) for piece in result.fragments)]
        )
        self.sources[ref] = inputs
        self.warnings[ref] = warnings
        self.targets[ref] = targets

    def full(self, ref: DefRef) -> Composed:
        """The composed definition with its AST (a cache hit has none: compose it again)."""
        from sodabuild.compose.document import compose

        current = self.compositions[ref]
        assert current is not None
        if current.has_ast:
            return current
        parsed = self.parsed(ref)
        assert parsed is not None
        targets = self.targets[ref]
        args = [self.full(target) for target in targets]
        scan = self.store.scan(ref.path)
        bound = scan.bound_names() if scan else frozenset()
        result, _ = compose(parsed, ref, args, list(targets), bound)
        assert result is not None and result.hash == current.hash, ref
        self.compositions[ref] = result
        self.with_ast.add(ref)
        return result

    def strip(self) -> None:
        """Drop the ASTs of the compositions (kept between builds, they cost memory)."""
        for ref in self.with_ast:
            composed = self.compositions.get(ref)
            if composed is not None:
                self.compositions[ref] = composed.stripped()
        self.with_ast.clear()
        self.parses.clear()
