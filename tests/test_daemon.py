"""The build daemon, with real processes: ``sodabuild daemon start|status|stop``, builds
through it printing and writing what in-process builds print and write, and its failure
modes (a killed daemon, another version, an idle timeout, config errors, bad requests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sodabuild.daemon.protocol import (
    TEST_IDENTITY_ENV,
    identity,
    pid_alive,
    read_info,
    receive,
    send,
    source_hash,
)
from tests.conftest import CliRun, copy_example_workspace, read_tree

HEAVY = ("pydantic", "graphql", "starlark", "typer", "click", "watchdog", "tree_sitter")
QUERIES = "fixtures/small-app/app/users/queries.py"
CACHE = ".cache/sodabuild"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliRun:
    """``python -m sodabuild ARGS`` in a subprocess, with extra environment variables."""
    proc = subprocess.run(
        [sys.executable, "-m", "sodabuild", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(autouse=True)
def _pinned_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Daemons and clients agree on the source hash even if the checkout is edited while
    the tests run (``test_real_identity`` covers the real hash)."""
    monkeypatch.setenv(TEST_IDENTITY_ENV, "pinned")
    monkeypatch.delenv("SODABUILD_NO_DAEMON", raising=False)
    monkeypatch.delenv("SODABUILD_DAEMON_IDLE_TIMEOUT", raising=False)


class Daemons:
    """Starts daemons and stops every one of them at teardown (kills it if it does not
    stop), so no process outlives a test."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def start(self, ws: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        """``sodabuild daemon start ARGS`` in ``ws``: the daemon's record (daemon.json)."""
        started = run("daemon", "start", *args, cwd=ws, env=env)
        assert started.code == 0, started.stdout + started.stderr
        assert "started" in started.stdout and "listening on" in started.stdout
        return self.track(ws)

    def track(self, ws: Path) -> dict[str, Any]:
        info = read_info(ws / CACHE)
        assert info is not None
        self.pids.append(info["pid"])
        return info

    def stop_all(self) -> None:
        for pid in self.pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
        for pid in self.pids:
            if not wait_for(lambda pid=pid: not pid_alive(pid), 15.0):
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda pid=pid: not pid_alive(pid), 15.0)


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    started = Daemons()
    yield started
    started.stop_all()


def twin(tmp_path: Path) -> Path:
    """A second copy of the example workspace, built in-process only."""
    return copy_example_workspace(tmp_path / "twin")


def edit(*workspaces: Path, old: str = "createdAt", new: str = "createdAt\n        login") -> None:
    for ws in workspaces:
        path = ws / QUERIES
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


def outputs(ws: Path) -> dict[str, bytes]:
    return {k: v for k, v in read_tree(ws / "fixtures").items() if "__generated__" in k}


MEASURED = ("wall_ms", "peak_rss_mb", "peak_rss_workers_mb", "timings_ms")
#: What the work done measures: a daemon applies an edit to its live graph (``changes``).
WORK = ("mode", "counts", "cache_hit_ratio")


def summary(run_: CliRun, *, keep_work: bool = False) -> dict[str, Any]:
    data = run_.json()
    stats = data.pop("stats")
    kept = {k: v for k, v in stats.items() if k not in MEASURED + (() if keep_work else WORK)}
    if not keep_work:  # each project's cache counts measure the work too
        data["projects"] = [{k: v for k, v in p.items() if k != "cache"} for p in data["projects"]]
    return {**data, "stats": kept}


def human(run_: CliRun) -> tuple[list[str], str]:
    """The lines but the last, and the last line's verdict (before `in <time>`)."""
    lines = run_.stdout.splitlines()
    return lines[:-1], lines[-1].split(" in ")[0]


def status(ws: Path) -> dict[str, Any]:
    found = run("daemon", "status", "--json", cwd=ws)
    assert found.code == 0, found.stderr
    return found.json()  # type: ignore[no-any-return]


