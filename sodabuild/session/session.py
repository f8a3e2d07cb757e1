"""``BuilderSession``: a long-lived build that redoes only what a change affects.

    session = BuilderSession(Path("sodabuild.toml"))
    session.load()                       # config, rules, and the persistent cache if any
    result = session.update()            # stat pass finds the changes
    result = session.update(ChangeSet(modified={"app/users/queries.py"}))
    session.dispose()                    # saves the cache

Warm state (scans, compositions, validation results, stamps, last outputs) lives in a
:class:`~sodabuild.engine.state.WarmState`; every entry is keyed by its inputs, so reuse is
always safe and a changed config slice, rule, schema or plugin option reaches exactly the
results that read it. The state persists in the cache directory (``state.bin``, plus the
small ``session.bin`` the no-op fast path reads), so a new process starts warm.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sodabuild.config.model import ResolvedWorkspace
from sodabuild.diagnostics import Diagnostic, Severity
from sodabuild.engine.state import STATE_VERSION, SessionMemory, WarmState
from sodabuild.session.fastpath import SESSION_FILE, STATE_FILE, plain_stamps
from sodabuild.session.fingerprint import (
    ABSENT,
    DirStamp,
    Stamp,
    dir_stamp,
    read_stamped,
)
from sodabuild.session.store import (
    LOCK_FILE,
    CacheKeyError,
    cache_key,
    check_cache_file,
    check_file,
    is_temp_file,
    read_cache_file,
    write_cache_file,
)


@dataclass(frozen=True)
class ChangeSet:
    """Paths (workspace-relative or absolute) added, modified and removed since last time."""

    added: frozenset[str] = frozenset()
    modified: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        added: object = (),
        modified: object = (),
        removed: object = (),
    ) -> ChangeSet:
        return cls(frozenset(added), frozenset(modified), frozenset(removed))  # type: ignore[call-overload]

    @property
    def paths(self) -> frozenset[str]:
        return self.added | self.modified | self.removed

    def __bool__(self) -> bool:
        return bool(self.paths)

    def describe(self) -> str:
        parts: list[str] = []
        for label, paths in (("+", self.added), ("~", self.modified), ("-", self.removed)):
            parts.extend(f"{label}{p}" for p in sorted(paths))
        shown = parts[:4]
        more = f" (+{len(parts) - 4} more)" if len(parts) > 4 else ""
        return " ".join(shown) + more


@dataclass
class CacheInfo:
    directory: Path
    notes: list[Diagnostic] = field(default_factory=list)
    loaded: bool = False
    #: False when the cache cannot be used (no key, a file in the way, not writable): the
    #: session then neither reads nor saves it.
    usable: bool = True
    key: bytes | None = None


class BuilderSession:
    """Warm, incremental builds of one workspace (see the module docstring)."""

    def __init__(
        self,
        workspace: Path | None = None,
        *,
        cwd: Path | None = None,
        cache_dir: Path | None = None,
        projects: list[str] | None = None,
        incremental: bool = True,
        graph_filter: list[str] | None = None,
        remote_cache: str | None = None,
        remote_upload: bool | None = None,
    ) -> None:
        from sodabuild.prune import FilterSyntaxError, parse_graph_filters, usage_error

        #: ``--remote-cache URL`` and ``--remote-upload/--no-remote-upload`` (over the config).
        self.remote_cache = remote_cache
        self.remote_upload = remote_upload

        try:
            #: ``--graph-filter`` values as given, and the fields they set.
            self.graph_filter = tuple(graph_filter or ())
            self._filter_fields = parse_graph_filters(self.graph_filter)
        except FilterSyntaxError as exc:
            raise usage_error(exc) from None
        self._workspace_arg = workspace
        self._cwd = cwd or Path.cwd()
        self._cache_override = cache_dir
        self.projects = projects
        self.incremental = incremental
        self.workspace: ResolvedWorkspace | None = None
        self.rules: Any = None
        self.warm: WarmState | None = None
        self.workspace_file: Path | None = None
        self.cache: CacheInfo | None = None
        self.last: Any = None
        self._config_stamps: dict[str, Stamp] = {}
        self._config_dirs: dict[str, DirStamp] = {}
        self._config_recorded = 0
        self.memory = SessionMemory()  # built schemas, assemblers, the last graph (not saved)
        #: (check, edited) of the stat pass ``changes()`` made for the update that follows.
        self._seen: tuple[bool, set[str] | None] | None = None

    # -- config -----------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        assert self.workspace_file is not None
        return self.workspace_file.parent

    def _load_config(self) -> None:
        from sodabuild.config import find_workspace_file, load_workspace
        from sodabuild.rules.load import builtin_rules_dir, load_rules

        self.workspace_file = find_workspace_file(self._cwd, self._workspace_arg)
        started = time.time_ns()
        workspace = load_workspace(self.workspace_file)
        rules = load_rules(Path(workspace.root), list(workspace.rule_dirs))
        root = Path(workspace.root)
        stamps: dict[str, Stamp] = {}
        files = [root / workspace.file]
        files += [root / project.root / "sodabuild.toml" for project in workspace.projects]
        # what else config loading read (tsconfig.json and the files it extends)
        files += [root / f for project in workspace.projects for f in project.config_files]
        files = list(dict.fromkeys(files))
        rule_dirs = [builtin_rules_dir(), *(root / d for d in workspace.rule_dirs)]
        for directory in rule_dirs:
            files += sorted(directory.rglob("*.star")) if directory.is_dir() else []
        for file in files:
            found = read_stamped(str(file))
            if found is not None:
                stamps[os.path.relpath(file, root)] = found[1]
        # rule directories by listing (a new .star file); project files by presence
        dirs = {os.path.relpath(d, root): dir_stamp(str(d)) for d in rule_dirs}
        for project in workspace.projects:
            project_file = root / project.root / "sodabuild.toml"
            if not project_file.exists():
                stamps[os.path.relpath(project_file, root)] = ABSENT
            tsconfig = root / project.root / "tsconfig.json"
            if not os.path.lexists(tsconfig):  # one that appears is read by config loading
                stamps[os.path.relpath(tsconfig, root)] = ABSENT
        self.workspace, self.rules = workspace, rules
        self._config_stamps, self._config_dirs, self._config_recorded = stamps, dirs, started

    def _config_changed(self) -> bool:
        from sodabuild.session.fastpath import dirs_unchanged, files_unchanged

        recorded = self._config_recorded
        return not (
            files_unchanged(self.root, self._config_stamps, recorded)
            and dirs_unchanged(self.root, self._config_dirs, recorded)
        )

    def cache_dir(self) -> Path:
        assert self.workspace is not None
        if self._cache_override is not None:
            return self._cache_override.resolve()
        return Path(self.workspace.root) / self.workspace.cache_dir

    # -- lifecycle --------------------------------------------------------------------------

    def load(self) -> None:
        """Load config and rules (raising SodabuildError on bad config) and the warm cache.

        Any cache fault (a key that cannot be read or created, a cache path that is a file,
        a cache file that is a directory, a read-only cache directory, a damaged or foreign
        cache file) is one warning in ``cache.notes``; the build then runs cold, and does
        not save the cache when it cannot.
        """
        self._load_config()
        self.cache = CacheInfo(self.cache_dir())
        if not self.incremental:
            return
        try:
            self.cache.key = cache_key()
        except CacheKeyError as exc:
            self._unusable(f"{exc}; building without the cache", self.cache.directory)
            return
        trouble = self._cache_trouble()
        if trouble is not None:
            self._unusable(*trouble)
            return
        directory = self.cache.directory
        loaded = read_cache_file(directory / STATE_FILE, self.cache.key)
        problem = loaded.problem
        state = loaded.value
        if problem is None and not (
            isinstance(state, WarmState) and state.version == STATE_VERSION
        ):
            problem = "foreign"
        if problem in (None, "missing"):
            # the no-op record is read by the fast path only: check it here, unread
            session_problem = check_cache_file(directory / SESSION_FILE, self.cache.key)
            if session_problem not in (None, "missing"):
                problem, broken = session_problem, SESSION_FILE
            else:
                broken = STATE_FILE
        else:
            broken = STATE_FILE
        if problem is None:
            self.warm = state
            self.cache.loaded = True
        elif problem != "missing":
            self.warm = None
            self._purge(problem, broken)

    def _cache_trouble(self) -> tuple[str, Path] | None:
        """Why the cache directory cannot be used (message, path), or None."""
        assert self.cache is not None
        directory = self.cache.directory
        try:
            existing = directory
            while not os.path.lexists(existing) and existing.parent != existing:
                existing = existing.parent
            if not existing.is_dir():
                what = (
                    "the cache directory path is a file, not a directory"
                    if existing == directory
                    else f"the cache directory path goes through a file ({existing})"
                )
                return f"{what}; building without the cache", directory
            if not os.access(existing, os.W_OK | os.X_OK):
                return (
                    f"cache directory is not writable ({'it' if existing == directory else existing}"
                    " is read-only); building without the cache",
                    directory,
                )
            if existing != directory:
                return None
            for name in (STATE_FILE, SESSION_FILE, LOCK_FILE):
                wrong = check_file(directory / name)
                if wrong is not None:
                    return f"{wrong}; building without the cache", directory / name
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return (
                f"cache directory cannot be used ({reason}); building without the cache",
                directory,
            )
        return None

    def _unusable(self, message: str, path: Path) -> None:
        assert self.cache is not None
        self.cache.usable = False
        self.warm = None
        self.cache.notes.append(
            Diagnostic("CACHE_UNUSABLE", message, self._shown(path), severity=Severity.WARNING)
        )

    def _shown(self, path: Path) -> str:
        try:
            return os.path.relpath(path, self.root)
        except ValueError:
            return str(path)

    def _purge(self, problem: str, name: str = STATE_FILE) -> None:
        assert self.cache is not None
        directory = self.cache.directory
        if problem.startswith("unusable: "):
            self._unusable(
                f"{problem[len('unusable: ') :]}; building without the cache", directory / name
            )
            return
        for stale in (STATE_FILE, SESSION_FILE):
            try:
                (directory / stale).unlink(missing_ok=True)
            except OSError as exc:
                self._unusable(
                    f"cache file cannot be removed ({exc.strerror}); building without the cache",
                    directory / stale,
                )
                return
        if problem == "foreign":
            message = "cache written by another sodabuild or cache format; purged and rebuilt"
        elif problem == "untrusted":
            message = (
                f"{name} was not written by this machine's sodabuild (its authentication tag "
                "does not match); purged unread and rebuilt"
            )
        else:
            message = f"cache is {problem}; purged and rebuilt"
        self.cache.notes.append(
            Diagnostic(
                "CACHE_PURGED",
                message,
                self._shown(directory / name),
                severity=Severity.WARNING,
            )
        )

    def update(self, change_set: ChangeSet | None = None, *, check: bool = False) -> Any:
        """Build what changed since the last update (a stat pass when no ChangeSet is given).

        A ChangeSet is trusted to name every edited file (watch mode's contract). When only
        existing files were edited since a clean build of this session, they are applied to
        its graph (engine/update.py); anything else runs the full incremental build.
        """
        from sodabuild.engine import build_workspace

        reloaded = True
        if self.workspace is None:
            self.load()
        elif self._config_changed() or (
            change_set is not None and self._touches_config(change_set)
        ):
            self._load_config()
        else:
            reloaded = False
        assert self.workspace is not None
        # a reloaded config refreshed the config stamps: only a full pass can tell what changed
        seen, self._seen = self._seen, None
        if reloaded:
            edited = None
        elif change_set is None and seen is not None and seen[0] is check:
            edited = seen[1]  # the stat pass of changes(), just before
        else:
            edited = self._edited(change_set, check)
        if edited is not None and not edited:
            return self._repeat()
        result = self._apply(edited, check) if edited else None
        if result is None:
            warm = self.warm if self.incremental else None
            if warm is not None and change_set:
                warm = self._forget(warm, change_set)
            share = self._remote_share()
            try:
                result = build_workspace(
                    self.workspace,
                    self.rules,
                    self.projects,
                    check=check,
                    warm=warm,
                    memory=self.memory,
                    graph_filter=self._filter_fields,
                    remote=share,
                )
            finally:
                if share is not None:
                    share.cache.close()
            if share is not None:
                result.remote = share.summary()
                self._remote_notes(share)
        if result.state is not None:
            # a build of part of the workspace keeps the cache entries of the rest
            subset = bool(self.graph_filter) or (
                self.projects is not None and len(set(self.projects)) < len(self.workspace.projects)
            )
            written = [p.out_dir for p in result.projects if p.wrote]
            self.warm = result.state.merged_into(self.warm, written) if subset else result.state
        self.last = result
        return result

    def _remote_share(self) -> Any:
        """The remote cache of this build (remote/share.py), or None: none configured, or
        one that cannot be opened (a REMOTE_CACHE warning; the build runs locally)."""
        assert self.workspace is not None
        settings = self.workspace.remote_cache
        if self.remote_cache is not None:
            from sodabuild.remote.settings import RemoteCacheSettings

            base = settings.model_dump() if settings is not None else {}
            try:
                settings = RemoteCacheSettings.model_validate({**base, "url": self.remote_cache})
            except ValueError as exc:
                from sodabuild.diagnostics import SodabuildError

                raise SodabuildError(
                    [
                        Diagnostic(
                            "USAGE",
                            f"--remote-cache {self.remote_cache}: {_first_error(exc)}",
                            hint="give grpc://host:port, grpcs://host[:port], http://host[:port]"
                            "[/path] or https://...",
                        )
                    ]
                ) from None
        if settings is None:
            return None
        from sodabuild.remote.settings import MissingHeaders
        from sodabuild.remote.share import open_share

        try:
            return open_share(settings, self.remote_upload, lambda error: None)
        except (MissingHeaders, ValueError, ImportError) as exc:
            self._remote_warning(f"remote cache {settings.url} not used: {exc}")
            return None

    def _remote_notes(self, share: Any) -> None:
        """The remote cache's failure (one, whatever failed after it) and the blobs that
        failed verification, as warnings: the build itself ran locally."""
        cache = share.cache
        if cache.error is not None:
            self._remote_warning(str(cache.error))
        if cache.corrupt:
            self._remote_warning(
                f"{len(cache.corrupt)} blob(s) from the remote cache {cache.url} did not match"
                " their digest and were ignored (the entries naming them were not used)",
                hint="the server's storage is damaged or was written by something else: clear"
                " the entries, or stop uploading from the client that wrote them",
            )

    def _remote_warning(self, message: str, hint: str | None = None) -> None:
        if self.cache is None:
            return
        self.cache.notes.append(
            Diagnostic(
                "REMOTE_CACHE",
                message,
                self.workspace.file if self.workspace else "",
                severity=Severity.WARNING,
                hint=hint
                or "the build ran locally and its outputs are the same; check the server,"
                " or the [workspace.remote_cache] settings",
            )
        )

    def changes(self, check: bool) -> set[str] | None:
        """The files edited since this session's last build (empty: a no-op), or None when
        a full pass must tell; the update that follows at once reuses this stat pass (an
        edit made in between is seen by the next one: its stamp is still the old one)."""
        if self.workspace is None or self._config_changed():
            self._seen = None
            return None
        edited = self._edited(None, check)
        self._seen = (check, edited) if edited else None
        return edited

    def _edited(self, change_set: ChangeSet | None, check: bool) -> set[str] | None:
        """The files edited since this session's last build (empty: a no-op), or None when
        that cannot be told from stamps and names alone."""
        from sodabuild.session.fastpath import changed_inputs

        if not self.incremental or self.last is None or self.warm is None:
            return None
        if self.last.check != check:
            return None
        if change_set:
            if change_set.added or change_set.removed:
                return None
            return {self._relative(path) for path in change_set.modified}
        return changed_inputs(self.root, self._record())

    def _apply(self, edited: set[str], check: bool) -> Any:
        """The change-set fast path on the last build's graph; None to build in full."""
        from sodabuild.engine.update import NeedsFullBuild, apply_changes

        graph = self.memory.graph
        if check or graph is None or self.warm is None:
            return None
        try:
            return apply_changes(graph, edited, self.warm)
        except NeedsFullBuild:
            self.memory.graph = None
            return None

    def prepare(self) -> None:
        """Warm up for the next change (watch mode calls this once its first build is done)."""
        if self.memory.graph is not None:
            self.memory.graph.prepare()

    def _record(self) -> dict[str, Any]:
        """The no-op record of the last build (what ``session.bin`` holds)."""
        assert self.warm is not None and self.last is not None
        return {
            "workspace_file": self.workspace_file.name if self.workspace_file else "",
            "selection": tuple(self.projects or ()),
            "graph_filter": self.graph_filter,
            "check": bool(self.last.check),
            "recorded_ns": self.warm.recorded_ns,
            "config_files": self._config_stamps,
            "config_dirs": self._config_dirs,
            "files": plain_stamps(self.warm.files),
            "dirs": self.warm.dirs,
            "outputs": plain_stamps(self.warm.outputs),
            "outputs_recorded_ns": self.warm.outputs_recorded_ns,
            "output_dirs": self.warm.output_dirs,
            "out_dirs": sorted({p.out_dir for p in self.workspace.projects})
            if self.workspace is not None
            else [],
            # outputs that could not be written are retried, never replayed as a no-op
            "replayable": not any(
                d.code == "OUTPUT_WRITE" for p in self.last.projects for d in p.diagnostics
            ),
        }

    def _repeat(self) -> Any:
        """The last result again, counted as what it is: everything reused, nothing read."""
        from sodabuild.engine.summary import reused_counts

        return replace(
            self.last,
            mode="no-op",
            counts=reused_counts(self.last.counts),
            timings=dict.fromkeys(self.last.timings, 0.0),
            projects=[
                replace(p, written=[], unchanged=p.written + p.unchanged, removed=[])
                for p in self.last.projects
            ],
        )

    def _relative(self, path: str) -> str:
        candidate = Path(path)
        if candidate.is_absolute():
            try:
                return candidate.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                return candidate.as_posix()
        return candidate.as_posix()

    def _touches_config(self, change_set: ChangeSet) -> bool:
        touched = {self._relative(p) for p in change_set.paths}
        return bool(touched & set(self._config_stamps)) or any(
            p.endswith((".toml", ".star", "tsconfig.json")) for p in touched
        )

    def _forget(self, warm: WarmState, change_set: ChangeSet) -> WarmState:
        """Changed paths are re-hashed whatever their stat says."""
        touched = {self._relative(p) for p in change_set.paths}
        if not touched & set(warm.files):
            return warm
        return replace(warm, files={k: v for k, v in warm.files.items() if k not in touched})

    def save(self, summary: dict[str, Any] | None = None) -> None:
        """Write the warm state and the no-op record, each atomically.

        Callers that may race other processes hold ``store.cache_lock`` around update and
        save (the CLI and watch mode do), so one build's state and record go together.
        """
        cache = self.cache
        if not self.incremental or self.warm is None or cache is None or self.last is None:
            return
        if not cache.usable or cache.key is None:
            return
        directory = cache.directory
        try:
            write_cache_file(directory / STATE_FILE, self.warm, cache.key)
            write_cache_file(
                directory / SESSION_FILE, {**self._record(), "summary": summary}, cache.key
            )
        except (OSError, ValueError) as exc:
            # the summary may already be out: say it on stderr too, once
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            note = Diagnostic(
                "CACHE_UNUSABLE",
                f"cache cannot be saved ({reason}); the next build starts cold",
                self._shown(directory),
                severity=Severity.WARNING,
            )
            cache.usable = False
            cache.notes.append(note)
            sys.stderr.write(f"sodabuild: {note.render()}\n")
            with contextlib.suppress(OSError):  # a half-saved cache must not look whole
                (directory / SESSION_FILE).unlink(missing_ok=True)

    def dispose(self, summary: dict[str, Any] | None = None) -> None:
        self.save(summary)
        self.warm = None
        self.last = None

    # -- inspection -------------------------------------------------------------------------

    def cache_report(self) -> dict[str, Any]:
        """What ``--show-cache`` prints: location, format, entries, size, keys in force."""
        from sodabuild.session.store import FORMAT

        assert self.cache is not None and self.workspace is not None
        directory = self.cache.directory
        try:
            size = sum(
                e.stat(follow_symlinks=False).st_size
                for e in os.scandir(directory)
                if e.is_file(follow_symlinks=False)
            )
        except (OSError, ValueError):
            size = 0
        warm = self.warm
        key = self.cache.key if self.cache.usable else None
        record = read_cache_file(directory / SESSION_FILE, key).value if key else None
        last = record.get("summary") if isinstance(record, dict) else None
        return {
            "location": os.path.relpath(directory, self.root),
            "format": FORMAT,
            "state_version": STATE_VERSION,
            "present": warm is not None,
            "size_bytes": size,
            "entries": {
                "files": len(warm.files) if warm else 0,
                "directories": len(warm.dirs) if warm else 0,
                "scans": len(warm.scans) if warm else 0,
                "compositions": len(warm.composed) if warm else 0,
                "validated_documents": len(warm.validated) if warm else 0,
                "outputs": len(warm.outputs) if warm else 0,
            },
            "keys": {
                project.name: {
                    **project.hashes,
                    "rules": {
                        name: self.rules.rules[name].content_hash()
                        for name in project.rules
                        if name in self.rules.rules
                    },
                }
                for project in self.workspace.projects
            },
            "schemas_validated": sorted(warm.validated_schemas) if warm else [],
            "last_build": (last or {}).get("stats", {}).get("cache_hit_ratio"),
            "remote": self._remote_report((last or {}).get("cache", {}).get("remote")),
        }

    def _remote_report(self, last: dict[str, Any] | None) -> dict[str, Any] | None:
        """The remote cache in force (url, upload) and what it did in the last build."""
        assert self.workspace is not None
        settings = self.workspace.remote_cache
        url = self.remote_cache or (settings.url if settings else None)
        if url is None:
            return None
        upload = (
            self.remote_upload
            if self.remote_upload is not None
            else bool(settings and settings.upload)
        )
        return {"url": url, "upload": upload, "last_build": last}


@dataclass
class Cleaned:
    """What ``clean_cache`` did: cache files removed, the directory itself removed, and
    what it left (files sodabuild did not create)."""

    removed: list[str] = field(default_factory=list)
    directory_removed: bool = False
    kept: list[str] = field(default_factory=list)
    found: bool = False


def clean_cache(directory: Path) -> Cleaned:
    """Remove the files sodabuild keeps in a cache directory (state, no-op record, lock,
    temp files of interrupted writes), then the directory if that left it empty.

    Nothing else is touched: a cache directory that also holds a user's files (a
    misconfigured ``cache_dir = "."``) keeps them, no directory is removed recursively, and
    a symbolic link is removed as a link, never followed.
    """
    import stat

    cleaned = Cleaned()
    try:
        entries = list(os.scandir(directory))
    except (OSError, ValueError):
        return cleaned  # absent, not a directory, or unreadable: nothing of ours to remove
    cleaned.found = True
    ours = {STATE_FILE, SESSION_FILE, LOCK_FILE}
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name in ours or is_temp_file(entry.name):
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    cleaned.kept.append(entry.name)
                    continue
                os.unlink(entry.path)
                cleaned.removed.append(entry.name)
            except OSError:
                cleaned.kept.append(entry.name)
        else:
            cleaned.kept.append(entry.name)
    if not cleaned.kept and not os.path.islink(directory):
        with contextlib.suppress(OSError):
            os.rmdir(directory)
            cleaned.directory_removed = True
    return cleaned


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            return str(found[0].get("msg", exc)).removeprefix("Value error, ")
    return str(exc)
