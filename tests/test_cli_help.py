"""Help that reads well at 80 columns, ``--version`` and shell completion.

``--help`` of the main commands is snapshot-tested (``__snapshots__/test_cli_help.ambr``)
at ``COLUMNS=80``, printed to a pipe and to a terminal (a pty: rich colours it; without
the colour it is the same text).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest
from syrupy.assertion import SnapshotAssertion

from sodabuild import __version__

from .conftest import REPO

COMMANDS = [
    (),
    ("build",),
    ("init",),
    ("completion",),
    ("graph",),
    ("daemon", "start"),
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: What typer/rich look at, removed so that the test's environment does not leak in.
LEAKS = ("COLORTERM", "NO_COLOR", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH")


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKS and k != "COLUMNS"}
    env.update(TERM="xterm-256color", **extra)
    return env


def _piped(*args: str, columns: int = 80) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "sodabuild", *args],
        cwd=REPO,
        env=_environment(COLUMNS=str(columns)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def _on_terminal(*args: str, columns: int = 80, set_columns: bool = True) -> str:
    """What ``sodabuild ARGS`` shows on a terminal ``columns`` wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = _environment(COLUMNS=str(columns)) if set_columns else _environment()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sodabuild", *args],
        cwd=REPO,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "sodabuild")
def test_help_at_80_columns(command: tuple[str, ...], snapshot: SnapshotAssertion) -> None:
    piped = _piped(*command, "--help")
    terminal = _on_terminal(*command, "--help")
    assert piped == snapshot(name="piped")
    assert terminal == snapshot(name="terminal")
    assert "\x1b[" in terminal  # coloured on a terminal ...
    assert ANSI.sub("", terminal) == piped  # ... and otherwise the same text
    lines = piped.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "<bool>" not in piped  # flags show no type
    assert "…" not in piped  # nothing cut: options and types are shown in full


def test_build_help_shows_every_option_in_full_in_groups() -> None:
    text = _piped("build", "--help")
    for option in (
        "--workspace",
        "--project",
        "--graph-filter",
        "--check",
        "--json",
        "--no-progress",
        "--write-delta",
        "--profile",
        "--no-incremental",
        "--incremental-cache-dir",
        "--watch",
        "--show-cache",
    ):
        assert re.search(rf"{option}\b", text), option
    panels = re.findall(r"╭─ (\w[\w ]*?) ─", text)
    assert panels == ["Options", "Output", "Cache", "Modes"]
    assert "Examples:" in text and "sodabuild build --watch" in text


def test_a_wide_terminal_gets_help_80_columns_wide() -> None:
    text = ANSI.sub("", _on_terminal("build", "--help", columns=160, set_columns=False))
    widths = {len(line) for line in text.splitlines() if line.startswith(("╭", "╰"))}
    assert widths == {80}


def test_narrow_terminals_are_obeyed() -> None:
    text = _piped("build", "--help", columns=60)
    assert max(len(line) for line in text.splitlines()) <= 60


def test_version() -> None:
    assert _piped("--version") == f"sodabuild {__version__}\n"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_completion_prints_a_script(shell: str) -> None:
    script = _piped("completion", shell)
    assert "_SODABUILD_COMPLETE" in script
    assert {"bash": "complete -o", "zsh": "#compdef sodabuild", "fish": "complete --command"}.get(
        shell, "Register-ArgumentCompleter"
    ) in script


def test_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sodabuild", "completion", "tcsh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "tcsh" in run.stderr


def test_completion_answers_the_script() -> None:
    """What the bash script asks (``_SODABUILD_COMPLETE``) is answered: commands, options."""

    def complete(words: str) -> list[str]:
        run = subprocess.run(
            [sys.executable, "-m", "sodabuild"],
            cwd=REPO,
            env=_environment(
                _SODABUILD_COMPLETE="complete_bash",
                COMP_WORDS=words,
                COMP_CWORD=str(len(words.split()) - 1),
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return run.stdout.split()

    assert "build" in complete("sodabuild bu")
    assert {"--no-progress", "--no-incremental"} <= set(complete("sodabuild build --no"))
