"""The build daemon: one process per cache directory keeping a ``BuilderSession`` warm.

Started by ``sodabuild daemon start`` (``client.start``) as
``python -c "...; main()" --workspace-file F [--cache-dir D] --idle-timeout S`` in a new
session, stdin on /dev/null; its first line on stdout (a pipe to the starter) says whether
it listens, then stdout goes to /dev/null and stderr to ``<cache_dir>/daemon.log``.

It serves one connection at a time from a single thread, so builds are serialized (and
the forked validation workers of a large build stay allowed: a pool is only forked from a
single-threaded process). A build runs the command line's own code (``cli.run_build``)
with stdout captured and stderr relayed to the client as it is written, under the same
``cache_lock``. Once the client has its answer, the daemon saves the cache and the no-op
record, still holding the lock, so a new process (a plain ``sodabuild build`` repeated,
``sodabuild build --watch``, a client of another version) finds the cache exactly as an
in-process build would have left it.

The session is kept while the next build has the same selection, graph filter and cache
override, and the cache files on disk are the ones it last loaded or saved; otherwise it
is replaced by a new session loaded from the cache, as a new process would.

``WatchServer`` serves the same requests from ``sodabuild build --watch``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import queue
import select
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import typer

from sodabuild import __version__
from sodabuild.cli import (
    EXIT_CONFIG_ERRORS,
    EXIT_INTERNAL,
    BuildOptions,
    SessionHost,
    report_internal_error,
    run_build,
)
from sodabuild.daemon.protocol import (
    DEFAULT_IDLE_TIMEOUT,
    INFO_FILE,
    LOCK_FILE,
    LOG_FILE,
    PROTOCOL,
    difference,
    identity,
    peer_uid,
    read_info,
    receive,
    send,
    socket_paths,
    write_info,
)
from sodabuild.session.fastpath import SESSION_FILE, STATE_FILE, cache_dir_of

#: How long a connected client may take to send its request.
REQUEST_TIMEOUT = 30.0
#: How long a client may take to read an answer before the daemon gives up on it.
SEND_TIMEOUT = 120.0
#: How often the daemon checks that its socket and record are still in place.
CHECK_EVERY = 30.0
#: How long the daemon stays idle before it saves what its builds left: a build that
#: comes first supersedes the save (edits built back to back never wait for one), and a
#: status or stop request, or the daemon's end, saves at once.
SAVE_DELAY = 1.0
LOG_LIMIT = 1 << 20


class _Relay(io.StringIO):
    """The stderr of a build: each write goes to the client at once (a waiting message
    appears while the build waits), as long as the client listens. (A StringIO, so that
    click writes text to it as it does to a captured stream.)"""

    def __init__(self, conn: socket.socket) -> None:
        super().__init__()
        self.conn = conn
        self.alive = True

    def write(self, text: str) -> int:
        if isinstance(text, bytes | bytearray):  # pragma: no cover - defensive
            text = bytes(text).decode("utf-8", "replace")
        if self.alive and text:
            try:
                send(self.conn, {"kind": "stderr", "text": text})
            except OSError:
                self.alive = False
        return len(text)


class Daemon(SessionHost):
    """The daemon's state: its socket, its live session, and what ``status`` reports."""

    def __init__(self, workspace_file: Path, cache_override: Path | None, idle: float) -> None:
        self.pid = os.getpid()
        self.workspace_file = workspace_file
        self.cache_override = cache_override
        self.idle_timeout = idle
        self.started = time.time()
        self.builds = 0
        self.last_request = time.monotonic()
        self.stopping: str | None = None
        self.session: Any = None
        self.session_key: tuple[Any, ...] | None = None
        #: Stamps of the cache files when the session last loaded or saved them.
        self.disk: tuple[Any, ...] | None = None
        self.cache_dir = Path()
        self.socket_path = Path()
        self.socket_inode = 0
        self.identity: dict[str, str] = {}
        self.listener: socket.socket | None = None
        self.lock_fd: int | None = None
        self.log_file: TextIO | None = None
        self.wake_r = self.wake_w = -1
        self.pending: tuple[Any, dict[str, Any]] | None = None
        self.held: contextlib.ExitStack | None = None
        #: The summary of the live session's last build (what a no-op answers).
        self.last_summary: dict[str, Any] | None = None
        #: When the pending save is due (monotonic), and the request whose umask it uses.
        self.save_due: float | None = None
        self.save_request: dict[str, Any] = {}

    # -- the session host (cli.run_build) ---------------------------------------------------

    def open(self, options: BuildOptions, make: Callable[[], Any]) -> Any:
        key = options.session_key()
        if self.session is not None and key == self.session_key and self._disk() == self.disk:
            return self.session
        self.save_pending()  # the new session loads what the last build left
        self.session = None  # another selection, or another process wrote the cache
        disk = self._disk()
        session = super().open(options, make)
        self.session, self.session_key, self.disk = session, key, disk
        return session

    @contextlib.contextmanager
    def locked(self, session: Any, on_wait: Callable[[], None]) -> Iterator[None]:
        """The cache lock, kept after the build until its save (see :meth:`finish`)."""
        from sodabuild.session.store import cache_lock

        held = contextlib.ExitStack()
        held.enter_context(cache_lock(session.cache_dir(), on_wait=on_wait))
        try:
            yield
        except BaseException:
            held.close()
            raise
        self.held = held

    def no_op(self, options: BuildOptions, cwd: Path) -> dict[str, Any] | None:
        """The live session tells a no-op itself (one stat pass, which the build that
        follows an edit reuses), answering with the summary it last gave, as the no-op
        record would; without one, the record on disk decides."""
        session = self.session
        if (
            session is None
            or self.last_summary is None
            or session.last is None
            or bool(session.last.check) != options.check
            or options.session_key() != self.session_key
            or self._disk() != self.disk
        ):
            self.save_pending()  # the record on disk is the last build's
            return super().no_op(options, cwd)
        return self.last_summary if session.changes(options.check) == set() else None

    def done(self, session: Any, summary: dict[str, Any]) -> None:
        self.pending = (session, summary)  # saved once the client has its answer
        self.last_summary = summary if session is self.session else None

    def finish(self) -> None:
        """Save what the last build left (what ``dispose`` does, minus forgetting the warm
        state), then release the cache lock: no other process builds in between, and the
        client does not wait for the save (on 10,000 modules most of a leaf edit's cost)."""
        pending, self.pending = self.pending, None
        held, self.held = self.held, None
        try:
            if pending is not None:
                session, summary = pending
                if session is not self.session:  # a session for this build only
                    session.dispose(summary)
                    return
                session.save(summary)  # a failure is a CACHE_UNUSABLE line in the log
                self.disk = self._disk()
                cache = session.cache
                if cache is None or not cache.usable:
                    self._forget()  # a new process would meet (and report) it again
                else:
                    cache.notes = []  # reported once, as a new process on the saved cache
        finally:
            if held is not None:
                held.close()

    def defer(self, request: dict[str, Any]) -> None:
        """Once the client has its answer: release the cache lock and save the live
        session's state when the daemon is idle (:data:`SAVE_DELAY`); a session made for
        one build only is saved now."""
        pending = self.pending
        if pending is None or pending[0] is not self.session:
            self.save_due = None
            with _client_environment(request):  # the cache files get the client's umask
                self.finish()
            return
        held, self.held = self.held, None
        if held is not None:
            held.close()
        self.save_due = time.monotonic() + SAVE_DELAY
        self.save_request = request

    def save_pending(self) -> None:
        """The deferred save, under the cache lock; dropped when another process wrote the
        cache since (its state is newer, and the next build reloads it), retried later
        when another process holds the lock."""
        from sodabuild.session.store import LockTimeout, cache_lock

        if self.pending is None:
            self.save_due = None
            return
        session = self.pending[0]
        started = time.perf_counter()
        try:
            with (
                _client_environment(self.save_request),
                cache_lock(session.cache_dir(), timeout=0.0),
            ):
                if self._disk() != self.disk:
                    self.pending = None
                    self._forget()
                    self.log("not saved: another process wrote the cache")
                else:
                    self.finish()
                    self.log(f"saved in {(time.perf_counter() - started) * 1000:.0f} ms")
        except LockTimeout:
            self.save_due = time.monotonic() + SAVE_DELAY
            return
        self.save_due = None

    def _forget(self) -> None:
        """Drop the live session: the next build loads a new one from the cache."""
        self.session = None
        self.last_summary = None

    def _disk(self) -> tuple[Any, ...]:
        stamps: list[Any] = []
        for name in (STATE_FILE, SESSION_FILE):
            try:
                found = os.stat(self.cache_dir / name)
                stamps.append((found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    # -- start -----------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Load the session, take the daemon lock, listen: the answer for the starter."""
        options = BuildOptions(
            workspace=self.workspace_file,
            cache_dir=self.cache_override,
            cwd=self.workspace_file.parent,
        )
        from sodabuild.session.session import BuilderSession

        directory = cache_dir_of(self.workspace_file, self.cache_override)
        if directory is not None:
            self.cache_dir = directory
            self.disk = self._disk()  # before loading: a later write means "reload"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                session = super().open(
                    options,
                    lambda: BuilderSession(
                        self.workspace_file,
                        cwd=self.workspace_file.parent,
                        cache_dir=self.cache_override,
                    ),
                )
            except typer.Exit as exc:
                return _refusal(exc.exit_code, out.getvalue(), err.getvalue())
        if directory is None:
            return _refusal(
                EXIT_CONFIG_ERRORS, "", "sodabuild: the cache directory cannot be located\n"
            )
        if session.cache is None or not session.cache.usable:
            notes = session.cache.notes if session.cache else []
            reason = "; ".join(n.render() for n in notes) or "the cache cannot be used"
            return _refusal(EXIT_CONFIG_ERRORS, "", f"sodabuild: cannot start a daemon: {reason}\n")
        self.session = session
        self.session_key = BuildOptions(cache_dir=self.cache_override).session_key()
        if not self.attach(directory):
            return {"ok": False, "already": True}
        self._open_log(own_stderr=True)
        self.log(
            f"started sodabuild {self.identity['version']} ({self.identity['source']}) for "
            f"{self.workspace_file}, listening on {self.socket_path}, "
            f"idle timeout {self.idle_timeout:g} s"
        )
        return {
            "ok": True,
            "pid": self.pid,
            "socket": str(self.socket_path),
            "log": str(directory / LOG_FILE),
        }

    def attach(self, directory: Path) -> bool:
        """Become the daemon of the cache directory ``directory``: take its lock (False
        when another process holds it), listen, write daemon.json."""
        self.cache_dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        if not self._lock():
            return False
        self._listen()
        self.identity = identity(self.workspace_file, directory)
        write_info(
            directory,
            {
                "protocol": PROTOCOL,
                "pid": self.pid,
                "socket": str(self.socket_path),
                "version": __version__,
                "identity": self.identity,
                "started": self.started,
                "idle_timeout": self.idle_timeout if math.isfinite(self.idle_timeout) else None,
                "log": str(directory / LOG_FILE),
            },
        )
        return True

    def _lock(self) -> bool:
        import fcntl

        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.cache_dir / LOCK_FILE, flags, 0o600)
        deadline = time.monotonic() + 2.0  # a client may be probing it this instant
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    return False
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.pid}\n".encode())
        self.lock_fd = fd
        return True

    def _listen(self) -> None:
        failed: OSError | None = None
        try:
            for path in socket_paths(self.cache_dir):
                try:
                    self.listener = self._bind(path)
                except OSError as exc:
                    failed = exc  # a file system that cannot hold a socket: the next place
                    continue
                self.socket_path = path
                self.socket_inode = os.lstat(path).st_ino
                return
        except OSError:
            if failed is None:
                raise
        assert failed is not None
        raise failed

    @staticmethod
    def _bind(path: Path) -> socket.socket:
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise FileExistsError(f"{path} exists and is not a socket")
            path.unlink()  # a killed daemon's (we hold the lock: no live one uses it)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            previous = os.umask(0o177)  # created 0600: no moment where others may connect
            try:
                listener.bind(str(path))
            finally:
                os.umask(previous)
            os.chmod(path, 0o600)
            listener.listen(64)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        return listener

    def _open_log(self, own_stderr: bool) -> None:
        path = self.cache_dir / LOG_FILE
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        if os.fstat(fd).st_size > LOG_LIMIT:
            os.ftruncate(fd, 0)
        if own_stderr:  # tracebacks, forked children, warnings: the log, never a terminal
            os.dup2(fd, 2)
        self.log_file = open(fd, "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115

    def log(self, message: str) -> None:
        if self.log_file is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError, ValueError):
            self.log_file.write(f"{stamp} [{self.pid}] {message}\n")

    def warm_up(self) -> None:
        """When the cache says nothing changed since the last build, run the session's
        build now (before ``daemon start`` returns): it writes nothing, and leaves the
        graph that the first edit is applied to (on 10,000 modules, a leaf edit in 0.2 s
        instead of a full build's 2 s)."""
        from sodabuild.engine.summary import build_summary
        from sodabuild.session.fastpath import no_op_summary
        from sodabuild.session.store import cache_lock

        session = self.session
        if session is None or session.last is not None:
            return
        started = time.perf_counter()
        with cache_lock(self.cache_dir) as held:
            if not held or self._disk() != self.disk:
                return  # another process builds or built: the first request reloads
            if no_op_summary(self.workspace_file, self.cache_dir, (), False, ()) is None:
                return  # something changed: building is the first client's to ask
            result = session.update()
            notes = session.cache.notes if session.cache else []
            summary = build_summary(result, False, time.perf_counter() - started, notes)
            self.pending = (session, summary)
            self.finish()
        session.prepare()
        self.log(f"warmed up in {(time.perf_counter() - started) * 1000:.0f} ms")

    # -- serving -----------------------------------------------------------------------------

    def serve(self) -> None:
        assert self.listener is not None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signalled)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        checked = time.monotonic()
        while self.stopping is None:
            now = time.monotonic()
            left = self.idle_timeout - (now - self.last_request)
            if left <= 0:
                self.stopping = f"idle for {self.idle_timeout:g} s"
                break
            if now - checked >= CHECK_EVERY:
                checked = now
                if not self._still_ours():
                    self.stopping = "its socket or daemon.json was removed or replaced"
                    break
            if self.save_due is not None and now >= self.save_due:
                self.save_pending()
            wait = min(left, CHECK_EVERY)
            if self.save_due is not None:
                wait = max(0.0, min(wait, self.save_due - now))
            listening = self.listener.fileno()
            ready, _, _ = select.select([listening, self.wake_r], [], [], wait)
            if self.wake_r in ready:
                with contextlib.suppress(OSError):
                    while os.read(self.wake_r, 512):
                        pass
            if listening in ready and self.stopping is None:
                try:
                    conn, _ = self.listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                self.last_request = time.monotonic()
                try:
                    with conn:
                        self.handle(conn)
                except Exception:
                    self.log(f"request failed:\n{traceback.format_exc()}")
                self.last_request = time.monotonic()

    def _signalled(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:  # a forked worker: die as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.stopping = f"signal {signal.Signals(signum).name}"

    def _still_ours(self) -> bool:
        try:
            if os.lstat(self.socket_path).st_ino != self.socket_inode:
                return False
        except OSError:
            return False
        info = read_info(self.cache_dir)
        return info is not None and info.get("pid") == self.pid

    def read_request(self, conn: socket.socket) -> dict[str, Any] | None:
        """The request on a new connection (None: nothing to answer, e.g. another user's)."""
        conn.setblocking(True)
        conn.settimeout(REQUEST_TIMEOUT)
        uid = peer_uid(conn)
        if uid is not None and uid != os.getuid():
            self.log(f"refused a connection of uid {uid}")
            return None
        request = receive(conn)
        conn.settimeout(SEND_TIMEOUT)
        return request

    def handle(self, conn: socket.socket) -> None:
        request = self.read_request(conn)
        if request is None:
            return
        op = request.get("op")
        if op != "build":
            self.save_pending()  # what status reports (and stop leaves) is on disk
        if op == "status":
            send(conn, {"kind": "status", **self.status()})
        elif op == "stop":
            self.stopping = "stop requested"
            send(conn, {"kind": "stopping", "pid": self.pid})
        elif op == "build":
            self.build(conn, request)
        else:
            send(conn, {"kind": "error", "message": f"unknown request {op!r}"})

    def status(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "version": self.identity.get("version", __version__),
            "source": self.identity.get("source"),
            "identity": self.identity,
            "workspace": str(self.workspace_file),
            "cache_dir": str(self.cache_dir),
            "socket": str(self.socket_path),
            "log": str(self.cache_dir / LOG_FILE),
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 3),
            "builds": self.builds,
            "serving": "daemon",
            "idle_timeout_s": self.idle_timeout,
            "idle_s": round(time.monotonic() - self.last_request, 3),
            "session": _describe(self.session_key) if self.session is not None else None,
        }

    def build(self, conn: socket.socket, request: dict[str, Any]) -> None:
        started = time.perf_counter()
        reason = difference(self.identity, request.get("identity"))
        if reason is not None:
            self.log(f"refused a build: {reason}")
            send(conn, {"kind": "refused", "reason": reason})
            return
        self.builds += 1
        as_json = bool(request.get("json"))
        out = io.StringIO()
        relay = _Relay(conn)
        code = EXIT_INTERNAL
        with (
            _client_environment(request),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(relay),
        ):
            try:
                code = run_build(_options(request, self.cache_dir), started, self)
            except typer.Exit as exc:
                code = exc.exit_code
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else EXIT_INTERNAL
            except Exception as exc:
                self.log(f"build failed:\n{traceback.format_exc()}")
                with contextlib.suppress(Exception):
                    report_internal_error(exc, as_json)
                code = EXIT_INTERNAL
        try:
            if code not in (0, 1):
                self._forget()  # a config error or a bug: start afresh next time
            try:
                send(conn, {"kind": "result", "code": code, "stdout": out.getvalue()})
                answered = "answered"
            except OSError as exc:
                answered = f"client gone ({exc.strerror or exc})"
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            self.defer(request)
        self.log(
            f"build {_describe(self.session_key)}: exit {code} in {elapsed:.0f} ms ({answered})"
        )
        session = self.session
        if session is not None and code in (0, 1):
            with contextlib.suppress(Exception):  # warm-up only: the next change needs it
                session.prepare()

    def close(self) -> None:
        """Stop listening and remove the socket and daemon.json (if still ours)."""
        if self.lock_fd is None:  # never attached: nothing of ours to remove
            if self.listener is not None:
                self.listener.close()
            return
        with contextlib.suppress(OSError):
            if os.lstat(self.socket_path).st_ino == self.socket_inode:
                os.unlink(self.socket_path)
        if self.listener is not None:
            self.listener.close()
        info = read_info(self.cache_dir)
        if info is not None and info.get("pid") == self.pid:
            with contextlib.suppress(OSError):
                os.unlink(self.cache_dir / INFO_FILE)
        self.log(f"stopped: {self.stopping or 'exiting'} ({self.builds} builds served)")
        os.close(self.lock_fd)  # releases the lock last: the files are gone by then
        self.lock_fd = None


