"""Remote cache scenarios (issue 13), opt-in: they start servers and run extra cold builds.

    python -m benchmarks.run --sizes large --reps 1 --no-peers \\
        --scenarios cold,remote_fresh_checkout_grpc,remote_fresh_checkout_http,remote_server_down

- ``remote_fresh_checkout_grpc`` / ``_http``: a server on 127.0.0.1 (BuildGrid with an
  in-memory CAS and ActionCache, or nginx speaking bazel-remote's HTTP protocol, started
  with ``tests/remote_servers.py``) is filled by one uploading build of the generated app
  (``--remote-upload``, as a CI job would); then each repetition copies the workspace to
  another directory without its cache and outputs (a fresh checkout: other paths, inodes
  and mtimes) and builds it read-only against the server: that build is measured. Its
  outputs must be byte-identical to a local cold build's; ``extra`` has the remote stats,
  the local cache counts, and the uploading build's cost.
- ``remote_server_down``: cold builds with the remote cache on a closed port (nothing
  listens: gRPC, the protocol with the heavier client): the cost of a dead server, to
  compare with ``cold``. Each must warn once (``REMOTE_CACHE``) and write the cold
  build's outputs.

The fresh-checkout scenarios are skipped (with the reason) when the servers are not
installed (``scripts/remote-servers``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement, run_measured, summarize
from benchmarks.scenarios import BenchError, ScenarioResult, Workspace

REPO = Path(__file__).resolve().parent.parent
#: The remote stats kept in ``extra`` (``--json``: ``cache.remote``).
REMOTE_KEYS = (
    "lookups",
    "hits",
    "misses",
    "entries_used",
    "uploaded_entries",
    "bytes_downloaded",
    "bytes_uploaded",
    "blobs_downloaded",
    "blobs_uploaded",
    "verification_failures",
    "seconds",
    "wait_seconds",
    "error",
)
COUNT_KEYS = ("files_parsed", "files_read", "cache_hits", "cache_misses", "documents_validated")

# per workspace: the local cold build's wall and output digests (shared by the scenarios)
_cold: dict[Path, tuple[float, dict[str, str]]] = {}


def _env() -> dict[str, str]:
    return {**os.environ, "SODABUILD_NO_DAEMON": "1"}


def _build(ws: Workspace, *extra: str) -> tuple[Measurement, dict[str, Any]]:
    measured = run_measured(ws.build_argv(*extra), env=_env())
    if measured.returncode != 0:
        raise BenchError(
            f"build {' '.join(extra)} failed ({measured.returncode}): "
            f"{measured.stdout[-2000:]}{measured.stderr[-2000:]}"
        )
    summary: dict[str, Any] = json.loads(measured.stdout)
    return measured, summary


def _digests(out_dir: Path) -> dict[str, str]:
    """Every output file's SHA-256 by relative path."""
    return {
        p.relative_to(out_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out_dir.rglob("*"))
        if p.is_file()
    }


def _cold_build(ws: Workspace) -> tuple[float, dict[str, str]]:
    """A local cold build of ``ws`` (once per workspace): its wall and output digests."""
    if ws.root not in _cold:
        ws.clean()
        measured, _ = _build(ws)
        _cold[ws.root] = (measured.wall_s, _digests(ws.out_dir))
    return _cold[ws.root]


def _remote(summary: dict[str, Any]) -> dict[str, Any]:
    found = summary["cache"].get("remote")
    if not isinstance(found, dict):
        raise BenchError(f"no cache.remote in the summary: {summary['cache']}")
    return {key: found.get(key) for key in REMOTE_KEYS}


def _remote_warnings(summary: dict[str, Any]) -> list[str]:
    return [n["message"] for n in summary["cache"]["notes"] if n["code"] == "REMOTE_CACHE"]


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    counts = summary["stats"]["counts"]
    return {key: counts.get(key) for key in COUNT_KEYS}


def _local(summary: dict[str, Any]) -> dict[str, Any]:
    """What the build did locally: cache counts, phase timings, its workers' memory."""
    stats = summary["stats"]
    return {
        "counts": _counts(summary),
        "timings_ms": stats.get("timings_ms"),
        "peak_rss_workers_mb": stats.get("peak_rss_workers_mb"),
    }


def _fresh_checkout(ws: Workspace) -> Workspace:
    """A copy of the workspace in another directory, without its cache and outputs."""
    target = ws.root.parent / "remote-fresh-checkout"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        ws.root, target, ignore=shutil.ignore_patterns(".cache", "__generated__", "__pycache__")
    )
    return Workspace(target)


