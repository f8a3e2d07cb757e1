"""A/B: two sodabuild installs on the same generated app, interleaved, in one run.

    python -m benchmarks.ab --base /path/to/base/.venv/bin/python --size large --reps 3

Generates the app once (``fixtures/generate.py``, seed 0), then for each repetition runs,
alternating the two interpreters so machine noise hits both alike: a cold build (no cache,
no outputs) and a no-op build in a new process. Prints medians and each ratio of this
checkout's to the base's, and of each scenario to the same install's cold build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

from benchmarks.measure import run_measured
from benchmarks.run import REPO, SIZES, _generator


def _build(python: str, root: Path) -> float:
    argv = [python, "-m", "sodabuild", "build", "-w", str(root), "--json"]
    measured = run_measured(argv, cwd=root)  # not the repo: -m would import its package
    if measured.returncode not in (0, 1):
        raise SystemExit(f"{python}: build failed: {measured.stdout[-2000:]}{measured.stderr}")
    return measured.wall_s


def _clean(root: Path) -> None:
    shutil.rmtree(root / "app" / "__generated__", ignore_errors=True)
    shutil.rmtree(root / ".cache" / "sodabuild", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    parser.add_argument("--base", required=True, help="the base install's python")
    parser.add_argument("--size", default="large", choices=sorted(SIZES))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench-ab")
    args = parser.parse_args(argv)
    root = args.work / args.size / "ws"
    _generator().generate(root, SIZES[args.size], seed=0)
    installs = {"base": args.base, "this": sys.executable}
    times: dict[str, dict[str, list[float]]] = {name: {"cold": [], "noop": []} for name in installs}
    for rep in range(args.reps):
        order = list(installs) if rep % 2 == 0 else list(reversed(installs))
        for name in order:
            _clean(root)
            times[name]["cold"].append(_build(installs[name], root))
            times[name]["noop"].append(_build(installs[name], root))
            print(
                f"rep {rep} {name}: cold {times[name]['cold'][-1]:.2f} s, "
                f"noop {times[name]['noop'][-1]:.3f} s",
                file=sys.stderr,
            )
    median = {n: {s: statistics.median(v) for s, v in t.items()} for n, t in times.items()}
    report = {
        "size": args.size,
        "reps": args.reps,
        "median_s": median,
        "this_over_base": {s: median["this"][s] / median["base"][s] for s in ("cold", "noop")},
        "noop_over_cold": {n: median[n]["noop"] / median[n]["cold"] for n in installs},
        "runs": times,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
