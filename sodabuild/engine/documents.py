"""Documents: each definition's static text, located, and the fragments it finds by name.

:class:`DocumentStage` evaluates a definition's static-string IR (``scan.static``) with the
name resolver into located text (every character keeps its file, line and column), or
reports the sub-expression that is known only at run time (``GQL_DYNAMIC``). For spreads
that are neither defined in the document nor passed to ``gql()``, it looks the name up in
the project's fragment index (built lexically, without a parse): a definition found is
composed as if passed; a fragment spliced into another document has its text appended.
Inputs are explicit callables (scans, definitions, the owning project, the project's
definitions, the diagnostic sink), so the stage holds no build state beyond its memos.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from sodabuild.config.model import ResolvedProject
from sodabuild.diagnostics import Diagnostic, Severity
from sodabuild.engine.state import digest
from sodabuild.resolve import DefRef, ModRef, NameResolver, Unresolved
from sodabuild.resolve.modules import ConstRef
from sodabuild.scan import GqlDefinition, ModuleScan
from sodabuild.scan.static import Expr as StaticExpr
from sodabuild.scan.static import NotStatic, Text

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Candidate:
    """A fragment a by-name lookup can find: where it is written, the document holding it,
    whether it is that document's own fragment, and its extent in the document's text."""

    name: str
    origin: tuple[str, int, int]
    ref: DefRef
    main: bool
    start: int
    end: int


@dataclass
class Document:
    """A document's text with what its by-name spreads found (``_Build.document``)."""

    text: Text
    targets: list[DefRef] = field(default_factory=list)
    spliced: list[tuple[str, tuple[str, int, int]]] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)
    ambiguous: dict[str, list[Candidate]] = field(default_factory=dict)
    deps: frozenset[str] = frozenset()


def text_signature(text: Text, mode: str) -> str:
    """What a composition depends on of its own text: the characters and where each piece
    sits (cached warnings carry positions), and the fragment resolution mode."""
    from sodabuild.scan.static import joined

    return digest(
        [
            mode,
            joined(text),
            *(f"{s.path}:{s.line}:{s.column}:{int(s.exact)}:{len(s.text)}" for s in text),
        ]
    )


