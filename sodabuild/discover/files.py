"""File discovery: the sorted set of a project's source files, from globs and the extension map.

Globs are relative to the project root and support ``**`` (any number of directories),
``*``, ``?`` and ``[...]``. The walk uses ``os.scandir`` and never follows symlinked
directories; excluded directories are pruned as early as a pattern allows. The result is
sorted, so the file system's listing order never reaches an output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sodabuild.session.fingerprint import DirStamp, listing_hash

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
) -> list[str]:
    """Workspace-relative POSIX paths of the project's files, sorted.

    ``skip_dirs`` are workspace-relative directories never entered (outputs, cache). When
    ``dir_stamps`` is given, every directory walked is stamped into it (mtime and a hash of
    its listing), so a later no-op check notices added and removed files.
    """
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
            if entry.is_dir(follow_symlinks=False):
                if (
                    entry.name in ALWAYS_SKIPPED
                    or os.path.normpath(entry.path) in skipped
                    or matcher.prune_dir(rel)
                ):
                    continue
                stack.append((entry.path, rel + "/"))
            elif entry.name.endswith(suffix_tuple) and matcher.included(rel):
                found.append(prefix + rel)
    found.sort()
    return found
