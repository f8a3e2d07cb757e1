"""The remote cache interface, and what both protocols share: fail open, bounded, batched.

:class:`RemoteCache` is what the build talks to. Its public methods never raise for a
server's sake: the first failure (connection refused, a deadline, ``UNAVAILABLE``,
``PERMISSION_DENIED``, an HTTP 5xx or 403, a malformed answer) is kept as one
:class:`~sodabuild.remote.errors.RemoteError` (``error``, also handed to ``on_error``)
and from then on every call returns at once, with misses and no-op uploads, so a dead
server costs at most one deadline per call that was in flight. Work is spread over a
pool of ``concurrency`` threads (requests in flight); downloads are verified against
their digests (a mismatch is a miss, counted in ``stats.verification_failures`` and
listed in ``corrupt``); uploads send every blob before any action entry, and an entry
only once every blob it names is on the server.

Subclasses (:mod:`~sodabuild.remote.grpc_cache`, :mod:`~sodabuild.remote.http_cache`)
implement the primitives (``_lookup``, ``_find_missing``, ``_read``, ``_store_blobs``,
``_store_entry``), raising :class:`RemoteError` for a failure.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import ClassVar, TypeVar

from sodabuild.remote.digest import EMPTY, ActionEntry, Digest
from sodabuild.remote.endpoint import Endpoint, parse_endpoint
from sodabuild.remote.errors import RemoteError
from sodabuild.remote.stats import RemoteStats

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
DEFAULT_CONCURRENCY = 8
#: Assumed worst throughput of a live server when a call moves many bytes: the deadline
#: of a call carrying ``n`` bytes is ``timeout + n / MIN_RATE`` seconds.
MIN_RATE = 4_000_000


class _Skipped(Exception):
    """A queued task not run because another task of its call failed."""


class RemoteCache(ABC):
    """A remote action cache and CAS, used by the build (see the module docstring)."""

    #: "grpc" or "http"
    protocol: ClassVar[str]

    def __init__(
        self,
        url: str | Endpoint,
        *,
        instance_name: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        upload: bool = False,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_error: Callable[[RemoteError], None] | None = None,
    ) -> None:
        self.endpoint = url if isinstance(url, Endpoint) else parse_endpoint(url)
        if self.endpoint.protocol != self.protocol:
            raise ValueError(f"{type(self).__name__} does not speak {self.endpoint.scheme}://")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.url = str(self.endpoint)
        self.instance_name = instance_name
        self.timeout = float(timeout)
        self.headers: dict[str, str] = dict(headers or {})
        self.upload_enabled = upload
        self.concurrency = concurrency
        self.stats = RemoteStats()
        #: blobs (and action keys) received that did not match their digest
        self.corrupt: list[Digest] = []
        self._on_error = on_error
        self._error: RemoteError | None = None
        self._uploads_refused = False
        self._closed = False
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._open()

    # -- state ---------------------------------------------------------------------------

    @property
    def error(self) -> RemoteError | None:
        """The failure that disabled this cache (or its uploads), if any."""
        return self._error

    @property
    def available(self) -> bool:
        """Whether calls still reach the server."""
        return not self._closed and (self._error is None or self._uploads_refused)

    def _fail(self, error: RemoteError, *, uploads_only: bool = False) -> None:
        """Record a failure; the first one is kept and reported, and disables the cache
        (or, with ``uploads_only``, only its uploads)."""
        self.stats.add(errors=1)
        with self._lock:
            if self._error is not None and not (self._uploads_refused and not uploads_only):
                return  # reported already (a refused upload that reads now fail is news)
            self._error = error
            self._uploads_refused = uploads_only
        if self._on_error is not None:
            self._on_error(error)

    def _guarded(self, operation: str, work: Callable[[], object], *, upload: bool = False) -> None:
        """Run a public operation's work; a failure is recorded, never raised (while
        uploading, a refusal disables the uploads only)."""
        start = time.perf_counter()
        try:
            work()
        except RemoteError as exc:
            self._fail(exc, uploads_only=upload and exc.refused)
        except Exception as exc:  # a malformed answer, or our own bug: fail open all the same
            self._fail(RemoteError(self.url, operation, f"{type(exc).__name__}: {exc}"))
        finally:
            self.stats.add(wait_seconds=time.perf_counter() - start)

    def _deadline(self, nbytes: int = 0) -> float:
        """Seconds a call moving ``nbytes`` may take."""
        return self.timeout + nbytes / MIN_RATE

    def _parallel(self, task: Callable[[T], object], items: Sequence[T]) -> None:
        """Run ``task`` on every item, ``concurrency`` at a time; the first exception is
        raised once all started tasks are done (tasks not yet started are skipped).
        Never called from a task (the pool could be full of callers waiting)."""
        if not items:
            return
        if len(items) == 1 or self.concurrency == 1:
            for item in items:
                task(item)
            return
        failed = threading.Event()

        def run(item: T) -> None:
            if failed.is_set() or not self.available:
                raise _Skipped
            try:
                task(item)
            except BaseException:
                failed.set()
                raise

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, f"sodabuild-{self.protocol}")
            pool = self._pool
        futures: list[Future[None]] = [pool.submit(run, item) for item in items]
        first: BaseException | None = None
        for future in futures:
            exc = future.exception()
            if exc is not None and not isinstance(exc, _Skipped) and first is None:
                first = exc
        if first is not None:
            raise first

    def _accept(self, digest: Digest, data: bytes, into: dict[Digest, bytes]) -> None:
        """Keep a downloaded blob if it matches its digest; else count and list it."""
        if digest.matches(data):
            into[digest] = data
            self.stats.add(blobs_downloaded=1, bytes_downloaded=len(data))
        else:
            self._corrupt(digest)

    def _corrupt(self, digest: Digest) -> None:
        self.stats.add(verification_failures=1)
        with self._lock:
            self.corrupt.append(digest)

    # -- the interface -------------------------------------------------------------------

    def get_action_results(self, keys: Sequence[Digest]) -> dict[Digest, ActionEntry]:
        """The entries stored under the given action keys; misses are absent.

        An entry the server holds but that is not one of ours (undecodable, digests that
        are not SHA-256, outputs other than files) is a miss and a verification failure.
        """
        unique = list(dict.fromkeys(keys))
        found: dict[Digest, ActionEntry] = {}
        if unique and self.available:

            def lookup(key: Digest) -> None:
                try:
                    entry = self._lookup(key)
                except ValueError:
                    self._corrupt(key)
                    return
                if entry is not None:
                    found[key] = entry

            self._guarded("GetActionResult", lambda: self._parallel(lookup, unique))
        self.stats.add(lookups=len(unique), hits=len(found), misses=len(unique) - len(found))
        return found

    def find_missing(self, digests: Iterable[Digest]) -> set[Digest]:
        """The digests the server does not hold. Unavailable: all of them (but the
        empty blob, which every server holds)."""
        unique = sorted({d for d in digests if d != EMPTY})
        if not unique:
            return set()
        missing: set[Digest] = set(unique)
        if self.available:

            def work() -> None:
                missing.intersection_update(self._find_missing(unique))

            self._guarded("FindMissingBlobs", work)
        return missing

    def read_blobs(self, digests: Iterable[Digest]) -> dict[Digest, bytes]:
        """The blobs the server holds, each verified (SHA-256 and size); misses, and
        blobs that fail verification, are absent."""
        unique = sorted(set(digests))
        found: dict[Digest, bytes] = {}
        if EMPTY in unique:
            unique.remove(EMPTY)
            found[EMPTY] = b""
        if unique and self.available:
            self._guarded("read blobs", lambda: self._read(unique, found))
        return found

    def upload(
        self, blobs: Mapping[Digest, bytes], action_results: Mapping[Digest, ActionEntry]
    ) -> bool:
        """Store blobs the server lacks, then the action entries; True if all was stored.

        Does nothing when uploading is off or the cache is unavailable. An entry naming a
        blob that is neither given here nor on the server is not stored. ``ValueError``
        if a given blob does not match its digest (a caller's bug, never sent).
        """
        if not self.upload_enabled or not self.available or self._uploads_refused:
            return False
        for digest, data in blobs.items():
            if not digest.matches(data):
                raise ValueError(f"blob does not match its digest {digest}")
        given = {d: data for d, data in blobs.items() if d != EMPTY}
        named = {d for entry in action_results.values() for d in entry.blobs()}
        outcome = {"stored": 0}

        def work() -> None:
            absent = set()
            elsewhere = sorted(named - given.keys() - {EMPTY})
            if elsewhere:
                absent = self._find_missing(elsewhere)
            if given:
                self._store_blobs(given)
            entries = [
                (key, entry)
                for key, entry in action_results.items()
                if not (entry.blobs() & absent)
            ]

            def store(item: tuple[Digest, ActionEntry]) -> None:
                self._store_entry(*item)
                self.stats.add(action_results_uploaded=1)
                with self._lock:
                    outcome["stored"] += 1

            self._parallel(store, entries)

        self._guarded("upload", work, upload=True)
        return self._error is None and outcome["stored"] == len(action_results)

    def idle(self) -> None:
        """Stop the worker threads until the next call needs them (connections stay): a
        build forks its validation workers only from a single-threaded process."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Release connections and threads; later calls are misses and no-ops."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._close()

    def __enter__(self) -> RemoteCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, instance_name={self.instance_name!r})"

    # -- the primitives ------------------------------------------------------------------

    @abstractmethod
    def _lookup(self, key: Digest) -> ActionEntry | None:
        """One action cache lookup: the entry, None for a miss; ``ValueError`` if what
        the server holds is not an entry of ours; :class:`RemoteError` on failure."""

    @abstractmethod
    def _find_missing(self, digests: Sequence[Digest]) -> set[Digest]:
        """The digests (non-empty, unique) that the server lacks."""

    @abstractmethod
    def _read(self, digests: Sequence[Digest], into: dict[Digest, bytes]) -> None:
        """Download the blobs (non-empty, unique) into ``into`` through :meth:`_accept`;
        a missing blob is left out."""

    @abstractmethod
    def _store_blobs(self, blobs: Mapping[Digest, bytes]) -> None:
        """Make the server hold these blobs (non-empty, verified); raise on any failure."""

    @abstractmethod
    def _store_entry(self, key: Digest, entry: ActionEntry) -> None:
        """Store one action entry."""

    def _open(self) -> None:  # noqa: B027 (an optional hook)
        """Set up the protocol's client (called last by ``__init__``; connects lazily)."""

    def _close(self) -> None:  # noqa: B027 (an optional hook)
        """Release the protocol's connections."""