def test_start_status_stop(example_workspace: Path, daemons: Daemons) -> None:
    ws = example_workspace
    assert run("daemon", "status", cwd=ws).stdout.startswith("no sodabuild daemon running")
    info = daemons.start(ws)
    cache = ws / CACHE
    sock = Path(info["socket"])
    assert sock == cache / "daemon.sock"
    found = os.lstat(sock)
    assert stat.S_ISSOCK(found.st_mode) and stat.S_IMODE(found.st_mode) == 0o600
    assert found.st_uid == os.getuid()
    assert stat.S_IMODE(os.stat(cache / "daemon.json").st_mode) == 0o600
    state = status(ws)
    assert state["running"] and state["responding"] and state["compatible"]
    assert state["pid"] == info["pid"] and state["builds"] == 0
    assert state["workspace"] == str(ws / "sodabuild.toml")
    assert state["version"] and state["uptime_s"] >= 0
    text = run("daemon", "status", cwd=ws).stdout
    assert f"pid {info['pid']}" in text and "0 builds served" in text
    again = run("daemon", "start", cwd=ws)
    assert again.code == 0 and "already running" in again.stdout
    assert read_info(cache) == info
    stopped = run("daemon", "stop", cwd=ws)
    assert (
        stopped.code == 0 and f"stopped the sodabuild daemon (pid {info['pid']})" in stopped.stdout
    )
    assert wait_for(lambda: not pid_alive(info["pid"]))
    assert not sock.exists() and not (cache / "daemon.json").exists()
    assert (cache / "daemon.log").read_text().count("stopped: stop requested") == 1
    none = run("daemon", "stop", cwd=ws)
    assert none.code == 0 and none.stdout.startswith("no sodabuild daemon running")
    assert not status(ws)["running"]


def test_builds_through_the_daemon_match_in_process_builds(
    example_workspace: Path, tmp_path: Path, daemons: Daemons
) -> None:
    ws, other = example_workspace, twin(tmp_path)
    daemons.start(ws)
    # the first build: a full build on both sides, the very same summary (work counts too)
    first, reference = run("build", "--json", cwd=ws), run("build", "--json", cwd=other)
    assert first.code == reference.code == 0, first.stderr
    assert first.stderr == reference.stderr
    assert summary(first, keep_work=True) == summary(reference, keep_work=True)
    assert status(ws)["builds"] == 1
    assert outputs(ws) == outputs(other)
    # a leaf edit: the daemon applies it to its live graph
    edit(ws, other)
    ours, theirs = run("build", "--json", cwd=ws), run("build", "--json", cwd=other)
    assert ours.code == theirs.code == 0, ours.stderr
    assert (ours.stderr, summary(ours)) == (theirs.stderr, summary(theirs))
    assert ours.json()["stats"]["mode"] == "changes"
    assert outputs(ws) == outputs(other)
    # the human summary, and the no-op that follows (answered by the daemon's live session
    # with the summary the no-op record would give)
    edit(ws, other, old="login", new="login\n        name")
    ours, theirs = run("build", cwd=ws), run("build", cwd=other)
    assert (ours.code, ours.stderr, human(ours)) == (theirs.code, theirs.stderr, human(theirs))
    assert outputs(ws) == outputs(other)
    assert status(ws)["builds"] == 3
    ours, theirs = run("build", cwd=ws), run("build", cwd=other)
    assert human(ours) == human(theirs)
    assert human(ours)[1] == "ok (no-op: nothing changed)"
    assert status(ws)["builds"] == 4
    # another selection, --check, and a build by another process in between
    for args in (["-p", "small-app", "--json"], ["--check", "--json"], ["--json"]):
        edit(ws, other, old="name", new="name\n        bio")
        if args == ["--json"]:
            assert run("build", "--no-incremental", cwd=ws).code == 0  # in-process
            assert run("build", "--no-incremental", cwd=other).code == 0
            edit(ws, other, old="bio", new="bio\n        email")
        sub = "fixtures/small-app" if "--check" in args else "."  # found walking up
        ours, theirs = run("build", *args, cwd=ws / sub), run("build", *args, cwd=other / sub)
        assert ours.code == theirs.code, ours.stderr
        assert (ours.stderr, summary(ours)) == (theirs.stderr, summary(theirs)), args
        assert outputs(ws) == outputs(other)
    assert status(ws)["builds"] == 7


