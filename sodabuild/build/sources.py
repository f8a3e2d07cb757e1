"""The source store of one build: file existence, bytes and scans, each computed once.

Files are read at most once per build and parsed only when needed: an entry file that fails
the byte pre-filter is never parsed, a file reached only through an import is parsed when a
fragment argument's resolution walks through it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sodabuild.scan import ModuleScan, scan_python


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
    counts: SourceCounts = field(default_factory=SourceCounts)
    _known: set[str] = field(default_factory=set)
    _exists: dict[str, bool] = field(default_factory=dict)
    _data: dict[str, bytes | None] = field(default_factory=dict)
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
            found = os.path.isfile(self.root / rel)
            self._exists[rel] = found
        return found

    def data(self, rel: str) -> bytes | None:
        if rel in self._data:
            return self._data[rel]
        try:
            data: bytes | None = (self.root / rel).read_bytes()
            self.counts.read += 1
        except OSError:
            data = None
        self._data[rel] = data
        return data

    def scan(self, rel: str) -> ModuleScan | None:
        if rel in self._scans:
            return self._scans[rel]
        data = self.data(rel) if self.exists(rel) else None
        found = None if data is None else scan_python(rel, data, self.gql_modules_for(rel))
        if found is not None:
            self.counts.parsed += 1
        self._scans[rel] = found
        return found

    def scanned(self) -> dict[str, ModuleScan | None]:
        return self._scans
