"""Commit a project's outputs as a whole: bring a spare copy of the out_dir up to date,
then swap it in.

A build never writes into a live out_dir. Beside it lives a spare, ``.<name>.sodabuild-spare``:
the version before the live one, made of hard links to the same files where they did not
change. A commit brings the spare to the complete next version: entries that should hold
the same file as the live directory are hard links to it (most already are: the spare
and the live version share every file the last two commits did not change), changed
files are written, everything else is removed. The spare then replaces the live
directory in one step, and the old live directory becomes the next spare:

* Linux: ``renameat2(RENAME_EXCHANGE)`` swaps the two directory entries atomically; a
  reader that opens ``out_dir/...`` sees the complete old set or the complete new set.
* elsewhere (or a file system without exchange): the live directory is renamed to
  ``.<name>.sodabuild-prev``, the spare renamed into place, then ``-prev`` becomes the
  spare. Between the first two renames ``out_dir`` is briefly absent, never mixed.

So a commit costs a walk of both directories (names and inodes, one stat per produced
file), plus work for what changed in the last two commits: no directory is made or
deleted, and unchanged files keep their inode and mtime. A live session (watch mode, the
daemon) passes what its last commit left (:class:`CommitMemo`) and skips both walks: one
stat per directory and per produced file proves the trees are as remembered (anything
else, or a spare not as remembered, falls back to the walk). A kill at any point leaves
the live directory complete (old or new); the spare may be half updated, which the next
commit repairs, since it compares every entry with what it should be. :func:`recover`
(run before every commit) puts a ``-prev`` back when the live directory is missing.
Nothing is ever written or deleted through a symlink: the out_dir path may not contain
one, walks do not follow them, and deletion (``shutil.rmtree``) unlinks links instead of
descending into them.

Files are created with ``open()`` and therefore honour the umask, like any other tool's.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import Any

from sodabuild.session.fingerprint import (
    COMMIT_SUFFIXES,
    DirStamp,
    Stamp,
    content_hash,
    dir_stamp,
    listing_hash,
    racy_window,
    stat_matches,
)
from sodabuild.write.atomic import TEMP_PATTERN

SPARE, PREVIOUS = COMMIT_SUFFIXES

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class OutputPathError(OSError):
    """The out_dir path is not a real directory inside the workspace (e.g. a symlink)."""


@dataclass
class CommitReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: The stamp of every output as it now is on disk, by out_dir-relative path.
    stamps: dict[str, Stamp] = field(default_factory=dict)
    #: Whether a new version of the out_dir was swapped in.
    committed: bool = False
    #: The stamp of every directory of the out_dir as it now is ("" is the out_dir).
    dirs: dict[str, DirStamp] = field(default_factory=dict)
    #: What this commit left, for the next commit of the same process (None: unknown).
    memo: CommitMemo | None = None


@dataclass
class CommitMemo:
    """An out_dir and its spare as this process's last commit left them (kept in memory by
    a live session, never persisted): the next commit trusts it instead of walking both
    trees once a stat of every directory (exact mtimes, both top directories' inodes) and
    of every produced file shows nothing else touched them."""

    #: Entries of the live tree (regular files and others) -> inode; its directories.
    live: dict[str, int]
    live_dirs: set[str]
    #: The same for the spare (the version before the live one).
    spare: dict[str, int]
    spare_dirs: set[str]
    #: Directory stamps of the live tree ("" is the out_dir) and when they were taken.
    dirs: dict[str, DirStamp]
    recorded_ns: int
    #: (st_ino, st_mtime_ns) of the out_dir and of its spare.
    tops: tuple[tuple[int, int], tuple[int, int]]


def sibling(out_dir: Path, suffix: str) -> Path:
    return out_dir.parent / f".{out_dir.name}{suffix}"


def check_out_dir(root: Path, out_dir: Path) -> None:
    """Refuse an out_dir that is not below ``root`` or has a symlink on its path.

    Every component from the workspace root down is checked with ``lstat`` (a component
    that does not exist yet is fine: it will be created as a real directory).
    """
    try:
        rel = out_dir.relative_to(root)
    except ValueError:
        raise OutputPathError(
            errno.EXDEV, "out_dir is outside the workspace", str(out_dir)
        ) from None
    if not rel.parts or ".." in rel.parts:
        raise OutputPathError(
            errno.EINVAL, "out_dir must be below the workspace root", str(out_dir)
        )
    current = root
    for part in rel.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            raise OutputPathError(
                errno.ELOOP,
                "a symlink on the out_dir path (outputs are never written through one)",
                str(current),
            )
        if not stat.S_ISDIR(info.st_mode):
            raise OutputPathError(
                errno.ENOTDIR, "not a directory on the out_dir path", str(current)
            )


def _lstat(path: Path | str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def remove_tree(path: Path | str) -> None:
    """Delete ``path`` without following symlinks (a link is unlinked, not descended)."""
    info = _lstat(path)
    if info is None:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def has_leftovers(out_dir: str) -> bool:
    """Whether a killed commit left a previous version beside ``out_dir`` (stdlib only: the
    no-op check asks, and a build must then run to recover)."""
    parent, name = os.path.split(out_dir)
    return os.path.lexists(os.path.join(parent, f".{name}{PREVIOUS}"))


def recover(out_dir: Path) -> None:
    """Finish or undo what a killed commit left beside ``out_dir``."""
    previous = sibling(out_dir, PREVIOUS)
    found = _lstat(previous)
    if found is not None:
        if _lstat(out_dir) is None and stat.S_ISDIR(found.st_mode):
            os.rename(previous, out_dir)  # killed between the first two renames
        elif _lstat(sibling(out_dir, SPARE)) is None and stat.S_ISDIR(found.st_mode):
            os.rename(previous, sibling(out_dir, SPARE))  # killed before the third
        else:
            remove_tree(previous)


_libc: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directory entries; False when the platform cannot."""
    global _libc
    import ctypes

    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    renameat2 = getattr(_libc, "renameat2", None) if _libc else None
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@dataclass
class _Tree:
    """A directory's contents by out_dir-relative POSIX path: regular files (with their
    inode), other non-directories (links, sockets...: inode too) and directories."""

    files: dict[str, os.DirEntry[str]] = field(default_factory=dict)
    others: dict[str, int] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)


