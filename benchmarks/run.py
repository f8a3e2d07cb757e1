"""The benchmark harness: one command for trustworthy numbers, side by side with peers.

    python -m benchmarks.run                                 # small, medium, large; 3 reps
    python -m benchmarks.run --sizes small --reps 1 --no-peers
    python -m benchmarks.run --compare benchmarks/baseline.json
    python -m benchmarks.run --save-baseline                 # rewrite benchmarks/baseline.json

It generates each fixture app with ``fixtures/generate.py`` under ``.cache/bench/``, runs
every scenario as separate processes (median and spread over the repetitions), runs
relay-compiler on the app's JavaScript twin when node/npm are present, writes a JSON result
under ``.cache/perf/`` and prints markdown tables (and ratios against a baseline).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.report import compare, table
from benchmarks.scenarios import SCENARIOS, BenchError, ScenarioResult, Workspace

REPO = Path(__file__).resolve().parent.parent
SIZES = {"small": 100, "medium": 1_000, "large": 10_000}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sodabuild_fixture_generate", REPO / "fixtures" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def _peers(size_dir: Path, modules: int, reps: int, generator: ModuleType) -> dict[str, Any]:
    try:
        from benchmarks import peers
    except ImportError as exc:  # pragma: no cover - peers module missing
        return {"relay-compiler": {"skipped": f"peers module unavailable: {exc}"}}
    from benchmarks.measure import summarize

    install = peers.ensure_relay(REPO / ".cache" / "peers")
    binary = getattr(install, "binary", install)
    if binary is None:
        reason = getattr(install, "reason", "relay-compiler could not be installed")
        return {"relay-compiler": {"skipped": reason}}
    twin = size_dir / "js"
    generator.generate_js_twin(twin, modules, seed=0)
    results: dict[str, Any] = {}
    for scenario in ("cold", "noop"):
        runs = [peers.measure_relay(binary, twin, scenario) for _ in range(reps)]
        failed = [r for r in runs if r.returncode != 0]
        if failed:
            return {"relay-compiler": {"skipped": f"relay failed: {failed[0].stderr[-500:]}"}}
        results[scenario] = summarize(runs).to_json()
    return {"relay-compiler": results}


def run(
    sizes: list[str], reps: int, scenarios: list[str], with_peers: bool, work: Path
) -> dict[str, Any]:
    generator = _generator()
    result: dict[str, Any] = {
        "kind": "sodabuild-benchmark",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "reps": reps,
        "sizes": {},
    }
    for size in sizes:
        size_dir = work / size
        ws = Workspace(size_dir / "ws")
        stats = generator.generate(ws.root, SIZES[size], seed=0)
        app = {
            key: getattr(stats, key)
            for key in (
                "modules",
                "modules_with_graphql",
                "operations",
                "fragments",
                "schema_types",
            )
        }
        print(f"## {size}: generated {app}", file=sys.stderr, flush=True)
        measured: dict[str, Any] = {}
        for name in scenarios:
            print(f"   {size}/{name} ...", file=sys.stderr, flush=True)
            try:
                outcome = SCENARIOS[name](ws, reps)
            except BenchError as exc:
                outcome = ScenarioResult(name, skipped=f"failed: {exc}")
            measured[name] = outcome.to_json()
        entry: dict[str, Any] = {"app": app, "scenarios": measured}
        if with_peers:
            print(f"   {size}/relay-compiler ...", file=sys.stderr, flush=True)
            entry["peers"] = _peers(size_dir, SIZES[size], reps, generator)
        result["sizes"][size] = entry
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--no-peers", action="store_true", help="skip relay-compiler")
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench")
    parser.add_argument(
        "--out", type=Path, help="result file (default .cache/perf/bench-<time>.json)"
    )
    parser.add_argument("--compare", type=Path, help="a baseline result to print ratios against")
    parser.add_argument(
        "--save-baseline", action="store_true", help="also write benchmarks/baseline.json"
    )
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown += [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown size or scenario: {', '.join(unknown)}")
    result = run(sizes, args.reps, scenarios, not args.no_peers, args.work)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out or REPO / ".cache" / "perf" / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    out.write_text(text)
    if args.save_baseline:
        (REPO / "benchmarks" / "baseline.json").write_text(text)
    print(table(result))
    if args.compare:
        print("\n### against " + str(args.compare) + "\n")
        print(compare(result, json.loads(args.compare.read_text())))
    print(f"\nresult: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
