"""The ``sodabuild`` command line (typer).

Exit codes: 0 success, 1 the sources have errors (or ``--check`` found stale outputs),
2 usage or configuration errors, 3 an internal error (a bug: please report it).
Diagnostics print as ``path:line:col: severity CODE message`` with an indented hint.
"""

from __future__ import annotations

import enum
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from sodabuild import __version__
from sodabuild.diagnostics import SodabuildError
from sodabuild.launch import EXIT_OK, EXIT_SOURCE_ERRORS, print_summary, try_no_op

#: Help is laid out for 80 columns at most (wider terminals get the same text); the
#: plain formatter obeys ``max_content_width``, the rich one ``help_width()``.
HELP_WIDTH = 80
CONTEXT = {"max_content_width": HELP_WIDTH, "help_option_names": ["-h", "--help"]}


class _HelpMixin:
    """Help that reads well: flags show no ``<bool>`` type, and a docstring's paragraphs
    are re-flowed by the formatter (its own line breaks are not kept)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


def unwrap(text: str | None) -> str | None:
    """``text`` with the line breaks inside each paragraph removed (a paragraph starting
    with a line ``\\b``, or one whose lines are indented, keeps its lines)."""
    if not text:
        return text
    import inspect

    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.split("\n")
        kept = lines[0] == "\b" or any(line.startswith(" ") for line in lines[1:])
        paragraphs.append(paragraph if kept else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


class _Command(_HelpMixin, typer.core.TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = unwrap(self.help)


class _Group(_HelpMixin, typer.core.TyperGroup):
    pass


app = typer.Typer(
    name="sodabuild",
    help="Incremental code generation for multi-project Python workspaces (GraphQL first).",
    epilog="New here? `sodabuild init` in your repository, then `sodabuild build`.\n"
    "Exit codes: 0 ok, 1 errors in the sources, 2 usage or config errors, 3 a bug.",
    no_args_is_help=True,
    add_completion=False,  # `sodabuild completion SHELL` prints the script instead
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    cls=_Group,
)
config_app = typer.Typer(
    help="Show the resolved config or its JSON Schema.",
    no_args_is_help=True,
    context_settings=CONTEXT,
    cls=_Group,
)
rules_app = typer.Typer(
    help="Inspect the Starlark rules.", no_args_is_help=True, context_settings=CONTEXT, cls=_Group
)
daemon_app = typer.Typer(
    help="A background process that keeps this workspace's builds warm.",
    no_args_is_help=True,
    context_settings=CONTEXT,
    cls=_Group,
)
#: Panels of ``sodabuild --help`` (build, init, clean and daemon are in "Commands").
INSPECT_PANEL, SHELL_PANEL = "Inspect", "Shell"
app.add_typer(config_app, name="config", rich_help_panel=INSPECT_PANEL)
app.add_typer(rules_app, name="rules", rich_help_panel=INSPECT_PANEL)
app.add_typer(daemon_app, name="daemon")


def help_width() -> int:
    """The width help is drawn at: the terminal's (``COLUMNS`` first), at most
    ``HELP_WIDTH``."""
    import shutil

    columns = shutil.get_terminal_size((HELP_WIDTH, 24)).columns
    return min(columns, HELP_WIDTH)


def _cap_help_width() -> None:
    """Rich help at most ``HELP_WIDTH`` columns wide. Typer reads ``TERMINAL_WIDTH`` when
    it first draws help or an error (importing rich then, not now: a build never pays for
    it); a width the user set is kept."""
    if not os.environ.get("TERMINAL_WIDTH"):
        os.environ["TERMINAL_WIDTH"] = str(help_width())


EXIT_CONFIG_ERRORS, EXIT_INTERNAL = 2, 3

#: Panels of ``sodabuild build --help``; options without one are listed first.
OUTPUT_PANEL, CACHE_PANEL, MODE_PANEL = "Output", "Cache", "Modes"

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "-w",
        "--workspace",
        metavar="PATH",
        help="Workspace TOML file (or its directory). Default: found walking up from here.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object on stdout.", show_default=False),
]

T = TypeVar("T")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _fail(error: SodabuildError, as_json: bool) -> None:
    if as_json:
        diagnostics = [d.to_json() for d in error.diagnostics]
        _print_json({"ok": False, "projects": [], "diagnostics": diagnostics})
    else:
        from sodabuild.render.color import color_enabled

        for text in error.render(color_enabled(sys.stderr)):
            typer.echo(text, err=True)
    raise typer.Exit(EXIT_CONFIG_ERRORS)


def _guarded(as_json: bool, action: Callable[[], T]) -> T:
    """Run ``action``; config errors exit 2 with diagnostics, bugs exit 3 without a traceback."""
    try:
        return action()
    except SodabuildError as exc:
        _fail(exc, as_json)
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        report_internal_error(exc, as_json)
        raise typer.Exit(EXIT_INTERNAL) from None
    raise AssertionError("unreachable")


def report_internal_error(exc: BaseException, as_json: bool) -> None:
    """What a bug prints: one line and a hint (the traceback with ``SODABUILD_DEBUG``)."""
    if os.environ.get("SODABUILD_DEBUG"):
        traceback.print_exception(exc)
    message = f"internal error: {type(exc).__name__}: {exc}"
    hint = "this is a bug in sodabuild; rerun with SODABUILD_DEBUG=1 for a traceback"
    if as_json:
        _print_json({"ok": False, "projects": [], "internal_error": message})
    else:
        typer.echo(f"sodabuild: {message}\n  = hint: {hint}", err=True)


def _write_profile(result: Any, summary: dict[str, Any]) -> str:
    """Append-only instrumentation archive: one JSON record per profiled build."""
    import datetime
    import platform

    from sodabuild.write import atomic_write

    root = Path(result.root)
    now = datetime.datetime.now(datetime.UTC)
    record = {
        "kind": "sodabuild-build-profile",
        "version": __version__,
        "created": now.isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "ok": summary["ok"],
        "workspace": summary["workspace"],
        "projects": [
            {"name": p["name"], "elements": p["elements"], "modules": p["modules"]}
            for p in summary["projects"]
        ],
        "stats": summary["stats"],
    }
    target = root / ".cache" / "perf" / f"build-{now:%Y%m%dT%H%M%S}-{os.getpid()}.json"
    atomic_write(target, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return target.relative_to(root).as_posix()


def _load(workspace: Path | None) -> Any:
    from sodabuild.config import find_workspace_file, load_workspace

    return load_workspace(find_workspace_file(Path.cwd(), workspace))


NoIncrementalOption = Annotated[
    bool,
    typer.Option(
        "--no-incremental",
        help="Build clean, ignoring the persistent cache (which is then rewritten).",
        show_default=False,
        rich_help_panel=CACHE_PANEL,
    ),
]
#: ``--incremental`` (the default) is still accepted; help shows only the option that
#: changes something.
IncrementalOption = Annotated[
    bool, typer.Option("--incremental", hidden=True, help="Reuse the cache (the default).")
]
GraphFilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--graph-filter",
        metavar="EXPR",
        help="Build part of the graph: include=GLOB, exclude=GLOB, kind=operation|fragment, "
        "depth=N (comma-separated, repeatable; see the user guide).",
        show_default=False,
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        "--incremental-cache-dir",
        metavar="DIR",
        help="Cache directory (default: \\[workspace] cache_dir, .cache/sodabuild).",
        show_default=False,
        rich_help_panel=CACHE_PANEL,
    ),
]

BUILD_EXAMPLES = """Examples:
sodabuild build                     every project, incrementally
sodabuild build -p app --check      CI: exit 1 if app's outputs are stale
sodabuild build --watch             rebuild on every save until Ctrl-C
sodabuild build --json > out.json   the summary as one JSON object
sodabuild build --graph-filter 'include=app/users/**,kind=operation'"""


@app.command(epilog=BUILD_EXAMPLES)
def build(
    workspace: WorkspaceOption = None,
    project: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--project",
            metavar="NAME",
            help="Build only this project (repeatable).",
            show_default=False,
        ),
    ] = None,
    graph_filter: GraphFilterOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Build in memory; exit 1 if outputs on disk are stale. Writes nothing.",
            show_default=False,
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the summary as one JSON object on stdout.",
            show_default=False,
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    no_progress: Annotated[
        bool,
        typer.Option(
            "--no-progress",
            help="No progress line on stderr (shown on a terminal when a build takes over "
            "a second; SODABUILD_PROGRESS=0 or TERM=dumb also turn it off).",
            show_default=False,
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    write_delta: Annotated[
        Path | None,
        typer.Option(
            "--write-delta",
            metavar="PATH",
            help="Write the elements added, changed and removed since the last build here.",
            show_default=False,
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Write the build's timings and counts as a JSON record under .cache/perf/.",
            show_default=False,
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    no_incremental: NoIncrementalOption = False,
    incremental: IncrementalOption = True,
    cache_dir: CacheDirOption = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Build, then rebuild on every change until Ctrl-C (one line per rebuild).",
            show_default=False,
            rich_help_panel=MODE_PANEL,
        ),
    ] = False,
    show_cache: Annotated[
        bool,
        typer.Option(
            "--show-cache",
            help="Print the cache location, entries, size and keys as JSON; no build.",
            show_default=False,
            rich_help_panel=MODE_PANEL,
        ),
    ] = False,
    remote_cache: Annotated[
        str | None,
        typer.Option(
            "--remote-cache",
            metavar="URL",
            help="Share results through this remote cache (grpc://, grpcs://, http://, "
            "https://; overrides the config's url).",
            show_default=False,
            rich_help_panel=CACHE_PANEL,
        ),
    ] = None,
    remote_upload: Annotated[
        bool,
        typer.Option(
            "--remote-upload",
            help="Upload results to the remote cache (default: the config's upload, off).",
            show_default=False,
            rich_help_panel=CACHE_PANEL,
        ),
    ] = False,
    no_remote_upload: Annotated[
        bool,
        typer.Option(
            "--no-remote-upload",
            help="Only read the remote cache, whatever the config says.",
            show_default=False,
            rich_help_panel=CACHE_PANEL,
        ),
    ] = False,
) -> None:
    """Build the workspace's projects: discover, scan, resolve, compose, validate, emit, write.

    Only what changed since the last build is redone; the outputs are those of a clean
    build, byte for byte. A summary line per project goes to stdout, diagnostics with
    their source lines to stderr.
    """
    started = time.perf_counter()
    incremental = not no_incremental
    if watch:
        from sodabuild.session.watch import watch_workspace

        code = _guarded(
            as_json,
            lambda: watch_workspace(
                workspace,
                project,
                incremental=incremental,
                cache_dir=cache_dir,
                as_json=as_json,
                graph_filter=graph_filter,
            ),
        )
        raise typer.Exit(code)
    options = BuildOptions(
        workspace=workspace,
        projects=project,
        as_json=as_json,
        check=check,
        incremental=incremental,
        cache_dir=cache_dir,
        graph_filter=graph_filter,
        show_cache=show_cache,
        profile=profile,
        write_delta=write_delta,
        progress=not (as_json or no_progress or show_cache) and progress_wanted(),
        remote_cache=remote_cache,
        remote_upload=True if remote_upload else (False if no_remote_upload else None),
    )
    raise typer.Exit(run_build(options, started))


def progress_wanted() -> bool:
    """Whether this process's build draws a progress line on stderr."""
    from sodabuild.render.progress import wanted

    return wanted(sys.stderr)


