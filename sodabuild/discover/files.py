"""File discovery: the sorted set of a project's source files, from globs and the extension map.

Globs are relative to the project root and support ``**`` (any number of directories),
``*``, ``?`` and ``[...]``. The walk uses ``os.scandir`` and never follows symlinked
directories; excluded directories are pruned as early as a pattern allows. The result is
sorted, so the file system's listing order never reaches an output. It lists regular files
and symlinks to regular files inside the workspace only: special files (FIFOs, devices,
sockets) and symlinks leading outside are reported as ``INPUT_SKIPPED`` warnings.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sodabuild.diagnostics import Diagnostic, Severity
from sodabuild.session.fingerprint import DirStamp, is_commit_dir, listing_hash

#: Directories no project ever wants scanned.
ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".ruff_cache"})


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a POSIX path glob with ``**`` into an anchored regex."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            char = pattern[i]
            if char == "*":
                out.append("[^/]*")
            elif char == "?":
                out.append("[^/]")
            elif char == "[":
                # as in fnmatch: `!` negates, a `]` right after `[` or `[!` is literal
                start = i + 1
                if start < n and pattern[start] == "!":
                    start += 1
                if start < n and pattern[start] == "]":
                    start += 1
                end = pattern.find("]", start)
                if end == -1:
                    out.append(re.escape(char))
                else:
                    body = pattern[i + 1 : end]
                    negate = body.startswith("!")
                    body = body[1:] if negate else body
                    body = body.replace("\\", "\\\\").replace("[", "\\[")
                    if body.startswith("^"):
                        body = "\\" + body
                    # like `*` and `?`, a bracket never matches the separator
                    out.append(f"(?!/)[{'^' if negate else ''}{body}]")
                    i = end
            else:
                out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class Matcher:
    """Include/exclude globs over project-relative POSIX paths."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def included(self, rel: str) -> bool:
        return any(glob_regex(p).match(rel) for p in self.include) and not self.excluded(rel)

    def excluded(self, rel: str) -> bool:
        return any(glob_regex(p).match(rel) for p in self.exclude)

    def prune_dir(self, rel_dir: str) -> bool:
        """True when an exclude covers everything below ``rel_dir`` (``<dir glob>/**``)."""
        return any(
            pattern == "**" or (pattern.endswith("/**") and glob_regex(pattern[:-3]).match(rel_dir))
            for pattern in self.exclude
        )


