"""Commit a project's outputs as a whole: stage a complete new out_dir, then swap it in.

A build never writes into a live out_dir. It builds the complete next version of the
directory beside it (``.<name>.sodabuild-next``): changed and new files are written there,
everything else that stays (unchanged outputs, files sodabuild does not own) is hard-linked
from the current directory, so unchanged files keep their inode and mtime. The staged
directory then replaces the live one in one step:

* Linux: ``renameat2(RENAME_EXCHANGE)`` swaps the two directory entries atomically; a
  reader that opens ``out_dir/...`` sees the complete old set or the complete new set.
  The old set, now under the staging name, is then deleted.
* elsewhere (or a file system without exchange): the live directory is renamed to
  ``.<name>.sodabuild-prev`` and the staged one renamed into place. Between the two
  renames ``out_dir`` is briefly absent, never mixed.

A kill at any point leaves the live directory complete (old or new) plus, at most, one
staging or previous directory; :func:`recover` (run before every commit) puts a
``-prev`` back when the live directory is missing and deletes leftovers. Nothing is ever
written or deleted through a symlink: the out_dir path may not contain one, the walk of
the old directory does not follow them, and deletion (``shutil.rmtree``) unlinks links
instead of descending into them.

Files are created with ``open()`` and therefore honour the umask, like any other tool's.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import shutil
import stat
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sodabuild.session.fingerprint import Stamp, content_hash, stat_matches

STAGING = ".sodabuild-next"
PREVIOUS = ".sodabuild-prev"
OLD = ".sodabuild-old."
#: Temp files of the writer before out_dirs were committed whole (``.name.XXXXXXXX.tmp``).
_LEGACY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")

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
    #: The out_dir's directories as they now are ("" is the out_dir itself).
    dirs: list[str] = field(default_factory=list)


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


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def remove_tree(path: Path) -> None:
    """Delete ``path`` without following symlinks (a link is unlinked, not descended)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


#: Old versions being deleted by this process's background threads.
_discarding: dict[str, threading.Thread] = {}
_discard_count = itertools.count()


def _discard(path: Path) -> None:
    """Delete an old version in the background: rename it to a unique ``-old`` name (so a
    later commit never meets it) and ``rmtree`` it on a thread. Freeing thousands of
    directory entries can take far longer than the commit; a kill leaves a ``-old``
    directory that the next :func:`recover` deletes."""
    trash = (
        path.parent
        / f"{path.name.removesuffix(STAGING).removesuffix(PREVIOUS)}{OLD}{os.getpid()}.{next(_discard_count)}"
    )
    os.rename(path, trash)
    thread = threading.Thread(target=remove_tree, args=(trash,), daemon=True)
    _discarding[str(trash)] = thread
    thread.start()


def wait_for_discards() -> None:
    """Join the background deletions of old versions (before the process exits)."""
    while _discarding:
        _, thread = _discarding.popitem()
        thread.join()


def is_commit_dir(name: str) -> bool:
    """A commit's staging, previous or old version beside an out_dir (never a source)."""
    return name.startswith(".") and (name.endswith((STAGING, PREVIOUS)) or OLD in name)


def has_leftovers(out_dir: str) -> bool:
    """Whether a killed commit left a staging, previous or old version beside ``out_dir``
    (stdlib only: the no-op check asks, and a build must then run to recover)."""
    parent, name = os.path.split(out_dir)
    prefix = f".{name}."
    try:
        with os.scandir(parent or ".") as entries:
            return any(
                e.name.startswith(prefix)
                and (e.name.endswith((STAGING, PREVIOUS)) or e.name.startswith(f".{name}{OLD}"))
                for e in entries
            )
    except OSError:
        return False


def recover(out_dir: Path) -> None:
    """Finish or undo what a killed commit left beside ``out_dir``."""
    previous = sibling(out_dir, PREVIOUS)
    if _exists(previous):
        if not _exists(out_dir) and os.path.isdir(previous) and not os.path.islink(previous):
            os.rename(previous, out_dir)  # killed between the two renames: the old set
        else:
            remove_tree(previous)
    remove_tree(sibling(out_dir, STAGING))
    prefix = f".{out_dir.name}{OLD}"
    with contextlib.suppress(FileNotFoundError), os.scandir(out_dir.parent) as entries:
        leftovers = [e.path for e in entries if e.name.startswith(prefix)]
    for leftover in leftovers:
        thread = _discarding.get(leftover)
        if thread is None or not thread.is_alive():
            remove_tree(Path(leftover))


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directory entries; False when the platform cannot."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
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
    """What the live out_dir holds: regular files and other non-directories (links,
    sockets...), by out_dir-relative POSIX path; directories separately."""

    files: dict[str, os.stat_result] = field(default_factory=dict)
    others: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)


