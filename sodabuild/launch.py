"""The command line's first step: answer a no-op ``sodabuild build`` before loading the CLI.

A build whose inputs, config and outputs are all as the last build left them is answered
from the stat-only check of ``session/fastpath.py``, without importing typer, pydantic,
graphql-core or Starlark (``tests/test_launch.py`` guards that). Anything else, and any
argument this small parser does not know, goes to the full command line (``cli.py``),
which parses it properly and reports what is wrong.
"""

from __future__ import annotations

import json
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
_FLAGS = {"--json": "as_json", "--check": "check", "--incremental": None}


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


def try_no_op(
    workspace: Path | None,
    projects: list[str] | None,
    check: bool,
    cache_dir: Path | None,
    graph_filter: list[str] | None,
) -> dict[str, Any] | None:
    """The stat-only no-op check: the last build's summary, or None when anything changed
    (or cannot be proven unchanged)."""
    from sodabuild.config.find import find_workspace_file
    from sodabuild.session.fastpath import cache_dir_of, no_op_summary

    # anything unexpected (a TOML nested too deep, a NUL in a path, a path too long, an
    # unreadable cache) means "not a no-op": the full path runs and reports it properly
    try:
        workspace_file = find_workspace_file(Path.cwd(), workspace)
        directory = cache_dir_of(workspace_file, cache_dir)
        if directory is None:
            return None
        return no_op_summary(
            workspace_file, directory, tuple(projects or ()), check, tuple(graph_filter or ())
        )
    except Exception:
        return None


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    """The summary as ``--json`` or as the human lines (the same for every kind of build)."""
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    from sodabuild.engine.summary import render

    sys.stdout.write("".join(line + "\n" for line in render(summary)))


def answer_no_op(argv: list[str], started: float) -> int | None:
    """The exit code of a no-op build, after printing its summary; None when ``argv`` is
    not a plain build or the build is not a no-op."""
    args = parse_build(argv)
    if args is None:
        return None
    previous = try_no_op(
        args.workspace, args.projects, args.check, args.cache_dir, args.graph_filter
    )
    if previous is None:
        return None
    from sodabuild.engine.summary import no_op_summary

    summary = no_op_summary(previous, time.perf_counter() - started, args.check)
    print_summary(summary, args.as_json)
    return EXIT_OK if summary["ok"] else EXIT_SOURCE_ERRORS


def main() -> None:
    """The ``sodabuild`` program."""
    started = time.perf_counter()
    code = answer_no_op(sys.argv[1:], started)
    if code is not None:
        sys.stdout.flush()
        raise SystemExit(code)
    from sodabuild.cli import main as full_main

    full_main()
