"""The no-op check: is everything exactly as the last build left it? Stat-bound, no parsing.

It reads the workspace TOML with tomllib only (no pydantic, no graphql-core, no Starlark),
loads the small session record (authenticated like every cache file, see
``session/store.py``) and compares stamps: config and rule files, every input
file, every walked directory's listing, every output. If all match, the previous summary
is the answer. Anything unexpected (no record, another version, a racy stamp whose content
changed, or any exception at all) means "not a no-op" and the full incremental build
runs, which reports what is wrong.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sodabuild.session.fingerprint import Stamp, dir_unchanged, racy_window, same_content
from sodabuild.session.store import read_cache_file, sweep_temp_files
from sodabuild.write.commit import has_leftovers

SESSION_FILE = "session.bin"
STATE_FILE = "state.bin"
DEFAULT_CACHE_DIR = ".cache/sodabuild"


def cache_dir_of(workspace_file: Path, override: Path | None) -> Path | None:
    """The cache directory a workspace uses, from the raw TOML (None if unreadable)."""
    try:
        if override is not None:
            return override.resolve()
        raw = tomllib.loads(workspace_file.read_text(encoding="utf-8"))
        configured = raw.get("workspace", {}).get("cache_dir", DEFAULT_CACHE_DIR)
        if not isinstance(configured, str):
            return None
        found = (workspace_file.parent / configured).resolve()
        # a configured cache leaving the workspace (through a symlink) is never read here;
        # the config loader reports it
        root = workspace_file.parent.resolve()
        return found if found.is_relative_to(root) and found != root else None
    except Exception:  # deep nesting (RecursionError), NUL (ValueError), ENAMETOOLONG, ...
        return None


def _changed(root: Path, stamps: dict[str, Any], recorded_ns: int) -> Iterator[str]:
    """The files whose content differs from their stamps (or that appeared, if ABSENT).

    Stamps are ``Stamp``s or the plain tuples the no-op record stores (same fields, same
    order); this loop is most of a no-op build, so it indexes instead of calling helpers.
    """
    prefix = os.path.join(root, "")
    stat = os.stat
    for rel, stamp in stamps.items():
        path = prefix + rel
        size, mtime_ns, inode = stamp[0], stamp[1], stamp[2]
        if size == -1:  # ABSENT: must still not exist
            if os.path.exists(path):
                yield rel
            continue
        try:
            found = stat(path)
        except OSError:
            yield rel
            continue
        if (
            found.st_mtime_ns == mtime_ns
            and found.st_size == size
            and found.st_ino == inode
            and mtime_ns < recorded_ns - racy_window(mtime_ns)
        ):
            continue
        if found.st_size != size or not same_content(path, Stamp(*stamp)):
            yield rel


def plain_stamps(stamps: dict[str, Stamp]) -> dict[str, tuple[int, int, int, str]]:
    """Stamps as plain tuples: the no-op record unpickles them several times faster."""
    return {rel: (s.size, s.mtime_ns, s.inode, s.hash) for rel, s in stamps.items()}


def files_unchanged(root: Path, stamps: dict[str, Any], recorded_ns: int) -> bool:
    return next(_changed(root, stamps, recorded_ns), None) is None


def no_op_summary(
    workspace_file: Path,
    cache_dir: Path,
    selection: tuple[str, ...],
    check: bool,
    graph_filter: tuple[str, ...] = (),
) -> dict[str, Any] | None:
    """The previous build's summary if nothing it depended on changed, else None.

    Never raises: whatever goes wrong (an unreadable cache or key, a malformed record, a
    path the OS rejects) means "not a no-op", and the full build runs and reports it.
    """
    try:
        return _no_op_summary(workspace_file, cache_dir, selection, check, graph_filter)
    except Exception:
        return None


def _no_op_summary(
    workspace_file: Path,
    cache_dir: Path,
    selection: tuple[str, ...],
    check: bool,
    graph_filter: tuple[str, ...],
) -> dict[str, Any] | None:
    loaded = read_cache_file(cache_dir / SESSION_FILE)
    record = loaded.value
    if not isinstance(record, dict):
        return None
    if record.get("workspace_file") != workspace_file.name:
        return None
    if tuple(record.get("selection", ())) != selection:
        return None
    if tuple(record.get("graph_filter", ())) != graph_filter:
        return None
    summary = record.get("summary")
    if not isinstance(summary, dict) or (check and not summary.get("ok")):
        return None
    if not check and record.get("check"):
        return None
    if not unchanged_since(workspace_file.parent, record):
        return None
    sweep_temp_files(cache_dir)  # a write interrupted after this record was saved
    return summary


def dirs_unchanged(root: Path, stamps: dict[str, Any], recorded_ns: int) -> bool:
    """Every directory's listing is as stamped (one stat each while mtimes match; this
    loop is part of every no-op, so it joins strings instead of making Paths)."""
    top = str(root)
    prefix = os.path.join(top, "")
    stat = os.stat
    for rel, stamp in stamps.items():
        path = prefix + rel if rel else top
        try:
            mtime_ns = stat(path).st_mtime_ns
        except OSError:
            if stamp.listing == "":
                continue
            return False
        if mtime_ns == stamp.mtime_ns and mtime_ns < recorded_ns - racy_window(mtime_ns):
            continue
        if not dir_unchanged(path, stamp, recorded_ns):
            return False
    return True


def _rest_unchanged(root: Path, record: dict[str, Any]) -> bool:
    """Config and rule files, walked directories and outputs are as a build record says."""
    recorded_ns = int(record["recorded_ns"])
    return (
        files_unchanged(root, record["config_files"], recorded_ns)
        and dirs_unchanged(root, record["config_dirs"], recorded_ns)
        and dirs_unchanged(root, record["dirs"], recorded_ns)
        and files_unchanged(root, record["outputs"], int(record["outputs_recorded_ns"]))
        and dirs_unchanged(root, record["output_dirs"], int(record["outputs_recorded_ns"]))
        and not any(has_leftovers(os.path.join(root, d)) for d in record["out_dirs"])
    )


def changed_inputs(root: Path, record: dict[str, Any]) -> set[str] | None:
    """The input files edited since a build record (config, directories and outputs as
    recorded); None when more changed than file contents (the full build decides)."""
    if not record["replayable"] or not _rest_unchanged(root, record):
        return None
    return set(_changed(root, record["files"], int(record["recorded_ns"])))


def unchanged_since(root: Path, record: dict[str, Any]) -> bool:
    """Every stamp of a build record still holds: config, inputs, directories, outputs
    (stops at the first difference)."""
    return (
        record["replayable"]
        and _rest_unchanged(root, record)
        and files_unchanged(root, record["files"], int(record["recorded_ns"]))
    )
