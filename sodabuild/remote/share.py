"""What a build shares through a remote cache: the portable part of the warm state.

A build's costly results are already keyed by their exact inputs in the warm state
(``engine/state.py``): scans by (path, content hash, gql modules), pre-filter answers by
(path, content hash, marker), compositions by a digest of the definition's source and its
fragments', validation outcomes by (document hash, schema hash). Such an entry can never
be used for inputs it was not computed from, so entries made on another machine are as
safe as local ones: a wrong or stale entry only misses.

Granularity (the server's cost decides: BuildGrid answers ~1,500-2,000 ActionCache lookups
a second on 2 cores, so 10k per-module lookups would take seconds):

* one **project entry** per project, keyed by a SHA-256 of the project's context (the
  sodabuild and state versions, the project's resolved config, its rules, the Python
  version) and of every discovered input with its content hash: a fresh checkout of a
  commit CI built finds it with one lookup, and fetches the blobs it names in batches;
* one **package entry** per source directory of the project, keyed by the same context
  and the directory's inputs: asked for (batched, concurrent) only when the project entry
  misses, so a small edit still reuses every other package.

An entry's blobs are a ``shards/<dir>`` blob per directory (its modules' scans, pre-filter
answers and compositions) and one ``common`` blob (validation outcomes, schema verdicts and
their warnings). Blobs are pickles read with an allow-list unpickler (only sodabuild's own
data classes and plain containers; a blob can build data, never run code), after the
client verified each against its SHA-256. Whatever is fetched goes into the warm state the
build starts from; what the build then computes is what it would compute anyway.

The lookups happen only when the local state lacks most of a project's inputs (a fresh
checkout, a wiped cache): an incremental build is never slowed down by the network.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sodabuild import __version__
from sodabuild.engine.state import STATE_VERSION, WarmState
from sodabuild.remote.cache import RemoteCache
from sodabuild.remote.digest import ActionEntry, Digest

#: Fetch only when at least this share of a project's inputs is unknown to the local state.
FETCH_WHEN_UNKNOWN = 0.5
#: Package keys asked for first when the project entry misses (see _package_entries).
PROBE = 16
COMMON = "common"
SHARD = "shards/"


class _Unpickler(pickle.Unpickler):
    """Builds only sodabuild's data classes and plain containers (never a function call
    beyond a class's own reconstruction)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in ("set", "frozenset", "slice"):
            return getattr(__import__("builtins"), name)
        if module == "sodabuild.pickling" and name == "_rebuild":
            from sodabuild.pickling import _rebuild

            return _rebuild
        if module.startswith("sodabuild.") and "." not in name:
            import importlib

            found = getattr(importlib.import_module(module), name, None)
            if isinstance(found, type) and found.__module__ == module and _plain_data(found):
                return found
        raise pickle.UnpicklingError(f"a shared cache blob names {module}.{name}: refused")


def _plain_data(cls: type) -> bool:
    """A data class, named tuple or enum: building one runs no code of consequence."""
    import dataclasses
    import enum

    return (
        dataclasses.is_dataclass(cls)
        or (issubclass(cls, tuple) and hasattr(cls, "_fields"))
        or issubclass(cls, enum.Enum)
    )


def loads(data: bytes) -> Any:
    """A shared blob's value (see :class:`_Unpickler`)."""
    return _Unpickler(io.BytesIO(data)).load()


def _package(path: str) -> str:
    return path.rpartition("/")[0]


@dataclass
class ShareReport:
    """What sharing did in one build (``--json``: ``cache.remote``)."""

    entries_used: int = 0
    uploaded_entries: int = 0
    projects_fetched: list[str] = field(default_factory=list)
    seconds: float = 0.0


