"""The cache is safe on untrusted checkouts (issue 9).

A cache file can never run code (HMAC-SHA256 with a per-user key, verified before any
unpickling); every cache fault is a warning and a cold build, never an internal error;
``clean`` removes only what sodabuild created; leftover temp files of interrupted writes are
swept; the no-op check never raises.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash

from sodabuild import __version__
from sodabuild.session import store
from sodabuild.session.fastpath import SESSION_FILE, STATE_FILE, cache_dir_of, no_op_summary
from sodabuild.session.session import BuilderSession, clean_cache
from sodabuild.session.store import MAGIC, cache_key, key_path, read_cache_file

from .conftest import REPO, CliRun, copy_example_workspace, read_tree, run_cli

GENERATED = ("fixtures/shared-lib/__generated__", "fixtures/small-app/__generated__")
CACHE = ".cache/sodabuild"


def outputs(ws: Path) -> dict[str, bytes]:
    return {f"{g}/{rel}": data for g in GENERATED for rel, data in read_tree(ws / g).items()}


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of a clean build of the example workspace."""
    ws = copy_example_workspace(tmp_path_factory.mktemp("expected") / "ws")
    run = run_cli("build", "-w", str(ws), "--no-incremental")
    assert run.code == 0, run.stderr
    return outputs(ws)