@dataclass
class BuildOptions:
    """A build's command-line options (paths as given, relative to ``cwd``)."""

    workspace: Path | None = None
    projects: list[str] | None = None
    as_json: bool = False
    check: bool = False
    incremental: bool = True
    cache_dir: Path | None = None
    graph_filter: list[str] | None = None
    show_cache: bool = False
    profile: bool = False
    write_delta: Path | None = None
    #: The directory the paths are relative to (default: this process's).
    cwd: Path | None = None
    #: Colour the human output (None: when this process's stdout is a terminal; a daemon
    #: passes its client's answer).
    color: bool | None = None
    #: Draw a progress line on this process's stderr during a long build (never in a
    #: daemon: its stderr is a log).
    progress: bool = False
    #: ``--remote-cache URL`` and ``--remote-upload/--no-remote-upload``.
    remote_cache: str | None = None
    remote_upload: bool | None = None

    def session_key(self) -> tuple[Any, ...]:
        """What makes two builds' sessions interchangeable (the workspace aside)."""
        return (
            tuple(self.projects or ()),
            tuple(self.graph_filter or ()),
            self.incremental,
            str(self.cache_dir) if self.cache_dir is not None else None,
            self.remote_cache,
            self.remote_upload,
        )


class SessionHost:
    """Where a build's session comes from and where it goes: a new one per build, loaded
    from the cache and disposed of (the CLI), or a live one kept between builds (the
    daemon, ``sodabuild.daemon.server``)."""

    def open(self, options: BuildOptions, make: Callable[[], Any]) -> Any:
        session = _guarded(options.as_json, make)
        _guarded(options.as_json, session.load)
        return session

    def locked(self, session: Any, on_wait: Callable[[], None]) -> AbstractContextManager[Any]:
        """The cache lock around the build and the save."""
        from sodabuild.session.store import cache_lock

        return cache_lock(session.cache_dir(), on_wait=on_wait)

    def done(self, session: Any, summary: dict[str, Any]) -> None:
        """The build is over (inside ``locked``): persist the cache and the no-op record."""
        session.dispose(summary)

    def no_op(self, options: BuildOptions, cwd: Path) -> dict[str, Any] | None:
        """The last build's summary when nothing changed since (the stat-only check of the
        no-op record), else None."""
        return try_no_op(
            options.workspace,
            options.projects,
            options.check,
            options.cache_dir,
            options.graph_filter,
            cwd=cwd,
        )


