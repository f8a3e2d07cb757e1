"""What the daemon and its clients share: message framing, identity, where the files are.

Standard library only (plus the light ``sodabuild.session.store.key_path``): the client
side runs in the launcher of every ``sodabuild build``.

Files, all in the cache directory: ``daemon.json`` (pid, socket path, identity; mode
0600), ``daemon.sock`` (the Unix socket, mode 0600, unless its path is too long: see
:func:`socket_paths`), ``daemon.lock`` (locked by the live daemon; the kernel releases
the lock when the daemon dies, which tells a running daemon from the stale files of a
killed one) and ``daemon.log``.

Messages are JSON objects, each preceded by its length (4 bytes, big-endian).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import stat
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sodabuild import __version__
from sodabuild.daemon import INFO_FILE as INFO_FILE  # re-exported

#: Wire protocol version; every message carries it. ``stop`` and ``status`` stay
#: understood across versions, so a new sodabuild can stop an old daemon.
PROTOCOL = 1
SOCKET_FILE = "daemon.sock"
LOG_FILE = "daemon.log"
LOCK_FILE = "daemon.lock"
DAEMON_FILES = (INFO_FILE, SOCKET_FILE, LOCK_FILE, LOG_FILE)
IDLE_ENV = "SODABUILD_DAEMON_IDLE_TIMEOUT"
DEFAULT_IDLE_TIMEOUT = 3 * 3600.0
#: ``SODABUILD_NO_DAEMON=1``: ``sodabuild build`` never asks a daemon.
NO_DAEMON_ENV = "SODABUILD_NO_DAEMON"
#: Test-only: a value here replaces the hash of the package's sources in the identity of
#: the process that has it set (tests pin it, so that edits made to the checkout while they
#: run do not count, and start a daemon with another value to play "another version").
TEST_IDENTITY_ENV = "SODABUILD_DAEMON_TEST_IDENTITY"
MAX_MESSAGE = 1 << 30
MAX_INFO_BYTES = 1 << 16
#: ``sun_path`` holds 108 bytes on Linux (104 on macOS), the terminating NUL included.
SUN_PATH_MAX = 103 if sys.platform == "darwin" else 107


class ProtocolError(ConnectionError):
    """A malformed or truncated message: the connection is useless."""


# -- framing ------------------------------------------------------------------------------


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps({"protocol": PROTOCOL, **message}, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next message, or None when the peer closed the connection between messages."""
    header = _exactly(sock, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">I", header)
    if size > MAX_MESSAGE:
        raise ProtocolError(f"message of {size} bytes")
    body = _exactly(sock, size) if size else b""
    if body is None:
        raise ProtocolError("connection closed inside a message")
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    return message


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            if left == size:
                return None
            raise ProtocolError("connection closed inside a message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- identity ------------------------------------------------------------------------------

_source: str | None = None


def source_hash() -> str:
    """sha256 over the package's ``.py`` files (paths and bytes): an edited checkout is
    another version (~1 ms)."""
    global _source
    if _source is None:
        package = Path(__file__).resolve().parent.parent
        digest = hashlib.sha256()
        found: list[str] = []
        for directory, names, files in os.walk(package):
            names[:] = sorted(n for n in names if n != "__pycache__")
            found.extend(os.path.join(directory, f) for f in files if f.endswith(".py"))
        for path in sorted(found):
            digest.update(os.path.relpath(path, package).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(handle.read())
            digest.update(b"\0")
        _source = digest.hexdigest()[:16]
    return _source


def identity(workspace_file: Path, cache_dir: Path) -> dict[str, str]:
    """Who may be served by whom: the same sodabuild (version, sources, interpreter and
    environment), the same workspace file, cache directory and cache key."""
    from sodabuild.session.store import key_path

    source = os.environ.get(TEST_IDENTITY_ENV) or source_hash()
    try:
        key = str(key_path())
    except Exception:  # no home directory: the build reports it
        key = ""
    return {
        "version": __version__,
        "source": source,
        "python": sys.version,
        "prefix": sys.prefix,
        "workspace_file": str(workspace_file),
        "cache_dir": str(cache_dir),
        "cache_key_file": key,
    }


def difference(daemon: object, client: object) -> str | None:
    """Why a daemon of identity ``daemon`` may not serve a client of identity ``client``
    (None: it may)."""
    if not isinstance(daemon, dict) or not isinstance(client, dict):
        return "an identity is missing or unreadable"
    if daemon == client:
        return None
    if any(daemon.get(k) != client.get(k) for k in ("version", "source", "python", "prefix")):
        theirs = f"{daemon.get('version')} ({daemon.get('source')})"
        ours = f"{client.get('version')} ({client.get('source')})"
        return f"the daemon runs sodabuild {theirs}, this is {ours}"
    if daemon.get("workspace_file") != client.get("workspace_file"):
        return f"the daemon serves another workspace file ({daemon.get('workspace_file')})"
    return "the daemon uses another cache directory or cache key"


# -- locations ----------------------------------------------------------------------------


def short_hash(cache_dir: Path) -> str:
    return hashlib.sha256(os.fsencode(cache_dir)).hexdigest()[:20]


def socket_paths(cache_dir: Path) -> Iterator[Path]:
    """Where the daemon of ``cache_dir`` may listen, in order: ``<cache_dir>/daemon.sock``
    unless that path is too long for a Unix socket, then
    ``<private dir>/<hash of the cache dir>.sock`` (a 0700 directory of this user's in
    ``$XDG_RUNTIME_DIR``, else in the temp directory, made when first needed), also used
    when the cache directory cannot hold a socket (some network file systems)."""
    preferred = cache_dir / SOCKET_FILE
    if len(os.fsencode(preferred)) <= SUN_PATH_MAX:
        yield preferred
    name = f"{short_hash(cache_dir)}.sock"
    for base in _private_bases():
        directory = _private(base)
        if directory is not None and len(os.fsencode(directory / name)) <= SUN_PATH_MAX:
            yield directory / name
            return
    raise OSError(errno.ENAMETOOLONG, "no short private directory for the daemon's socket")


def _private_bases() -> list[Path]:
    import tempfile

    bases = []
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        bases.append(Path(runtime) / "sodabuild")
    bases.append(Path(tempfile.gettempdir()) / f"sodabuild-{os.getuid()}")
    return bases


def _private(directory: Path) -> Path | None:
    """``directory``, created 0700 if missing, if it is a real directory of ours that
    nobody else may enter; else None."""
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        directory.mkdir(mode=0o700)
    try:
        found = os.lstat(directory)
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        return None
    if found.st_mode & 0o077:
        return None
    return directory


def expected_socket(cache_dir: Path, recorded: Path) -> bool:
    """Whether ``recorded`` (from daemon.json) is where a daemon of ``cache_dir`` listens:
    only such a path is ever deleted as stale."""
    return recorded == cache_dir / SOCKET_FILE or (
        recorded.name == f"{short_hash(cache_dir)}.sock"
        and any(recorded.parent == base for base in _private_bases())
    )


# -- liveness and records -----------------------------------------------------------------


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end (Linux ``SO_PEERCRED``); None elsewhere."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    size = struct.calcsize("3i")
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, size))
    return int(uid)