class WatchServer(Daemon):
    """``sodabuild build --watch`` serving builds too: a thread accepts connections and
    answers ``status`` and ``stop``; builds are queued for the watch's own thread, which
    runs them between its rebuilds (:meth:`run_pending`), on the watch's session when the
    build has its selection and filter, else on a session of their own (loaded from the
    cache and disposed of, as in a new process). ``daemon stop`` ends the serving, not the
    watch."""

    def __init__(self, session: Any, options: BuildOptions, wake: Callable[[], None]) -> None:
        assert session.workspace_file is not None
        super().__init__(session.workspace_file, options.cache_dir, math.inf)
        self.session = session
        self.session_key = options.session_key()
        self.wake = wake
        self.requests: queue.Queue[tuple[socket.socket, dict[str, Any]]] = queue.Queue()
        self.summaries: list[dict[str, Any]] = []
        self.thread: threading.Thread | None = None
        self.closed = threading.Event()
        self.closing = threading.Lock()

    @classmethod
    def serve_watch(
        cls, session: Any, options: BuildOptions, wake: Callable[[], None]
    ) -> WatchServer | None:
        """A server for the watch of ``session``, serving from a thread; None when another
        process serves this cache directory (or it cannot be served)."""
        server = cls(session, options, wake)
        directory = cache_dir_of(server.workspace_file, options.cache_dir)
        try:
            if directory is None or not server.attach(directory):
                return None
            server._open_log(own_stderr=False)
        except OSError:
            server.close()
            return None
        server.log(f"serving builds for the watch of {server.workspace_file}")
        server.thread = threading.Thread(target=server._accept, name="sodabuild-serve")
        server.thread.daemon = True
        server.thread.start()
        return server

    def open(self, options: BuildOptions, make: Callable[[], Any]) -> Any:
        if options.session_key() == self.session_key:
            return self.session
        return SessionHost.open(self, options, make)  # this build's own, disposed of after

    def done(self, session: Any, summary: dict[str, Any]) -> None:
        super().done(session, summary)
        self.summaries.append(summary)

    def _forget(self) -> None:
        pass  # the watch's session is the watch's: it reloads a broken config itself

    def defer(self, request: dict[str, Any]) -> None:
        """Save at once: the watch runs no serving loop to save later from."""
        with _client_environment(request):
            self.finish()

    def status(self) -> dict[str, Any]:
        return {**super().status(), "serving": "watch", "idle_timeout_s": None}

    def _accept(self) -> None:
        assert self.listener is not None
        while not self.closed.is_set():
            try:
                ready, _, _ = select.select([self.listener.fileno()], [], [], 0.2)
                if not ready:
                    continue
                conn, _ = self.listener.accept()
            except (OSError, ValueError):  # closed under us, or not ready after all
                continue
            try:
                if self._take(conn):
                    continue  # the watch's thread answers it and closes it
            except Exception:
                self.log(f"request failed:\n{traceback.format_exc()}")
            conn.close()

    def _take(self, conn: socket.socket) -> bool:
        """Answer a request on the serving thread, or queue a build for the watch's
        thread (True)."""
        request = self.read_request(conn)
        if request is None:
            return False
        op = request.get("op")
        if op == "status":
            send(conn, {"kind": "status", **self.status()})
        elif op == "stop":
            send(conn, {"kind": "stopping", "pid": self.pid})
            self.stopping = "stop requested"
            self.close()
        elif op == "build":
            reason = difference(self.identity, request.get("identity"))
            if reason is None:
                self.requests.put((conn, request))
                self.wake()
                return True
            self.log(f"refused a build: {reason}")
            send(conn, {"kind": "refused", "reason": reason})
        else:
            send(conn, {"kind": "error", "message": f"unknown request {op!r}"})
        return False

    def run_pending(self) -> list[dict[str, Any]]:
        """Run the queued builds (on the watch's thread): their summaries."""
        self.summaries = []
        while True:
            try:
                conn, request = self.requests.get_nowait()
            except queue.Empty:
                return self.summaries
            self.last_request = time.monotonic()
            with conn:
                try:
                    self.build(conn, request)
                except Exception:
                    self.log(f"request failed:\n{traceback.format_exc()}")

    def close(self) -> None:
        with self.closing:  # from either thread: `daemon stop`, or the watch's end
            if self.closed.is_set():
                return
            self.closed.set()
            super().close()

    def stop(self) -> None:
        """Stop serving (the watch ends): builds still queued get no answer, and build
        in-process."""
        self.stopping = self.stopping or "the watch stopped"
        self.close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        while not self.requests.empty():
            conn, _request = self.requests.get_nowait()
            conn.close()