def run_build(options: BuildOptions, started: float, host: SessionHost | None = None) -> int:
    """One build as ``sodabuild build`` runs it: the no-op check, then the session's
    update under the cache lock; prints the summary (stdout) and diagnostics of failures
    (stderr) and returns the exit code (config errors and bugs raise ``typer.Exit``)."""
    host = host or SessionHost()
    cwd = options.cwd or Path.cwd()
    as_json, check = options.as_json, options.check
    if options.incremental and not (options.show_cache or options.profile):
        previous = host.no_op(options, cwd)
        if previous is not None:
            from sodabuild.engine.summary import no_op_summary

            summary = no_op_summary(previous, time.perf_counter() - started, check)
            if options.write_delta is not None:
                root = _workspace_root(options.workspace, cwd)
                artifacts = {
                    p["name"]: p["outputs"]["artifact"]
                    for p in summary["projects"]
                    if "artifact" in p["outputs"]
                }
                before = _read_artifacts(root, artifacts)
                _write_delta(options.write_delta, root, artifacts, before)
            print_summary(summary, as_json, _workspace_root(options.workspace, cwd), options.color)
            return EXIT_OK if summary["ok"] else EXIT_SOURCE_ERRORS

    from sodabuild.engine.summary import build_summary
    from sodabuild.session.session import BuilderSession

    session = host.open(
        options,
        lambda: BuilderSession(
            options.workspace,
            cwd=cwd,
            projects=options.projects,
            incremental=options.incremental,
            cache_dir=options.cache_dir,
            graph_filter=options.graph_filter,
            remote_cache=options.remote_cache,
            remote_upload=options.remote_upload,
        ),
    )
    assert session.cache is not None
    if options.show_cache:
        _print_json(session.cache_report())
        return EXIT_OK

    def waiting() -> None:
        typer.echo(
            f"sodabuild: waiting for another sodabuild process ({session.cache_dir()}/lock)",
            err=True,
        )

    root = Path(str(session.workspace.root)) if session.workspace else cwd
    artifacts = _artifact_paths(session) if options.write_delta is not None else {}
    before = _read_artifacts(root, artifacts)

    def run() -> Any:
        with host.locked(session, waiting):
            with _progress(options.progress):
                result = session.update(check=check)
            notes = session.cache.notes if session.cache else []
            summary = build_summary(result, check, time.perf_counter() - started, notes)
            host.done(session, summary)
        return result, summary

    result, summary = _guarded(as_json, run)
    if options.write_delta is not None and not check:
        _write_delta(options.write_delta, root, artifacts, before)
    if options.profile:
        record = _write_profile(result, summary)
        if not as_json:
            typer.echo(f"profile: {record}")
    print_summary(summary, as_json, root, options.color)
    return EXIT_OK if result.ok else EXIT_SOURCE_ERRORS


