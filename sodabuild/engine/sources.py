"""The source store of one build: file existence, bytes, stamps and scans, each once.

Files are read at most once per build and parsed only when needed: an entry file that fails
the byte pre-filter is never parsed, a file reached only through an import is parsed when a
fragment argument's resolution walks through it. With a warm state, a file whose stat
matches its stamp is not read at all, and its cached scan and pre-filter answer are reused.

Only regular files inside the workspace are read or said to exist: a path through a symlink
(of the file or of a directory on its way) that leads outside, a FIFO, a device or a socket
is absent, decided by ``stat`` before any open. A file over ``max_bytes`` is never read; its
scan carries an ``INPUT_TOO_LARGE`` error (``problems``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sodabuild.diagnostics import Diagnostic
from sodabuild.discover.files import inside_root
from sodabuild.engine.state import CacheCounts, WarmState
from sodabuild.scan import ModuleScan, prefilter
from sodabuild.scan.registry import SCANNERS
from sodabuild.session.fingerprint import Stamp, content_hash, stat_matches

#: Default largest input file read (``[workspace] max_file_bytes``).
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass
class SourceCounts:
    seen: int = 0
    read: int = 0
    parsed: int = 0


@dataclass
class SourceStore:
    root: Path
    #: gql modules that apply to a file (its owning project's plugin option).
    gql_modules_for: Callable[[str], tuple[str, ...]]
    #: The scanner that reads a file ("python" or "graphql", by the extension map).
    scanner_for: Callable[[str], str] = field(default=lambda rel: "python")
    warm: WarmState | None = None
    cache: CacheCounts = field(default_factory=CacheCounts)
    counts: SourceCounts = field(default_factory=SourceCounts)
    #: Stamps of every file this build depended on (read, or proven unchanged by stat).
    stamps: dict[str, Stamp] = field(default_factory=dict)
    #: Directories in which existence was probed (module resolution).
    probed_dirs: set[str] = field(default_factory=set)
    scans_used: dict[str, tuple[str, tuple[str, ...], ModuleScan]] = field(default_factory=dict)
    #: What happened to each file this build, for ``explain``.
    file_reasons: dict[str, str] = field(default_factory=dict)
    markers_used: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    _known: set[str] = field(default_factory=set)
    _exists: dict[str, bool] = field(default_factory=dict)
    _data: dict[str, bytes | None] = field(default_factory=dict)
    _hash: dict[str, str | None] = field(default_factory=dict)
    _scans: dict[str, ModuleScan | None] = field(default_factory=dict)
    #: Largest file read; a larger one is an INPUT_TOO_LARGE error, never read.
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: Files that are not read, and why: too large (an error reported through its scan).
    problems: dict[str, Diagnostic] = field(default_factory=dict)
    _real_dirs: dict[str, str] = field(default_factory=dict)
    _real_root: str = ""

    def _safe_path(self, rel: str) -> str | None:
        """The path to open for ``rel``, or None when it would leave the workspace: a
        symlink (of the file or of a directory on its way) whose target lies outside."""
        if not self._real_root:
            self._real_root = os.path.realpath(self.root)
        path = os.path.join(self.root, rel)
        directory = os.path.dirname(path)
        real_dir = self._real_dirs.get(directory)
        if real_dir is None:
            real_dir = self._real_dirs[directory] = os.path.realpath(directory)
        if not inside_root(real_dir, self._real_root):
            return None
        if os.path.islink(path) and not inside_root(os.path.realpath(path), self._real_root):
            return None
        return path

    def _regular(self, rel: str) -> tuple[str, os.stat_result] | None:
        """The path and stat of ``rel`` when it is a regular file inside the workspace."""
        path = self._safe_path(rel)
        if path is None:
            return None
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return None
        return (path, info) if stat.S_ISREG(info.st_mode) else None

    def _too_large(self, rel: str, size: int) -> bool:
        if size <= self.max_bytes:
            return False
        self.problems[rel] = Diagnostic(
            "INPUT_TOO_LARGE",
            f"file is {size} bytes, larger than the limit of {self.max_bytes}: not read",
            rel,
            1,
            1,
            hint="exclude it from the project, or raise [workspace] max_file_bytes",
        )
        return True

    def add_known(self, paths: list[str]) -> None:
        """Files discovery listed: they exist, no stat needed."""
        self._known.update(paths)
        self.counts.seen += len(paths)

    def exists(self, rel: str) -> bool:
        if rel in self._known:
            return True
        found = self._exists.get(rel)
        if found is None:
            self.probed_dirs.add(os.path.dirname(rel))
            found = self._regular(rel) is not None
            self._exists[rel] = found
        return found

    def _read(self, rel: str) -> bytes | None:
        if rel in self._data:
            return self._data[rel]
        data: bytes | None = None
        # decided by stat before any open: only regular files inside the workspace, at most
        # max_bytes of them (a FIFO is never opened, a device never read whole)
        found = self._regular(rel)
        if found is not None and not self._too_large(rel, found[1].st_size):
            try:
                fd = os.open(found[0], os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            except (OSError, ValueError):
                fd = -1
            if fd >= 0:
                with os.fdopen(fd, "rb") as handle:
                    info = os.fstat(handle.fileno())
                    if stat.S_ISREG(info.st_mode) and not self._too_large(rel, info.st_size):
                        try:
                            data = handle.read(self.max_bytes + 1)
                        except OSError:
                            data = None
                        if data is not None and self._too_large(rel, len(data)):
                            data = None
        if data is not None:
            self.counts.read += 1
            digest = content_hash(data)
            self.stamps[rel] = Stamp(info.st_size, info.st_mtime_ns, info.st_ino, digest)
            self._hash[rel] = digest
        else:
            self._hash[rel] = None
        self._data[rel] = data
        return data

    def hash(self, rel: str) -> str | None:
        """The content hash, from the stamp when the stat proves the file unchanged."""
        if rel in self._hash:
            return self._hash[rel]
        old = self.warm.files.get(rel) if self.warm else None
        if old is not None and self.warm is not None:
            found = self._regular(rel)
            current = found[1] if found is not None else None
            if current is not None and self._too_large(rel, current.st_size):
                current = None
            if current is not None and stat_matches(old, current, self.warm.recorded_ns):
                self.cache.skips += 1
                self.stamps[rel] = old
                self._hash[rel] = old.hash
                self.file_reasons[rel] = "unchanged (stat matches its stamp: not read)"
                return old.hash
        self._read(rel)
        digest = self._hash[rel]
        if old is None:
            self.file_reasons[rel] = "read: not in the cache"
        elif digest == old.hash:
            self.file_reasons[rel] = "re-read (stat changed or racy): content unchanged"
        else:
            self.file_reasons[rel] = "changed: content differs from the cache"
        return digest

    def data(self, rel: str) -> bytes | None:
        return self._read(rel)

    def has_marker(self, rel: str, markers: tuple[bytes, ...]) -> bool:
        """Whether the file holds one of ``markers`` (remembered per content hash)."""
        digest = self.hash(rel)
        if digest is None:
            # a file too large to read is scanned anyway: its scan carries the error
            return rel in self.problems
        text = "|".join(marker.decode() for marker in markers)
        old = self.warm.markers.get(rel) if self.warm else None
        if old is not None and old[0] == digest and old[1] == text:
            self.markers_used[rel] = old
            return old[2]
        data = self._read(rel)
        found = data is not None and any(prefilter(data, marker) for marker in markers)
        self.markers_used[rel] = (digest, text, found)
        return found

    def scan(self, rel: str) -> ModuleScan | None:
        if rel in self._scans:
            return self._scans[rel]
        found: ModuleScan | None = None
        if self.exists(rel):
            digest = self.hash(rel)
            problem = self.problems.get(rel)
            if problem is not None:
                # too large: the file is part of the build but unreadable; say so once
                found = ModuleScan(rel, diagnostics=(problem,), parsed=False)
                self._scans[rel] = found
                return found
            scanner = self.scanner_for(rel)
            modules = self.gql_modules_for(rel) if scanner == "python" else (f"@{scanner}",)
            old = self.warm.scans.get(rel) if self.warm else None
            if digest is not None and old is not None and old[0] == digest and old[1] == modules:
                self.cache.hit()
                found = old[2]
            else:
                data = self._read(rel)
                if data is not None and digest is not None:
                    self.cache.miss()
                    self.counts.parsed += 1
                    found = SCANNERS[scanner].scan(rel, data, modules)
            if found is not None and digest is not None:
                self.scans_used[rel] = (digest, modules, found)
        self._scans[rel] = found
        return found

    def scanned(self) -> dict[str, ModuleScan | None]:
        return self._scans

    def release(self) -> None:
        """Drop file bytes (hashes, stamps and scans stay): a kept store stays small."""
        self._data.clear()
        self._real_dirs.clear()  # a directory may become a symlink before the next use

    def refresh(self, rel: str) -> bool | None:
        """Read ``rel`` again (a change set names it): True if its content changed, None if
        it cannot be read. Its scan and pre-filter answers are recomputed on next use."""
        old = self.stamps.get(rel)
        for cache in (self._data, self._hash, self._scans, self._exists, self.problems):
            cache.pop(rel, None)
        self._real_dirs.pop(os.path.dirname(os.path.join(self.root, rel)), None)
        if self._read(rel) is None:
            return None
        changed = old is None or old.hash != self._hash[rel]
        self.file_reasons[rel] = (
            "changed: content differs from the last build"
            if changed
            else "re-read (named by the change set): content unchanged"
        )
        return changed
