"""The persistent cache on disk: versioned, authenticated files, atomic writes, a lock.

Each cache file is ``MAGIC | header JSON | payload | tag`` where the header names the cache
format and its MAC, the sodabuild and Python versions and the payload's size, the payload
is a pickle of plain data and the tag is the HMAC-SHA256 of everything before it, keyed by
a per-user secret kept outside the workspace (:func:`key_path`). A file of another format or version
is purged, never read; a truncated one is reported and rebuilt; one whose tag does not
match was not written by this user's sodabuild (a cache committed to a repository, a
crafted file) and is purged unread: the payload is only ever unpickled after its tag was
verified, so a cache can never run code. Two processes on one cache take turns through an
``fcntl`` lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pickle
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sodabuild import __version__
from sodabuild.memory import gc_paused

MAGIC = b"SODABUILD-CACHE\n"
FORMAT = 1
#: How files are authenticated; part of the identity, so a file of the unauthenticated
#: layout (no "mac" in its header) is foreign: purged, never read.
MAC = "hmac-sha256"
LOCK_FILE = "lock"
#: The variable naming the per-user key file (default: see :func:`key_path`).
KEY_ENV = "SODABUILD_CACHE_KEY_FILE"
KEY_SIZE = 32
TAG_SIZE = 32  # HMAC-SHA256
MAX_HEADER = 4096
#: Temp files of atomic_write (``.{name}.<random>.tmp``), for each cache file name.
TEMP_PREFIXES = (".state.bin.", ".session.bin.")
TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Loaded:
    value: Any | None
    #: Why nothing was loaded: None (loaded), "missing", "foreign", "untrusted",
    #: "unusable: ..." (not a regular file) or "corrupt: ...".
    problem: str | None = None


class CacheKeyError(Exception):
    """The per-user cache key cannot be read or created (the message says why)."""


def _identity() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "mac": MAC,
        "sodabuild": __version__,
        "python": platform.python_version(),
    }


# -- the per-user key --------------------------------------------------------------------

_keys: dict[str, bytes] = {}


def key_path() -> Path:
    """``$SODABUILD_CACHE_KEY_FILE``, else ``${XDG_STATE_HOME:-~/.local/state}/sodabuild/cache.key``."""
    configured = os.environ.get(KEY_ENV)
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME", "")
    try:
        base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    except RuntimeError as exc:  # no HOME and no passwd entry
        raise CacheKeyError(f"no home directory for the cache key ({exc})") from None
    return base / "sodabuild" / "cache.key"


def cache_key() -> bytes:
    """This user's cache key, created (32 random bytes, mode 0600) on first use.

    Raises :class:`CacheKeyError` when it cannot be read or created.
    """
    path = key_path()
    known = _keys.get(str(path))
    if known is not None:
        return known
    try:
        try:
            key = _read_key(path)
        except FileNotFoundError:
            key = _create_key(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CacheKeyError(f"cannot read or create the cache key {path}: {reason}") from None
    _keys[str(path)] = key
    return key


def _read_key(path: Path) -> bytes:
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CacheKeyError(f"the cache key {path} is not a regular file")
        key = handle.read(KEY_SIZE + 1)
    if len(key) != KEY_SIZE:
        raise CacheKeyError(
            f"the cache key {path} is not a sodabuild key ({len(key)} bytes, not {KEY_SIZE})"
        )
    return key


def _create_key(path: Path) -> bytes:
    """Create the key atomically: a 0600 temp file in a 0700 directory, hard-linked into
    place (a key another process created meanwhile wins and is read instead)."""
    import tempfile

    directory = path.parent
    directory.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    key = os.urandom(KEY_SIZE)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it with mode 0600
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return _read_key(path)
        except OSError as exc:  # no hard links on this file system: exclusive create
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return _read_key(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    return key


def _tag(key: bytes, *parts: Any) -> bytes:
    import hmac

    mac = hmac.new(key, digestmod="sha256")
    for part in parts:
        mac.update(part)
    return mac.digest()


# -- cache files -------------------------------------------------------------------------


def write_cache_file(path: Path, value: Any, key: bytes | None = None) -> int:
    """Atomically write ``value``, authenticated with ``key`` (default: :func:`cache_key`);
    returns the bytes written."""
    from sodabuild.write import atomic_write

    key = cache_key() if key is None else key
    with gc_paused():  # a full collection over a big live heap would dominate
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    header = {**_identity(), "size": len(payload)}
    head = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n"
    data = b"".join((head, payload, _tag(key, head, payload)))
    atomic_write(path, data)
    return len(data)


def read_cache_file(path: Path, key: bytes | None = None) -> Loaded:
    """Read a cache file; its payload is unpickled only once its tag was verified with
    ``key`` (default: :func:`cache_key`, which may raise :class:`CacheKeyError`)."""
    payload, problem = _verified(path, key)
    if payload is None:
        return Loaded(None, problem)
    try:
        with gc_paused():
            return Loaded(pickle.loads(payload))
    except Exception as exc:  # an authenticated payload that still fails: treat as corrupt
        return Loaded(None, f"corrupt: {type(exc).__name__}")


def check_cache_file(path: Path, key: bytes | None = None) -> str | None:
    """What :func:`read_cache_file` would find wrong, without unpickling (None: readable)."""
    return _verified(path, key)[1]


def _verified(path: Path, key: bytes | None) -> tuple[memoryview | None, str | None]:
    """The authenticated payload of a cache file, or None and the problem."""
    try:
        data = _read_regular(path)
    except FileNotFoundError:
        return None, "missing"
    except _NotRegular as exc:
        return None, f"unusable: {exc}, not a cache file"
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, f"corrupt: unreadable ({reason})"
    if not data.startswith(MAGIC):
        return None, "corrupt: not a sodabuild cache file"
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if end < 0:
        return None, "corrupt: unreadable header"
    try:
        header = json.loads(data[len(MAGIC) : end])
    except (ValueError, RecursionError):
        return None, "corrupt: unreadable header"
    if not isinstance(header, dict):
        return None, "corrupt: unreadable header"
    if any(header.get(name) != value for name, value in _identity().items()):
        return None, "foreign"
    body = len(data) - TAG_SIZE
    if body - (end + 1) != header.get("size"):
        return None, "corrupt: truncated or damaged"
    view = memoryview(data)
    key = cache_key() if key is None else key
    import hmac

    if not hmac.compare_digest(_tag(key, view[:body]), view[body:]):
        return None, "untrusted"
    return view[end + 1 : body], None


class _NotRegular(OSError):
    pass


def _open_regular(path: Path, flags: int) -> int:
    """Open ``path`` without following a symbolic link or blocking on a FIFO; raises
    :class:`_NotRegular` unless it is a regular file."""
    import stat

    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except IsADirectoryError:
        raise _NotRegular("a directory") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _NotRegular("a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _NotRegular("not a regular file")
    return fd


def _read_regular(path: Path) -> bytes:
    fd = _open_regular(path, os.O_RDONLY)
    with open(fd, "rb") as handle:
        return handle.read()


def check_file(path: Path) -> str | None:
    """What is wrong with a cache file's path, if anything (absent is fine)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    import stat

    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a cache file"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link, not a cache file"
    return "is not a regular file"


