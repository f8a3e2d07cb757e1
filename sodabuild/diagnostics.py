"""Diagnostics: located, coded problems in user input, and the collector that dedupes them.

Every problem sodabuild reports is a :class:`Diagnostic` with a stable code (see
:data:`CODES`), a host file (workspace-relative, POSIX), a 1-based line and column, a
one-line message and an optional hint. GraphQL positions are mapped into the Python file
before a diagnostic is made, so a location always points at what the user edits.
:meth:`Diagnostic.render` is the human form (with a code frame and colour, see
``sodabuild.render``); :meth:`Diagnostic.to_json` the ``--json`` one.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Any

from sodabuild.pickling import by_fields
from sodabuild.render.color import BOLD, SEVERITY_COLORS, paint
from sodabuild.render.frame import Sources, code_frame, hint_lines


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


#: Stable diagnostic codes and what they mean. Codes never change meaning once released.
CODES: dict[str, str] = {
    # configuration (exit 2)
    "CONFIG_NOT_FOUND": "no workspace file found or a named config file does not exist",
    "CONFIG_TOML": "a config file is not valid TOML",
    "CONFIG_INVALID": "an unknown key or an invalid value in a config file",
    "CONFIG_PATH_ESCAPE": "a configured path points outside the workspace root",
    "CONFIG_CONFLICT": "a project key is set both inline in the workspace and in the project file",
    "CONFIG_OVERLAP": "the cache dir or an out_dir is or contains a root, source or another output",
    "RULE_ERROR": "a Starlark rule file failed to parse or evaluate",
    "RULE_INVALID": "a rule constructor was called with invalid arguments",
    "RULE_UNKNOWN": "a project selects a rule that no rule file defines",
    "RULE_DUPLICATE": "two rule files define a rule with the same name",
    "USAGE": "a command-line argument is invalid",
    "TSCONFIG_INVALID": "a project's tsconfig.json (or a file it extends) cannot be used",
    # sources (exit 1)
    "SCHEMA_NOT_FOUND": "a project's schema file does not exist",
    "SCHEMA_SYNTAX": "a schema file is not valid GraphQL SDL",
    "SCHEMA_INVALID": "the schema files do not build a valid schema",
    "SCHEMA_SPEC": "(warning) the schema breaks a spec rule that leaves it usable; it builds",
    "PY_SYNTAX": "a Python source file has a syntax error",
    "PY_DECODE": "a Python source file is not valid UTF-8",
    "TS_SYNTAX": "a TypeScript or JavaScript source file has a syntax error or is not UTF-8",
    "GQL_NON_LITERAL": "gql() is called without a document argument",
    "GQL_DYNAMIC": "(warning) part of a document is known only at run time; it is not built",
    "GQL_FRAGMENT_AMBIGUOUS": "a spread's name finds fragments in more than one place",
    "GQL_NO_DOCUMENTS": "(warning) a project's discovered files hold no GraphQL document",
    "GQL_ARG_INVALID": "a fragment argument of gql() is not a name or module attribute",
    "GQL_SYNTAX": "a GraphQL document has a syntax error",
    "GQL_DEFINITION_SHAPE": "a gql() string does not hold exactly one operation or main fragment",
    "GQL_VALIDATION": "a composed document fails validation against the project schema",
    "GQL_UNKNOWN_FRAGMENT": "a fragment spread names no fragment passed to gql() or defined inline",
    "GQL_FRAGMENT_NOT_PASSED": "a spread fragment is bound in the module but not passed to gql()",
    "GQL_ARG_UNBOUND": "a fragment argument names nothing bound in the module",
    "GQL_ARG_NOT_FRAGMENT": "a fragment argument resolves to something that is not a fragment",
    "GQL_UNUSED_FRAGMENT_ARG": "a fragment passed to gql() is never spread by the document",
    "GQL_FRAGMENT_CYCLE": "fragments spread each other in a cycle",
    "GQL_DUPLICATE_OPERATION": "two operations in one project share a name",
    "GQL_FRAGMENT_NAME_CLASH": "two different fragments with one name meet in a composed document",
    "IMPORT_UNRESOLVED": "an import needed to resolve a fragment argument cannot be resolved",
    "OUTPUT_WRITE": "an output file could not be written",
    "INPUT_TOO_LARGE": "an input file is larger than [workspace] max_file_bytes; it is not read",
    "INPUT_SKIPPED": "(warning) a discovered path is a special file or a symlink leaving the workspace",
    # cache (warnings)
    "CACHE_PURGED": "the cache was corrupt or from another version; it was purged and rebuilt",
    "CACHE_UNUSABLE": "the cache or its key cannot be used; the build ran without reading or saving it",
    "REMOTE_CACHE": "the remote cache failed, refused or sent a blob that did not verify; the"
    " build ran locally with the same outputs",
}

CONFIG_CODES = frozenset(
    {
        "CONFIG_NOT_FOUND",
        "CONFIG_TOML",
        "CONFIG_INVALID",
        "CONFIG_PATH_ESCAPE",
        "CONFIG_CONFLICT",
        "CONFIG_OVERLAP",
        "RULE_ERROR",
        "RULE_INVALID",
        "RULE_UNKNOWN",
        "RULE_DUPLICATE",
        "USAGE",
        "TSCONFIG_INVALID",
    }
)


@by_fields
@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One located problem. ``file`` is workspace-relative (POSIX) or absolute if outside."""

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file or "", self.line or 0, self.column or 0, self.code, self.message)

    def location(self) -> str:
        if self.file is None:
            return "<workspace>"
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def render(
        self,
        root: str | os.PathLike[str] | None = None,
        color: bool = False,
        sources: Sources | None = None,
    ) -> str:
        """Human form: ``path:line:col: severity CODE message``, then (with the workspace
        ``root``) a code frame of the source line, then ``= hint: ...``. ``sources`` shares
        the files read between the diagnostics of one rendering. See ``sodabuild.render``."""
        tone = SEVERITY_COLORS.get(self.severity.value, "")
        lines = [
            f"{paint(self.location() + ':', BOLD, color=color)} "
            f"{paint(self.severity.value, BOLD, tone, color=color)} "
            f"{paint(self.code, tone, color=color)} {self.message}"
        ]
        if sources is None and root is not None:
            sources = Sources(root)
        frame: list[str] = []
        if sources is not None:
            frame = code_frame(sources, self.file, self.line, self.column, tone, color)
        lines.extend(frame)
        if self.hint:
            lines.extend(hint_lines(self.hint, frame, self.line, color))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
        }