def test_diagnostics_and_config_errors_through_the_daemon(
    example_workspace: Path, tmp_path: Path, daemons: Daemons
) -> None:
    ws, other = example_workspace, twin(tmp_path)
    for copy in (ws, other):
        assert run("build", cwd=copy).code == 0
    daemons.start(ws)
    edit(ws, other, old="createdAt", new="createdAtt")  # a field the schema lacks
    for args in ([], ["--json"]):
        ours, theirs = run("build", *args, cwd=ws), run("build", *args, cwd=other)
        assert ours.code == theirs.code == 1
        assert "GQL_VALIDATION" in ours.stdout
        assert ours.stderr == theirs.stderr
        if args:
            assert summary(ours) == summary(theirs)
        else:
            assert human(ours) == human(theirs)
    edit(ws, other, old="createdAtt", new="createdAt")
    for copy in (ws, other):  # a config error: exit 2, printed as the command line prints it
        toml = copy / "sodabuild.toml"
        toml.write_text(toml.read_text().replace('name = "example"', 'name = "example"\nbogus = 1'))
    for args in ([], ["--json"]):
        ours, theirs = run("build", *args, cwd=ws), run("build", *args, cwd=other)
        assert ours.code == theirs.code == 2
        assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr)
        assert "CONFIG_INVALID" in ours.stdout + ours.stderr
    builds = status(ws)["builds"]
    assert builds == 4  # every build goes to the daemon (the second failed one: a no-op)
    for copy in (ws, other):
        toml = copy / "sodabuild.toml"
        toml.write_text(toml.read_text().replace("bogus = 1\n", ""))
    ours, theirs = run("build", "--json", cwd=ws), run("build", "--json", cwd=other)
    assert ours.code == theirs.code == 0
    assert summary(ours) == summary(theirs)
    assert outputs(ws) == outputs(other)
    assert status(ws)["builds"] == builds + 1
    # a daemon cannot start on a broken config: it says why, as a build would
    run("daemon", "stop", cwd=ws)
    toml = ws / "sodabuild.toml"
    toml.write_text(toml.read_text().replace('name = "example"', 'name = "example"\nbogus = 1'))
    refused = run("daemon", "start", cwd=ws)
    built = run("build", cwd=ws)
    assert refused.code == built.code == 2
    assert refused.stderr == built.stderr and "CONFIG_INVALID" in refused.stderr
    assert read_info(ws / CACHE) is None and not (ws / CACHE / "daemon.sock").exists()


def test_a_killed_daemon_leaves_a_valid_cache_and_builds_fall_back(
    example_workspace: Path, tmp_path: Path, daemons: Daemons
) -> None:
    ws, other = example_workspace, twin(tmp_path)
    info = daemons.start(ws)
    for copy in (ws, other):
        edit(copy)
        assert run("build", cwd=copy).code == 0
    assert status(ws)["builds"] == 1  # answered once the daemon saved the cache (after the reply)
    os.kill(info["pid"], signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(info["pid"]))
    assert read_info(ws / CACHE) is not None  # stale files stay until a client looks
    # nothing changed: the launcher answers from the cache the daemon saved
    ours, theirs = run("build", "--json", cwd=ws), run("build", "--json", cwd=other)
    assert ours.json()["cache"]["no_op"]
    assert summary(ours, keep_work=True) == summary(theirs, keep_work=True)
    edit(ws, other, old="login", new="login\n        name")
    ours, theirs = run("build", "--json", cwd=ws), run("build", "--json", cwd=other)
    assert ours.code == theirs.code == 0
    assert ours.stderr == theirs.stderr == ""  # stale files are removed without a word
    assert summary(ours, keep_work=True) == summary(theirs, keep_work=True)
    assert outputs(ws) == outputs(other)
    assert read_info(ws / CACHE) is None and not Path(info["socket"]).exists()
    assert not status(ws)["running"]


