"""Benchmark scenarios over one generated workspace, each run as separate processes.

Every scenario returns a :class:`ScenarioResult`: the summary of its repetitions (median
and spread of wall time, CPU, peak RSS) or the reason it was skipped. Edits are real
GraphQL edits (`` __typename`` added to a selection set), so they change documents; each
repetition restores the file and rebuilds (unmeasured) before the next, so every
repetition starts from the same state.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement, Summary, run_measured, summarize


@dataclass
class ScenarioResult:
    name: str
    summary: Summary | None = None
    skipped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.summary is not None:
            data["summary"] = self.summary.to_json()
        if self.skipped is not None:
            data["skipped"] = self.skipped
        if self.extra:
            data["extra"] = self.extra
        return data


class BenchError(RuntimeError):
    """A scenario's build failed: the numbers would be meaningless."""


@dataclass
class Workspace:
    """A generated workspace (``fixtures/generate.py`` layout: one project ``app``)."""

    root: Path

    @property
    def out_dir(self) -> Path:
        return self.root / "app" / "__generated__"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache" / "sodabuild"

    def build_argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "sodabuild", "build", "-w", str(self.root), "--json", *extra]

    def build(self) -> Measurement:
        measured = run_measured(self.build_argv())
        if measured.returncode != 0:
            raise BenchError(f"build failed ({measured.returncode}): {measured.stdout[-2000:]}")
        return measured

    def clean(self) -> None:
        shutil.rmtree(self.out_dir, ignore_errors=True)
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    def artifact(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out_dir / "artifact.json").read_text())
        return data


def stats_of(measured: Measurement) -> dict[str, Any]:
    """The ``stats`` object of a ``--json`` build."""
    data: dict[str, Any] = json.loads(measured.stdout)["stats"]
    return data


# -- edits ------------------------------------------------------------------------------------


def add_typename(text: str, line: int) -> str:
    """Insert `` __typename`` after the first ``{`` at or after 1-based ``line``."""
    lines = text.split("\n")
    offset = sum(len(x) + 1 for x in lines[: line - 1])
    brace = text.index("{", offset)
    return text[: brace + 1] + " __typename" + text[brace + 1 :]


@dataclass
class Edit:
    """Files to change for one repetition, and how to restore them."""

    changes: dict[Path, str | None]  # new content, None = delete
    originals: dict[Path, str | None] = field(default_factory=dict)

    def apply(self) -> None:
        for path, content in self.changes.items():
            self.originals[path] = path.read_text() if path.exists() else None
            if content is None:
                path.unlink()
            else:
                path.write_text(content)

    def revert(self) -> None:
        for path, content in self.originals.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(content)