@dataclass
class DiagnosticSink:
    """Collects diagnostics, each reported once (same code, place and message)."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set[tuple[str, str | None, int | None, int | None, str]] = field(default_factory=set)

    def add(self, diagnostic: Diagnostic) -> bool:
        key = (
            diagnostic.code,
            diagnostic.file,
            diagnostic.line,
            diagnostic.column,
            diagnostic.message,
        )
        if key in self._seen:
            return False
        self._seen.add(key)
        self.items.append(diagnostic)
        return True

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        for diagnostic in diagnostics:
            self.add(diagnostic)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)


class SodabuildError(Exception):
    """A fatal configuration-level failure carrying one or more diagnostics (exit code 2).

    ``root`` is the workspace root the diagnostics' files are relative to, when the raiser
    knows it (config and rule loading, project selection): :meth:`render` then shows
    code frames."""

    def __init__(self, diagnostics: list[Diagnostic], root: str | None = None) -> None:
        self.diagnostics = diagnostics
        self.root = root
        super().__init__("\n".join(d.render() for d in diagnostics))

    def render(self, color: bool = False) -> list[str]:
        """Each diagnostic in its human form, with a code frame when ``root`` is known."""
        sources = Sources(self.root)
        return [d.render(color=color, sources=sources) for d in self.diagnostics]
