"""Watch mode: build once, then turn file-system events into ChangeSets for a live session.

Events from a recursive watchdog observer on the workspace root are filtered (sources of a
scanned suffix, TOML config, Starlark rules, GraphQL schemas; never outputs, the cache or
VCS directories), debounced (a burst of saves is one rebuild) and folded into a ChangeSet:
a move onto an existing path (the write-temp-then-rename save of most editors) counts as a
modification of the target. Each rebuild prints one line; errors in sources are printed and
the watch goes on; a broken config is reported and retried on the next change; Ctrl-C stops
the observer and saves the cache.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sodabuild.diagnostics import SodabuildError
from sodabuild.session.fingerprint import is_commit_dir
from sodabuild.session.session import BuilderSession, ChangeSet

#: Quiet time that ends a burst of events, and the longest a burst may delay a rebuild.
#: inotify delivers an event ~0.2 ms after the write and an editor's save (write a temp
#: file, rename it over) is one burst of a few ms, so 20 ms of quiet ends it.
DEBOUNCE_S = 0.02
MAX_DELAY_S = 0.5
WATCHED_SUFFIXES = (".py", ".pyi", ".toml", ".star", ".graphql", ".graphqls", ".gql")
IGNORED_PARTS = frozenset({".git", ".hg", "__pycache__", ".mypy_cache", ".ruff_cache", ".venv"})


def watch_roots(root: Path, ignored: list[Path]) -> list[tuple[str, bool]]:
    """The directories to watch, ``(path, recursive)``, covering ``root`` except the
    ignored subtrees (out_dirs, the cache) and VCS/tool directories.

    A directory with an ignored path below it is watched on its own (not recursively) and
    its other subdirectories are visited; any other directory is watched recursively. So
    no watch is ever placed inside an out_dir, whose directories a commit swaps and
    deletes (watchdog's inotify backend loses track of swapped directories).
    """
    skipped = {os.path.normpath(p) for p in ignored}
    found: list[tuple[str, bool]] = []
    stack = [os.path.normpath(root)]
    while stack:
        directory = stack.pop()
        below = directory + os.sep
        if not any(p.startswith(below) for p in skipped):
            found.append((directory, True))
            continue
        found.append((directory, False))
        try:
            with os.scandir(directory) as entries:
                children = sorted(
                    e.path
                    for e in entries
                    if e.is_dir(follow_symlinks=False)
                    and e.path not in skipped
                    and e.name not in IGNORED_PARTS
                    and not is_commit_dir(e.name)
                )
        except OSError:
            continue
        stack.extend(reversed(children))
    return sorted(found)


class _Collector:
    """watchdog handler: relevant (kind, path, dest) tuples onto a queue."""

    def __init__(self, root: Path, ignored: list[Path], suffixes: tuple[str, ...]) -> None:
        self.root = root
        self.ignored = [str(p) + os.sep for p in ignored]
        self.suffixes = suffixes
        self.events: queue.Queue[tuple[str, str, str | None]] = queue.Queue()
        #: Directories created under a non-recursively watched one: they need a watch.
        self.new_dirs: queue.Queue[str] = queue.Queue()
        self.shallow: set[str] = set()

    def watchable(self, directory: str) -> bool:
        name = os.path.basename(directory)
        return (
            not any((directory + os.sep).startswith(prefix) for prefix in self.ignored)
            and name not in IGNORED_PARTS
            and not is_commit_dir(name)
        )

    def relevant(self, path: str) -> bool:
        if not path.endswith(self.suffixes):
            return False
        if any(path.startswith(prefix) for prefix in self.ignored):
            return False
        return not IGNORED_PARTS.intersection(Path(path).parts)

    def dispatch(self, event: Any) -> None:
        if event.is_directory:
            if event.event_type in ("created", "moved"):
                path = os.fsdecode(getattr(event, "dest_path", "") or event.src_path)
                if os.path.dirname(path) in self.shallow and self.watchable(path):
                    self.new_dirs.put(path)
                    self.events.put(("directory", path, None))  # wakes the loop up
            return
        kind = event.event_type
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(getattr(event, "dest_path", "") or "") or None
        if kind == "moved":
            if self.relevant(src):
                self.events.put(("moved", src, dest if dest and self.relevant(dest) else None))
            elif dest and self.relevant(dest):
                # an editor's or sed's temp file renamed onto the real one
                self.events.put(("modified" if os.path.exists(dest) else "created", dest, None))
        elif kind in ("created", "modified", "deleted", "closed") and self.relevant(src):
            self.events.put((kind, src, None))


def _watch_new_dirs(
    observer: Any, collector: _Collector, events: list[tuple[str, str, str | None]]
) -> None:
    """Watch directories made under a shallow-watched one; their files are new too (they
    may have been written before the watch existed)."""
    while not collector.new_dirs.empty():
        directory = collector.new_dirs.get()
        if not os.path.isdir(directory):
            continue
        observer.schedule(collector, directory, recursive=True)
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = [d for d in dirnames if d not in IGNORED_PARTS]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if collector.relevant(path):
                    events.append(("created", path, None))


def _change_set(events: list[tuple[str, str, str | None]]) -> ChangeSet:
    added: set[str] = set()
    modified: set[str] = set()
    removed: set[str] = set()
    for kind, src, dest in events:
        if kind == "created":
            removed.discard(src)
            (modified if src in modified else added).add(src)
        elif kind in ("modified", "closed"):
            if src not in added:
                modified.add(src)
        elif kind == "deleted":
            added.discard(src)
            modified.discard(src)
            removed.add(src)
        elif kind == "moved":
            if src in added:
                added.discard(src)
            else:
                modified.discard(src)
                removed.add(src)
            if dest is not None:
                removed.discard(dest)
                if os.path.exists(dest):
                    modified.add(dest)
    modified -= added
    return ChangeSet.of(added, modified, removed)


def _drain(collector: _Collector) -> list[tuple[str, str, str | None]]:
    """Wait for a burst of events and return it (debounced)."""
    first = collector.events.get()
    events = [first]
    started = time.monotonic()
    while time.monotonic() - started < MAX_DELAY_S:
        try:
            events.append(collector.events.get(timeout=DEBOUNCE_S))
        except queue.Empty:
            break
    return events


def _line(
    summary: dict[str, Any], changes: ChangeSet | None, root: Path, what: str | None = None
) -> str:
    stats = summary["stats"]
    errors = sum(
        1 for p in summary["projects"] for d in p["diagnostics"] if d["severity"] == "error"
    )
    elements = sum(p["elements"] for p in summary["projects"])
    written = sum(p["files_written"] + p["files_removed"] for p in summary["projects"])
    if what is None:
        what = "initial build" if changes is None else _relative(changes, root).describe()
    state = "ok" if summary["ok"] else f"FAILED ({errors} error{'s' * (errors != 1)})"
    return (
        f"[{time.strftime('%H:%M:%S')}] {what}: {state} in {stats['wall_ms']:.0f} ms, "
        f"{elements} elements, {written} files written, "
        f"{stats['counts']['cache_hits']} hits / {stats['counts']['cache_misses']} misses"
    )


def _relative(changes: ChangeSet, root: Path) -> ChangeSet:
    def rel(paths: frozenset[str]) -> list[str]:
        return [os.path.relpath(p, root) for p in paths]

    return ChangeSet.of(rel(changes.added), rel(changes.modified), rel(changes.removed))


def watch_workspace(
    workspace: Path | None,
    projects: list[str] | None,
    *,
    incremental: bool = True,
    cache_dir: Path | None = None,
    as_json: bool = False,
    stop_after: int | None = None,
    graph_filter: list[str] | None = None,
    serve: bool = True,
) -> int:
    """Run the watch loop until Ctrl-C (or ``stop_after`` rebuilds, for tests).

    With ``serve``, once the first build is done the watch also serves ``sodabuild build``
    on the cache directory's daemon socket (unless a daemon already does): those builds run
    between its rebuilds, on its session when they have its selection and filter
    (``sodabuild/daemon/server.py``, ``WatchServer``)."""
    import warnings

    from watchdog.observers import Observer

    # watchdog's inotify backend warns when a directory it watches is recreated (outputs are)
    warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)

    from sodabuild.engine.summary import build_summary, render
    from sodabuild.session.store import cache_lock

    session = BuilderSession(
        workspace,
        projects=projects,
        incremental=incremental,
        cache_dir=cache_dir,
        graph_filter=graph_filter,
    )
    session.load()
    assert session.workspace is not None and session.cache is not None
    root = Path(session.workspace.root)
    ignored = [session.cache_dir(), *(root / p.out_dir for p in session.workspace.projects)]
    collector = _Collector(root, ignored, WATCHED_SUFFIXES)
    observer = Observer()
    for directory, recursive in watch_roots(root, ignored):
        observer.schedule(collector, directory, recursive=recursive)  # type: ignore[arg-type]
        if not recursive:
            collector.shallow.add(directory)
    observer.start()
    summary: dict[str, Any] | None = None

    def emit(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def rebuild(changes: ChangeSet | None) -> None:
        nonlocal summary
        started = time.perf_counter()
        try:
            with cache_lock(session.cache_dir()):
                result = session.update(changes)
        except SodabuildError as exc:
            for diagnostic in exc.diagnostics:
                emit(diagnostic.render())
            emit(f"[{time.strftime('%H:%M:%S')}] config error: fix it and save to rebuild")
            return
        notes = session.cache.notes if session.cache else []
        summary = build_summary(result, False, time.perf_counter() - started, notes)
        if session.cache:
            session.cache.notes = []
        if as_json:
            emit(json.dumps(summary, sort_keys=True))
            return
        for line in render(summary)[:-1]:
            if ": error " in line or ": warning " in line or line.startswith("    hint"):
                emit(line)
        emit(_line(summary, changes, root))

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        # Ctrl-C, and a service manager's stop: save, then exit (also when started from a
        # shell that made SIGINT ignored for background jobs)
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)

    def served(summaries: list[dict[str, Any]]) -> None:
        """One line (or JSON object) per build a client asked for."""
        for built in summaries:
            if as_json:
                emit(json.dumps(built, sort_keys=True))
            else:
                emit(_line(built, None, root, what="sodabuild build (client)"))

    rebuilds = 0
    server: Any = None
    try:
        rebuild(None)
        session.prepare()
        if serve:
            server = _serve(session, projects, incremental, cache_dir, graph_filter, collector)
        if not as_json:
            emit(f"watching {root} (Ctrl-C to stop)")
            if server is not None:
                emit(f"serving `sodabuild build` on {server.socket_path}")
        while stop_after is None or rebuilds < stop_after:
            events = _drain(collector)
            if server is not None:
                served(server.run_pending())  # a client waits: before the watch's rebuild
                events = [e for e in events if e[0] != "client"]
                if not events:
                    continue
            _watch_new_dirs(observer, collector, events)
            changes = _change_set(events)
            if not changes:
                continue
            rebuild(changes)
            rebuilds += 1
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        try:
            observer.stop()
            observer.join(timeout=5)
        except Exception:  # watchdog can trip over directories a build replaced
            pass
        with cache_lock(session.cache_dir()):
            session.dispose(summary)  # a cache it cannot save is a warning, never an error
        if not as_json:
            emit("stopped; cache saved")
    return 0


def _serve(
    session: BuilderSession,
    projects: list[str] | None,
    incremental: bool,
    cache_dir: Path | None,
    graph_filter: list[str] | None,
    collector: _Collector,
) -> Any:
    """The watch's server for ``sodabuild build`` (None when another process serves the
    cache directory, or it cannot be served)."""
    from sodabuild.cli import BuildOptions
    from sodabuild.daemon.server import WatchServer

    options = BuildOptions(
        projects=projects,
        incremental=incremental,
        cache_dir=cache_dir.resolve() if cache_dir is not None else None,
        graph_filter=graph_filter,
    )
    try:
        return WatchServer.serve_watch(
            session, options, lambda: collector.events.put(("client", "", None))
        )
    except Exception:  # serving is a bonus: the watch goes on without it
        return None