@contextlib.contextmanager
def _server(protocol: str) -> Iterator[Any]:
    """A server of ``protocol`` for the ``with`` block; ``_Unavailable`` when it cannot
    be started (not installed)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from tests import remote_servers
    except ImportError as exc:  # pytest missing: the servers' module needs it
        raise _Unavailable(f"tests/remote_servers.py cannot be imported: {exc}") from None
    starter: Callable[[], contextlib.AbstractContextManager[Any]]
    if protocol == "grpc":
        # the setup: BuildGrid with its CAS and ActionCache in memory
        starter = lambda: remote_servers.start_reapi_server(storage="memory")  # noqa: E731
    else:
        starter = remote_servers.start_http_cache_server
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(starter())
        except remote_servers.ServerError as exc:
            raise _Unavailable(str(exc).splitlines()[0]) from None
        yield server


class _Unavailable(Exception):
    """The servers are not installed: the scenario is skipped."""


def measure_fresh_checkout(protocol: str, ws: Workspace, reps: int) -> ScenarioResult:
    name = f"remote_fresh_checkout_{protocol}"
    try:
        with _server(protocol) as server:
            return _fresh_checkout_runs(name, server, ws, reps)
    except _Unavailable as exc:
        return ScenarioResult(name, skipped=f"server not available: {exc}")


def _fresh_checkout_runs(name: str, server: Any, ws: Workspace, reps: int) -> ScenarioResult:
    cold_wall, expected = _cold_build(ws)
    # the CI job: a full build that uploads (from no local cache: it builds cold as well)
    ws.clean()
    upload, uploaded = _build(ws, "--remote-cache", server.url, "--remote-upload")
    upload_stats = _remote(uploaded)
    if upload_stats["error"] or not upload_stats["uploaded_entries"]:
        raise BenchError(f"{name}: the upload failed: {upload_stats}")
    if _digests(ws.out_dir) != expected:
        raise BenchError(f"{name}: the uploading build's outputs differ from a cold build's")
    runs: list[Measurement] = []
    last: dict[str, Any] = {}
    fresh = ws
    try:
        for _ in range(reps):
            fresh = _fresh_checkout(ws)
            measured, summary = _build(fresh, "--remote-cache", server.url)
            stats = _remote(summary)
            if stats["error"] or _remote_warnings(summary):
                raise BenchError(f"{name}: the remote cache failed: {_remote_warnings(summary)}")
            if not stats["hits"]:
                raise BenchError(f"{name}: no remote hits: {stats}")
            if _digests(fresh.out_dir) != expected:
                raise BenchError(f"{name}: outputs differ from the local cold build's")
            runs.append(measured)
            last = summary
    finally:
        if fresh is not ws:
            shutil.rmtree(fresh.root, ignore_errors=True)
    summary_ = summarize(runs)
    return ScenarioResult(
        name,
        summary_,
        extra={
            "server": f"{server.kind} {server.url}"
            + (f" ({server.storage} storage)" if hasattr(server, "storage") else ""),
            "outputs_identical": True,
            "remote": _remote(last),
            **_local(last),
            "cold_wall_s": round(cold_wall, 4),
            "wall_over_cold": round(summary_.wall_s / cold_wall, 4),
            "upload_build": {
                "wall_s": round(upload.wall_s, 4),
                "cpu_s": round(upload.cpu_s, 4),
                "peak_rss_mb": round(upload.peak_rss_mb, 1),
                "over_cold": round(upload.wall_s / cold_wall, 4),
                "remote": upload_stats,
                **_local(uploaded),
            },
        },
    )


def measure_server_down(ws: Workspace, reps: int) -> ScenarioResult:
    name = "remote_server_down"
    cold_wall, expected = _cold_build(ws)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"grpc://127.0.0.1:{port}"
    runs: list[Measurement] = []
    last: dict[str, Any] = {}
    for _ in range(reps):
        ws.clean()
        measured, summary = _build(ws, "--remote-cache", url)
        warnings = _remote_warnings(summary)
        if len(warnings) != 1:
            raise BenchError(f"{name}: expected one REMOTE_CACHE warning, got {warnings}")
        if _digests(ws.out_dir) != expected:
            raise BenchError(f"{name}: outputs differ from the local cold build's")
        runs.append(measured)
        last = summary
    summary_ = summarize(runs)
    return ScenarioResult(
        name,
        summary_,
        extra={
            "url": url,
            "warning": _remote_warnings(last)[0],
            "remote": _remote(last),
            **_local(last),
            "outputs_identical": True,
            "cold_wall_s": round(cold_wall, 4),
            "wall_over_cold": round(summary_.wall_s / cold_wall, 4),
        },
    )


#: Registered in benchmarks/scenarios.py as opt-in scenarios (select with --scenarios).
REMOTE_SCENARIOS: dict[str, Callable[[Workspace, int], ScenarioResult]] = {
    "remote_fresh_checkout_grpc": lambda ws, reps: measure_fresh_checkout("grpc", ws, reps),
    "remote_fresh_checkout_http": lambda ws, reps: measure_fresh_checkout("http", ws, reps),
    "remote_server_down": measure_server_down,
}