def discover_files(
    workspace_root: str,
    project_root: str,
    matcher: Matcher,
    suffixes: Iterable[str],
    skip_dirs: Iterable[str] = (),
    dir_stamps: dict[str, DirStamp] | None = None,
    skipped_inputs: list[Diagnostic] | None = None,
) -> list[str]:
    """Workspace-relative POSIX paths of the project's files, sorted.

    ``skip_dirs`` are workspace-relative directories never entered (outputs, cache). When
    ``dir_stamps`` is given, every directory walked is stamped into it (mtime and a hash of
    its listing), so a later no-op check notices added and removed files.

    Only regular files are listed, and symlinks to regular files inside the workspace. A
    matching FIFO, device or socket, or a symlink (to a file or a directory) whose target
    lies outside the workspace, is left out with an ``INPUT_SKIPPED`` warning appended to
    ``skipped_inputs``; the decision is made by ``lstat``/``stat``, never by opening it.
    """
    real_root = os.path.realpath(workspace_root)
    suffix_tuple = tuple(sorted(suffixes))
    skipped = {os.path.normpath(os.path.join(workspace_root, d)) for d in skip_dirs}
    base = os.path.normpath(os.path.join(workspace_root, project_root))
    prefix = "" if project_root in ("", ".") else project_root.rstrip("/") + "/"
    found: list[str] = []
    stack: list[tuple[str, str]] = [(base, "")]
    while stack:
        directory, rel_dir = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        if dir_stamps is not None:
            # what discovery never enters may come and go (outputs, caches) without a change
            here = os.path.normpath(directory)
            ignored = tuple(
                sorted(
                    ALWAYS_SKIPPED
                    | {os.path.basename(s) for s in skipped if os.path.dirname(s) == here}
                )
            )
            try:
                mtime = os.stat(directory).st_mtime_ns
            except OSError:
                mtime = 0
            key = prefix + rel_dir.rstrip("/") if rel_dir else project_root
            dir_stamps[key] = DirStamp(
                mtime, listing_hash([entry.name for entry in entries], ignored), ignored
            )
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            if not _utf8(entry.name):
                if entry.name.endswith(suffix_tuple):
                    shown = os.fsencode(prefix + rel).decode("utf-8", "replace")
                    _skip(skipped_inputs, shown, "a file name that is not UTF-8")
                continue
            if entry.is_dir(follow_symlinks=False):
                if (
                    entry.name in ALWAYS_SKIPPED
                    or os.path.normpath(entry.path) in skipped
                    or is_commit_dir(entry.name)
                    or matcher.prune_dir(rel)
                ):
                    continue
                stack.append((entry.path, rel + "/"))
            elif entry.is_file(follow_symlinks=False):
                if entry.name.endswith(suffix_tuple) and matcher.included(rel):
                    found.append(prefix + rel)
            elif entry.is_symlink():
                _symlink(
                    entry, rel, prefix, real_root, matcher, suffix_tuple, found, skipped_inputs
                )
            elif entry.name.endswith(suffix_tuple) and matcher.included(rel):
                # a FIFO, device or socket: never opened (a FIFO would block the read)
                _skip(skipped_inputs, prefix + rel, _special_kind(entry, follow=False))
    found.sort()
    return found


def _special_kind(entry: os.DirEntry[str], follow: bool) -> str:
    try:
        mode = entry.stat(follow_symlinks=follow).st_mode
    except OSError:
        return "an unreadable file"
    return special_kind(mode)


def special_kind(mode: int) -> str:
    """What a non-regular, non-directory file is, for INPUT_SKIPPED messages."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def inside_root(real: str, real_root: str) -> bool:
    """Whether the real path ``real`` is ``real_root`` or lies below it."""
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def _utf8(name: str) -> bool:
    """Whether a listed name is valid UTF-8 (os.scandir escapes other bytes as surrogates,
    which no output, hash or message could carry)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _skip(skipped_inputs: list[Diagnostic] | None, path: str, what: str) -> None:
    if skipped_inputs is not None:
        skipped_inputs.append(
            Diagnostic(
                "INPUT_SKIPPED",
                f"skipped: {what}",
                path,
                1,
                1,
                hint="sodabuild reads only regular files inside the workspace",
                severity=Severity.WARNING,
            )
        )


def _symlink(
    entry: os.DirEntry[str],
    rel: str,
    prefix: str,
    real_root: str,
    matcher: Matcher,
    suffixes: tuple[str, ...],
    found: list[str],
    skipped_inputs: list[Diagnostic] | None,
) -> None:
    """A symlink met by the walk: a file link inside the workspace is listed; a directory
    link is never followed (a warning if it leads outside); anything else is skipped."""
    try:
        target = os.stat(entry.path)
    except OSError:
        return  # dangling, a loop, or unreadable: nothing to read
    if stat.S_ISDIR(target.st_mode):
        if entry.name in ALWAYS_SKIPPED or matcher.prune_dir(rel):
            return
        if not inside_root(os.path.realpath(entry.path), real_root):
            _skip(skipped_inputs, prefix + rel, "symlink to a path outside the workspace")
        return
    if not (entry.name.endswith(suffixes) and matcher.included(rel)):
        return
    if not inside_root(os.path.realpath(entry.path), real_root):
        _skip(skipped_inputs, prefix + rel, "symlink to a path outside the workspace")
    elif not stat.S_ISREG(target.st_mode):
        _skip(skipped_inputs, prefix + rel, f"symlink to {special_kind(target.st_mode)}")
    else:
        found.append(prefix + rel)
