"""Write outputs atomically (temp file + rename), skip unchanged ones, drop stale chunks.

A crash at any point leaves every output either in its previous or its new complete state.
With the stamps of the previous build's outputs, an output whose stat matches its stamp and
whose recorded hash is the new bytes' hash is known unchanged without being read, and stale
chunks are the previously written ones no longer produced (no directory walk).
``check_outputs`` compares without writing, for ``--check``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sodabuild.session.fingerprint import Stamp, content_hash, stat_matches


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: The stamp of every output as it now is on disk, by out_dir-relative path.
    stamps: dict[str, Stamp] = field(default_factory=dict)


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


def _stale_chunks(
    out_dir: Path,
    chunks_dir: str | None,
    files: dict[str, bytes],
    previous: Mapping[str, Stamp] | None = None,
) -> list[str]:
    if chunks_dir is None:
        return []
    if previous is not None:
        prefix = chunks_dir + "/"
        return sorted(rel for rel in previous if rel.startswith(prefix) and rel not in files)
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


def _stamp(path: Path, data: bytes) -> Stamp | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return Stamp(stat.st_size, stat.st_mtime_ns, stat.st_ino, content_hash(data))


def _by_stamp(path: str, data: bytes, stamp: Stamp, recorded_ns: int) -> bool | None:
    """Whether the file holds ``data``, when its stamp can tell (the file's stat still
    matches it): by size, then by hash; None when the file changed since it was stamped."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if not stat_matches(stamp, stat, recorded_ns):
        return None
    return stamp.size == len(data) and stamp.hash == content_hash(data)


def write_outputs(
    out_dir: Path,
    files: dict[str, bytes],
    chunks_dir: str | None,
    previous: Mapping[str, Stamp] | None = None,
    recorded_ns: int = 0,
) -> WriteReport:
    """Chunks first, the artifact and manifest last, each atomically; unchanged files kept.

    ``previous``: the stamps of the outputs the last build wrote here (out_dir-relative),
    taken at ``recorded_ns``; without them every existing output is read and compared.
    """
    report = WriteReport()
    order = sorted(
        files, key=lambda rel: (chunks_dir is None or not rel.startswith(chunks_dir + "/"), rel)
    )
    directory = str(out_dir)
    for rel in order:
        data = files[rel]
        stamp = previous.get(rel) if previous is not None else None
        same = None if stamp is None else _by_stamp(f"{directory}/{rel}", data, stamp, recorded_ns)
        if same:
            assert stamp is not None
            report.unchanged.append(rel)
            report.stamps[rel] = stamp
            continue
        target = out_dir / rel
        if same is None and _same(target, data):
            report.unchanged.append(rel)
        else:
            atomic_write(target, data)
            report.written.append(rel)
        found = _stamp(target, data)
        if found is not None:
            report.stamps[rel] = found
    for rel in _stale_chunks(out_dir, chunks_dir, files, previous):
        try:
            (out_dir / rel).unlink()
        except FileNotFoundError:
            continue
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
