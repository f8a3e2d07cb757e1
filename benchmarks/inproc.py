"""In-process measurements the harness runs as a child: repeat builds, discovery alone.

    python -m benchmarks.inproc repeat -w WS [--builds N]   # N builds in one process
    python -m benchmarks.inproc edit -w WS --edit leaf      # edits applied in a session
    python -m benchmarks.inproc discover -w WS              # discovery CPU only

Prints one JSON object on stdout. A "repeat" build goes through the public library entry
points, so once a long-lived session exists it is measured here the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _repeat(workspace: Path, builds: int) -> dict[str, Any]:
    """Builds in one long-lived session (the first one may start warm from the cache)."""
    from sodabuild.session.session import BuilderSession

    session = BuilderSession(workspace)
    session.load()
    walls: list[float] = []
    cpus: list[float] = []
    ok = True
    for _ in range(builds):
        wall, cpu = time.perf_counter(), time.process_time()
        result = session.update()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        ok = ok and result.ok
    return {"ok": ok, "walls_s": walls, "cpus_s": cpus}


def _edit(workspace: Path, kind: str, reps: int) -> dict[str, Any]:
    """Edits applied to a live session as watch mode applies them (a ChangeSet each)."""
    from benchmarks.scenarios import EDITS, Workspace
    from sodabuild.session.session import BuilderSession, ChangeSet

    ws = Workspace(workspace)
    session = BuilderSession(workspace)
    session.load()
    ok = session.update().ok
    session.prepare()  # as watch mode does after its first build
    walls: list[float] = []
    cpus: list[float] = []
    builds: list[dict[str, Any]] = []
    for _ in range(reps):
        edit = EDITS[kind](ws)
        changed = ChangeSet.of(modified=[str(path) for path in edit.changes])
        edit.apply()
        wall, cpu = time.perf_counter(), time.process_time()
        result = session.update(changed)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        ok = ok and result.ok
        counts = result.counts
        builds.append(
            {
                "mode": result.mode,
                "files_written": sum(len(p.written) for p in result.projects),
                "chunks_written": counts["chunks_written"],
                "chunks_reused": counts["chunks_reused"],
                "chunks_rebuilt": counts["chunks_rebuilt"],
                "cache_misses": counts["cache_misses"],
                "timings_s": result.timings,
            }
        )
        edit.revert()
        ok = session.update(changed).ok and ok
    return {"ok": ok, "walls_s": walls, "cpus_s": cpus, "builds": builds}


def _discover(workspace: Path) -> dict[str, Any]:
    from sodabuild.config import find_workspace_file, load_workspace
    from sodabuild.discover import Matcher, discover_files
    from sodabuild.rules.load import load_rules

    resolved = load_workspace(find_workspace_file(Path.cwd(), workspace))
    rules = load_rules(Path(resolved.root), list(resolved.rule_dirs))
    cpu, wall = time.process_time(), time.perf_counter()
    files = 0
    for project in resolved.projects:
        for name in project.rules:
            rule = rules.rules[name]
            include = project.include if project.include is not None else rule.discovery.include
            matcher = Matcher(tuple(include), (*rule.discovery.exclude, *project.exclude))
            files += len(
                discover_files(
                    resolved.root,
                    project.root,
                    matcher,
                    list(project.extensions),
                    skip_dirs=(project.out_dir, resolved.cache_dir),
                )
            )
    return {
        "ok": True,
        "files": files,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inproc")
    parser.add_argument("what", choices=["repeat", "edit", "discover"])
    parser.add_argument("-w", "--workspace", type=Path, required=True)
    parser.add_argument("--builds", type=int, default=2)
    parser.add_argument("--edit", default="leaf", help="leaf, hub or five_percent")
    args = parser.parse_args(argv)
    if args.what == "repeat":
        data = _repeat(args.workspace, args.builds)
    elif args.what == "edit":
        data = _edit(args.workspace, args.edit, args.builds)
    else:
        data = _discover(args.workspace)
    sys.stdout.write(json.dumps(data) + "\n")
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
