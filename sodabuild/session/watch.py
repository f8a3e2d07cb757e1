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
from sodabuild.session.session import BuilderSession, ChangeSet

#: Quiet time that ends a burst of events, and the longest a burst may delay a rebuild.
#: inotify delivers an event ~0.2 ms after the write and an editor's save (write a temp
#: file, rename it over) is one burst of a few ms, so 20 ms of quiet ends it.
DEBOUNCE_S = 0.02
MAX_DELAY_S = 0.5
WATCHED_SUFFIXES = (".py", ".pyi", ".toml", ".star", ".graphql", ".graphqls", ".gql")
IGNORED_PARTS = frozenset({".git", ".hg", "__pycache__", ".mypy_cache", ".ruff_cache", ".venv"})


class _Collector:
    """watchdog handler: relevant (kind, path, dest) tuples onto a queue."""

    def __init__(self, root: Path, ignored: list[Path], suffixes: tuple[str, ...]) -> None:
        self.root = root
        self.ignored = [str(p) + os.sep for p in ignored]
        self.suffixes = suffixes
        self.events: queue.Queue[tuple[str, str, str | None]] = queue.Queue()

    def relevant(self, path: str) -> bool:
        if not path.endswith(self.suffixes):
            return False
        if any(path.startswith(prefix) for prefix in self.ignored):
            return False
        return not IGNORED_PARTS.intersection(Path(path).parts)

    def dispatch(self, event: Any) -> None:
        if event.is_directory:
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


def _line(summary: dict[str, Any], changes: ChangeSet | None, root: Path) -> str:
    stats = summary["stats"]
    errors = sum(
        1 for p in summary["projects"] for d in p["diagnostics"] if d["severity"] == "error"
    )
    elements = sum(p["elements"] for p in summary["projects"])
    written = sum(p["files_written"] + p["files_removed"] for p in summary["projects"])
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
) -> int:
    """Run the watch loop until Ctrl-C (or ``stop_after`` rebuilds, for tests)."""
    import warnings

    from watchdog.observers import Observer

    # watchdog's inotify backend warns when a directory it watches is recreated (outputs are)
    warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)

    from sodabuild.build.summary import build_summary, render
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
    observer.schedule(collector, str(root), recursive=True)  # type: ignore[arg-type]
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
    rebuilds = 0
    try:
        rebuild(None)
        session.prepare()
        if not as_json:
            emit(f"watching {root} (Ctrl-C to stop)")
        while stop_after is None or rebuilds < stop_after:
            events = _drain(collector)
            changes = _change_set(events)
            if not changes:
                continue
            rebuild(changes)
            rebuilds += 1
    except KeyboardInterrupt:
        pass
    finally:
        observer.stop()
        observer.join(timeout=5)
        with cache_lock(session.cache_dir()):
            session.dispose(summary)
        if not as_json:
            emit("stopped; cache saved")
    return 0
