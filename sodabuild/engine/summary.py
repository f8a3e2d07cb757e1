"""The build summary: the ``--json`` object, and the human rendering of it.

Both the full build and the no-op fast path print through here, from the same data, so a
no-op build reports exactly what the build that it repeats reported.
"""

from __future__ import annotations

import os
import resource
from typing import Any

from sodabuild.diagnostics import Diagnostic, Severity
from sodabuild.render.color import BOLD, GREEN, RED, paint
from sodabuild.render.frame import Sources


def peak_rss_mb() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(own, 1), "peak_rss_workers_mb": round(children, 1)}


def hit_ratio(counts: dict[str, Any]) -> float | None:
    lookups = counts.get("cache_hits", 0) + counts.get("cache_misses", 0)
    return round(counts["cache_hits"] / lookups, 4) if lookups else None


def build_summary(
    result: Any, check: bool, elapsed: float, notes: list[Diagnostic] | None = None
) -> dict[str, Any]:
    """The ``--json`` object of a build."""
    counts = result.counts
    return {
        "ok": result.ok,
        "workspace": result.workspace,
        "check": check,
        "projects": [
            {
                "name": p.name,
                "root": p.root,
                "out_dir": p.out_dir,
                "outputs": p.outputs,
                "elements": p.elements,
                "documents": p.documents,
                "dynamic_documents": p.dynamic_definitions,
                "modules": p.modules,
                "graph_filter": p.graph_filter,
                "ok": p.ok,
                "failed_definitions": p.failed_definitions,
                "schema_failed": p.schema_failed,
                "written": p.wrote,
                "files_written": len(p.written),
                "files_unchanged": len(p.unchanged),
                "files_removed": len(p.removed),
                "stale": p.stale,
                "diagnostics": [d.to_json() for d in p.diagnostics],
                "cache": p.cache,
            }
            for p in result.projects
        ],
        "cache": {
            "notes": [d.to_json() for d in notes or []],
            "no_op": False,
            **({"remote": result.remote} if getattr(result, "remote", None) else {}),
        },
        "stats": {
            "mode": result.mode,
            "timings_ms": {k: round(v * 1000, 3) for k, v in result.timings.items()},
            "counts": counts,
            "cache_hit_ratio": hit_ratio(counts),
            "wall_ms": round(elapsed * 1000, 3),
            **peak_rss_mb(),
        },
    }


def reused_counts(counts: dict[str, Any]) -> dict[str, Any]:
    """A build's counts as a repeat of it sees them: every lookup a hit, no file read, no
    document validated, every chunk reused."""
    repeat = dict(counts)
    reused = repeat.get("cache_hits", 0) + repeat.get("cache_misses", 0)
    repeat.update(cache_hits=reused, cache_misses=0, files_read=0, files_parsed=0)
    repeat["cache_skips"] = repeat.get("files_seen", 0)
    repeat["documents_validated"] = 0
    chunks = repeat.get("chunks_reused", 0) + repeat.get("chunks_rebuilt", 0)
    repeat.update(chunks_reused=chunks, chunks_rebuilt=0, chunks_written=0)
    return repeat


def reused_project_cache(project: dict[str, Any]) -> dict[str, int] | None:
    """A project's cache counts as a repeat of its build sees them: every lookup a hit,
    every discovered file unread (None stays None: the counts were not told apart)."""
    cache = project.get("cache")
    if cache is None:
        return None
    return {"hits": cache["hits"] + cache["misses"], "misses": 0, "skips": project["modules"]}


def no_op_summary(previous: dict[str, Any], elapsed: float, check: bool) -> dict[str, Any]:
    """A repeat of ``previous`` when nothing changed: every result reused, nothing written."""
    counts = reused_counts(previous["stats"]["counts"])
    reused = counts["cache_hits"]
    projects = []
    for project in previous["projects"]:
        unchanged = project["files_written"] + project["files_unchanged"]
        projects.append(
            {
                **project,
                "files_written": 0,
                "files_unchanged": unchanged,
                "files_removed": 0,
                "stale": [],
                "cache": reused_project_cache(project),
            }
        )
    return {
        **previous,
        "check": check,
        "projects": projects,
        "cache": {"notes": [], "no_op": True},
        "stats": {
            "mode": "no-op",
            "timings_ms": {k: 0.0 for k in previous["stats"]["timings_ms"]},
            "counts": counts,
            "cache_hit_ratio": 1.0 if reused else None,
            "wall_ms": round(elapsed * 1000, 3),
            **peak_rss_mb(),
        },
    }


