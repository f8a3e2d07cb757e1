"""The benchmark harness keeps working: one repetition on the small app (structure only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.report import compare, headline, table

from .conftest import REPO

SCENARIOS = (
    "cold,noop,repeat_in_session,leaf_edit,module_added,module_deleted,discovery,watch_latency"
)


def test_harness_smoke(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--sizes",
            "small",
            "--reps",
            "1",
            "--no-peers",
            "--scenarios",
            SCENARIOS,
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["kind"] == "sodabuild-benchmark"
    assert result["machine"]["cpus"] >= 1
    small = result["sizes"]["small"]
    assert small["app"]["modules"] == 100
    scenarios = small["scenarios"]
    assert set(scenarios) == set(SCENARIOS.split(","))
    for name, scenario in scenarios.items():
        if "skipped" in scenario:
            assert name == "watch_latency", scenario
            continue
        summary = scenario["summary"]
        assert summary["runs"] == 1
        assert summary["wall_s"] > 0
        if name != "watch_latency":  # a latency, not a process of its own
            assert summary["peak_rss_mb"] > 0
    assert "| cold |" in proc.stdout
    assert "noop / cold" in proc.stdout


def test_report_ratios_against_a_baseline() -> None:
    def result(cold: float, noop: float) -> dict[str, object]:
        summary = {"wall_min_s": 0, "wall_max_s": 0, "cpu_s": 0, "peak_rss_mb": 1, "runs": 1}
        return {
            "sizes": {
                "large": {
                    "app": {"modules": 10},
                    "scenarios": {
                        "cold": {"summary": {**summary, "wall_s": cold}},
                        "noop": {"summary": {**summary, "wall_s": noop}},
                    },
                    "peers": {"relay-compiler": {"cold": {**summary, "wall_s": 2.0}}},
                }
            }
        }

    current, baseline = result(10.0, 0.5), result(20.0, 20.0)
    assert "| large | noop | 20.000 | 0.500 | 0.025 |" in compare(current, baseline)
    ratios = headline(current["sizes"]["large"])  # type: ignore[index]
    assert ratios["sodabuild cold / relay cold"] == "5.000"
    assert ratios["noop / cold"] == "0.050"
    assert "relay-compiler cold" in table(current)
