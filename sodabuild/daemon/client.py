"""The daemon's clients: ``sodabuild build`` handing a build over, and ``sodabuild daemon
start|status|stop``.

Standard library only, like the launcher that imports it: a build answered by the daemon
costs the daemon's build plus the start of a small Python process. Whatever goes wrong on
the way (no daemon, a dead one, a refusal, a connection lost mid-build) makes
:func:`build_through_daemon` return None, and the caller builds in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

from sodabuild.daemon.protocol import (
    difference,
    identity,
    lock_held,
    peer_uid,
    pid_alive,
    read_info,
    receive,
    remove_stale,
    send,
)

CONNECT_TIMEOUT = 5.0
#: ``status`` waits this long for a daemon busy with a build.
STATUS_TIMEOUT = 10.0
#: ``stop`` lets a build in progress finish (the daemon answers between builds).
STOP_TIMEOUT = 600.0
STARTUP_TIMEOUT = 300.0


def _note(text: str) -> None:
    sys.stderr.write(f"sodabuild: {text}\n")
    sys.stderr.flush()


def connect(info: dict[str, Any], timeout: float) -> socket.socket:
    """A connection to the daemon ``info`` (daemon.json) names; only to a socket of this
    user, served by a process of this user where the OS says (``SO_PEERCRED``)."""
    path = str(info["socket"])
    found = os.lstat(path)
    if not stat.S_ISSOCK(found.st_mode) or found.st_uid != os.getuid():
        raise ConnectionRefusedError(f"{path} is not this user's daemon socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            raise ConnectionRefusedError(f"{path} is served by another user (uid {uid})")
    except BaseException:
        sock.close()
        raise
    return sock


def ask(info: dict[str, Any], message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One request, one answer (``status``, ``stop``)."""
    with connect(info, CONNECT_TIMEOUT) as sock:
        sock.settimeout(timeout)
        send(sock, message)
        answer = receive(sock)
    if answer is None:
        raise ConnectionResetError("the daemon closed the connection")
    return answer


def _client_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("SODABUILD_")}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def build_through_daemon(
    workspace_file: Path, cache_dir: Path, request: dict[str, Any]
) -> int | None:
    """Run a plain build on the daemon of ``cache_dir`` and print what it printed: its exit
    code, or None when the caller must build in-process (no daemon, a stale one, one of
    another version, a connection lost before the answer, anything unexpected)."""
    try:
        answer = _build(workspace_file, cache_dir, request)
    except Exception as exc:  # never a traceback: the build runs in-process instead
        _note(f"the daemon could not be asked ({type(exc).__name__}: {exc}); building in-process")
        return None
    if answer is None:
        return None
    code, stdout = answer
    sys.stdout.write(stdout)  # the build is done: whatever happens now is not a rebuild
    return code


def _build(
    workspace_file: Path, cache_dir: Path, request: dict[str, Any]
) -> tuple[int, str] | None:
    info = read_info(cache_dir)
    if info is None:
        return None
    mine = identity(workspace_file, cache_dir)
    reason = difference(info.get("identity"), mine)
    if reason is not None:
        if not remove_stale(cache_dir, info):  # a dead daemon's files go quietly
            _note(f"not using the daemon ({reason}); building in-process")
        return None
    try:
        sock = connect(info, CONNECT_TIMEOUT)
    except OSError:
        remove_stale(cache_dir, info)  # refused, or gone: stale unless its lock is held
        return None
    result: dict[str, Any] | None = None
    try:
        with sock:
            sock.settimeout(None)  # a build takes what it takes
            send(
                sock,
                {
                    "op": "build",
                    "identity": mine,
                    "env": _client_env(),
                    "umask": _umask(),
                    **request,
                },
            )
            while (message := receive(sock)) is not None:
                kind = message.get("kind")
                if kind == "stderr":  # as the build writes it (a "waiting for" line)
                    with contextlib.suppress(OSError):
                        sys.stderr.write(str(message.get("text", "")))
                        sys.stderr.flush()
                    continue
                if kind == "refused":
                    _note(f"not using the daemon ({message.get('reason')}); building in-process")
                    return None
                if kind == "result":
                    result = message
                break
    except (OSError, ValueError):
        pass
    if result is None:
        _note("the daemon did not answer the build; building in-process")
        return None
    try:
        return int(result["code"]), str(result.get("stdout", ""))
    except (KeyError, TypeError, ValueError):
        _note("the daemon's answer is malformed; building in-process")
        return None