def test_another_version_is_refused_and_builds_run_in_process(
    example_workspace: Path, tmp_path: Path, daemons: Daemons
) -> None:
    ws, other = example_workspace, twin(tmp_path)
    info = daemons.start(ws, env={TEST_IDENTITY_ENV: "another"})
    assert not status(ws)["compatible"]
    edit(ws, other)
    ours, theirs = run("build", "--json", cwd=ws), run("build", "--json", cwd=other)
    assert ours.code == theirs.code == 0
    assert ours.stdout and summary(ours, keep_work=True) == summary(theirs, keep_work=True)
    assert len(ours.stderr.splitlines()) == 1 and "not using the daemon" in ours.stderr
    assert "sodabuild 0.1.0 (another)" in ours.stderr
    # a record that lies about the daemon's identity: the daemon itself refuses
    record = ws / CACHE / "daemon.json"
    data = json.loads(record.read_text())
    data["identity"]["source"] = "pinned"
    record.write_text(json.dumps(data))
    edit(ws, other, old="login", new="login\n        name")
    ours, theirs = run("build", "--json", cwd=ws), run("build", "--json", cwd=other)
    assert summary(ours, keep_work=True) == summary(theirs, keep_work=True)
    assert len(ours.stderr.splitlines()) == 1 and "not using the daemon" in ours.stderr
    assert "refused a build" in (ws / CACHE / "daemon.log").read_text()
    assert status(ws)["builds"] == 0 and pid_alive(info["pid"])
    # `start` replaces a daemon of another version
    data["identity"]["source"] = "another"
    record.write_text(json.dumps(data))
    replaced = run("daemon", "start", cwd=ws)
    assert replaced.code == 0 and "stopped the daemon of sodabuild" in replaced.stdout
    assert wait_for(lambda: not pid_alive(info["pid"]))
    new = read_info(ws / CACHE)
    assert new is not None and new["pid"] != info["pid"] and status(ws)["compatible"]
    daemons.track(ws)


def test_idle_timeout_stops_the_daemon(example_workspace: Path, daemons: Daemons) -> None:
    ws = example_workspace
    info = daemons.start(ws, env={"SODABUILD_DAEMON_IDLE_TIMEOUT": "1234"})
    assert status(ws)["idle_timeout_s"] == 1234
    run("daemon", "stop", cwd=ws)
    assert wait_for(lambda: not pid_alive(info["pid"]))
    info = daemons.start(ws, "--idle-timeout", "1")
    assert wait_for(lambda: not pid_alive(info["pid"]), 60.0)
    assert read_info(ws / CACHE) is None and not Path(info["socket"]).exists()
    assert "stopped: idle for 1 s" in (ws / CACHE / "daemon.log").read_text()
    bad = run("daemon", "start", "--idle-timeout", "0", cwd=ws)
    assert bad.code == 2 and "idle timeout" in bad.stderr