def run_env(*args: str, env: dict[str, str] | None = None, user: int | None = None) -> CliRun:
    """``python -m sodabuild ARGS`` with extra environment, optionally as another user."""
    command = [sys.executable, "-m", "sodabuild", *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    proc = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def notes(run: CliRun) -> list[dict[str, str]]:
    assert run.code == 0, run.stdout + run.stderr
    return list(run.json()["cache"]["notes"])


# -- 1. a cache can never execute code ----------------------------------------------------


class _Plant:
    """Unpickling this creates ``marker`` (stands for any code a crafted pickle runs)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def _craft(path: Path, marker: Path, variant: str) -> None:
    """A cache file whose payload is a malicious pickle, with a header and checksum a
    reader without the key cannot tell from a real one."""
    payload = pickle.dumps(_Plant(str(marker)))
    identity = {"sodabuild": __version__, "python": platform.python_version(), "format": 1}
    if variant == "xxh3":  # the layout before issue 9: a checksum anyone can recompute
        header = {**identity, "checksum": xxhash.xxh3_64_hexdigest(payload), "size": len(payload)}
        path.write_bytes(MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload)
        return
    # today's layout, tagged with a key that is not this user's
    header = {**identity, "mac": store.MAC, "size": len(payload)}
    head = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n"
    path.write_bytes(head + payload + store._tag(os.urandom(32), head, payload))


@pytest.mark.parametrize("variant", ["xxh3", "forged-tag"])
@pytest.mark.parametrize("check", [True, False], ids=["build-check", "build"])
def test_crafted_cache_never_runs_code(
    example_workspace: Path, tmp_path: Path, expected: dict[str, bytes], variant: str, check: bool
) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    marker = tmp_path / "pwned"
    cache = example_workspace / CACHE
    for name in (STATE_FILE, SESSION_FILE):
        _craft(cache / name, marker, variant)
    run = run_cli("build", "-w", str(example_workspace), "--json", *(["--check"] if check else []))
    assert not marker.exists()
    found = notes(run)
    assert [n["code"] for n in found] == ["CACHE_PURGED"]
    if variant == "forged-tag":
        assert "not written by this machine's sodabuild" in found[0]["message"]
    assert run.json()["ok"] is True
    assert outputs(example_workspace) == expected
    again = run_cli("build", "-w", str(example_workspace), "--json")
    assert notes(again) == [] and not marker.exists()
    assert outputs(example_workspace) == expected


def test_crafted_file_is_untrusted_in_process(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _craft(tmp_path / STATE_FILE, marker, "forged-tag")
    assert read_cache_file(tmp_path / STATE_FILE).problem == "untrusted"
    assert store.check_cache_file(tmp_path / STATE_FILE) == "untrusted"
    assert not marker.exists()
    # a file this user's sodabuild wrote reads back; flipping one payload byte is caught
    store.write_cache_file(tmp_path / "good.bin", {"a": [1, 2]})
    assert read_cache_file(tmp_path / "good.bin").value == {"a": [1, 2]}
    data = bytearray((tmp_path / "good.bin").read_bytes())
    data[-40] ^= 1
    (tmp_path / "good.bin").write_bytes(bytes(data))
    assert read_cache_file(tmp_path / "good.bin").problem == "untrusted"


def test_key_is_created_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state" / "sodabuild" / "cache.key"
    monkeypatch.setenv(store.KEY_ENV, str(path))
    monkeypatch.setattr(store, "_keys", {})
    key = cache_key()
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["cache.key"]  # no temp file left
    monkeypatch.setattr(store, "_keys", {})
    assert cache_key() == key
    # the default location: XDG_STATE_HOME, else ~/.local/state
    monkeypatch.delenv(store.KEY_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert key_path() == tmp_path / "xdg" / "sodabuild" / "cache.key"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert key_path() == tmp_path / "home" / ".local/state/sodabuild/cache.key"


@pytest.mark.parametrize("problem", ["under-a-file", "wrong-size", "a-directory"])
def test_unusable_key_is_one_warning_and_no_cache(
    example_workspace: Path, tmp_path: Path, expected: dict[str, bytes], problem: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    key = blocker / "cache.key"
    if problem == "wrong-size":
        key = tmp_path / "short.key"
        key.write_bytes(b"short")
    elif problem == "a-directory":
        key = tmp_path / "keydir"
        key.mkdir()
    env = {store.KEY_ENV: str(key)}
    for _ in range(2):
        run = run_env("build", "-w", str(example_workspace), "--json", env=env)
        found = notes(run)
        assert [n["code"] for n in found] == ["CACHE_UNUSABLE"], found
        assert str(key) in found[0]["message"]
        assert outputs(example_workspace) == expected
        assert not (example_workspace / CACHE / STATE_FILE).exists()


# -- 2. every cache fault is a warning and a rebuild --------------------------------------


@pytest.mark.parametrize("name", [STATE_FILE, SESSION_FILE])
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_cache_file_is_purged(
    example_workspace: Path, expected: dict[str, bytes], name: str, damage: str
) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    path = example_workspace / CACHE / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00" * 64)
    # an edit, so that the no-op check (which reads session.bin only) does not answer
    module = example_workspace / "fixtures/small-app/app/orgs/queries.py"
    text = module.read_text()
    module.write_text(text + "\n# edited\n")
    run = run_cli("build", "-w", str(example_workspace), "--json")
    found = notes(run)
    assert [n["code"] for n in found] == ["CACHE_PURGED"]
    assert found[0]["file"] == f"{CACHE}/{name}"
    assert outputs(example_workspace) == expected
    module.write_text(text)
    assert notes(run_cli("build", "-w", str(example_workspace), "--json")) == []
    again = run_cli("build", "-w", str(example_workspace), "--json")
    assert notes(again) == [] and again.json()["cache"]["no_op"] is True


def _fault(cache: Path, fault: str) -> Path:
    """Set up ``fault`` for a cache at ``cache``; returns the path the warning names."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    if fault == "dir-is-a-file":
        cache.write_text("a user's file\n")
        return cache
    if fault == "under-a-file":
        cache.parent.rmdir()
        cache.parent.write_text("a user's file\n")
        return cache
    cache.mkdir()
    if fault == "state-symlink":
        target = cache.parent / "precious.txt"
        target.write_text("precious\n")
        (cache / STATE_FILE).symlink_to(target)
        return cache / STATE_FILE
    if fault == "lock-symlink":  # the lock used to be opened "a+" and truncated: through it
        target = cache.parent / "precious.txt"
        target.write_text("precious\n")
        (cache / "lock").symlink_to(target)
        return cache / "lock"
    if fault == "session-fifo":  # must not block the no-op check
        os.mkfifo(cache / SESSION_FILE)
        return cache / SESSION_FILE
    name = {"state-is-dir": STATE_FILE, "session-is-dir": SESSION_FILE, "lock-is-dir": "lock"}
    (cache / name[fault] / "inside").mkdir(parents=True)
    return cache / name[fault]


FAULTS = [
    "dir-is-a-file",
    "under-a-file",
    "state-is-dir",
    "session-is-dir",
    "lock-is-dir",
    "state-symlink",
    "lock-symlink",
    "session-fifo",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_cache_fault_is_a_warning_and_a_cold_build(
    example_workspace: Path, tmp_path: Path, expected: dict[str, bytes], fault: str
) -> None:
    cache = tmp_path / "c" / "cache"
    named = _fault(cache, fault)

    def snapshot() -> dict[Path, bytes]:
        """The user's files by the cache (the lock is sodabuild's own, taken even without a
        cache; through a symbolic link it reads the link's target, listed on its own)."""
        files = tmp_path.joinpath("c").rglob("*")
        return {p: p.read_bytes() for p in files if p.is_file() and p != cache / "lock"}

    before = snapshot()
    for args in ([], ["--check"], []):
        run = run_cli(
            "build",
            "-w",
            str(example_workspace),
            "--incremental-cache-dir",
            str(cache),
            "--json",
            *args,
        )
        found = notes(run)
        assert [n["code"] for n in found] == ["CACHE_UNUSABLE"], found
        assert found[0]["severity"] == "warning"
        assert found[0]["file"] == os.path.relpath(named, example_workspace)
        assert outputs(example_workspace) == expected
    shown = run_cli(
        "build", "-w", str(example_workspace), "--incremental-cache-dir", str(cache), "--show-cache"
    )
    assert shown.code == 0, shown.stderr
    assert shown.json()["present"] is False
    assert snapshot() == before  # nothing of the user's touched, nothing persisted


def test_cache_fault_in_watch_mode(example_workspace: Path, tmp_path: Path) -> None:
    from sodabuild.session.watch import watch_workspace

    cache = tmp_path / "cache"
    cache.write_text("a user's file\n")
    module = example_workspace / "fixtures/small-app/app/orgs/queries.py"
    artifact = example_workspace / "fixtures/small-app/__generated__/artifact.json"
    done: list[int] = []
    thread = threading.Thread(
        target=lambda: done.append(
            watch_workspace(example_workspace, None, cache_dir=cache, stop_after=1)
        ),
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not artifact.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    before = artifact.read_bytes()
    time.sleep(0.3)
    module.write_text(module.read_text().replace("{", "{ __typename", 1))
    while artifact.read_bytes() == before and time.monotonic() < deadline:
        time.sleep(0.02)
    thread.join(timeout=60)
    assert done == [0]
    assert artifact.read_bytes() != before
    assert cache.read_text() == "a user's file\n"


def _private_tree(base: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(base):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.chown(name, uid, uid, follow_symlinks=False)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp directory other users can enter (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="sodabuild-ro-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_read_only_cache_dir(shared_tmp: Path, expected: dict[str, bytes]) -> None:
    """A cache directory the building user cannot write (tests run as root, whom permission
    bits do not stop: the build runs as ``nobody`` through setpriv)."""
    nobody = 65534
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to build as an unprivileged user")
    ws = copy_example_workspace(shared_tmp / "ws")
    (shared_tmp / "home").mkdir()
    _private_tree(shared_tmp, nobody)
    probe = run_env("--version", user=nobody)
    if probe.code != 0:
        pytest.skip(f"cannot run sodabuild as nobody: {probe.stderr.strip()[-200:]}")
    cache = shared_tmp / "ro-cache"  # root's, 0755: nobody cannot write in it
    cache.mkdir(mode=0o755)
    env = {store.KEY_ENV: str(shared_tmp / "home" / "cache.key"), "HOME": str(shared_tmp / "home")}
    for _ in range(2):
        run = run_env(
            "build", "-w", str(ws), "--incremental-cache-dir", str(cache), "--json",
            env=env, user=nobody,
        )  # fmt: skip
        found = notes(run)
        assert [n["code"] for n in found] == ["CACHE_UNUSABLE"], found
        assert "not writable" in found[0]["message"]
        assert outputs(ws) == expected
    assert list(cache.iterdir()) == []


def test_save_failure_is_a_warning(
    example_workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sodabuild.session import session as session_module

    def fail(*args: object, **kwargs: object) -> int:
        raise OSError(30, "Read-only file system")

    session = BuilderSession(example_workspace)
    session.load()
    assert session.update().ok
    monkeypatch.setattr(session_module, "write_cache_file", fail)
    session.dispose({"ok": True})
    assert session.cache is not None
    assert [n.code for n in session.cache.notes] == ["CACHE_UNUSABLE"]
    assert "Read-only file system" in capsys.readouterr().err


# -- 3. clean removes only what sodabuild created -----------------------------------------


def test_clean_keeps_what_sodabuild_did_not_create(example_workspace: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "notes.txt").write_text("mine\n")
    (cache / "sub" / "keep.txt").write_text("mine too\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    (cache / "link").symlink_to(outside)
    (cache / "linkdir").symlink_to(example_workspace)
    run = run_cli("build", "-w", str(example_workspace), "--incremental-cache-dir", str(cache))
    assert run.code == 0, run.stderr
    assert (cache / STATE_FILE).exists()
    (cache / ".state.bin.abc123.tmp").write_bytes(b"partial")
    workspace_before = read_tree(example_workspace)
    cleaned = run_cli("clean", "-w", str(example_workspace), "--incremental-cache-dir", str(cache))
    assert cleaned.code == 0, cleaned.stderr
    assert "kept" in cleaned.stdout
    assert sorted(p.name for p in cache.iterdir()) == ["link", "linkdir", "notes.txt", "sub"]
    assert (cache / "sub" / "keep.txt").read_text() == "mine too\n"
    assert outside.read_text() == "outside\n"
    assert read_tree(example_workspace) == workspace_before


def test_clean_with_cache_dir_dot_keeps_the_workspace(example_workspace: Path) -> None:
    """``cache_dir = "."`` is a config error; and even a clean of the workspace root itself
    deletes only sodabuild's own files."""
    toml = example_workspace / "sodabuild.toml"
    text = toml.read_text()
    assert 'cache_dir = ".cache/sodabuild"' in text
    toml.write_text(text.replace('cache_dir = ".cache/sodabuild"', 'cache_dir = "."', 1))
    (example_workspace / STATE_FILE).write_bytes(b"old cache")
    before = read_tree(example_workspace)
    run = run_cli("clean", "-w", str(example_workspace))
    assert run.code == 2 and "CONFIG_OVERLAP" in run.stderr  # the first line of defence
    assert read_tree(example_workspace) == before
    clean_cache(example_workspace)  # the second: only the files sodabuild writes go
    after = read_tree(example_workspace)
    assert set(before) - set(after) == {STATE_FILE}
    assert all(after[name] == before[name] for name in after)


def test_clean_symlinked_cache_file_removes_the_link_only(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    target = tmp_path / "precious"
    target.write_text("precious\n")
    (cache / STATE_FILE).symlink_to(target)
    (cache / SESSION_FILE).mkdir()  # a directory with a cache file's name: not ours
    cleaned = clean_cache(cache)
    assert cleaned.removed == [STATE_FILE] and cleaned.kept == [SESSION_FILE]
    assert target.read_text() == "precious\n" and (cache / SESSION_FILE).is_dir()
    assert not cleaned.directory_removed
    (cache / SESSION_FILE).rmdir()
    (cache / "lock").touch()
    assert clean_cache(cache).directory_removed and not cache.exists()
    assert not clean_cache(cache).found


# -- 4. leftover temp files ---------------------------------------------------------------


def test_leftover_temp_files_are_swept(example_workspace: Path) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    cache = example_workspace / CACHE
    leftovers = [".state.bin.k2j3h4.tmp", ".session.bin.zz91.tmp"]

    def plant() -> None:
        for name in leftovers:
            (cache / name).write_bytes(b"interrupted")
        (cache / ".mine.tmp").write_text("not sodabuild's")

    plant()  # a full build sweeps them under the lock
    module = example_workspace / "fixtures/small-app/app/orgs/queries.py"
    module.write_text(module.read_text() + "\n# edited\n")
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0 and run.json()["cache"]["no_op"] is False
    assert sorted(p.name for p in cache.iterdir()) == [
        ".mine.tmp",
        "lock",
        SESSION_FILE,
        STATE_FILE,
    ]
    plant()  # so does a no-op build, when the lock is free
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0 and run.json()["cache"]["no_op"] is True
    assert not any((cache / name).exists() for name in leftovers)
    assert (cache / ".mine.tmp").exists()


# -- 5. the no-op check never raises ------------------------------------------------------

BAD_TOML = {
    "deep-nesting": "x = " + "[" * 20000 + "]" * 20000 + "\n",
    "nul-in-path": '[workspace]\ncache_dir = "a\\u0000b"\n',
    "long-path": '[workspace]\ncache_dir = "' + "a" * 5000 + '"\n',
    "long-path-parts": '[workspace]\ncache_dir = "' + "/".join(["a" * 250] * 20) + '"\n',
    "not-a-table": 'workspace = "x"\n',
}


@pytest.mark.parametrize("case", sorted(BAD_TOML))
def test_no_op_check_never_raises(tmp_path: Path, case: str) -> None:
    from sodabuild.launch import try_no_op

    workspace_file = tmp_path / "sodabuild.toml"
    workspace_file.write_text(BAD_TOML[case])
    assert try_no_op(workspace_file, None, False, None, None) is None
    directory = cache_dir_of(workspace_file, None)
    if directory is not None:
        assert no_op_summary(workspace_file, directory, (), False) is None
    run = run_cli("build", "-w", str(workspace_file), "--json")
    assert run.code != 3 or "RecursionError" not in run.stdout + run.stderr, run.stdout
    assert "Traceback" not in run.stderr


def test_no_op_check_survives_odd_cache_files(tmp_path: Path) -> None:
    workspace_file = tmp_path / "sodabuild.toml"
    workspace_file.write_text("[workspace]\n")
    cache = tmp_path / CACHE
    (cache / SESSION_FILE).mkdir(parents=True)
    assert no_op_summary(workspace_file, cache, (), False) is None
    assert no_op_summary(workspace_file, tmp_path / "nul\0", (), False) is None
    assert no_op_summary(workspace_file, tmp_path / ("x" * 5000), (), False) is None