def _walk(top: Path) -> _Tree:
    """Names and inodes only (``scandir`` gives both without a stat per entry)."""
    tree = _Tree()
    stack = [("", str(top))]
    while stack:
        prefix, directory = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                tree.dirs.add(rel)
                stack.append((rel + "/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                tree.files[rel] = entry
            else:
                tree.others[rel] = entry.inode()
    return tree


def _stat_of(entry: os.DirEntry[str] | None) -> os.stat_result | None:
    return entry.stat(follow_symlinks=False) if entry is not None else None


def _parents(rel: str) -> Iterable[str]:
    parts = rel.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def _ancestors(rels: Iterable[str]) -> set[str]:
    """Every directory that holds one of ``rels`` (each walked up only once)."""
    found: set[str] = set()
    for rel in rels:
        parent = rel.rpartition("/")[0]
        while parent and parent not in found:
            found.add(parent)
            parent = parent.rpartition("/")[0]
    return found


def _unchanged(
    path: str,
    data: bytes,
    found: os.stat_result | None,
    stamp: Stamp | None,
    recorded_ns: int,
) -> bool:
    """Whether the live regular file at ``path`` holds ``data``: by its recorded stamp when
    its stat still matches it, else by reading."""
    if found is None or found.st_size != len(data):
        return False
    if stamp is not None and stat_matches(stamp, found, recorded_ns):
        return stamp.hash == content_hash(data)
    try:
        with open(path, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


def owned_by(rel: str, owned: Iterable[str]) -> bool:
    """A per-module output file (``dir/*.suffix``: a chunk, a generated module) belongs to
    sodabuild whoever wrote it."""
    for pattern in owned:
        directory, _, suffix = pattern.rpartition("/*")
        if rel.startswith(directory + "/") and rel.endswith(suffix):
            return True
    return False


def _stale(
    names: Iterable[str],
    files: Mapping[str, bytes],
    owned: tuple[str, ...],
    previous: Mapping[str, Stamp],
) -> list[str]:
    """Entries of an out_dir a commit leaves out: outputs the last build wrote and this one
    does not, chunk files no module produces, and temp files of an interrupted
    ``atomic_write`` (the writer before out_dirs were committed whole)."""
    return sorted(
        rel
        for rel in names
        if rel not in files
        and (
            rel in previous
            or owned_by(rel, owned)
            or TEMP_PATTERN.match(rel.rsplit("/", 1)[-1]) is not None
        )
    )


def _dir_stamps(top: Path, listings: Mapping[str, list[str]]) -> dict[str, DirStamp]:
    """Stamps of the directories below ``top`` whose listings are known (one stat each)."""
    stamps = {}
    for rel, names in listings.items():
        try:
            mtime = os.stat(f"{top}/{rel}" if rel else top).st_mtime_ns
        except OSError:
            continue
        stamps[rel] = DirStamp(mtime, listing_hash(names))
    return stamps


def _listings(rels: Iterable[str], dirs: Iterable[str]) -> dict[str, list[str]]:
    """Each directory's entry names, from the paths of its files and subdirectories."""
    found: dict[str, list[str]] = {"": []}
    for directory in dirs:
        found.setdefault(directory, [])
    for rel in [*rels, *dirs]:
        parent, _, name = rel.rpartition("/")
        found.setdefault(parent, []).append(name)
    return found


def commit_outputs(
    root: Path,
    out_dir: Path,
    files: Mapping[str, bytes],
    owned: Iterable[str],
    previous: Mapping[str, Stamp] | None = None,
    recorded_ns: int = 0,
    memo: CommitMemo | None = None,
) -> CommitReport:
    """Make ``out_dir`` hold exactly ``files`` (out_dir-relative) plus the files it holds
    that sodabuild does not own, as one atomic step; nothing happens when it already does.

    Stale outputs are those the last build wrote (``previous``, its stamps taken at
    ``recorded_ns``) that are not produced now, and any file of a per-module output
    (``owned``: ``dir/*.suffix`` patterns) that is not produced now. ``memo``: what this
    process's last commit of ``out_dir`` left (``CommitReport.memo``); when the trees are
    still as it says, neither is walked (see :class:`CommitMemo`).
    """
    check_out_dir(root, out_dir)
    owned = tuple(owned)
    previous = previous or {}
    if memo is not None:
        try:
            known = _commit_known(out_dir, files, owned, previous, recorded_ns, memo)
        except (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError):
            known = None  # the spare was not as remembered: the walk below repairs it
        if known is not None:
            return known
    recover(out_dir)
    live = _walk(out_dir)
    report = CommitReport()
    base = str(out_dir)
    changed: list[str] = []
    for rel in sorted(files):
        found = _stat_of(live.files.get(rel))
        if _unchanged(f"{base}/{rel}", files[rel], found, previous.get(rel), recorded_ns):
            assert found is not None
            report.unchanged.append(rel)
            stamp = previous.get(rel)
            if stamp is None or not stat_matches(stamp, found, recorded_ns):
                stamp = Stamp(
                    found.st_size, found.st_mtime_ns, found.st_ino, content_hash(files[rel])
                )
            report.stamps[rel] = stamp
        else:
            changed.append(rel)
    produced_dirs = _ancestors(files)
    names = [*live.files, *live.others]
    stale = _stale(names, files, owned, previous)
    # an entry in the way of a produced path (a file where a directory must be, or the
    # reverse) is replaced; it is not reported as removed output
    blocked = {rel for rel in names if rel in produced_dirs}
    if not live.dirs.isdisjoint(files):  # a produced file where a directory is
        blocked.update(
            rel for rel in names if rel not in files and any(p in files for p in _parents(rel))
        )
    dropped = set(stale) | blocked
    if not changed and not dropped:
        report.dirs = _dir_stamps(out_dir, _listings(names, live.dirs)) if _lstat(out_dir) else {}
        return report
    #: the next version: what each path should hold (bytes to write, or a live inode)
    kept = {rel: live.files[rel].inode() for rel in report.unchanged}
    kept.update(
        (rel, live.files[rel].inode())
        for rel in live.files
        if rel not in files and rel not in dropped
    )
    kept.update(
        (rel, ino) for rel, ino in live.others.items() if rel not in files and rel not in dropped
    )
    wanted_dirs = _ancestors([*kept, *changed])
    spare = sibling(out_dir, SPARE)
    info = _lstat(spare)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        os.unlink(spare)
        info = None
    if info is None:
        out_dir.parent.mkdir(parents=True, exist_ok=True)  # checked: no symlink on the way
        os.mkdir(spare)
    old = _walk(spare)
    top = str(spare)
    # 1. remove what the next version does not hold (or holds as something else)
    for rel in sorted([*old.files, *old.others], reverse=True):
        inode = old.others.get(rel) if rel in old.others else old.files[rel].inode()
        if rel in changed or kept.get(rel) != inode:
            os.unlink(f"{top}/{rel}")
    for rel in sorted(old.dirs - wanted_dirs, key=lambda d: -d.count("/")):
        remove_tree(f"{top}/{rel}")
    for rel in sorted(wanted_dirs - old.dirs, key=lambda d: d.count("/")):
        os.mkdir(f"{top}/{rel}")
    # 2. link what stays, write what changed
    copied = False
    for rel, inode in kept.items():
        if old.files.get(rel) is not None and old.files[rel].inode() == inode:
            continue
        if old.others.get(rel) == inode:
            continue
        source, target = f"{base}/{rel}", f"{top}/{rel}"
        try:
            os.link(source, target, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copy2(source, target, follow_symlinks=False)
            copied = True
            if rel in report.stamps:
                found = os.lstat(target)
                report.stamps[rel] = report.stamps[rel]._replace(
                    mtime_ns=found.st_mtime_ns, inode=found.st_ino
                )
    _write_changed(top, files, changed, report)
    # 3. swap: the spare goes live, the live directory becomes the next spare
    if _lstat(out_dir) is not None:
        _swap(spare, out_dir)
    else:
        os.rename(spare, out_dir)
    report.removed = stale
    report.committed = True
    report.dirs = _dir_stamps(out_dir, _listings([*kept, *changed], wanted_dirs))
    now = {**kept, **{rel: report.stamps[rel].inode for rel in changed}}
    before = {rel: entry.inode() for rel, entry in live.files.items()}
    before.update(live.others)
    if not copied:  # (a copy is another inode than the memo would say)
        report.memo = _memo(out_dir, now, wanted_dirs, before, live.dirs, report.dirs)
    return report


def _write_changed(
    top: str, files: Mapping[str, bytes], changed: list[str], report: CommitReport
) -> None:
    """Write each changed output into the spare (``top``), new files only, and stamp it."""
    for rel in changed:
        with open(f"{top}/{rel}", "xb") as handle:
            handle.write(files[rel])
            handle.flush()
            found = os.fstat(handle.fileno())
        report.written.append(rel)
        report.stamps[rel] = Stamp(
            found.st_size, found.st_mtime_ns, found.st_ino, content_hash(files[rel])
        )


def _swap(spare: Path, out_dir: Path) -> None:
    """The spare goes live and the live directory becomes the next spare (atomically
    where the platform can exchange two entries; see the module docstring)."""
    if not _exchange(spare, out_dir):
        previous_dir = sibling(out_dir, PREVIOUS)
        os.rename(out_dir, previous_dir)
        os.rename(spare, out_dir)
        os.rename(previous_dir, spare)


def _top(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_ino, info.st_mtime_ns


def _memo(
    out_dir: Path,
    live: dict[str, int],
    live_dirs: set[str],
    spare: dict[str, int],
    spare_dirs: set[str],
    dirs: dict[str, DirStamp],
) -> CommitMemo | None:
    try:
        tops = (_top(out_dir), _top(sibling(out_dir, SPARE)))
    except OSError:
        return None
    return CommitMemo(live, live_dirs, spare, spare_dirs, dirs, time.time_ns(), tops)


def _dirs_as_remembered(base: str, memo: CommitMemo) -> bool:
    """Every directory of the live tree has the mtime the memo stamped (a racy one also
    its listing): no entry was added, removed or renamed since."""
    stat = os.lstat
    for rel, stamp in memo.dirs.items():
        path = f"{base}/{rel}" if rel else base
        try:
            info = stat(path)
        except OSError:
            return False
        if info.st_mtime_ns != stamp.mtime_ns or not S_ISDIR(info.st_mode):
            return False
        racy = info.st_mtime_ns >= memo.recorded_ns - racy_window(info.st_mtime_ns)
        if racy and dir_stamp(path).listing != stamp.listing:
            return False
    return True


def _commit_known(
    out_dir: Path,
    files: Mapping[str, bytes],
    owned: tuple[str, ...],
    previous: Mapping[str, Stamp],
    recorded_ns: int,
    memo: CommitMemo,
) -> CommitReport | None:
    """:func:`commit_outputs` from what ``memo`` knows of both trees: one stat per
    directory and per produced file, work for what changed; None when the trees are not
    as remembered (the caller walks them)."""
    base = str(out_dir)
    spare = sibling(out_dir, SPARE)
    top = str(spare)
    if has_leftovers(base):
        return None
    try:
        if (_top(out_dir), _top(spare)) != memo.tops:
            return None
    except OSError:
        return None
    if not _dirs_as_remembered(base, memo):
        return None
    live = memo.live
    report = CommitReport()
    changed: list[str] = []
    added: list[str] = []
    inodes: dict[str, int] = {}
    lstat = os.lstat
    for rel in sorted(files):
        data = files[rel]
        if rel not in live:
            if rel in memo.live_dirs or any(p in live for p in _parents(rel)):
                return None  # a directory where the file goes, or the reverse
            added.append(rel)
            changed.append(rel)
            continue
        path = f"{base}/{rel}"
        found = lstat(path)
        if not S_ISREG(found.st_mode):
            return None
        stamp = previous.get(rel)
        if _unchanged(path, data, found, stamp, recorded_ns):
            report.unchanged.append(rel)
            inodes[rel] = found.st_ino
            if stamp is None or not stat_matches(stamp, found, recorded_ns):
                stamp = Stamp(found.st_size, found.st_mtime_ns, found.st_ino, content_hash(data))
            report.stamps[rel] = stamp
        else:
            changed.append(rel)
    stale = _stale(live, files, owned, previous)
    if not changed and not stale:
        report.dirs = memo.dirs
        report.memo = memo
        return report
    dropped = set(stale)
    kept = inodes
    kept.update(
        (rel, inode) for rel, inode in live.items() if rel not in files and rel not in dropped
    )
    # directories go only with the files they held
    wanted_dirs = _ancestors([*kept, *changed]) if dropped else memo.live_dirs | _ancestors(added)
    rewritten = set(changed)
    # 1. the spare: remove what the next version does not hold (or holds as another file)
    for rel, inode in memo.spare.items():
        if rel in rewritten or kept.get(rel) != inode:
            os.unlink(f"{top}/{rel}")
    for rel in sorted(memo.spare_dirs - wanted_dirs, key=lambda d: -d.count("/")):
        remove_tree(f"{top}/{rel}")
    for rel in sorted(wanted_dirs - memo.spare_dirs, key=lambda d: d.count("/")):
        os.mkdir(f"{top}/{rel}")
    # 2. link what stays, write what changed
    for rel, inode in kept.items():
        if memo.spare.get(rel) != inode:
            os.link(f"{base}/{rel}", f"{top}/{rel}", follow_symlinks=False)
    _write_changed(top, files, changed, report)
    # 3. swap
    _swap(spare, out_dir)
    report.removed = stale
    report.committed = True
    now = {**kept, **{rel: report.stamps[rel].inode for rel in changed}}
    # a directory's listing changed only where an entry came or went
    moved = [*added, *stale, *(wanted_dirs ^ memo.live_dirs)]
    touched = {rel.rpartition("/")[0] for rel in moved}
    dirs: dict[str, DirStamp] = {}
    for rel in ["", *wanted_dirs]:
        path = f"{base}/{rel}" if rel else base
        mtime = os.lstat(path).st_mtime_ns
        remembered = memo.dirs.get(rel)
        if rel in touched or remembered is None:
            dirs[rel] = DirStamp(mtime, listing_hash(os.listdir(path)))
        else:
            dirs[rel] = DirStamp(mtime, remembered.listing)
    report.dirs = dirs
    report.memo = _memo(out_dir, now, wanted_dirs, live, memo.live_dirs, dirs)
    return report


def check_committed(
    out_dir: Path,
    files: Mapping[str, bytes],
    owned: Iterable[str],
    previous: Mapping[str, Stamp] | None = None,
) -> list[str]:
    """out_dir-relative paths that are missing, different or stale (what a commit would
    change), without writing; for ``--check``."""
    owned = tuple(owned)
    previous = previous or {}
    tree = _walk(out_dir) if out_dir.is_dir() and not out_dir.is_symlink() else _Tree()
    base = str(out_dir)
    differ = [
        rel
        for rel in sorted(files)
        if not _unchanged(f"{base}/{rel}", files[rel], _stat_of(tree.files.get(rel)), None, 0)
    ]
    return differ + _stale([*tree.files, *tree.others], files, owned, previous)