def lock_held(cache_dir: Path) -> bool:
    """Whether a daemon holds ``daemon.lock`` (it runs, starts or stops). A killed daemon's
    lock is released by the kernel, so its leftover files are told apart by this."""
    import fcntl

    try:
        fd = os.open(cache_dir / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also releases a lock taken here
    return False


def read_info(cache_dir: Path) -> dict[str, Any] | None:
    """The record of the daemon of ``cache_dir`` (``daemon.json``), or None."""
    try:
        fd = os.open(cache_dir / INFO_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = json.loads(handle.read(MAX_INFO_BYTES))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("socket"), str):
        return None
    if not isinstance(data.get("pid"), int):
        return None
    return data


def write_info(cache_dir: Path, info: dict[str, Any]) -> None:
    """Write ``daemon.json`` atomically, mode 0600."""
    target = cache_dir / INFO_FILE
    temp = cache_dir / f".{INFO_FILE}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            json.dump(info, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def remove_stale(cache_dir: Path, info: dict[str, Any] | None) -> bool:
    """Remove the files a dead daemon left (its socket and ``daemon.json``); nothing when
    a daemon holds the lock. Whether anything was removed."""
    if lock_held(cache_dir):
        return False
    removed = False
    if info is not None:
        recorded = Path(info["socket"])
        with contextlib.suppress(OSError):
            found = os.lstat(recorded)
            if (
                stat.S_ISSOCK(found.st_mode)
                and found.st_uid == os.getuid()
                and expected_socket(cache_dir, recorded)
            ):
                os.unlink(recorded)
                removed = True
    current = read_info(cache_dir)
    if current is not None and (info is None or current.get("pid") == info.get("pid")):
        with contextlib.suppress(OSError):
            os.unlink(cache_dir / INFO_FILE)
            removed = True
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True