def _refusal(code: int, stdout: str, stderr: str) -> dict[str, Any]:
    return {"ok": False, "code": code, "stdout": stdout, "stderr": stderr}


def _describe(key: tuple[Any, ...] | None) -> str:
    if key is None:
        return "-"
    projects, graph_filter, _incremental, cache = key[:4]
    parts = [f"-p {' -p '.join(projects)}" if projects else "all projects"]
    parts += [f"--graph-filter {f}" for f in graph_filter]
    if cache:
        parts.append(f"--incremental-cache-dir {cache}")
    return " ".join(parts)


def _options(request: dict[str, Any], cache_dir: Path) -> BuildOptions:
    def path(name: str) -> Path | None:
        value = request.get(name)
        return Path(value) if isinstance(value, str) else None

    def texts(name: str) -> list[str] | None:
        value = request.get(name)
        found = [str(v) for v in value] if isinstance(value, list) else []
        return found or None  # as the command line passes "no -p": None, not []

    cwd = path("cwd")
    if cwd is None:
        raise ValueError("the request names no working directory")
    return BuildOptions(
        workspace=path("workspace"),
        projects=texts("projects"),
        as_json=bool(request.get("json")),
        check=bool(request.get("check")),
        cache_dir=path("cache_dir"),
        graph_filter=texts("graph_filter"),
        cwd=cwd,
        color=bool(request.get("color")),
    )


