"""``sodabuild init [DIR] [--dry-run]``: survey, write the workspace file, show the first
build.

The first build is the real one (config loaded by the real loader, every stage run), in
``--check`` mode and without a cache: it writes nothing, not even a cache directory. With
``--dry-run`` the workspace file is written under a hidden temporary name for the build
to load, and removed before ``init`` returns; the diagnostics then name
``sodabuild.toml``, as a real run's would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sodabuild.diagnostics import Diagnostic, Severity, SodabuildError
from sodabuild.init.config import config_text, target, write_exclusive
from sodabuild.init.survey import Survey, survey

#: Diagnostics of the first build printed in full (the rest are counted).
SHOWN_DIAGNOSTICS = 10


@dataclass
class ProjectPreview:
    name: str
    documents: int
    elements: int
    dynamic: int
    errors: int
    warnings: int
    out_dir: str


@dataclass
class InitResult:
    survey: Survey
    text: str
    path: Path
    written: bool
    projects: list[ProjectPreview] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: The first build could not start: the config (a project's own file) or a rule is
    #: wrong (``diagnostics`` say what; exit 2).
    config_error: bool = False


def init_workspace(directory: Path, *, dry_run: bool = False) -> InitResult:
    """Survey ``directory``, write its workspace file (unless ``dry_run``) and run the
    first build in check mode. SodabuildError (exit 2) when the file exists already or
    ``directory`` is not a directory."""
    directory = directory.resolve()
    path = target(directory)
    _refuse_existing(path, directory)
    if not directory.is_dir():
        raise SodabuildError(
            [
                Diagnostic(
                    "USAGE",
                    f"{directory} is not a directory",
                    hint="pass the repository's root directory: sodabuild init [DIR]",
                )
            ]
        )
    found = survey(directory)
    text = config_text(found)
    result = InitResult(found, text, path, written=False)
    if dry_run:
        temporary = directory / f".sodabuild-init-{os.getpid()}.toml"
        try:
            write_exclusive(temporary, text)
        except OSError as exc:
            raise _unwritable(temporary, exc) from None
        try:
            _first_build(result, temporary, renamed=path.name)
        finally:
            temporary.unlink(missing_ok=True)
        return result
    try:
        write_exclusive(path, text)
    except FileExistsError:
        _refuse_existing(path, directory)
        raise
    except OSError as exc:
        raise _unwritable(path, exc) from None
    result.written = True
    _first_build(result, path)
    return result


def _refuse_existing(path: Path, directory: Path) -> None:
    if os.path.lexists(path):
        raise SodabuildError(
            [
                Diagnostic(
                    "USAGE",
                    f"{path.name} already exists; sodabuild init never overwrites a file",
                    path.name,
                    1,
                    1,
                    hint="edit it, or move it away and run `sodabuild init` again "
                    "(`sodabuild init --dry-run` shows what it would write)",
                )
            ],
            root=str(directory),
        )


def _unwritable(path: Path, exc: OSError) -> SodabuildError:
    return SodabuildError(
        [
            Diagnostic(
                "USAGE",
                f"cannot write {path}: {exc.strerror or exc}",
                hint="check the directory's permissions, or run with --dry-run",
            )
        ]
    )


def _first_build(result: InitResult, workspace_file: Path, renamed: str | None = None) -> None:
    """The build the written file describes, in check mode, without a cache."""
    from sodabuild.config import load_workspace
    from sodabuild.engine import build_workspace
    from sodabuild.rules.load import load_rules

    shown = workspace_file.name

    def rename(diagnostic: Diagnostic) -> Diagnostic:
        if renamed is None or diagnostic.file != shown:
            return diagnostic
        return Diagnostic(
            diagnostic.code,
            diagnostic.message,
            renamed,
            diagnostic.line,
            diagnostic.column,
            diagnostic.hint,
            diagnostic.severity,
        )

    try:
        workspace = load_workspace(workspace_file)
        rules = load_rules(Path(workspace.root), list(workspace.rule_dirs))
        build = build_workspace(workspace, rules, check=True)
    except SodabuildError as exc:
        result.config_error = True
        result.diagnostics = [rename(d) for d in exc.diagnostics]
        return
    for project in build.projects:
        errors = sum(1 for d in project.diagnostics if d.severity is Severity.ERROR)
        result.projects.append(
            ProjectPreview(
                project.name,
                project.documents,
                project.elements,
                project.dynamic_definitions,
                errors,
                len(project.diagnostics) - errors,
                project.out_dir,
            )
        )
        result.diagnostics.extend(rename(d) for d in project.diagnostics)


def report_found(result: InitResult, echo: Callable[[str], Any], dry_run: bool) -> None:
    """What ``init`` found and wrote (human lines)."""
    found = result.survey
    echo(f"sodabuild init: {found.root}")
    echo(f"  schemas: {_listed(found.schemas) or 'none found'}")
    calls = sum(p.calls for p in found.python)
    marked = sum(p.marked for p in found.python)
    how = f" (gql from {', '.join(found.gql_modules)})" if calls else ""
    echo(
        f"  documents: {_count(calls, 'gql() call')}{how} and {_count(marked, 'marked string')}"
        f" in {_count(len(found.python), 'Python file')}; "
        f"{_count(len(found.graphql), 'GraphQL file')} with operations or fragments"
    )
    if found.introspection:
        echo(
            f"  not used: {_listed(found.introspection)}: introspection JSON is not a schema "
            "sodabuild reads; print it as SDL (graphql-core: "
            "print_schema(build_client_schema(data))) and set `schema` to that file"
        )
    if found.unused_schemas:
        echo(f"  not used: {_listed(found.unused_schemas)}: no documents below them")
    if found.orphans:
        echo(
            f"  in no project: {_listed(found.orphans)}: not below a directory with a schema; "
            "add a project for them"
        )
    if found.unreadable:
        echo(f"  could not read or parse: {_listed(found.unreadable)}")
    quiet = ("hidden", "tooling or generated files")  # not worth a line
    walked = {d: why for d, why in found.skipped.items() if why not in quiet}
    if walked:
        echo(f"  not searched: {_listed(f'{d} ({why})' for d, why in walked.items())}")
    verb = "would write" if dry_run else "wrote"
    echo(f"{verb} {result.path}: {_count(len(found.projects), 'project')}")
    for project in found.projects:
        schema = ", ".join(project.relative(s) for s in project.schemas) or "none (TODO)"
        echo(f"  {project.name}: root {project.root}, schema {schema}")


def report_first_build(result: InitResult, echo: Callable[[str], Any], dry_run: bool) -> None:
    """What the first build finds, per project, and what to do next (human lines)."""
    if result.config_error:
        echo("first build: could not start, the config is wrong (see above)")
        echo(
            f"next: fix it in {'the printed file' if dry_run else result.path.name}, then "
            "`sodabuild build`"
        )
        return
    echo("first build (checked in memory; nothing written):")
    for preview in result.projects:
        parts = [f"{_count(preview.documents, 'document')} -> {preview.elements} built"]
        if preview.dynamic:
            parts.append(f"{preview.dynamic} dynamic (known only at run time, not built)")
        parts.append(_count(preview.errors, "error"))
        parts.append(_count(preview.warnings, "warning"))
        echo(f"  {preview.name}: {', '.join(parts)}")
    hidden = len(result.diagnostics) - SHOWN_DIAGNOSTICS
    if hidden > 0:
        echo(f"  ({hidden} more diagnostics: `sodabuild build` prints them all)")
    if dry_run:
        where = _shown_dir(result.survey.root)
        echo(f"next: `sodabuild init{' ' + where if where else ''}` writes it")
    else:
        echo("next: `sodabuild build` writes each project's outputs to its __generated__/")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _listed(paths: Any, limit: int = 5) -> str:
    items = list(paths)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _shown_dir(root: Path) -> str:
    try:
        relative = os.path.relpath(root)
    except ValueError:
        return str(root)
    return "" if relative == "." else relative
