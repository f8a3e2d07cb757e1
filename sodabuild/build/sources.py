"""The source store of one build: file existence, bytes, stamps and scans, each once.

Files are read at most once per build and parsed only when needed: an entry file that fails
the byte pre-filter is never parsed, a file reached only through an import is parsed when a
fragment argument's resolution walks through it. With a warm state, a file whose stat
matches its stamp is not read at all, and its cached scan and pre-filter answer are reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sodabuild.build.state import CacheCounts, WarmState
from sodabuild.scan import ModuleScan, prefilter, scan_python
from sodabuild.session.fingerprint import Stamp, content_hash, stat_matches


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
            found = os.path.isfile(self.root / rel)
            self._exists[rel] = found
        return found

    def _read(self, rel: str) -> bytes | None:
        if rel in self._data:
            return self._data[rel]
        path = self.root / rel
        try:
            stat = os.stat(path)
            data: bytes | None = path.read_bytes()
        except OSError:
            data = None
        if data is not None:
            self.counts.read += 1
            digest = content_hash(data)
            self.stamps[rel] = Stamp(stat.st_size, stat.st_mtime_ns, stat.st_ino, digest)
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
            try:
                stat = os.stat(self.root / rel)
            except OSError:
                stat = None
            if stat is not None and stat_matches(old, stat, self.warm.recorded_ns):
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

    def has_marker(self, rel: str, marker: bytes) -> bool:
        digest = self.hash(rel)
        if digest is None:
            return False
        text = marker.decode()
        old = self.warm.markers.get(rel) if self.warm else None
        if old is not None and old[0] == digest and old[1] == text:
            self.markers_used[rel] = old
            return old[2]
        data = self._read(rel)
        found = data is not None and prefilter(data, marker)
        self.markers_used[rel] = (digest, text, found)
        return found

    def scan(self, rel: str) -> ModuleScan | None:
        if rel in self._scans:
            return self._scans[rel]
        found: ModuleScan | None = None
        if self.exists(rel):
            digest = self.hash(rel)
            modules = self.gql_modules_for(rel)
            old = self.warm.scans.get(rel) if self.warm else None
            if digest is not None and old is not None and old[0] == digest and old[1] == modules:
                self.cache.hit()
                found = old[2]
            else:
                data = self._read(rel)
                if data is not None and digest is not None:
                    self.cache.miss()
                    self.counts.parsed += 1
                    found = scan_python(rel, data, modules)
            if found is not None and digest is not None:
                self.scans_used[rel] = (digest, modules, found)
        self._scans[rel] = found
        return found

    def scanned(self) -> dict[str, ModuleScan | None]:
        return self._scans

    def release(self) -> None:
        """Drop file bytes (hashes, stamps and scans stay): a kept store stays small."""
        self._data.clear()

    def refresh(self, rel: str) -> bool | None:
        """Read ``rel`` again (a change set names it): True if its content changed, None if
        it cannot be read. Its scan and pre-filter answers are recomputed on next use."""
        old = self.stamps.get(rel)
        for cache in (self._data, self._hash, self._scans):
            cache.pop(rel, None)
        if self._read(rel) is None:
            return None
        changed = old is None or old.hash != self._hash[rel]
        self.file_reasons[rel] = (
            "changed: content differs from the last build"
            if changed
            else "re-read (named by the change set): content unchanged"
        )
        return changed
