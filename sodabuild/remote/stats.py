"""Counters of one remote cache's work, for ``--show-cache`` and ``--json``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class RemoteStats:
    """What a remote cache did; updated from worker threads through :meth:`add`.

    ``lookups`` counts action keys asked for (``hits`` + ``misses``); blobs and bytes
    count what crossed the wire successfully; ``verification_failures`` counts blobs and
    entries received that did not match their digest (ignored); ``wait_seconds`` is the
    wall time callers spent inside the cache's methods; ``errors`` counts failures (the
    first disables the cache, so it is 0 or 1 unless a failure raced another).
    """

    lookups: int = 0
    hits: int = 0
    misses: int = 0
    blobs_downloaded: int = 0
    bytes_downloaded: int = 0
    blobs_uploaded: int = 0
    bytes_uploaded: int = 0
    action_results_uploaded: int = 0
    verification_failures: int = 0
    errors: int = 0
    wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        """Add to counters by name, atomically."""
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, float]:
        """The counters as plain data (``wait_seconds`` rounded to milliseconds)."""
        with self._lock:
            data = {f.name: getattr(self, f.name) for f in fields(self) if f.name[0] != "_"}
        data["wait_seconds"] = round(self.wait_seconds, 3)
        return data