def _progress(show: bool) -> AbstractContextManager[Any]:
    """The progress line around a build (erased when it ends), or nothing."""
    from contextlib import nullcontext

    if not show:
        return nullcontext()
    from sodabuild.render.progress import TerminalProgress, forced, showing

    if forced():  # tests and logs: every report, from the first
        return showing(TerminalProgress(sys.stderr, delay=0.0, interval=0.0))
    return showing(TerminalProgress(sys.stderr))


def _workspace_root(workspace: Path | None, cwd: Path) -> Path:
    from sodabuild.config.find import find_workspace_file

    return find_workspace_file(cwd, workspace).parent


def _artifact_paths(session: Any) -> dict[str, str]:
    """Workspace-relative artifact path of each selected project."""
    paths = {}
    for project in session.workspace.projects:
        if session.projects and project.name not in session.projects:
            continue
        for name in project.rules:
            rule = session.rules.get(name)
            output = rule.output("artifact") if rule is not None else None
            if output is not None:
                paths[project.name] = f"{project.out_dir}/{output.path}"
    return paths


def _read_artifacts(root: Path, artifacts: dict[str, str]) -> dict[str, Any]:
    found = {}
    for project, path in artifacts.items():
        try:
            found[project] = json.loads((root / path).read_bytes())
        except (OSError, ValueError):
            continue
    return found