class RemoteShare:
    """Fetch before a project is scanned, upload after a full build (one per build)."""

    def __init__(self, cache: RemoteCache, upload: bool) -> None:
        self.cache = cache
        self.upload_enabled = upload
        self.report = ShareReport()
        #: Project keys the server already holds (a hit this build), and the package
        #: entries found: an upload does not send them again.
        self.stored: set[Digest] = set()
        self.packages: dict[Digest, ActionEntry] = {}

    # -- keys --------------------------------------------------------------------------------

    @staticmethod
    def context(project_config: str, rules: str) -> str:
        """What a project's entries depend on besides its inputs' contents."""
        return "\x1f".join(
            (
                "sodabuild-remote-1",
                __version__,
                str(STATE_VERSION),
                platform.python_version(),
                project_config,
                rules,
            )
        )

    @staticmethod
    def _key(context: str, kind: str, inputs: Iterable[tuple[str, str]]) -> Digest:
        h = hashlib.sha256(context.encode())
        h.update(b"\x1e" + kind.encode())
        for path, digest in inputs:
            h.update(b"\x1e" + path.encode("utf-8", "surrogateescape") + b"\x1f" + digest.encode())
        data = h.hexdigest()
        return Digest(data, 0)  # an action key: only its hash is sent

    @classmethod
    def keys(cls, context: str, inputs: Mapping[str, str]) -> tuple[Digest, dict[str, Digest]]:
        """The project key and each package's key, from (path -> content hash)."""
        ordered = sorted(inputs.items())
        packages: dict[str, list[tuple[str, str]]] = {}
        for path, digest in ordered:
            packages.setdefault(_package(path), []).append((path, digest))
        project = cls._key(context, "project", ordered)
        return project, {
            directory: cls._key(context, f"package:{directory}", files)
            for directory, files in packages.items()
        }

    # -- fetch -------------------------------------------------------------------------------

    def wanted(self, paths: list[str], warm: WarmState) -> bool:
        """Whether the local state lacks enough of these inputs to make a lookup pay."""
        if not paths:
            return False
        unknown = sum(1 for path in paths if path not in warm.scans)
        return unknown >= FETCH_WHEN_UNKNOWN * len(paths)

    def fetch(self, name: str, context: str, inputs: Mapping[str, str], warm: WarmState) -> None:
        """Merge what the remote cache holds for these inputs into ``warm``."""
        if not self.cache.available:
            return
        started = time.perf_counter()
        try:
            project, packages = self.keys(context, inputs)
            found = self.cache.get_action_results([project])
            entries = [found[project]] if project in found else []
            if entries:
                self.stored.add(project)
            else:
                entries = self._package_entries(list(packages.values()))
            if not entries:
                return
            wanted = set().union(*(entry.blobs() for entry in entries))
            blobs = self.cache.read_blobs(wanted)
            for entry in entries:
                if not entry.blobs() <= blobs.keys():
                    continue  # a blob missing or corrupt: the whole entry is left out
                try:
                    for path, digest in sorted(entry.files.items()):
                        _merge(warm, path, loads(blobs[digest]), inputs)
                except (pickle.UnpicklingError, ValueError, TypeError, EOFError, AttributeError):
                    self.cache.stats.add(verification_failures=1)
                    continue
                self.report.entries_used += 1
            self.report.projects_fetched.append(name)
        finally:
            self.cache.idle()
            self.report.seconds += time.perf_counter() - started

    def _package_entries(self, keys: list[Digest]) -> list[ActionEntry]:
        """The package entries found; a probe of a few first, so that a project the
        server knows nothing of (a first upload, another branch) costs a few lookups, not
        one per package."""
        step = max(1, len(keys) // PROBE)
        probe = keys[::step][:PROBE]  # spread over the project
        asked = set(probe)
        rest = [key for key in keys if key not in asked]
        found = self.cache.get_action_results(probe)
        if found and rest:
            found.update(self.cache.get_action_results(rest))
        self.packages.update(found)
        return [found[key] for key in keys if key in found]

    # -- upload ------------------------------------------------------------------------------

    def upload(self, context: str, inputs: Mapping[str, str], state: WarmState) -> None:
        """Store the project's and its packages' entries (blobs first)."""
        if not self.upload_enabled or not self.cache.available or not inputs:
            return
        started = time.perf_counter()
        try:
            project, packages = self.keys(context, inputs)
            if project in self.stored:
                return  # the server holds this very project entry
            # packages whose entry the server holds keep it (and its shard)
            held = {d: self.packages[k] for d, k in packages.items() if k in self.packages}
            shards = _shards({p: h for p, h in inputs.items() if _package(p) not in held}, state)
            common = dumps(
                (
                    "common",
                    sorted(state.validated),
                    sorted(state.validated_schemas),
                    sorted(state.schema_warnings.items()),
                )
            )
            blobs: dict[Digest, bytes] = {Digest.of(common): common}
            names: dict[str, Digest] = {}
            for directory, data in shards.items():
                digest = Digest.of(data)
                blobs[digest] = data
                names[directory] = digest
            common_digest = Digest.of(common)
            entries: dict[Digest, ActionEntry] = {
                key: ActionEntry({f"{SHARD}{directory}": names[directory], COMMON: common_digest})
                for directory, key in packages.items()
                if directory in names
            }
            for directory, entry in held.items():
                shard = entry.files.get(f"{SHARD}{directory}")
                if shard is not None:
                    names[directory] = shard
            entries[project] = ActionEntry(
                {**{f"{SHARD}{d}": digest for d, digest in names.items()}, COMMON: common_digest}
            )
            if self.cache.upload(blobs, entries):
                self.report.uploaded_entries += len(entries)
        finally:
            self.report.seconds += time.perf_counter() - started

    def summary(self) -> dict[str, Any]:
        stats = self.cache.stats.as_dict()
        error = self.cache.error
        return {
            "url": self.cache.url,
            "protocol": self.cache.protocol,
            **stats,
            "seconds": round(self.report.seconds, 3),
            "entries_used": self.report.entries_used,
            "uploaded_entries": self.report.uploaded_entries,
            "error": str(error) if error is not None else None,
        }


def dumps(value: Any) -> bytes:
    """A blob's bytes: the same for equal values whichever objects hold them (no memo:
    pickle's memo records which equal strings happen to be one object), so that an upload
    of an unchanged result names blobs the server holds already."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True  # no memo (the values are trees: no cycles)
    pickler.dump(value)
    return buffer.getvalue()


def _shards(inputs: Mapping[str, str], state: WarmState) -> dict[str, bytes]:
    """Per directory, the pickled warm-state entries of its modules (current ones only)."""
    by_dir: dict[str, dict[str, Any]] = {}
    for path, digest in inputs.items():
        shard = by_dir.setdefault(_package(path), {"scans": {}, "markers": {}, "composed": {}})
        scan = state.scans.get(path)
        if scan is not None and scan[0] == digest:
            shard["scans"][path] = scan
        marker = state.markers.get(path)
        if marker is not None and marker[0] == digest:
            shard["markers"][path] = marker
    for ref, entry in state.composed.items():
        if ref.path in inputs:
            by_dir[_package(ref.path)]["composed"][ref] = entry
    return {
        directory: dumps(
            (
                "shard",
                sorted(shard["scans"].items()),
                sorted(shard["markers"].items()),
                sorted(shard["composed"].items(), key=lambda item: (item[0].path, item[0].name)),
            )
        )
        for directory, shard in sorted(by_dir.items())
    }


def _merge(warm: WarmState, name: str, value: Any, inputs: Mapping[str, str]) -> None:
    """One fetched blob into ``warm``: local entries win, except a scan or pre-filter
    answer for other contents than the file now has."""
    if not isinstance(value, tuple) or not value:
        raise ValueError("not a shared cache blob")
    kind = value[0]
    if kind == "shard" and name.startswith(SHARD):
        _, scans, markers, composed = value
        for path, scan in scans:
            old = warm.scans.get(path)
            if old is None or (old[0] != inputs.get(path) and scan[0] == inputs.get(path)):
                warm.scans[path] = scan
        for path, marker in markers:
            old_marker = warm.markers.get(path)
            if old_marker is None or (
                old_marker[0] != inputs.get(path) and marker[0] == inputs.get(path)
            ):
                warm.markers[path] = marker
        for ref, entry in composed:
            warm.composed.setdefault(ref, entry)
    elif kind == "common" and name == COMMON:
        _, validated, schemas, warnings = value
        warm.validated.update(validated)
        warm.validated_schemas.update(schemas)
        for identity, found in warnings:
            warm.schema_warnings.setdefault(identity, found)
    else:
        raise ValueError(f"unexpected shared cache blob {name!r}")


def open_share(
    settings: Any, upload: bool | None, on_error: Callable[[Any], None]
) -> RemoteShare | None:
    """The share for the workspace's remote cache settings (None: none configured)."""
    if settings is None:
        return None
    from sodabuild.remote import open_remote_cache

    cache = open_remote_cache(settings, upload=upload, on_error=on_error)
    return RemoteShare(cache, cache.upload_enabled)
