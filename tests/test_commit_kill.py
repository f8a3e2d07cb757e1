"""Kill harness: ``kill -9`` (and Ctrl-C) at random points of a build's write phase never
leaves an out_dir that mixes two builds, and the next build cleans up and is correct.

Two source versions A and B of a generated app differ in every operation's name, so a
build from one to the other rewrites the artifact, the manifest and most chunks while
fragment-only chunks stay. Each trial switches the sources to the version the out_dir does
not hold, starts the real CLI, waits until the commit's staging directory appears (or a
random moment of the whole build) and kills the process. The out_dir must then equal the
complete output of A or of B.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, generator, read_tree

#: More trials for a longer run: SODABUILD_KILL_TRIALS=200 python -m pytest tests/test_commit_kill.py
TRIALS = int(os.environ.get("SODABUILD_KILL_TRIALS", "16"))
SPARE = ".__generated__.sodabuild-spare"
#: After the commit has started: from "at once" (before the swap) to "long after".
DELAYS = (0.0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.05)


def _sources(root: Path) -> dict[Path, str]:
    return {path: path.read_text() for path in sorted(root.rglob("*.py"))}


def _renamed(text: str) -> str:
    return re.sub(r"\b(query|mutation|subscription) ([A-Za-z_]\w*)", r"\1 \2Renamed", text)


def _apply(version: dict[Path, str]) -> None:
    for path, text in version.items():
        path.write_text(text)


def _build(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sodabuild", "build", "-w", str(workspace), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _spare(out_dir: Path) -> tuple[int, int] | None:
    """Inode and mtime of the spare version beside ``out_dir``: a commit that has started
    changes them (it rewrites the spare's top-level files, then swaps it in)."""
    try:
        found = os.stat(out_dir.parent / SPARE)
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns


def _outputs(out_dir: Path) -> dict[str, bytes]:
    return read_tree(out_dir) if out_dir.is_dir() else {}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kill") / "ws"
    generator().generate(root, 100, seed=7)
    return root


def test_kill_during_writes_never_mixes_two_builds(generated: Path) -> None:
    workspace = generated / "sodabuild.toml"
    out_dir = generated / "app" / "__generated__"
    a = _sources(generated / "app")
    b = {path: _renamed(text) for path, text in a.items()}
    assert a != b
    expected = {}
    for name, version in (("b", b), ("a", a)):
        _apply(version)
        assert _build(workspace, "--no-incremental").returncode == 0
        expected[name] = _outputs(out_dir)
    assert expected["a"] != expected["b"]
    changed = {rel for rel in expected["a"] if expected["a"][rel] != expected["b"].get(rel)}
    assert 3 < len(changed) < len(expected["a"])  # rewrites and links both happen

    rng = random.Random(2026)
    holds, killed, committed, mixed = "a", 0, 0, []
    for trial in range(TRIALS):
        target = "b" if holds == "a" else "a"
        _apply(b if target == "b" else a)
        before = _spare(out_dir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "sodabuild", "build", "-w", str(workspace)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sig = signal.SIGINT if trial % 6 == 5 else signal.SIGKILL
        deadline = time.monotonic() + 60
        if trial % 4 == 3:  # anywhere in the build
            time.sleep(rng.uniform(0.05, 1.2))
        else:  # in the write phase: once this build's commit touched the spare
            while _spare(out_dir) == before and proc.poll() is None:
                assert time.monotonic() < deadline
            time.sleep(DELAYS[trial % len(DELAYS)])
        if proc.poll() is None:
            proc.send_signal(sig)
            killed += 1
        proc.wait(timeout=60)
        found = _outputs(out_dir)
        leftovers = [rel for rel in found if rel.endswith(".tmp")]
        assert not leftovers, leftovers
        committed += found == expected[target]
        if found == expected["a"]:
            holds = "a"
        elif found == expected["b"]:
            holds = "b"
        else:
            mixed.append(trial)
            break
    print(f"kill harness: {trial + 1} trials, {killed} killed, {committed} new, {len(mixed)} mixed")
    assert not mixed, f"trial {mixed[0]}: the out_dir mixes two builds"
    assert killed >= TRIALS // 2
    assert 0 < committed < TRIALS  # kills landed before and after the swap
    # the next build recovers: the sources' outputs, no staging or temp files, --check ok
    result = _build(workspace)
    assert result.returncode == 0, result.stderr
    final = "b" if target == "b" else "a"
    assert _outputs(out_dir) == expected[final]
    beside = {p.name for p in out_dir.parent.iterdir() if p.name.startswith(".__generated__")}
    assert beside <= {SPARE}  # no previous version or retired leftovers
    assert _build(workspace, "--check").returncode == 0
    shutil.rmtree(generated / ".cache", ignore_errors=True)
    assert _build(workspace, "--check").returncode == 0


def test_interrupted_commit_is_recovered(generated: Path) -> None:
    """A commit killed between its renames (the non-exchange fallback) is put back."""
    from sodabuild.write.commit import PREVIOUS, SPARE, recover, sibling

    out_dir = generated / "app" / "__generated__"
    assert _build(generated / "sodabuild.toml").returncode == 0
    before = _outputs(out_dir)
    os.rename(out_dir, sibling(out_dir, PREVIOUS))  # killed after the first rename
    recover(out_dir)
    assert _outputs(out_dir) == before
    assert not sibling(out_dir, PREVIOUS).exists()
    spare = sibling(out_dir, SPARE)
    if spare.exists():  # killed after the second: the new set is live, the old one spare
        os.rename(out_dir, sibling(out_dir, PREVIOUS))
        os.rename(spare, out_dir)
        recover(out_dir)
        assert sibling(out_dir, SPARE).is_dir() and not sibling(out_dir, PREVIOUS).exists()