def _write_delta(
    target: Path, root: Path, artifacts: dict[str, str], before: dict[str, Any]
) -> None:
    """The delta of every selected project's artifact since the last build, atomically."""
    from sodabuild.emit.delta import DELTA_FORMAT, DELTA_VERSION, diff, empty_artifact
    from sodabuild.emit.outputs import dumps
    from sodabuild.write import atomic_write

    after = _read_artifacts(root, artifacts)
    projects = {}
    for project, path in sorted(artifacts.items()):
        old = before.get(project, empty_artifact(project))
        new = after.get(project, old)
        projects[project] = {"artifact": path, **diff(old, new)}
    data = {"format": DELTA_FORMAT, "version": DELTA_VERSION, "projects": projects}
    atomic_write(target.resolve(), dumps(data))


INIT_EXAMPLES = """Examples:
sodabuild init --dry-run    print the file and what the first build finds
sodabuild init              write ./sodabuild.toml, then: sodabuild build
sodabuild init path/to/repo"""


@app.command(epilog=INIT_EXAMPLES)
def init(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="The repository's root (default: here).", show_default=False
        ),
    ] = Path("."),
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the file instead of writing it (the first build still runs).",
            show_default=False,
        ),
    ] = False,
) -> None:
    """Write a sodabuild.toml for an existing repository and show what the first build finds.

    Finds the GraphQL schemas (.graphql, .gql and .graphqls files with type definitions;
    introspection JSON is not read) and the documents: gql() calls, whether gql comes
    from sodabuild.graphql or the gql library, strings marked `# language=GraphQL`, and
    .graphql files with operations. It writes one project per directory holding a schema
    and the code that uses it, then runs the first build in memory (nothing written) and
    prints what it finds. An existing sodabuild.toml is never overwritten (exit 2).
    """
    from sodabuild.init.run import (
        SHOWN_DIAGNOSTICS,
        init_workspace,
        report_first_build,
        report_found,
    )
    from sodabuild.render.color import color_enabled
    from sodabuild.render.frame import Sources

    result = _guarded(False, lambda: init_workspace(directory, dry_run=dry_run))
    report_found(result, typer.echo, dry_run)
    if dry_run:
        typer.echo(f"--- {result.path.name}")
        typer.echo(result.text, nl=False)
        typer.echo("---")
    sys.stdout.flush()
    color = color_enabled(sys.stderr)
    sources = Sources(result.survey.root)
    for diagnostic in result.diagnostics[:SHOWN_DIAGNOSTICS]:
        typer.echo(diagnostic.render(color=color, sources=sources), err=True)
    sys.stderr.flush()
    report_first_build(result, typer.echo, dry_run)
    if result.config_error:
        raise typer.Exit(EXIT_CONFIG_ERRORS)


@app.command(rich_help_panel=INSPECT_PANEL)
def graph(
    workspace: WorkspaceOption = None,
    project: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--project",
            metavar="NAME",
            help="Only this project's build (repeatable).",
            show_default=False,
        ),
    ] = None,
    level: Annotated[
        str,
        typer.Option(
            "--level",
            metavar="module|definition",
            help="module: the imports; definition: the fragments passed (default: module).",
            show_default=False,
        ),
    ] = "module",
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="dot|mermaid",
            help="Graphviz DOT or Mermaid (default: dot).",
            show_default=False,
        ),
    ] = "dot",
    pattern: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="GLOB",
            help="Glob over node names: only edges touching a match.",
            show_default=False,
        ),
    ] = None,
    graph_filter: GraphFilterOption = None,
) -> None:
    """Print the module or definition graph of the last build (building if needed)."""
    from sodabuild.graph.render import select, to_dot, to_mermaid
    from sodabuild.session.session import BuilderSession
    from sodabuild.session.store import cache_lock

    if level not in ("module", "definition") or fmt not in ("dot", "mermaid"):
        typer.echo(
            "sodabuild: --level is module or definition; --format is dot or mermaid", err=True
        )
        raise typer.Exit(EXIT_CONFIG_ERRORS)
    session = _guarded(
        False, lambda: BuilderSession(workspace, projects=project, graph_filter=graph_filter)
    )
    _guarded(False, session.load)

    def run() -> Any:
        with cache_lock(session.cache_dir()):
            result = session.update()
            session.save()
        return result

    result = _guarded(False, run)
    if level == "module":
        edges = [(a, b) for a, targets in result.module_graph.imports.items() for b in targets]
        nodes = list(result.module_graph.imports)
    else:
        edges = [
            (f"{d.path}::{d.name}", f"{f.path}::{f.name}")
            for d, fragments in result.definition_graph.fragments.items()
            for f in fragments
        ]
        nodes = [f"{d.path}::{d.name}" for d in result.definition_graph.fragments]
    chosen_nodes, chosen_edges = select(edges, nodes, pattern)
    name = f"{result.workspace} {level}s"
    text = (
        to_dot(chosen_nodes, chosen_edges, name)
        if fmt == "dot"
        else to_mermaid(chosen_nodes, chosen_edges)
    )
    sys.stdout.write(text)