# -- daemon start | status | stop ---------------------------------------------------------


def status(workspace_file: Path, cache_dir: Path) -> dict[str, Any]:
    """What ``daemon status`` prints: whether a daemon runs for this cache directory, and
    what it says about itself."""
    found: dict[str, Any] = {
        "running": False,
        "workspace": str(workspace_file),
        "cache_dir": str(cache_dir),
    }
    info = read_info(cache_dir)
    if info is None:
        if lock_held(cache_dir):
            found.update(running=True, responding=False)
        return found
    try:
        answer = ask(info, {"op": "status"}, STATUS_TIMEOUT)
    except OSError:
        if remove_stale(cache_dir, info):
            return found
        found.update(running=True, responding=False, pid=info["pid"], socket=info["socket"])
        return found
    answer.pop("kind", None)
    answer.pop("protocol", None)
    theirs = answer.get("identity")
    found.update(answer)
    found.update(
        running=True,
        responding=True,
        compatible=difference(theirs, identity(workspace_file, cache_dir)) is None,
    )
    return found


def _wait_released(cache_dir: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while lock_held(cache_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop(cache_dir: Path) -> dict[str, Any]:
    """Stop the daemon of ``cache_dir``, gracefully (it finishes a build in progress):
    ``{"was_running", "pid", "forced"}``."""
    info = read_info(cache_dir)
    if info is None:
        deadline = time.monotonic() + 10.0  # one that is starting writes its record soon
        while info is None and lock_held(cache_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
            info = read_info(cache_dir)
    if info is None:
        return {"was_running": False, "pid": None, "forced": False}
    pid = int(info["pid"])
    try:
        ask(info, {"op": "stop"}, STOP_TIMEOUT)
        asked = True
    except OSError:
        asked = False
        if remove_stale(cache_dir, info):
            return {"was_running": False, "pid": None, "forced": False}
        if pid_alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)  # the daemon's handler stops it gracefully
    forced = False
    if not _wait_released(cache_dir, 60.0 if asked else 30.0) and pid_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        forced = True
        _wait_released(cache_dir, 10.0)
    remove_stale(cache_dir, info)
    return {"was_running": True, "pid": pid, "forced": forced}


def start(
    workspace_file: Path,
    cache_override: Path | None,
    idle_timeout: float,
    timeout: float = STARTUP_TIMEOUT,
) -> dict[str, Any]:
    """Start a daemon process (detached: new session, no terminal) and wait until it
    listens or says why it cannot: its first message,
    ``{"ok": true, "pid", "socket", "log"}``, ``{"ok": false, "already": true}`` or
    ``{"ok": false, "code", "stdout", "stderr"}``."""
    import subprocess

    import sodabuild

    package_parent = Path(sodabuild.__file__).resolve().parent.parent
    code = (
        f"import sys; sys.path.insert(0, {str(package_parent)!r}); "
        "from sodabuild.daemon.server import main; main()"
    )
    argv = [sys.executable, "-c", code, "--workspace-file", str(workspace_file)]
    argv += ["--idle-timeout", repr(float(idle_timeout))]
    if cache_override is not None:
        argv += ["--cache-dir", str(cache_override)]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
        start_new_session=True,
        close_fds=True,
    )
    assert process.stdout is not None and process.stderr is not None
    line = _read_line(process.stdout.fileno(), timeout)
    if line is not None:
        process.stdout.close()
        process.stderr.close()
        try:
            answer = json.loads(line)
            if isinstance(answer, dict):
                return answer
        except ValueError:
            pass
        return _failed(f"the daemon answered {line[:200]!r} at start")
    if process.poll() is None:  # no answer in time: do not leave it half-started
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return _failed(f"the daemon did not answer within {timeout:.0f} s")
    status = process.wait()
    tail = process.stderr.read().decode(errors="replace").strip().splitlines()[-20:]
    detail = ("\n" + "\n".join(tail)) if tail else ""
    return _failed(f"the daemon exited at start (status {status}){detail}")


def _failed(message: str) -> dict[str, Any]:
    hint = "this is a bug in sodabuild; rerun with SODABUILD_DEBUG=1 for a traceback"
    return {
        "ok": False,
        "code": 3,
        "stdout": "",
        "stderr": f"sodabuild: internal error: {message}\n    hint: {hint}\n",
    }


def _read_line(fd: int, timeout: float) -> str | None:
    """The first line written to ``fd``, or None on EOF or timeout."""
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")
