"""The benchmark harness: one command for trustworthy numbers, side by side with peers.

    python -m benchmarks.run                                 # small, medium, large; 3 reps
    python -m benchmarks.run --sizes small --reps 1 --no-peers
    python -m benchmarks.run --sizes xlarge                  # 30,000 modules (opt-in)
    python -m benchmarks.run --compare benchmarks/baseline.json   # a gate: exit 1 if worse
    python -m benchmarks.run --save-baseline                 # rewrite benchmarks/baseline.json

It generates each fixture app with ``fixtures/generate.py`` under ``.cache/bench/``, runs
every scenario as separate processes (median and spread over the repetitions), runs
relay-compiler on the app's JavaScript twin when node/npm are present, writes a JSON result
under ``.cache/perf/`` and prints markdown tables.

With ``--compare FILE`` it also prints the median walls against FILE's (informational) and
gates on dimensionless ratios (``benchmarks.report.ratios``): per size, every scenario's
wall / this run's cold wall, and sodabuild cold / relay-compiler cold (wall and peak RSS)
where relay ran in both. It exits 1 when any ratio present in both results is more than
``--tolerance`` (default 0.05 = 5%) larger than FILE's; the verdicts go into the record.
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

from benchmarks.report import compare, gate, gate_table, table
from benchmarks.scenarios import OPT_IN, SCENARIOS, BenchError, ScenarioResult, Workspace

REPO = Path(__file__).resolve().parent.parent
SIZES = {"small": 100, "medium": 1_000, "large": 10_000, "xlarge": 30_000}
DEFAULT_SIZES = "small,medium,large"  # xlarge is opt-in: --sizes xlarge
DEFAULT_TOLERANCE = 0.05


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
    binary = install.binary
    if binary is None:
        reason = install.reason or "relay-compiler could not be installed"
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


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _load_baseline(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """Read a ``--compare`` file before any benchmark runs (fail fast on a bad path)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        parser.error(f"--compare {path}: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("sizes"), dict):
        parser.error(f"--compare {path}: not a benchmark result (no 'sizes' object)")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma-separated, of {', '.join(f'{k}={v}' for k, v in SIZES.items())} modules "
        f"(default {DEFAULT_SIZES})",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--scenarios", default=",".join(name for name in SCENARIOS if name not in OPT_IN)
    )
    parser.add_argument("--no-peers", action="store_true", help="skip relay-compiler")
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench")
    parser.add_argument(
        "--out", type=Path, help="result file (default .cache/perf/bench-<time>.json)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="FILE",
        help="a baseline result: print walls against it and gate on ratios (exit 1 if worse)",
    )
    parser.add_argument(
        "--tolerance",
        type=_tolerance,
        default=DEFAULT_TOLERANCE,
        help="with --compare: a ratio fails when current > baseline * (1 + TOLERANCE) "
        f"(default {DEFAULT_TOLERANCE})",
    )
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
    baseline = _load_baseline(parser, args.compare) if args.compare else None
    result = run(sizes, args.reps, scenarios, not args.no_peers, args.work)
    if args.save_baseline:
        baseline_text = json.dumps(result, indent=2, sort_keys=True) + "\n"
        (REPO / "benchmarks" / "baseline.json").write_text(baseline_text)
    verdict = None
    if baseline is not None:
        verdict = gate(result, baseline, args.tolerance)
        machine = baseline.get("machine")
        result["comparison"] = {
            "baseline": str(args.compare),
            "baseline_created": baseline.get("created"),
            "baseline_commit": machine.get("commit") if isinstance(machine, dict) else None,
            **verdict.to_json(),
        }
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out or REPO / ".cache" / "perf" / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(table(result))
    if baseline is not None and verdict is not None:
        print(f"\n### against {args.compare}: median wall (s), informational\n")
        print(compare(result, baseline))
        print(
            f"\n### regression gate against {args.compare}: ratios, tolerance {args.tolerance:.1%}\n"
        )
        print(gate_table(verdict))
    print(f"\nresult: {out}", file=sys.stderr)
    return 0 if verdict is None or verdict.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
