"""Atomic single-file writes (temp file + rename) for sodabuild's own files.

Used for cache files, profiles and deltas; a project's outputs are committed as a whole by
:mod:`sodabuild.write.commit`. A crash leaves the previous file or the new one, never a
mix; a leftover temp file is named ``.<name>.<random>.tmp`` (:data:`TEMP_PATTERN`) so the
next run can recognise and remove it. The file gets the mode ``open()`` would give it (0666
less the umask), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

#: Names of temp files :func:`atomic_write` leaves when killed (mkstemp: 8 random chars).
TEMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")

_umask: int | None = None


def file_mode() -> int:
    """0666 less the process umask (read once; the umask is process-wide)."""
    global _umask
    if _umask is None:
        _umask = os.umask(0o022)
        os.umask(_umask)
    return 0o666 & ~_umask


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), file_mode())
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
