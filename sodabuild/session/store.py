"""The persistent cache on disk: versioned, checksummed files, atomic writes, a lock.

Each cache file is ``MAGIC | header JSON | payload`` where the header names the cache
format, the sodabuild and Python versions and the xxh3 of the payload (a pickle of plain
data). A file of another format or version is purged, never read; a truncated or corrupt
one fails its checksum and is reported and rebuilt. The payload is only ever unpickled
after the checksum matched, and the cache directory is trusted like the sources beside it.
Two processes on one cache take turns through an ``fcntl`` lock.
"""

from __future__ import annotations

import contextlib
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

import xxhash

from sodabuild import __version__
from sodabuild.memory import gc_paused

MAGIC = b"SODABUILD-CACHE\n"
FORMAT = 1


@dataclass(frozen=True)
class Loaded:
    value: Any | None
    #: Why nothing was loaded: None (loaded), "missing", "foreign" or "corrupt: ...".
    problem: str | None = None


def _identity() -> dict[str, Any]:
    return {"format": FORMAT, "sodabuild": __version__, "python": platform.python_version()}


def write_cache_file(path: Path, value: Any) -> int:
    """Atomically write ``value``; returns the bytes written."""
    from sodabuild.write import atomic_write

    with gc_paused():  # a full collection over a big live heap would dominate
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    header = {**_identity(), "checksum": xxhash.xxh3_64_hexdigest(payload), "size": len(payload)}
    data = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload
    atomic_write(path, data)
    return len(data)


def read_cache_file(path: Path) -> Loaded:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Loaded(None, "missing")
    except OSError as exc:
        return Loaded(None, f"corrupt: unreadable ({exc.strerror})")
    if not data.startswith(MAGIC):
        return Loaded(None, "corrupt: not a sodabuild cache file")
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC) : end])
    except (ValueError, UnicodeDecodeError):
        return Loaded(None, "corrupt: unreadable header")
    identity = _identity()
    if any(header.get(key) != value for key, value in identity.items()):
        return Loaded(None, "foreign")
    payload = data[end + 1 :]
    if len(payload) != header.get("size") or xxhash.xxh3_64_hexdigest(payload) != header.get(
        "checksum"
    ):
        return Loaded(None, "corrupt: truncated or damaged (checksum mismatch)")
    try:
        with gc_paused():
            return Loaded(pickle.loads(payload))
    except Exception as exc:  # a checksummed payload that still fails: treat as corrupt
        return Loaded(None, f"corrupt: {type(exc).__name__}")


class LockTimeout(Exception):
    """Another sodabuild process kept the cache locked for too long."""


@contextlib.contextmanager
def cache_lock(directory: Path, timeout: float = 600.0, on_wait: Any = None) -> Iterator[None]:
    """Exclusive lock on the cache directory; waits (calling ``on_wait`` once) up to ``timeout``."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / "lock", "a+")  # noqa: SIM115 - held for the with-block
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
                    raise LockTimeout(str(directory / "lock")) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