class DocumentStage:
    """Static text and by-name fragments of a build's definitions (memoized per build)."""

    def __init__(
        self,
        scan: Callable[[str], ModuleScan | None],
        names: NameResolver,
        definition: Callable[[DefRef], GqlDefinition],
        project_of: Callable[[str], ResolvedProject],
        project_refs: Callable[[str], Iterable[DefRef]],
        report: Callable[[Diagnostic], None],
    ) -> None:
        self.scan = scan
        self.names = names
        self.definition = definition
        self.project_of = project_of
        self.project_refs = project_refs
        self.report = report
        #: Each definition's evaluated text (or why it is not static) and the files read.
        self.texts: dict[DefRef, tuple[Text | None, NotStatic | None, frozenset[str]]] = {}
        #: Each definition's text with its by-name fragments (``document``).
        self.documents: dict[DefRef, Document] = {}
        #: Definitions not built because they are not static (or use one that is not).
        self.dynamic: set[DefRef] = set()
        #: The by-name fragment index of each project (built when a spread needs it).
        self.indexes: dict[str, dict[str, list[Candidate]]] = {}
        #: The files the indexes were built from (an edit of one may change any lookup).
        self.index_deps: set[str] = set()

    def deps(self, ref: DefRef) -> frozenset[str]:
        """The files ``ref``'s text evaluation read."""
        return self.texts[ref][2]

    def forget(self, ref: DefRef) -> None:
        """Drop what is known of ``ref`` (its file or a file it read changed)."""
        self.texts.pop(ref, None)
        self.documents.pop(ref, None)

    def report_ambiguous(self, ref: DefRef, document: Document) -> None:
        from sodabuild.compose.names import blank
        from sodabuild.scan.static import joined, locate

        body = blank(joined(document.text))
        for name, candidates in sorted(document.ambiguous.items()):
            spread = re.search(r"\.\.\.\s*" + re.escape(name) + r"\b", body)
            where = locate(document.text, spread.start()) if spread else None
            definition = self.definition(ref)
            places = ", ".join(f"{c.origin[0]}:{c.origin[1]}:{c.origin[2]}" for c in candidates)
            self.report(
                Diagnostic(
                    "GQL_FRAGMENT_AMBIGUOUS",
                    f"fragment '{name}' is defined in {len(candidates)} places: {places}",
                    *(where or (ref.path, definition.line, definition.column)),
                    hint="rename one of them, or pass the one you mean to gql()",
                )
            )

    def unknown_hint(
        self, diagnostic: Diagnostic, project: ResolvedProject, ref: DefRef
    ) -> Diagnostic:
        """A "did you mean" for an unknown fragment, from the project's fragment names
        (a suggestion composition made from the fragments passed to gql() is kept)."""
        from sodabuild.render.suggestion import did_you_mean, is_suggestion

        if diagnostic.code != "GQL_UNKNOWN_FRAGMENT" or is_suggestion(diagnostic.hint):
            return diagnostic
        if project.fragments == "imports" and self.definition(ref).kind != "file":
            return diagnostic
        name = diagnostic.message.removeprefix("unknown fragment '").rstrip("'")
        hint = did_you_mean(name, self.fragment_index(project)) or (
            "no fragment of this name in the project's documents or .graphql files; "
            "define it, or import it and pass it to gql()"
        )
        return replace(diagnostic, hint=hint)

    def source_text(self, ref: DefRef) -> str:
        """The document text of ``ref`` ("" when it is not static)."""
        from sodabuild.scan.static import joined

        text = self.text(ref, quiet=True)
        return joined(text) if text is not None else ""

    def lookup_constant(
        self, path: str, parts: tuple[str, ...], line: int, column: int
    ) -> tuple[str, StaticExpr]:
        """What a name in a static string denotes: the IR of a constant of some module."""
        from sodabuild.scan.static import NotStatic

        target = self.names.name(path, parts[0])
        for part in parts[1:]:
            target = self.names.attribute(target, part)
        dotted = ".".join(parts)
        if isinstance(target, ConstRef):
            scan = self.scan(target.path)
            expr = scan.constants.get(target.name) if scan is not None else None
            if expr is not None:
                return target.path, expr
        if isinstance(target, DefRef):
            reason = "is a gql() document, not a string"
        elif isinstance(target, ModRef):
            reason = "is a module, not a string"
        elif isinstance(target, Unresolved) and target.diagnostic is not None:
            reason = f"cannot be followed: {target.diagnostic.message}"
        elif isinstance(target, Unresolved) and target.kind == "external_module":
            reason = "comes from a module outside the workspace"
        elif isinstance(target, Unresolved) and target.kind == "unbound":
            reason = "is not bound in this module"
        else:
            reason = "is not bound once to a static string in its module"
        raise NotStatic(f"`{dotted}` {reason}", path, line, column)

    def text(self, ref: DefRef, quiet: bool = False) -> Text | None:
        """``ref``'s document evaluated to located text; None when part of it is known only
        at run time (reported once as a GQL_DYNAMIC warning, unless ``quiet``)."""
        from sodabuild.scan.static import NotStatic, Span, evaluate, joined, locate

        found = self.texts.get(ref)
        if found is None:
            definition = self.definition(ref)
            text: Text | None = None
            error: NotStatic | None = None
            with self.names.recording() as deps:
                try:
                    text = evaluate(definition.expr, ref.path, self.lookup_constant)
                except NotStatic as exc:
                    error = exc
            found = self.texts[ref] = (text, error, frozenset(deps))
        text, error, _ = found
        if quiet:
            return text
        if error is not None:
            self.dynamic.add(ref)
            self.report(
                Diagnostic(
                    "GQL_DYNAMIC",
                    f"document not built: {error.reason}",
                    error.path,
                    error.line,
                    error.column,
                    hint="build the document from literals and names bound once to static "
                    "strings (see `Static strings` in the guide)",
                    severity=Severity.WARNING,
                )
            )
            return None
        assert text is not None
        body = joined(text)
        surrogate = _SURROGATE.search(body)
        if surrogate is not None:
            # Not Unicode: no output could hold it (UTF-8, JSON). Reported here, and the
            # document goes on with U+FFFD so its users are not blamed.
            where = locate(text, surrogate.start()) or (ref.path, 1, 1)
            self.report(
                Diagnostic(
                    "GQL_SYNTAX",
                    f"GraphQL syntax: lone surrogate U+{ord(surrogate.group()):04X} in the "
                    "document (not a Unicode character)",
                    *where,
                    hint="remove the \\ud800-\\udfff escape; write the character itself",
                )
            )
            text = tuple(
                Span(_SURROGATE.sub("\ufffd", s.text), s.path, s.line, s.column, s.exact)
                for s in text
            )
            self.texts[ref] = (text, None, found[2])
        return text

    def fragment_index(self, project: ResolvedProject) -> dict[str, list[Candidate]]:
        """Every fragment of the project's documents by name, one entry per place it is
        written (a fragment spliced into several documents is one fragment)."""
        index = self.indexes.get(project.name)
        if index is not None:
            return index
        from sodabuild.compose.names import fragment_sites, main_fragment
        from sodabuild.scan.static import joined, locate

        index = {}
        places: dict[tuple[str, int, int], Candidate] = {}
        for ref in self.project_refs(project.name):
            text = self.text(ref, quiet=True)
            self.index_deps.add(ref.path)
            self.index_deps |= self.texts[ref][2]
            if text is None:
                continue
            body = joined(text)
            main = main_fragment(body)
            for site in fragment_sites(body):
                where = locate(text, site.start) or (ref.path, 0, 0)
                is_main = site.name == main and not body[: site.start].strip()
                candidate = Candidate(site.name, where, ref, is_main, site.start, site.end)
                known = places.get(where)
                if known is not None and (known.main or not is_main):
                    continue  # the same fragment again; a definition of it wins
                places[where] = candidate
        for candidate in sorted(places.values(), key=lambda c: (c.name, c.origin)):
            index.setdefault(candidate.name, []).append(candidate)
        self.indexes[project.name] = index
        return index

    def document(self, ref: DefRef, passed: set[str], by_name: bool = True) -> Document | None:
        """``ref``'s text with the fragments it spreads by name: definitions (composed as
        if passed) and fragments spliced into other documents (their text appended).
        ``passed``: the names of the fragments passed to gql(); without ``by_name``, only
        the text."""
        from sodabuild.compose.names import fragment_names, spread_names
        from sodabuild.scan.static import Span, joined, slice_text

        text = self.text(ref, quiet=True)  # the caller has reported it (text())
        if text is None:
            return None
        project = self.project_of(ref.path)
        found = Document(text)
        # .graphql files have no imports: their spreads always resolve by name
        by_imports_only = project.fragments == "imports" and self.definition(ref).kind != "file"
        if by_imports_only or not by_name:
            return found
        body = joined(text)
        spread = spread_names(body) - passed
        if not spread:
            return found  # every spread is passed (the common case): nothing to look up
        defined = fragment_names(body)
        pending = sorted(spread - defined)
        done: set[str] = set()
        while pending:
            name = pending.pop(0)
            if name in done:
                continue
            done.add(name)
            candidates = [c for c in self.fragment_index(project).get(name, ()) if c.ref != ref]
            if not candidates:
                found.unknown.add(name)
                continue
            if len(candidates) > 1:
                found.ambiguous[name] = candidates
                continue
            candidate = candidates[0]
            host = self.text(candidate.ref, quiet=True)
            assert host is not None
            found.deps |= self.texts[candidate.ref][2]
            if candidate.main:
                found.targets.append(candidate.ref)
                continue
            piece = slice_text(host, candidate.start, candidate.end)
            newline = Span("\n", ref.path, candidate.origin[1], candidate.origin[2], False)
            found.text = (*found.text, newline, *piece)
            found.spliced.append((name, candidate.origin))
            piece_body = joined(piece)
            defined |= fragment_names(piece_body)
            pending.extend(sorted(spread_names(piece_body) - defined - passed - done))
        return found