def _diagnostic(data: dict[str, Any]) -> Diagnostic:
    return Diagnostic(
        data["code"],
        data["message"],
        data["file"],
        data["line"],
        data["column"],
        data.get("hint"),
        Severity(data["severity"]),
    )


def render(
    summary: dict[str, Any],
    color: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Human lines: diagnostics, one line per project, the verdict and cache stats.

    A diagnostic is one entry (several lines with its frame and hint). ``root`` is the
    workspace root that the diagnostics' files are relative to: with it, each located
    diagnostic shows its source line (see ``sodabuild.render.frame``); ``color`` adds
    ANSI colour (the caller decides, e.g. with ``sodabuild.render.color.color_enabled``).
    """
    sources = Sources(root)
    lines = [_diagnostic(d).render(color=color, sources=sources) for d in summary["cache"]["notes"]]
    for project in summary["projects"]:
        lines.extend(
            _diagnostic(d).render(color=color, sources=sources) for d in project["diagnostics"]
        )
    for project in summary["projects"]:
        if summary["check"]:
            stale = project["stale"]
            state = f"{len(stale)} stale" if stale else "up to date"
        elif project["written"]:
            state = (
                f"{project['files_written']} written, {project['files_unchanged']} unchanged"
                + (f", {project['files_removed']} removed" if project["files_removed"] else "")
            )
        else:
            state = "not written (errors; previous outputs kept)"
        diagnostics = project["diagnostics"]
        errors = sum(1 for d in diagnostics if d["severity"] == "error")
        warnings = len(diagnostics) - errors
        notes = []
        if errors:
            notes.append(f"{errors} error{'s' * (errors != 1)}")
        if warnings:
            notes.append(f"{warnings} warning{'s' * (warnings != 1)}")
        if not project["ok"] and not errors:
            if project.get("schema_failed"):
                notes.append("its schema does not build (reported above)")
            if project["failed_definitions"] or not project.get("schema_failed"):
                notes.append(
                    f"{project['failed_definitions']} definitions fail in other projects' sources"
                )
        suffix = f" [{', '.join(notes)}]" if notes else ""
        pruned = project.get("graph_filter")
        scope = f" (graph filter {pruned})" if pruned else ""
        dynamic = project.get("dynamic_documents", 0)
        if dynamic:
            scope += f" ({dynamic} dynamic document{'s' * (dynamic != 1)} not built)"
        lines.append(
            f"{project['name']}: {project['elements']} elements{scope} from "
            f"{project['modules']} modules -> {project['out_dir']} ({state}){suffix}"
        )
        lines.extend(f"  stale: {path}" for path in project["stale"])
    stats = summary["stats"]
    counts = stats["counts"]
    ratio = stats["cache_hit_ratio"]
    cache = (
        f"cache {counts['cache_hits']} hits, {counts['cache_misses']} misses, "
        f"{counts['cache_skips']} files unread"
        + (f" ({ratio:.0%} hit)" if ratio is not None else "")
    )
    verdict = (
        paint("ok", BOLD, GREEN, color=color)
        if summary["ok"]
        else paint("failed", BOLD, RED, color=color)
    )
    if summary["cache"]["no_op"]:
        verdict += " (no-op: nothing changed)"
    remote = summary["cache"].get("remote")
    if remote is not None:
        cache += (
            f"; remote {remote['hits']} hits, {remote['misses']} misses,"
            f" {remote['bytes_downloaded'] / 1e6:.1f} MB in, {remote['bytes_uploaded'] / 1e6:.1f} MB"
            f" out, {remote['seconds']:.2f}s"
        )
    lines.append(f"{verdict} in {stats['wall_ms'] / 1000:.2f}s; {cache}")
    return lines
