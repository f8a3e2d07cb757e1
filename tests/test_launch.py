"""The launcher: a no-op build is answered without importing the heavy stack, and it prints
exactly what the full command line prints for the same no-op."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sodabuild.launch import BuildArgs, parse_build
from tests.conftest import run_cli

HEAVY = ("pydantic", "graphql", "starlark", "typer", "click", "watchdog", "tree_sitter")

PROBE = """
import sys
from sodabuild.launch import answer_no_op
import time
code = answer_no_op(sys.argv[1:], time.perf_counter())
sys.stdout.flush()
loaded = sorted({name.split(".")[0] for name in sys.modules})
sys.stderr.write("MODULES " + " ".join(loaded) + "\\n")
sys.stderr.write(f"CODE {code}\\n")
"""


def _probe(args: list[str], cwd: Path) -> tuple[str, set[str], str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    lines = proc.stderr.splitlines()
    modules = next(line for line in lines if line.startswith("MODULES ")).split()[1:]
    code = next(line for line in lines if line.startswith("CODE ")).split()[1]
    return proc.stdout, set(modules), code


def test_parse_plain_build() -> None:
    assert parse_build(["build"]) == BuildArgs()
    parsed = parse_build(
        [
            *("build", "-w", "ws.toml", "-p", "a", "--project=b", "--json", "--check"),
            *("--graph-filter", "kind=operation", "--incremental-cache-dir", "c", "--incremental"),
        ]
    )
    assert parsed == BuildArgs(
        workspace=Path("ws.toml"),
        projects=["a", "b"],
        as_json=True,
        check=True,
        cache_dir=Path("c"),
        graph_filter=["kind=operation"],
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["config", "show"],
        ["build", "--watch"],
        ["build", "--no-incremental"],
        ["build", "--profile"],
        ["build", "--help"],
        ["build", "--write-delta", "d.json"],
        ["build", "-w"],
        ["build", "-p", "--json"],
        ["build", "--json=yes"],
        ["build", "extra"],
        ["build", "--projct", "a"],
    ],
)
def test_anything_else_goes_to_the_full_cli(argv: list[str]) -> None:
    assert parse_build(argv) is None


def test_no_op_imports_nothing_heavy(example_workspace: Path) -> None:
    first = run_cli("build", "--json", cwd=example_workspace)
    assert first.code == 0, first.stderr
    for args in (["build"], ["build", "--json"], ["build", "--check", "-p", "small-app"]):
        if "-p" in args:  # a selection is a build of its own first
            assert run_cli(*args, cwd=example_workspace).code == 0
        stdout, modules, code = _probe(args, example_workspace)
        assert code == "0", stdout
        assert "no-op" in stdout or json.loads(stdout)["stats"]["no_op"]
        assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_not_a_no_op_falls_through(example_workspace: Path) -> None:
    assert run_cli("build", cwd=example_workspace).code == 0
    (example_workspace / "fixtures" / "gql-app" / "ghclient" / "new.py").write_text(
        "X = 1\n", encoding="utf-8"
    )
    stdout, _, code = _probe(["build"], example_workspace)
    assert (stdout, code) == ("", "None")


def test_no_op_prints_what_the_full_cli_prints(example_workspace: Path) -> None:
    assert run_cli("build", cwd=example_workspace).code == 0
    launched = run_cli("build", "--json", cwd=example_workspace)
    full = subprocess.run(
        [sys.executable, "-c", "from sodabuild.cli import main; main()", "build", "--json"],
        cwd=example_workspace,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert launched.code == full.returncode == 0
    ours, theirs = launched.json(), json.loads(full.stdout)
    for summary in (ours, theirs):  # measured times and memory differ run to run
        stats = summary["stats"]
        for key in [k for k in stats if k.endswith(("_s", "_mb", "_ms"))]:
            del stats[key]
    assert ours == theirs
    human = run_cli("build", cwd=example_workspace)
    assert human.stdout.splitlines()[-1].startswith("ok (no-op: nothing changed)")