@app.command(rich_help_panel=INSPECT_PANEL)
def explain(
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="A canonical id (app/x.py::Name), a module path, or a name.",
            show_default=False,
        ),
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Say why a module or definition was (or was not) rebuilt in the last build."""
    from sodabuild.session.session import BuilderSession

    session = BuilderSession(workspace)
    _guarded(False, session.load)
    warm = session.warm
    if warm is None or not warm.reasons:
        typer.echo("sodabuild: no build recorded in the cache yet; run `sodabuild build`", err=True)
        raise typer.Exit(EXIT_SOURCE_ERRORS)
    name = target.split(":")[-1] if "::" not in target else None
    path, _, binding = target.rpartition("::") if "::" in target else (target, "", "")
    path = path.split(":", 1)[-1] if ":" in path else path  # project:path::Name

    def path_matches(candidate: str) -> bool:
        return bool(path) and (candidate == path or candidate.endswith("/" + path))

    lines = []
    for file, why in sorted(warm.file_reasons.items()):
        if path_matches(file) and not binding:
            lines.append(f"{file}: {why}")
    for definition, why in sorted(warm.reasons.items()):
        module, _, defined = definition.rpartition("::")
        if (binding and defined == binding and path_matches(module)) or (
            not binding and (path_matches(module) or defined == name)
        ):
            lines.append(f"{definition}: {why}")
    if not lines:
        typer.echo(f"sodabuild: '{target}' is not part of the last build", err=True)
        raise typer.Exit(EXIT_SOURCE_ERRORS)
    for line in lines:
        typer.echo(line)


@app.command()
def clean(workspace: WorkspaceOption = None, cache_dir: CacheDirOption = None) -> None:
    """Remove the cache files sodabuild keeps (outputs and other files are kept)."""
    from sodabuild.session.session import clean_cache

    def run() -> Path:
        from sodabuild.config.find import find_workspace_file
        from sodabuild.session.fastpath import cache_dir_of

        workspace_file = find_workspace_file(Path.cwd(), workspace)
        directory = cache_dir_of(workspace_file, cache_dir)
        if directory is None:  # the TOML does not parse: let the loader say why
            resolved = _load(workspace)
            return Path(str(resolved.root)) / str(resolved.cache_dir)
        return directory

    directory = _guarded(False, run)
    _stop_daemon_for_clean(directory)
    cleaned = _guarded(False, lambda: clean_cache(directory))
    if cleaned.directory_removed:
        typer.echo(f"removed {directory}")
    elif cleaned.removed:
        kept = ", ".join(cleaned.kept[:5]) + (" ..." if len(cleaned.kept) > 5 else "")
        typer.echo(
            f"removed {len(cleaned.removed)} cache file(s) from {directory}; "
            f"kept what sodabuild did not create: {kept}"
        )
    elif cleaned.found:
        typer.echo(f"no cache files in {directory} (nothing removed)")
    else:
        typer.echo(f"no cache at {directory}")


def _stop_daemon_for_clean(directory: Path) -> None:
    """``clean`` stops the cache directory's daemon (its warm state would outlive the
    cache) and removes the daemon's files with the cache's."""
    import stat

    from sodabuild.daemon import client
    from sodabuild.daemon.protocol import INFO_FILE, LOCK_FILE, LOG_FILE

    if not any(os.path.lexists(directory / name) for name in (INFO_FILE, LOCK_FILE)):
        return
    outcome = client.stop(directory)
    if outcome["was_running"]:
        typer.echo(f"stopped the sodabuild daemon (pid {outcome['pid']})")
    for name in (LOCK_FILE, LOG_FILE):
        try:
            if stat.S_ISREG(os.lstat(directory / name).st_mode):
                os.unlink(directory / name)
        except OSError:
            continue


IdleTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--idle-timeout",
        metavar="SECONDS",
        help="Stop after this many seconds without a request (default: "
        "$SODABUILD_DAEMON_IDLE_TIMEOUT, else 10800, three hours).",
        show_default=False,
    ),
]


def _daemon_location(workspace: Path | None, cache_dir: Path | None, as_json: bool) -> Any:
    """The workspace file and cache directory a daemon command is about (config errors
    are reported as every command reports them)."""

    def run() -> tuple[Path, Path]:
        from sodabuild.config.find import find_workspace_file
        from sodabuild.session.fastpath import cache_dir_of

        workspace_file = find_workspace_file(Path.cwd(), workspace)
        directory = cache_dir_of(workspace_file, cache_dir)
        if directory is None:  # the TOML does not parse, or its cache_dir is wrong: say why
            resolved = _load(workspace)
            directory = Path(str(resolved.root)) / str(resolved.cache_dir)
        return workspace_file, directory

    return _guarded(as_json, run)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@daemon_app.command("start")
def daemon_start(
    workspace: WorkspaceOption = None,
    idle_timeout: IdleTimeoutOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Start the workspace's build daemon in the background; `sodabuild build` then asks it."""
    import math

    from sodabuild.daemon import client
    from sodabuild.daemon.protocol import DEFAULT_IDLE_TIMEOUT, IDLE_ENV

    if idle_timeout is None:
        configured = os.environ.get(IDLE_ENV, "")
        try:
            idle_timeout = float(configured) if configured else DEFAULT_IDLE_TIMEOUT
        except ValueError:
            typer.echo(f"sodabuild: {IDLE_ENV}={configured!r} is not a number of seconds", err=True)
            raise typer.Exit(EXIT_CONFIG_ERRORS) from None
    if not (math.isfinite(idle_timeout) and idle_timeout > 0):
        typer.echo("sodabuild: the idle timeout must be a positive number of seconds", err=True)
        raise typer.Exit(EXIT_CONFIG_ERRORS)
    workspace_file, directory = _daemon_location(workspace, cache_dir, False)
    found = client.status(workspace_file, directory)
    if found["running"] and found.get("responding") and not found.get("compatible"):
        stopped = client.stop(directory)
        typer.echo(
            f"stopped the daemon of sodabuild {found.get('version')} ({found.get('source')}), "
            f"pid {stopped['pid']}"
        )
    elif found["running"]:
        _already(workspace_file, found)
        return
    override = Path.cwd() / cache_dir if cache_dir is not None else None
    answer = client.start(workspace_file, override, idle_timeout)
    if answer.get("already"):
        _already(workspace_file, client.status(workspace_file, directory))
        return
    if not answer.get("ok"):
        sys.stdout.write(str(answer.get("stdout", "")))
        sys.stderr.write(str(answer.get("stderr", "")))
        raise typer.Exit(int(answer.get("code", EXIT_INTERNAL)))
    typer.echo(
        f"sodabuild daemon started for {workspace_file} (pid {answer['pid']}), "
        f"listening on {answer['socket']}"
    )


