"""The benchmark regression gate: dimensionless ratios of two results, compared with a
tolerance (``benchmarks.report``), and ``python -m benchmarks.run --compare`` exiting 1 on
a regression. No wall-clock limit is asserted anywhere: only the ratio arithmetic and the
exit codes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import run as bench_run
from benchmarks.report import RELAY_RSS, RELAY_WALL, gate, gate_table, ratios, regressions

REPO = Path(__file__).resolve().parent.parent


def summary(wall: float, rss: float = 100.0) -> dict[str, Any]:
    return {
        "runs": 1,
        "wall_s": wall,
        "wall_min_s": wall,
        "wall_max_s": wall,
        "cpu_s": wall,
        "peak_rss_mb": rss,
    }


def result(
    walls: dict[str, dict[str, float]],
    relay: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """A result dict: size -> scenario -> median wall; relay: size -> (cold wall, RSS)."""
    sizes: dict[str, Any] = {}
    for size, scenarios in walls.items():
        entry: dict[str, Any] = {
            "app": {"modules": 100},
            "scenarios": {
                name: {"name": name, "summary": summary(wall, rss=200.0)}
                for name, wall in scenarios.items()
            },
        }
        if relay is not None and size in relay:
            wall, rss = relay[size]
            entry["peers"] = {"relay-compiler": {"cold": summary(wall, rss), "noop": summary(wall)}}
        sizes[size] = entry
    return {"kind": "sodabuild-benchmark", "sizes": sizes}


# -- ratios -----------------------------------------------------------------------------------


def test_ratios_are_scenario_over_this_runs_cold() -> None:
    data = result({"small": {"cold": 2.0, "noop": 0.5, "leaf_edit": 1.0}})
    assert ratios(data) == {
        ("small", "noop / cold"): pytest.approx(0.25),
        ("small", "leaf_edit / cold"): pytest.approx(0.5),
    }


def test_ratios_skip_skipped_scenarios_and_sizes_without_cold() -> None:
    data = result({"small": {"cold": 2.0, "noop": 0.5}, "medium": {"noop": 0.3}})
    data["sizes"]["small"]["scenarios"]["watch_latency"] = {
        "name": "watch_latency",
        "skipped": "no watch mode",
    }
    assert set(ratios(data)) == {("small", "noop / cold")}


def test_ratios_include_relay_wall_and_rss() -> None:
    data = result({"large": {"cold": 12.0, "noop": 0.3}}, relay={"large": (4.0, 160.0)})
    got = ratios(data)
    assert got[("large", RELAY_WALL)] == pytest.approx(3.0)
    assert got[("large", RELAY_RSS)] == pytest.approx(200.0 / 160.0)


def test_ratios_without_relay_or_with_relay_skipped() -> None:
    data = result({"large": {"cold": 12.0}})
    data["sizes"]["large"]["peers"] = {"relay-compiler": {"skipped": "npm is not on PATH"}}
    assert ratios(data) == {}


# -- the gate ---------------------------------------------------------------------------------


def test_a_regression_beyond_tolerance_is_reported() -> None:
    baseline = result({"small": {"cold": 1.0, "noop": 0.20, "leaf_edit": 0.5}})
    # noop / cold 0.20 -> 0.22 (+10%); leaf_edit / cold 0.5 -> 0.5
    current = result({"small": {"cold": 2.0, "noop": 0.44, "leaf_edit": 1.0}})
    bad = regressions(current, baseline, 0.05)
    assert [(c.size, c.name) for c in bad] == [("small", "noop / cold")]
    assert bad[0].baseline == pytest.approx(0.2)
    assert bad[0].current == pytest.approx(0.22)
    assert bad[0].change == pytest.approx(0.10)
    outcome = gate(current, baseline, 0.05)
    assert not outcome.passed
    table = gate_table(outcome)
    assert "| small | noop / cold | 0.2 | 0.22 | +10.0% | WORSE |" in table
    assert "| small | leaf_edit / cold | 0.5 | 0.5 | +0.0% | ok |" in table
    assert table.splitlines()[-1].startswith("REGRESSED: 1 of 2 ratios")
    assert "small: noop / cold" in table.splitlines()[-1]


def test_within_tolerance_or_better_is_not_a_regression() -> None:
    baseline = result({"small": {"cold": 1.0, "noop": 0.20, "leaf_edit": 0.5}})
    # noop / cold +4% (within 5%), leaf_edit / cold much better
    current = result({"small": {"cold": 1.0, "noop": 0.208, "leaf_edit": 0.1}})
    assert regressions(current, baseline, 0.05) == []
    outcome = gate(current, baseline, 0.05)
    assert outcome.passed
    assert len(outcome.checks) == 2
    assert gate_table(outcome).splitlines()[-1].startswith("No ratio regressed: 2 compared")
    # the tolerance is a parameter: the same +4% fails at 3%
    assert [c.name for c in regressions(current, baseline, 0.03)] == ["noop / cold"]


def test_absolute_times_do_not_matter_only_ratios() -> None:
    baseline = result({"medium": {"cold": 1.0, "noop": 0.1}})
    slower_machine = result({"medium": {"cold": 3.0, "noop": 0.3}})
    assert gate(slower_machine, baseline, 0.0).passed


def test_missing_scenarios_and_sizes_are_skipped_and_said() -> None:
    baseline = result(
        {"small": {"cold": 1.0, "noop": 0.2, "discovery": 0.01}, "large": {"cold": 10.0}}
    )
    current = result(
        {"small": {"cold": 1.0, "noop": 0.2, "leaf_edit": 9.0}, "xlarge": {"cold": 30.0}}
    )
    outcome = gate(current, baseline, 0.05)
    assert [(c.size, c.name) for c in outcome.checks] == [("small", "noop / cold")]
    assert outcome.passed  # leaf_edit / cold is huge but has nothing to compare with
    assert set(outcome.skipped) == {
        "size xlarge: not in the baseline",
        "size large: not in this run",
        "small: leaf_edit / cold: not in the baseline",
        "small: discovery / cold: not in this run",
    }
    assert "Skipped (not in both):" in gate_table(outcome)


def test_nothing_in_common_passes_and_says_so() -> None:
    outcome = gate(result({"small": {"cold": 1.0}}), result({"large": {"cold": 1.0}}), 0.05)
    assert outcome.passed and outcome.checks == []
    assert "nothing was compared" in gate_table(outcome).splitlines()[-1]


def test_relay_ratio_compared_when_present_in_both() -> None:
    walls = {"large": {"cold": 12.0, "noop": 0.3}}
    baseline = result(walls, relay={"large": (4.0, 200.0)})  # cold / relay = 3.0, RSS 1.0
    current = result(walls, relay={"large": (3.0, 200.0)})  # relay got faster: 4.0 (+33%)
    bad = regressions(current, baseline, 0.05)
    assert [(c.size, c.name) for c in bad] == [("large", RELAY_WALL)]
    names = {c.name for c in gate(current, baseline, 0.05).checks}
    assert names == {"noop / cold", RELAY_WALL, RELAY_RSS}


def test_relay_ratio_skipped_when_relay_ran_in_one_only() -> None:
    walls = {"large": {"cold": 12.0, "noop": 0.3}}
    baseline = result(walls, relay={"large": (1.0, 1.0)})  # would be a huge regression
    current = result(walls)  # --no-peers
    outcome = gate(current, baseline, 0.05)
    assert outcome.passed
    assert [c.name for c in outcome.checks] == ["noop / cold"]
    assert f"large: {RELAY_WALL}: not in this run" in outcome.skipped
    assert f"large: {RELAY_RSS}: not in this run" in outcome.skipped


def test_gate_record_is_json() -> None:
    baseline = result({"small": {"cold": 1.0, "noop": 0.1}})
    current = result({"small": {"cold": 1.0, "noop": 0.2}})
    record = json.loads(json.dumps(gate(current, baseline, 0.05).to_json()))
    assert record["passed"] is False
    assert record["regressed"] == ["small: noop / cold"]
    assert record["checks"][0]["verdict"] == "WORSE"
    assert record["tolerance"] == 0.05


def test_negative_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError):
        gate(result({}), result({}), -0.1)


# -- sizes --------------------------------------------------------------------------------------


def test_harness_sizes_match_the_generator_presets() -> None:
    spec = importlib.util.spec_from_file_location(
        "sodabuild_gate_test_generate", REPO / "fixtures" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    assert bench_run.SIZES == module.SIZES
    assert bench_run.SIZES["xlarge"] == 30_000
    assert "xlarge" not in bench_run.DEFAULT_SIZES.split(",")


# -- the CLI gate -------------------------------------------------------------------------------


def _run_gate(tmp_path: Path, baseline: dict[str, Any], tag: str) -> tuple[int, str, Path]:
    baseline_file = tmp_path / f"baseline-{tag}.json"
    baseline_file.write_text(json.dumps(baseline))
    out = tmp_path / f"result-{tag}.json"
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
            "cold,noop",
            "--compare",
            str(baseline_file),
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
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.returncode, proc.stdout, out


@pytest.mark.parametrize(
    ("noop_wall", "expected"),
    [
        (1e-9, 1),  # baseline noop / cold absurdly small: this run's must be worse
        (1e9, 0),  # absurdly large: this run's must be better
    ],
    ids=["regression-fails", "improvement-passes"],
)
def test_compare_is_a_gate(tmp_path: Path, noop_wall: float, expected: int) -> None:
    baseline = result({"small": {"cold": 1.0, "noop": noop_wall}, "large": {"cold": 1.0}})
    code, stdout, out = _run_gate(tmp_path, baseline, str(expected))
    assert code == expected, stdout[-3000:]
    verdict = "WORSE" if expected else "ok"
    assert "| small | noop / cold |" in stdout
    assert f"| {verdict} |" in stdout
    assert "size large: not in this run" in stdout
    last = stdout.rstrip().splitlines()[-1]
    assert last.startswith("REGRESSED" if expected else "No ratio regressed"), last
    record = json.loads(out.read_text())  # the record is written either way, with verdicts
    comparison = record["comparison"]
    assert comparison["passed"] is (expected == 0)
    assert comparison["regressed"] == (["small: noop / cold"] if expected else [])
    assert [c["ratio"] for c in comparison["checks"]] == ["noop / cold"]
    assert comparison["tolerance"] == 0.05