def _modules(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    by_module: dict[str, list[dict[str, Any]]] = {}
    for element in ws.artifact()["elements"].values():
        by_module.setdefault(element["module"], []).append(element)
    return dict(sorted(by_module.items()))


def _users(ws: Workspace) -> dict[str, int]:
    users: dict[str, int] = {}
    for element in ws.artifact()["elements"].values():
        for fragment in element["fragments"]:
            users[fragment] = users.get(fragment, 0) + 1
    return users


def _edit_elements(ws: Workspace, elements: list[dict[str, Any]]) -> Edit:
    changes: dict[Path, str | None] = {}
    for element in sorted(elements, key=lambda e: (e["module"], -e["line"])):
        path = ws.root / "app" / element["module"]
        text = changes.get(path) or path.read_text()
        changes[path] = add_typename(text, element["line"])
    return Edit(changes)


def leaf_edit(ws: Workspace) -> Edit:
    """An operation in a module no fragment user depends on."""
    users = _users(ws)
    for module, elements in _modules(ws).items():
        if all(e["kind"] == "operation" for e in elements) and not any(
            f"{module}::{e['binding']}" in users for e in elements
        ):
            return _edit_elements(ws, elements[:1])
    raise BenchError("no leaf module found")


def hub_fragment_edit(ws: Workspace) -> Edit:
    """The fragment included in the most documents."""
    users = _users(ws)
    hub = max(sorted(users), key=lambda fragment: users[fragment])
    element = ws.artifact()["elements"][hub]
    return _edit_elements(ws, [element])


def five_percent_edit(ws: Workspace) -> Edit:
    """One definition in each of 5% of the modules (GraphQL modules, evenly spread)."""
    modules = list(_modules(ws).items())
    total = sum(1 for _ in (ws.root / "app").rglob("*.py"))
    count = max(1, round(total * 0.05))
    step = max(1, len(modules) // count)
    chosen = [elements[0] for _, elements in modules[::step][:count]]
    return _edit_elements(ws, chosen)


def _added_path(ws: Workspace) -> Path:
    packages = sorted(p for p in (ws.root / "app" / "src").iterdir() if p.is_dir())
    return packages[0] / "bench_added_module.py"


ADDED_SOURCE = (
    "from sodabuild.graphql import gql\n\n"
    'BenchAddedQuery = gql("query BenchAddedQuery { __typename }")\n'
)


def config_change(ws: Workspace) -> Edit:
    """A project-config change that reaches discovery only (an extra exclude)."""
    project = ws.root / "app" / "sodabuild.toml"
    text = project.read_text()
    changed = text.replace("[project]\n", '[project]\nexclude = ["**/no_such_dir/**"]\n', 1)
    return Edit({project: changed})


def plugin_option_change(ws: Workspace) -> Edit:
    """A plugin option every scan reads (one more gql module): every file is re-scanned."""
    workspace = ws.root / "sodabuild.toml"
    text = workspace.read_text()
    option = '\n[plugins.graphql]\ngql_modules = ["sodabuild.graphql", "gql", "bench.gql"]\n'
    return Edit({workspace: text + option})


def module_added(ws: Workspace) -> Edit:
    return Edit({_added_path(ws): ADDED_SOURCE})


# -- scenarios --------------------------------------------------------------------------------


def measure_cold(ws: Workspace, reps: int) -> ScenarioResult:
    runs = []
    for _ in range(reps):
        ws.clean()
        runs.append(ws.build())
    stats = stats_of(runs[-1])
    return ScenarioResult("cold", summarize(runs), extra={"last_stats": stats})


def measure_noop(ws: Workspace, reps: int) -> ScenarioResult:
    ws.build()
    runs = [ws.build() for _ in range(reps)]
    stats = stats_of(runs[-1])
    return ScenarioResult(
        "noop",
        summarize(runs),
        extra={"cache_hit_ratio": stats.get("cache_hit_ratio"), "counts": stats["counts"]},
    )


def measure_edit(
    name: str, ws: Workspace, reps: int, make: Callable[[Workspace], Edit]
) -> ScenarioResult:
    ws.build()
    runs = []
    for _ in range(reps):
        edit = make(ws)
        edit.apply()
        try:
            runs.append(ws.build())
        finally:
            edit.revert()
        ws.build()
    return ScenarioResult(name, summarize(runs), extra={"files_changed": len(make(ws).changes)})


def measure_daemon_edit(
    name: str, ws: Workspace, reps: int, make: Callable[[Workspace], Edit]
) -> ScenarioResult:
    """An edit built from the command line while ``sodabuild daemon start`` runs for the
    workspace: the CLI hands the build to the daemon's live session."""
    ws.build()
    daemon = [sys.executable, "-m", "sodabuild", "daemon"]
    started = subprocess.run(
        [*daemon, "start", "-w", str(ws.root)], capture_output=True, text=True, timeout=600
    )
    if started.returncode != 0:
        raise BenchError(f"daemon start failed: {started.stdout}{started.stderr}")
    try:
        runs = []
        for _ in range(reps):
            edit = make(ws)
            edit.apply()
            try:
                measured = ws.build()
                if stats_of(measured).get("mode") != "changes":
                    raise BenchError(f"{name}: the daemon did not take the fast path")
                runs.append(measured)
            finally:
                edit.revert()
            ws.build()
    finally:
        subprocess.run([*daemon, "stop", "-w", str(ws.root)], capture_output=True, timeout=120)
    return ScenarioResult(name, summarize(runs), extra={"files_changed": len(make(ws).changes)})


def measure_module_deleted(ws: Workspace, reps: int) -> ScenarioResult:
    runs = []
    for _ in range(reps):
        added = module_added(ws)
        added.apply()
        ws.build()
        removal = Edit({path: None for path in added.changes})
        removal.apply()
        runs.append(ws.build())
    return ScenarioResult("module_deleted", summarize(runs))


EDITS: dict[str, Callable[[Workspace], Edit]] = {
    "leaf": leaf_edit,
    "hub": hub_fragment_edit,
    "five_percent": five_percent_edit,
}


def measure_session_edit(name: str, ws: Workspace, reps: int, kind: str) -> ScenarioResult:
    """Edits applied to a live session (what watch mode does on a save), in one process:
    the update's own time, without file-event delivery and debouncing."""
    ws.build()
    measured = run_measured(
        [
            sys.executable,
            "-m",
            "benchmarks.inproc",
            "edit",
            "-w",
            str(ws.root),
            "--edit",
            kind,
            "--builds",
            str(reps),
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )
    if measured.returncode != 0:
        raise BenchError(f"session edit failed: {measured.stderr[-2000:]}")
    data = json.loads(measured.stdout)
    runs = [
        Measurement(wall, cpu, measured.peak_rss_mb, 0)
        for wall, cpu in zip(data["walls_s"], data["cpus_s"], strict=True)
    ]
    builds = data["builds"]
    # of the chunks whose bytes did not change, the share never serialized again
    reused = sum(b["chunks_reused"] for b in builds)
    wasted = sum(b["chunks_rebuilt"] - b["chunks_written"] for b in builds)
    total = reused + wasted
    return ScenarioResult(
        name,
        summarize(runs),
        extra={
            "modes": sorted({b["mode"] for b in builds}),
            "files_written": [b["files_written"] for b in builds],
            "chunks_written": [b["chunks_written"] for b in builds],
            "chunks_reused": [b["chunks_reused"] for b in builds],
            "unchanged_chunk_reuse": round(reused / total, 4) if total else None,
            "last_timings_s": {k: round(v, 4) for k, v in builds[-1]["timings_s"].items()},
        },
    )


def measure_repeat(ws: Workspace, reps: int) -> ScenarioResult:
    runs = []
    firsts, seconds = [], []
    for _ in range(reps):
        measured = run_measured(
            [
                sys.executable,
                "-m",
                "benchmarks.inproc",
                "repeat",
                "-w",
                str(ws.root),
                "--builds",
                "2",
            ],
            cwd=Path(__file__).resolve().parent.parent,
        )
        if measured.returncode != 0:
            raise BenchError(f"repeat failed: {measured.stderr[-2000:]}")
        data = json.loads(measured.stdout)
        firsts.append(data["walls_s"][0])
        seconds.append(data["walls_s"][1])
        runs.append(Measurement(data["walls_s"][1], data["cpus_s"][1], measured.peak_rss_mb, 0))
    return ScenarioResult(
        "repeat_in_session",
        summarize(runs),
        extra={"first_build_walls_s": firsts, "second_build_walls_s": seconds},
    )


def measure_discovery(ws: Workspace, reps: int) -> ScenarioResult:
    runs = []
    files = 0
    for _ in range(reps):
        measured = run_measured(
            [sys.executable, "-m", "benchmarks.inproc", "discover", "-w", str(ws.root)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        if measured.returncode != 0:
            raise BenchError(f"discovery failed: {measured.stderr[-2000:]}")
        data = json.loads(measured.stdout)
        files = data["files"]
        runs.append(Measurement(data["wall_s"], data["cpu_s"], measured.peak_rss_mb, 0))
    return ScenarioResult("discovery", summarize(runs), extra={"files": files})


def _line_reader(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """A thread drains the child's stdout into a queue (no select on a buffered pipe)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue[str], needle: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if needle in lines.get(timeout=0.5):
                return True
        except queue.Empty:
            continue
    return False


def _stat_key(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def measure_watch(ws: Workspace, reps: int) -> ScenarioResult:
    """File saved -> artifact on disk updated, with ``sodabuild build --watch`` running."""
    import signal

    help_text = subprocess.run(
        [sys.executable, "-m", "sodabuild", "build", "--help"], capture_output=True, text=True
    ).stdout
    if "--watch" not in help_text:
        return ScenarioResult("watch_latency", skipped="sodabuild has no watch mode yet")
    ws.build()
    artifact = ws.out_dir / "artifact.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sodabuild", "build", "--watch", "-w", str(ws.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    runs: list[Measurement] = []
    lines = _line_reader(proc)
    try:
        if not _wait_for_line(lines, "watching", 600):
            raise BenchError("watch mode did not start")
        for _ in range(reps):
            for step in ("apply", "revert"):
                edit = leaf_edit(ws) if step == "apply" else None
                before = artifact.read_bytes()
                stamp = _stat_key(artifact)
                started = time.perf_counter()
                if edit is not None:
                    edit.apply()
                    reverting = edit
                else:
                    reverting.revert()
                # the artifact is replaced by a rename: poll its stat, then compare bytes
                while _stat_key(artifact) == stamp or artifact.read_bytes() == before:
                    if time.perf_counter() - started > 120:
                        raise BenchError("watch mode did not update the artifact")
                    time.sleep(0.001)
                latency = time.perf_counter() - started
                if step == "apply":
                    runs.append(Measurement(latency, latency, 0.0, 0))
                time.sleep(0.3)  # let the watcher settle before the next save
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return ScenarioResult("watch_latency", summarize(runs), extra={"edit": "leaf operation"})


SCENARIOS: dict[str, Callable[[Workspace, int], ScenarioResult]] = {
    "cold": measure_cold,
    "noop": measure_noop,
    "repeat_in_session": measure_repeat,
    "leaf_edit": lambda ws, reps: measure_edit("leaf_edit", ws, reps, leaf_edit),
    "hub_fragment_edit": lambda ws, reps: measure_edit(
        "hub_fragment_edit", ws, reps, hub_fragment_edit
    ),
    "five_percent_edit": lambda ws, reps: measure_edit(
        "five_percent_edit", ws, reps, five_percent_edit
    ),
    "leaf_edit_in_session": lambda ws, reps: measure_session_edit(
        "leaf_edit_in_session", ws, reps, "leaf"
    ),
    "hub_fragment_edit_in_session": lambda ws, reps: measure_session_edit(
        "hub_fragment_edit_in_session", ws, reps, "hub"
    ),
    "five_percent_edit_in_session": lambda ws, reps: measure_session_edit(
        "five_percent_edit_in_session", ws, reps, "five_percent"
    ),
    "leaf_edit_via_daemon": lambda ws, reps: measure_daemon_edit(
        "leaf_edit_via_daemon", ws, reps, leaf_edit
    ),
    "five_percent_edit_via_daemon": lambda ws, reps: measure_daemon_edit(
        "five_percent_edit_via_daemon", ws, reps, five_percent_edit
    ),
    "module_added": lambda ws, reps: measure_edit("module_added", ws, reps, module_added),
    "module_deleted": measure_module_deleted,
    "config_change": lambda ws, reps: measure_edit("config_change", ws, reps, config_change),
    "plugin_option_change": lambda ws, reps: measure_edit(
        "plugin_option_change", ws, reps, plugin_option_change
    ),
    "discovery": measure_discovery,
    "watch_latency": measure_watch,
}


# -- opt-in scenarios: run when named (--scenarios), left out of the default list -------------

#: The remote cache's (benchmarks/remote.py): they start servers and run extra cold builds;
#: run.py's default list leaves them out.
OPT_IN = ("remote_fresh_checkout_grpc", "remote_fresh_checkout_http", "remote_server_down")


def _opt_in(name: str) -> Callable[[Workspace, int], ScenarioResult]:
    def scenario(ws: Workspace, reps: int) -> ScenarioResult:
        from benchmarks.remote import REMOTE_SCENARIOS

        return REMOTE_SCENARIOS[name](ws, reps)

    return scenario


SCENARIOS.update({name: _opt_in(name) for name in OPT_IN})