def _walk(out_dir: Path) -> _Tree:
    tree = _Tree()
    stack = [("", str(out_dir))]
    while stack:
        prefix, directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                tree.dirs.add(rel)
                stack.append((rel + "/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                tree.files[rel] = entry.stat(follow_symlinks=False)
            else:
                tree.others.add(rel)
    return tree


def _parents(rel: str) -> Iterable[str]:
    parts = rel.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


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


def _owned(rel: str, chunk_dirs: Iterable[str]) -> bool:
    """A chunk file (``*.json`` under a chunk dir) belongs to sodabuild whoever wrote it."""
    return rel.endswith(".json") and any(rel.startswith(d + "/") for d in chunk_dirs)


def commit_outputs(
    root: Path,
    out_dir: Path,
    files: Mapping[str, bytes],
    chunk_dirs: Iterable[str],
    previous: Mapping[str, Stamp] | None = None,
    recorded_ns: int = 0,
) -> CommitReport:
    """Make ``out_dir`` hold exactly ``files`` (out_dir-relative) plus the files it holds
    that sodabuild does not own, as one atomic step; nothing happens when it already does.

    Stale outputs are those the last build wrote (``previous``, its stamps taken at
    ``recorded_ns``) that are not produced now, and any ``*.json`` under a chunk dir that is
    not produced now.
    """
    check_out_dir(root, out_dir)
    recover(out_dir)
    chunk_dirs = tuple(chunk_dirs)
    previous = previous or {}
    tree = _walk(out_dir)
    report = CommitReport()
    base = str(out_dir)
    changed: list[str] = []
    for rel in sorted(files):
        found = tree.files.get(rel)
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
    produced_dirs = {parent for rel in files for parent in _parents(rel)}
    live = [*tree.files, *tree.others]
    stale = sorted(
        rel
        for rel in live
        if rel not in files
        and (
            rel in previous or _owned(rel, chunk_dirs) or _LEGACY_TEMP.match(rel.rsplit("/", 1)[-1])
        )
    )
    # an entry in the way of a produced path (a file where a directory must be, or the
    # reverse) is replaced; it is not reported as removed output
    blocked = {
        rel
        for rel in live
        if rel not in files and (rel in produced_dirs or any(p in files for p in _parents(rel)))
    }
    if not changed and not stale and not blocked:
        report.dirs = ["", *sorted(tree.dirs)] if _exists(out_dir) else []
        return report
    staging = sibling(out_dir, STAGING)
    out_dir.parent.mkdir(parents=True, exist_ok=True)  # checked: no symlink on the way
    os.mkdir(staging)
    made: set[str] = set()

    def parent_of(rel: str) -> str:
        for parent in _parents(rel):
            if parent not in made:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(f"{staging}/{parent}")
                made.add(parent)
        return f"{staging}/{rel}"

    for rel in changed:
        target = parent_of(rel)
        with open(target, "xb") as handle:
            handle.write(files[rel])
            handle.flush()
            info = os.fstat(handle.fileno())
        report.written.append(rel)
        report.stamps[rel] = Stamp(
            info.st_size, info.st_mtime_ns, info.st_ino, content_hash(files[rel])
        )
    dropped = set(stale) | blocked
    for rel in [*report.unchanged, *(r for r in live if r not in files and r not in dropped)]:
        source = f"{base}/{rel}"
        target = parent_of(rel)
        try:
            os.link(source, target, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copy2(source, target, follow_symlinks=False)
            if rel in report.stamps:
                info = os.lstat(target)
                old = report.stamps[rel]
                report.stamps[rel] = Stamp(info.st_size, info.st_mtime_ns, info.st_ino, old.hash)
    if _exists(out_dir):
        if _exchange(staging, out_dir):
            _discard(staging)
        else:
            previous_dir = sibling(out_dir, PREVIOUS)
            os.rename(out_dir, previous_dir)
            os.rename(staging, out_dir)
            _discard(previous_dir)
    else:
        os.rename(staging, out_dir)
    report.removed = stale
    report.committed = True
    report.dirs = ["", *sorted(made)]
    return report


def check_committed(
    out_dir: Path,
    files: Mapping[str, bytes],
    chunk_dirs: Iterable[str],
    previous: Mapping[str, Stamp] | None = None,
) -> list[str]:
    """out_dir-relative paths that are missing, different or stale (what a commit would
    change), without writing; for ``--check``."""
    chunk_dirs = tuple(chunk_dirs)
    previous = previous or {}
    tree = _walk(out_dir) if out_dir.is_dir() and not out_dir.is_symlink() else _Tree()
    base = str(out_dir)
    differ = [
        rel
        for rel in sorted(files)
        if not _unchanged(f"{base}/{rel}", files[rel], tree.files.get(rel), None, 0)
    ]
    stale = sorted(
        rel
        for rel in [*tree.files, *tree.others]
        if rel not in files and (rel in previous or _owned(rel, chunk_dirs))
    )
    return differ + stale