def test_long_cache_path_puts_the_socket_in_a_private_directory(
    tmp_path: Path, daemons: Daemons
) -> None:
    ws = copy_example_workspace(tmp_path / ("d" * 60) / ("e" * 60))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    assert run("build", cwd=ws).code == 0
    info = daemons.start(ws, env={"XDG_RUNTIME_DIR": str(runtime)})
    sock = Path(info["socket"])
    assert sock.parent == runtime / "sodabuild" and len(os.fsencode(sock)) <= 107
    assert stat.S_IMODE(os.stat(sock.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600
    # nothing had changed since the last build: the daemon warmed up its graph before
    # `daemon start` returned, so the first edit is applied to it
    edit(ws)
    built = run("build", "--json", cwd=ws)
    assert built.code == 0 and built.json()["stats"]["mode"] == "changes"
    assert status(ws)["builds"] == 1
    assert "warmed up in" in (ws / CACHE / "daemon.log").read_text()
    assert run("daemon", "stop", cwd=ws).code == 0
    assert wait_for(lambda: not pid_alive(info["pid"]))
    assert not sock.exists()


def test_bad_requests_and_lost_clients(example_workspace: Path, daemons: Daemons) -> None:
    ws = example_workspace
    info = daemons.start(ws)
    mine = identity(ws.resolve() / "sodabuild.toml", (ws / CACHE).resolve())

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(120)
        sock.connect(info["socket"])
        return sock

    # an internal error comes back as the command line's message, exit 3
    with connect() as sock:
        send(sock, {"op": "build", "identity": mine, "json": False, "cwd": None})
        stderr = ""
        answer = receive(sock)
        while answer is not None and answer["kind"] == "stderr":
            stderr += answer["text"]
            answer = receive(sock)
    assert answer is not None and answer["kind"] == "result" and answer["code"] == 3
    assert answer["stdout"] == ""
    assert stderr.startswith("sodabuild: internal error: ValueError: ")
    assert stderr.endswith(
        "  = hint: this is a bug in sodabuild; rerun with SODABUILD_DEBUG=1 for a traceback\n"
    )
    with connect() as sock:
        send(sock, {"op": "build", "identity": {"version": "0"}, "cwd": str(ws)})
        answer = receive(sock)
    assert answer is not None and answer["kind"] == "refused"
    with connect() as sock:  # garbage, then a client that leaves before its answer
        sock.sendall(b"\x00\x00\x00\x05{nope")
    with connect() as sock:
        send(sock, {"op": "build", "identity": mine, "cwd": str(ws)})
    edit(ws)
    built = run("build", "--json", cwd=ws)
    assert built.code == 0 and built.stderr == ""
    assert status(ws)["builds"] >= 3 and pid_alive(info["pid"])
    log = (ws / CACHE / "daemon.log").read_text()
    assert "client gone" in log or "answered" in log
    assert "Traceback" in log  # the internal error is logged, not shown


def test_a_daemon_build_imports_nothing_heavy_in_the_client(
    example_workspace: Path, daemons: Daemons
) -> None:
    ws = example_workspace
    daemons.start(ws)
    edit(ws)
    probe = (
        "import sys, time\n"
        "from sodabuild.launch import _answer, parse_build\n"
        "code = _answer(parse_build(sys.argv[1:]), time.perf_counter(), daemon=True)\n"
        "sys.stdout.flush()\n"
        "loaded = sorted({name.split('.')[0] for name in sys.modules})\n"
        "sys.stderr.write('MODULES ' + ' '.join(loaded) + '\\n')\n"
        "sys.stderr.write(f'CODE {code}\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "build", "--json"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "CODE 0" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["stats"]["mode"] == "full"
    modules = next(line for line in proc.stderr.splitlines() if line.startswith("MODULES "))
    assert not set(modules.split()[1:]) & set(HEAVY)
    assert status(ws)["builds"] == 1


def test_clean_stops_the_daemon(example_workspace: Path, daemons: Daemons) -> None:
    ws = example_workspace
    info = daemons.start(ws)
    assert run("build", cwd=ws).code == 0
    cleaned = run("clean", cwd=ws)
    assert (
        cleaned.code == 0 and f"stopped the sodabuild daemon (pid {info['pid']})" in cleaned.stdout
    )
    assert cleaned.stdout.splitlines()[-1].startswith("removed ")
    assert not (ws / CACHE).exists()
    assert wait_for(lambda: not pid_alive(info["pid"]))


def test_real_identity(
    example_workspace: Path, daemons: Daemons, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the pin, a daemon and its clients agree on the hash of the sources (this
    can only fail if the checkout is edited while the test runs)."""
    monkeypatch.delenv(TEST_IDENTITY_ENV)
    ws = example_workspace
    info = daemons.start(ws)
    assert info["identity"]["source"] == source_hash()
    assert run("build", cwd=ws).code == 0
    assert status(ws)["builds"] == 1


def test_watch_mode_serves_builds(example_workspace: Path, tmp_path: Path) -> None:
    ws, other = example_workspace, twin(tmp_path)
    log = tmp_path / "watch.out"
    with log.open("w") as out:
        watch = subprocess.Popen(
            [sys.executable, "-m", "sodabuild", "build", "--watch"],
            cwd=ws,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_for(lambda: read_info(ws / CACHE) is not None or watch.poll() is not None)
        info = read_info(ws / CACHE)
        assert info is not None and info["pid"] == watch.pid, log.read_text()
        state = status(ws)
        assert state["serving"] == "watch" and state["compatible"]
        assert run("build", cwd=other).code == 0
        edit(ws, other)
        ours, theirs = run("build", cwd=ws), run("build", cwd=other)
        assert ours.code == theirs.code == 0, ours.stderr
        for args in (["--check", "--json"], ["-p", "small-app", "--json"]):
            ours, theirs = run("build", *args, cwd=ws), run("build", *args, cwd=other)
            assert ours.code == theirs.code == 0, ours.stderr
            assert (ours.stderr, summary(ours)) == (theirs.stderr, summary(theirs)), args
        assert outputs(ws) == outputs(other)
        assert status(ws)["builds"] >= 2
        assert "sodabuild build (client): ok" in log.read_text()
        # `daemon stop` ends the serving, not the watch
        assert run("daemon", "stop", cwd=ws).code == 0
        assert read_info(ws / CACHE) is None and not (ws / CACHE / "daemon.sock").exists()
        assert watch.poll() is None
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=60) == 0
        assert log.read_text().splitlines()[-1] == "stopped; cache saved"
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait(timeout=30)
