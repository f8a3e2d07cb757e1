"""File fingerprints: a stat-only fast path, a content hash when the stat changed.

A :class:`Stamp` is (size, mtime_ns, inode, xxh3_128 of the bytes). A file whose stat equals
its stamp is not read. A file whose mtime is within the timestamp granularity of the moment its
stamp was taken is "racy": a rewrite in the same tick could keep size and mtime, so it is
re-hashed (and an unchanged hash still means no work). The granularity is assumed coarse
(2 s) when the mtime has no sub-second part, else 100 ms (kernel ticks are a few ms). Directories get a stamp of their
mtime and a hash of their sorted listing, so added and removed files are noticed without
listing unchanged directories.
"""

from __future__ import annotations

import os
from stat import S_ISREG
from typing import NamedTuple

import xxhash

#: Timestamp windows we do not trust: coarse file systems tick in 1-2 s, others in ms.
COARSE_RACY_NS = 2_000_000_000
FINE_RACY_NS = 100_000_000


def racy_window(mtime_ns: int) -> int:
    return COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else FINE_RACY_NS


class Stamp(NamedTuple):
    size: int
    mtime_ns: int
    inode: int
    hash: str


class DirStamp(NamedTuple):
    mtime_ns: int
    listing: str  # xxh3 of the sorted entry names; "" for a directory that does not exist
    #: Entry names left out of the listing (outputs, caches: what discovery skips anyway).
    ignored: tuple[str, ...] = ()


#: Suffixes of the siblings a commit keeps beside an out_dir (write/commit.py): a spare
#: version, and a previous one while a fallback swap runs. Never part of a listing.
COMMIT_SUFFIXES = (".sodabuild-spare", ".sodabuild-prev")


def is_commit_dir(name: str) -> bool:
    """A commit's spare or previous version beside an out_dir (never a source)."""
    return name.startswith(".") and name.endswith(COMMIT_SUFFIXES)


def listing_hash(names: list[str], ignored: tuple[str, ...] = ()) -> str:
    kept = sorted(name for name in names if name not in ignored and not is_commit_dir(name))
    # names that are not UTF-8 come back from listdir with surrogate escapes
    return xxhash.xxh3_64_hexdigest("\0".join(kept).encode("utf-8", "surrogateescape"))


#: The stamp of a file that must stay absent (a project file not written yet).
ABSENT = Stamp(-1, -1, -1, "")


def content_hash(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def stamp_bytes(stat: os.stat_result, data: bytes) -> Stamp:
    return Stamp(stat.st_size, stat.st_mtime_ns, stat.st_ino, content_hash(data))


def read_stamped(path: str) -> tuple[bytes, Stamp] | None:
    """The file's bytes and stamp (stat taken before reading), or None if unreadable."""
    try:
        stat = os.stat(path)
        if not S_ISREG(stat.st_mode):  # a FIFO or device put in a file's place: never opened
            return None
        with open(path, "rb") as handle:
            data = handle.read(stat.st_size + 1)
    except OSError:
        return None
    return data, stamp_bytes(stat, data)


def stat_matches(stamp: Stamp, stat: os.stat_result, recorded_ns: int) -> bool:
    """True when the stat proves the file unchanged (and it was not racy when stamped)."""
    return (
        stat.st_size == stamp.size
        and stat.st_mtime_ns == stamp.mtime_ns
        and stat.st_ino == stamp.inode
        and stamp.mtime_ns < recorded_ns - racy_window(stamp.mtime_ns)
    )


def unchanged(path: str, stamp: Stamp, recorded_ns: int) -> bool | None:
    """True: unchanged by stat alone; False: changed; None: stat differs, hash to decide."""
    try:
        stat = os.stat(path)
    except OSError:
        return False
    if stat_matches(stamp, stat, recorded_ns):
        return True
    if stat.st_size != stamp.size:
        return False
    return None


def same_content(path: str, stamp: Stamp) -> bool:
    found = read_stamped(path)
    return found is not None and found[1].hash == stamp.hash


def dir_stamp(path: str, ignored: tuple[str, ...] = ()) -> DirStamp:
    try:
        stat = os.stat(path)
        names = os.listdir(path)
    except OSError:
        return DirStamp(0, "", ignored)
    return DirStamp(stat.st_mtime_ns, listing_hash(names, ignored), ignored)


def dir_unchanged(path: str, stamp: DirStamp, recorded_ns: int) -> bool:
    try:
        stat = os.stat(path)
    except OSError:
        return stamp.listing == ""
    if stat.st_mtime_ns == stamp.mtime_ns and stamp.mtime_ns < recorded_ns - racy_window(
        stamp.mtime_ns
    ):
        return True
    return dir_stamp(path, stamp.ignored).listing == stamp.listing