def remove_temp_files(directory: Path) -> list[str]:
    """Remove the temp files interrupted cache writes left in ``directory`` (call it under
    the cache lock); returns their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if is_temp_file(entry.name) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def sweep_temp_files(directory: Path) -> None:
    """What the no-op path does about leftover temp files (it takes no lock otherwise):
    if there are any, remove them when the lock is free right now; never waits or raises."""
    try:
        if not any(is_temp_file(entry.name) for entry in os.scandir(directory)):
            return
        fd = _open_regular(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    except (OSError, ValueError):
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return  # a build is running: it will sweep
    try:
        remove_temp_files(directory)
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def is_temp_file(name: str) -> bool:
    return name.startswith(TEMP_PREFIXES) and name.endswith(TEMP_SUFFIX)


class LockTimeout(Exception):
    """Another sodabuild process kept the cache locked for too long."""


@contextlib.contextmanager
def cache_lock(directory: Path, timeout: float = 600.0, on_wait: Any = None) -> Iterator[bool]:
    """Exclusive lock on the cache directory; waits (calling ``on_wait`` once) up to ``timeout``.

    Yields whether the lock is held: a cache directory or lock file that cannot be created
    (a file in the way, a read-only file system) does not stop the build, which then runs
    without the lock (``BuilderSession.load`` has already reported the cache unusable and
    neither reads nor saves it).
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd: int | None = _open_regular(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    except (OSError, ValueError):
        fd = None
    if fd is None:
        yield False
        return
    handle = open(fd, "r+")  # noqa: SIM115 - held for the with-block
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if time.monotonic() > deadline:
                    raise LockTimeout(str(directory / LOCK_FILE)) from None
                time.sleep(0.05)
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        remove_temp_files(directory)
        yield True
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            handle.close()
