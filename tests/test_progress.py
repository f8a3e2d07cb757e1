"""The progress line of long builds (sodabuild/render/progress.py and its use by the CLI)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from sodabuild.engine import build_workspace
from sodabuild.launch import parse_build
from sodabuild.render.progress import (
    ERASE,
    NO_PROGRESS,
    Progress,
    TerminalProgress,
    active,
    line,
    showing,
    wanted,
)
from tests.conftest import generator


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_drawn_before_the_delay_then_the_line_is_redrawn_in_place() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = TerminalProgress(stream, delay=1.0, interval=0.1, width=80, clock=clock)
    progress.update("compose", 10, 100, "definitions")
    clock.now += 0.5
    progress.update("compose", 20, 100, "definitions")
    assert stream.getvalue() == ""  # a quick build shows nothing
    clock.now += 0.6
    progress.update("compose", 4210, 8568, "definitions")
    assert stream.getvalue() == ERASE + "sodabuild: compose 4,210/8,568 definitions (1.1s)"
    clock.now += 0.05
    progress.update("compose", 4300, 8568, "definitions")  # too soon: not redrawn
    progress.update("validate app", 0, 8568, "definitions")  # a new phase is
    clock.now += 0.2
    progress.update("write", 1, 1, "projects")
    frames = stream.getvalue().split(ERASE)[1:]
    assert [frame.split(" (")[0] for frame in frames] == [
        "sodabuild: compose 4,210/8,568 definitions",
        "sodabuild: validate app 0/8,568 definitions",
        "sodabuild: write 1/1 projects",
    ]
    progress.clear()
    assert stream.getvalue().endswith(ERASE)
    assert not progress.drawn


def test_clear_erases_only_what_was_drawn_and_the_line_never_wraps() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = TerminalProgress(stream, delay=0.0, width=30, clock=clock)
    progress.clear()
    assert stream.getvalue() == ""
    progress.update("scan a-project-with-a-long-name", 256, 10_000, "files")
    drawn = stream.getvalue().removeprefix(ERASE)
    assert len(drawn) == 29 and drawn.endswith("…")
    assert line("scan", 5, None, "files", 0.25) == "sodabuild: scan 5 files (0.2s)"


def test_the_disabled_progress_is_one_shared_object_that_does_nothing() -> None:
    assert type(NO_PROGRESS) is Progress and active() is NO_PROGRESS
    NO_PROGRESS.update("compose", 1, 2)
    NO_PROGRESS.clear()
    shown = TerminalProgress(io.StringIO(), delay=0.0, width=80)
    with showing(shown) as progress:
        assert active() is progress is shown
        shown.update("compose", 1, 2)
    assert active() is NO_PROGRESS
    assert not shown.drawn  # erased on the way out


def test_wanted_on_a_terminal_unless_dumb_or_forced_off() -> None:
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            assert wanted(terminal, {"TERM": "xterm-256color"})
            assert not wanted(terminal, {"TERM": "dumb"})
            assert not wanted(terminal, {"TERM": "xterm", "SODABUILD_PROGRESS": "0"})
            assert wanted(terminal, {"TERM": "xterm", "NO_COLOR": "1"})  # colour only
    finally:
        os.close(leader)
        os.close(follower)
    piped = io.StringIO()
    assert not wanted(piped, {"TERM": "xterm"})
    assert wanted(piped, {"SODABUILD_PROGRESS": "1"})
    assert not wanted(piped, {"SODABUILD_PROGRESS": "yes please"})


class Recorder(Progress):
    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int | None, str]] = []

    def update(self, phase: str, done: int, total: int | None = None, unit: str = "") -> None:
        self.calls.append((phase, done, total, unit))


def test_the_pipeline_reports_phases_and_counts(example_workspace: Path) -> None:
    from sodabuild.config import load_workspace
    from sodabuild.rules.load import load_rules

    workspace = load_workspace(example_workspace / "sodabuild.toml")
    rules = load_rules(Path(workspace.root), list(workspace.rule_dirs))
    recorder = Recorder()
    with showing(recorder):
        result = build_workspace(workspace, rules, check=True)
    phases = [phase.split()[0] for phase, *_ in recorder.calls]
    assert phases[0] == "discover" and phases[-1] == "write"
    assert {"discover", "scan", "compose", "validate", "emit", "write"} <= set(phases)
    order = list(dict.fromkeys(phases))
    assert order.index("compose") < order.index("validate") < order.index("emit")
    documents = sum(p.documents for p in result.projects)
    compose = [call for call in recorder.calls if call[0] == "compose"]
    assert compose[0][1:] == (0, documents, "definitions")
    emitted = [call for call in recorder.calls if call[0] == "emit"]
    assert emitted[-1][1] == emitted[-1][2] == documents


@pytest.fixture(scope="module")
def generated_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("progress") / "app300"
    generator().generate(root, modules=300, seed=0)
    return root


def _build(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SODABUILD_PROGRESS"}
    environment.update(env)
    run = subprocess.run(
        [sys.executable, "-m", "sodabuild", "build", "--no-incremental", *args],
        cwd=root,
        env=environment,
        capture_output=True,
        timeout=600,
    )
    # bytes decoded by hand: text mode would turn the line's \r into \n
    return subprocess.CompletedProcess(
        run.args, run.returncode, run.stdout.decode(), run.stderr.decode()
    )


def test_a_forced_progress_line_is_drawn_on_stderr_and_erased(generated_app: Path) -> None:
    run = _build(generated_app, SODABUILD_PROGRESS="1")
    assert run.returncode == 0, run.stderr
    assert run.stderr.startswith(ERASE + "sodabuild: discover app 0/1 projects")
    assert run.stderr.endswith(ERASE)  # erased before the summary
    frames = run.stderr.split(ERASE)[1:-1]
    assert any(frame.startswith("sodabuild: compose 256/") for frame in frames), frames
    assert any(frame.startswith("sodabuild: scan app 256/300 files") for frame in frames)
    assert all("\n" not in frame for frame in frames)
    assert ERASE not in run.stdout and run.stdout.rstrip().splitlines()[-1].startswith("ok in")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--json",), {"SODABUILD_PROGRESS": "1"}),
        (("--no-progress",), {"SODABUILD_PROGRESS": "1"}),
        ((), {"SODABUILD_PROGRESS": "0"}),
        ((), {}),  # stderr is a pipe here
    ],
)
def test_no_progress_line(generated_app: Path, args: tuple[str, ...], env: dict[str, str]) -> None:
    run = _build(generated_app, *args, **env)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""


def test_no_progress_is_a_plain_build_for_the_launcher() -> None:
    # the no-op check and the daemon still answer it (the daemon never draws progress)
    assert parse_build(["build", "--no-progress"]) is not None