@contextlib.contextmanager
def _client_environment(request: dict[str, Any]) -> Iterator[None]:
    """The client's ``SODABUILD_*`` variables (``SODABUILD_DEBUG``, ``SODABUILD_JOBS``,
    ...) and umask (output files get the modes an in-process build gives them), for the
    time of its build."""
    env = request.get("env")
    wanted = {
        k: v
        for k, v in (env.items() if isinstance(env, dict) else ())
        if isinstance(k, str) and k.startswith("SODABUILD_") and isinstance(v, str)
    }
    saved = {k: v for k, v in os.environ.items() if k.startswith("SODABUILD_")}
    umask = request.get("umask")
    previous = os.umask(umask & 0o777) if isinstance(umask, int) else None
    for name in saved:
        del os.environ[name]
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name in wanted:
            os.environ.pop(name, None)
        os.environ.update(saved)
        if previous is not None:
            os.umask(previous)


def _import_all() -> None:
    """Import every module of the package now: the daemon runs the code its identity
    (the hash of the sources at start) names, even if the checkout changes later."""
    import importlib
    import pkgutil

    import sodabuild

    for module in pkgutil.walk_packages(sodabuild.__path__, "sodabuild."):
        if module.name != "sodabuild.__main__":
            importlib.import_module(module.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sodabuild-daemon")
    parser.add_argument("--workspace-file", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # the starter reads one line from our stdout; everything else goes nowhere
    ready = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    daemon = Daemon(args.workspace_file, args.cache_dir, args.idle_timeout)
    try:
        _import_all()
        answer = daemon.start()
    except Exception as exc:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            report_internal_error(exc, False)
        traceback.print_exc()  # to the log if it is open, else to the starter's pipe
        answer = _refusal(EXIT_INTERNAL, "", err.getvalue())
    if answer.get("ok"):
        # before answering the starter: an edit made once `daemon start` returned is
        # never built by the warm-up, always by the build that asks for it
        try:
            daemon.warm_up()
        except Exception:
            daemon.session = None  # the first build starts afresh
            daemon.log(f"warm-up failed:\n{traceback.format_exc()}")
    import json

    ready.write(json.dumps(answer) + "\n")
    ready.close()
    if not answer.get("ok"):
        if daemon.lock_fd is not None:
            daemon.close()
        sys.stderr.flush()
        os._exit(0 if answer.get("already") else int(answer.get("code", 1)))
    code = 0
    try:
        daemon.last_request = time.monotonic()
        daemon.serve()
        daemon.save_pending()
    except BaseException:
        daemon.log(f"crashed:\n{traceback.format_exc()}")
        code = EXIT_INTERNAL
    finally:
        daemon.close()
    os._exit(code)  # no teardown of a large heap, object by object


if __name__ == "__main__":
    main()
