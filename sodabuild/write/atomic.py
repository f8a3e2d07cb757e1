"""Write outputs atomically (temp file + rename), skip unchanged ones, drop stale chunks.

A crash at any point leaves every output either in its previous or its new complete state.
``check_outputs`` compares without writing, for ``--check``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _same(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _stale_chunks(out_dir: Path, chunks_dir: str | None, files: dict[str, bytes]) -> list[str]:
    if chunks_dir is None:
        return []
    base = out_dir / chunks_dir
    if not base.is_dir():
        return []
    stale = []
    for dirpath, _, filenames in os.walk(base):
        for filename in filenames:
            if not filename.endswith(".json"):
                continue
            rel = (Path(dirpath) / filename).relative_to(out_dir).as_posix()
            if rel not in files:
                stale.append(rel)
    return sorted(stale)


def write_outputs(out_dir: Path, files: dict[str, bytes], chunks_dir: str | None) -> WriteReport:
    """Chunks first, the artifact and manifest last, each atomically; unchanged files kept."""
    report = WriteReport()
    order = sorted(
        files, key=lambda rel: (chunks_dir is None or not rel.startswith(chunks_dir + "/"), rel)
    )
    for rel in order:
        target = out_dir / rel
        if _same(target, files[rel]):
            report.unchanged.append(rel)
            continue
        atomic_write(target, files[rel])
        report.written.append(rel)
    for rel in _stale_chunks(out_dir, chunks_dir, files):
        (out_dir / rel).unlink()
        report.removed.append(rel)
        parent = (out_dir / rel).parent
        base = out_dir / (chunks_dir or "")
        while parent != base and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return report


def check_outputs(out_dir: Path, files: dict[str, bytes], chunks_dir: str | None) -> list[str]:
    """out_dir-relative paths that are missing, different, or stale chunks."""
    stale = [rel for rel in sorted(files) if not _same(out_dir / rel, files[rel])]
    return stale + _stale_chunks(out_dir, chunks_dir, files)