def _already(workspace_file: Path, found: dict[str, Any]) -> None:
    where = f", listening on {found['socket']}" if found.get("socket") else ""
    busy = "" if found.get("responding") else "; busy, not answering yet"
    typer.echo(
        f"sodabuild daemon already running for {workspace_file} "
        f"(pid {found.get('pid', '?')}{busy}){where}"
    )


@daemon_app.command("status")
def daemon_status(
    workspace: WorkspaceOption = None, as_json: JsonOption = False, cache_dir: CacheDirOption = None
) -> None:
    """Say whether the workspace's daemon runs: pid, uptime, builds served, version."""
    from sodabuild.daemon import client

    workspace_file, directory = _daemon_location(workspace, cache_dir, as_json)
    found = client.status(workspace_file, directory)
    if as_json:
        _print_json(found)
        return
    if not found["running"]:
        typer.echo(f"no sodabuild daemon running for {workspace_file}")
        return
    if not found.get("responding"):
        typer.echo(
            f"sodabuild daemon for {workspace_file}: running (pid {found.get('pid', '?')}) but "
            "not answering (busy with a long build, starting or stopping)"
        )
        return
    other = "" if found["compatible"] else "; not this sodabuild: builds run in-process"
    watch = found.get("serving") == "watch"
    timeout = found.get("idle_timeout_s")
    stops = f"stops after {_duration(timeout)}" if timeout else "stops with the watch"
    typer.echo(
        f"sodabuild {'build --watch' if watch else 'daemon'} serving builds for "
        f"{found['workspace']}"
    )
    typer.echo(
        f"  pid {found['pid']}, up {_duration(found['uptime_s'])}, "
        f"{found['builds']} build{'s' * (found['builds'] != 1)} served, "
        f"idle {_duration(found['idle_s'])} ({stops})"
    )
    typer.echo(f"  sodabuild {found['version']} ({found['source']}){other}")
    typer.echo(f"  socket {found['socket']}")
    typer.echo(f"  log {found['log']}")


