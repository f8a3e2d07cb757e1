"""The command line's first step: answer a plain ``sodabuild build`` before loading the CLI.

A build whose inputs, config and outputs are all as the last build left them is answered
from the stat-only check of ``session/fastpath.py``, without importing typer, pydantic,
graphql-core or Starlark (``tests/test_launch.py`` guards that). Any other plain build goes
to the workspace's build daemon when one runs (``sodabuild/daemon/client.py``, as light),
which prints what the full command line would. Anything else, any argument this small
parser does not know, and any build the daemon cannot take, goes to the full command line
(``cli.py``), which parses it properly and reports what is wrong.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Exit codes shared with cli.py.
EXIT_OK, EXIT_SOURCE_ERRORS = 0, 1


@dataclass
class BuildArgs:
    """The options of a plain ``sodabuild build`` (the ones a no-op can answer)."""

    workspace: Path | None = None
    projects: list[str] = field(default_factory=list)
    as_json: bool = False
    check: bool = False
    cache_dir: Path | None = None
    graph_filter: list[str] = field(default_factory=list)


_VALUED = {
    "-w": "workspace",
    "--workspace": "workspace",
    "-p": "projects",
    "--project": "projects",
    "--incremental-cache-dir": "cache_dir",
    "--graph-filter": "graph_filter",
}
_FLAGS = {"--json": "as_json", "--check": "check", "--incremental": None, "--no-progress": None}


def parse_build(argv: list[str]) -> BuildArgs | None:
    """``argv`` (without the program) as a plain build, or None for anything else."""
    if not argv or argv[0] != "build":
        return None
    args = BuildArgs()
    rest = iter(argv[1:])
    for token in rest:
        name, inline = token, None
        if token.startswith("--") and "=" in token:
            name, inline = token.split("=", 1)
        if name in _FLAGS and inline is None:
            attribute = _FLAGS[name]
            if attribute is not None:
                setattr(args, attribute, True)
            continue
        if name not in _VALUED:
            return None  # --watch, --profile, --help, a typo, ...: the full CLI decides
        value = inline if inline is not None else next(rest, None)
        if value is None or (inline is None and value.startswith("-") and value != "-"):
            return None
        attribute = _VALUED[name]
        if attribute == "workspace":
            args.workspace = Path(value)
        elif attribute == "cache_dir":
            args.cache_dir = Path(value)
        else:
            getattr(args, attribute).append(value)
    return args


def locate(workspace: Path | None, cache_dir: Path | None, cwd: Path) -> tuple[Path, Path] | None:
    """The workspace file and the cache directory of a build, from the raw TOML; None when
    they cannot be told cheaply (the full path then runs and reports why)."""
    from sodabuild.config.find import find_workspace_file
    from sodabuild.session.fastpath import cache_dir_of

    # anything unexpected (a TOML nested too deep, a NUL in a path, a path too long) means
    # "cannot tell": the full path runs and reports it properly
    try:
        workspace_file = find_workspace_file(cwd, _absolute(workspace, cwd))
        directory = cache_dir_of(workspace_file, _absolute(cache_dir, cwd))
    except Exception:
        return None
    return None if directory is None else (workspace_file, directory)


def _absolute(path: Path | None, cwd: Path) -> Path | None:
    return None if path is None else cwd / path


def try_no_op(
    workspace: Path | None,
    projects: list[str] | None,
    check: bool,
    cache_dir: Path | None,
    graph_filter: list[str] | None,
    *,
    cwd: Path | None = None,
) -> dict[str, Any] | None:
    """The stat-only no-op check: the last build's summary, or None when anything changed
    (or cannot be proven unchanged)."""
    from sodabuild.session.fastpath import no_op_summary

    try:
        located = locate(workspace, cache_dir, cwd or Path.cwd())
        if located is None:
            return None
        workspace_file, directory = located
        return no_op_summary(
            workspace_file, directory, tuple(projects or ()), check, tuple(graph_filter or ())
        )
    except Exception:
        return None


def print_summary(
    summary: dict[str, Any], as_json: bool, root: Path | None = None, color: bool | None = None
) -> None:
    """The summary as ``--json`` or as the human lines (the same for every kind of build):
    diagnostics with code frames read below ``root``, coloured when ``color`` (default:
    when stdout is a terminal, see ``render/color.py``)."""
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    from sodabuild.engine.summary import render
    from sodabuild.render.color import color_enabled

    if color is None:
        color = color_enabled(sys.stdout)
    sys.stdout.write("".join(line + "\n" for line in render(summary, color, root)))


def answer_no_op(argv: list[str], started: float) -> int | None:
    """The exit code of a no-op build, after printing its summary; None when ``argv`` is
    not a plain build or the build is not a no-op."""
    args = parse_build(argv)
    if args is None:
        return None
    return _answer(args, started, daemon=False)


def _answer(args: BuildArgs, started: float, *, daemon: bool) -> int | None:
    """A plain build answered here: a no-op from the stat check, else (``daemon``) by the
    workspace's build daemon if one runs; None when the full command line must build."""
    try:
        cwd = Path.cwd()
    except OSError:
        return None
    located = locate(args.workspace, args.cache_dir, cwd)
    if located is None:
        return None
    workspace_file, directory = located
    from sodabuild.daemon import INFO_FILE

    if (
        daemon
        and os.environ.get("SODABUILD_NO_DAEMON", "") in ("", "0")
        and os.path.lexists(directory / INFO_FILE)
    ):
        # a daemon runs: its live session tells a no-op from an edit without reading the
        # record, so the stat pass is not paid twice
        from sodabuild.daemon.client import build_through_daemon

        code = build_through_daemon(
            workspace_file,
            directory,
            {
                "cwd": str(cwd),
                "workspace": _text(_absolute(args.workspace, cwd)),
                "cache_dir": _text(_absolute(args.cache_dir, cwd)),
                "projects": args.projects,
                "check": args.check,
                "json": args.as_json,
                "graph_filter": args.graph_filter,
                "color": _client_color(),
            },
        )
        if code is not None:
            return code
    from sodabuild.session.fastpath import no_op_summary as recorded_summary

    previous = recorded_summary(
        workspace_file,
        directory,
        tuple(args.projects),
        args.check,
        tuple(args.graph_filter),
    )
    if previous is not None:
        from sodabuild.engine.summary import no_op_summary

        summary = no_op_summary(previous, time.perf_counter() - started, args.check)
        print_summary(summary, args.as_json, workspace_file.parent)
        return EXIT_OK if summary["ok"] else EXIT_SOURCE_ERRORS
    return None


def _client_color() -> bool:
    from sodabuild.render.color import color_enabled

    return color_enabled(sys.stdout)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def main() -> None:
    """The ``sodabuild`` program."""
    started = time.perf_counter()
    args = parse_build(sys.argv[1:])
    code = _answer(args, started, daemon=True) if args is not None else None
    if code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        raise SystemExit(code)
    from sodabuild.cli import main as full_main

    full_main()