@daemon_app.command("stop")
def daemon_stop(workspace: WorkspaceOption = None, cache_dir: CacheDirOption = None) -> None:
    """Stop the workspace's daemon (after the build it is running, if any)."""
    from sodabuild.daemon import client

    workspace_file, directory = _daemon_location(workspace, cache_dir, False)
    outcome = client.stop(directory)
    if not outcome["was_running"]:
        typer.echo(f"no sodabuild daemon running for {workspace_file}")
    elif outcome["forced"]:
        typer.echo(f"killed the sodabuild daemon (pid {outcome['pid']}): it did not stop in time")
    else:
        typer.echo(f"stopped the sodabuild daemon (pid {outcome['pid']})")


@config_app.command("show")
def config_show(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Print the resolved config of every project, with its cache-key hashes."""
    resolved = _guarded(as_json, lambda: _load(workspace))
    data = resolved.model_dump(mode="json")
    data.pop("root", None)
    if as_json:
        _print_json(data)
        return
    import tomli_w

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    typer.echo(tomli_w.dumps(clean(data)).rstrip())


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the config files (for editor completion)."""
    from sodabuild.config import config_json_schema

    _print_json(config_json_schema())


@rules_app.command("list")
def rules_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List the available rules: built-in and from the workspace's rule_dirs."""
    from sodabuild.rules.load import load_rules

    def run() -> Any:
        try:
            resolved = _load(workspace)
            return load_rules(Path(resolved.root), list(resolved.rule_dirs))
        except SodabuildError as exc:
            if workspace is None and exc.diagnostics[0].code == "CONFIG_NOT_FOUND":
                return load_rules(Path.cwd(), [])
            raise

    rules = _guarded(as_json, run)
    if as_json:
        _print_json({name: rule.model_dump(mode="json") for name, rule in rules.rules.items()})
        return
    for name, rule in rules.rules.items():
        outputs = ", ".join(f"{o.kind}:{o.path}" for o in rule.outputs)
        typer.echo(f"{name}  ({rule.file}:{rule.line})")
        if rule.description:
            typer.echo(f"    {rule.description}")
        typer.echo(f"    include: {', '.join(rule.discovery.include)}  outputs: {outputs}")


class Shell(enum.StrEnum):
    """Shells ``sodabuild completion`` writes a script for (typer's completion scripts)."""

    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"
    POWERSHELL = "powershell"


#: The variable the scripts set when they ask ``sodabuild`` for completions.
COMPLETE_VAR = "_SODABUILD_COMPLETE"


@app.command(
    rich_help_panel=SHELL_PANEL,
    epilog="Write the script where your shell looks for completions, once:\n"
    "bash  ~/.local/share/bash-completion/completions/sodabuild\n"
    '      (or add  eval "$(sodabuild completion bash)"  to ~/.bashrc)\n'
    "zsh   _sodabuild in a directory of $fpath, e.g. ~/.zfunc/_sodabuild\n"
    "fish  ~/.config/fish/completions/sodabuild.fish\n"
    "e.g.  sodabuild completion fish > ~/.config/fish/completions/sodabuild.fish",
)
def completion(
    shell: Annotated[Shell, typer.Argument(help="The shell to complete in.", show_default=False)],
) -> None:
    """Print the script that completes sodabuild's commands and options in a shell."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(
        prog_name="sodabuild", complete_var=COMPLETE_VAR, shell=shell.value
    )
    typer.echo(script)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sodabuild {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Show the version and exit.",
            show_default=False,
        ),
    ] = False,
) -> None:
    """Incremental code generation for multi-project Python workspaces (GraphQL first)."""


for _typer_app in (app, config_app, rules_app, daemon_app):
    for _info in _typer_app.registered_commands:
        if _info.cls is typer.core.TyperCommand:
            _info.cls = _Command
# `sodabuild --help` lists what a newcomer runs first, first
app.registered_commands.sort(key=lambda info: info.callback is not init)


def main() -> None:
    """Run the CLI, then exit at once: every output and the cache are written and closed by
    then, and tearing down a large build's heap object by object takes seconds."""
    _cap_help_width()
    if os.environ.get(COMPLETE_VAR):  # a completion script asks: typer's completion classes
        from typer._completion_classes import completion_init

        completion_init()
    try:
        # the program's name, also under `python -m sodabuild` (usage lines, completion)
        app(prog_name="sodabuild", complete_var=COMPLETE_VAR)
        code: int = 0
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
