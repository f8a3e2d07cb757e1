"""Markdown tables of a benchmark result, ratios against a baseline result, and the
regression gate over dimensionless ratios (:func:`ratios`, :func:`gate`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "-"
    return f"{a / b:.3f}"


def table(result: dict[str, Any]) -> str:
    """One table per size: scenarios, then peers, with ratios to sodabuild's cold build."""
    lines: list[str] = []
    for size, data in result["sizes"].items():
        app = data.get("app", {})
        lines.append(
            f"### {size}: {app.get('modules', '?')} modules, "
            f"{app.get('operations', '?')} operations, {app.get('fragments', '?')} fragments"
        )
        lines.append("")
        lines.append(
            "| scenario | wall median (s) | wall min-max (s) | CPU (s) | peak RSS (MB) | / cold |"
        )
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        scenarios = data["scenarios"]
        cold = scenarios.get("cold", {}).get("summary", {}).get("wall_s")
        for name, scenario in scenarios.items():
            summary = scenario.get("summary")
            if summary is None:
                lines.append(f"| {name} | skipped: {scenario.get('skipped')} | | | | |")
                continue
            lines.append(
                f"| {name} | {_fmt(summary['wall_s'])} | {_fmt(summary['wall_min_s'])}-"
                f"{_fmt(summary['wall_max_s'])} | {_fmt(summary['cpu_s'])} | "
                f"{_fmt(summary['peak_rss_mb'], 1)} | {_ratio(summary['wall_s'], cold)} |"
            )
        for peer, runs in data.get("peers", {}).items():
            if "skipped" in runs:
                lines.append(f"| {peer} | skipped: {runs['skipped']} | | | | |")
                continue
            for scenario_name, summary in runs.items():
                lines.append(
                    f"| {peer} {scenario_name} | {_fmt(summary['wall_s'])} | "
                    f"{_fmt(summary['wall_min_s'])}-{_fmt(summary['wall_max_s'])} | "
                    f"{_fmt(summary['cpu_s'])} | {_fmt(summary['peak_rss_mb'], 1)} | "
                    f"{_ratio(summary['wall_s'], cold)} |"
                )
        ratios = headline(data)
        if ratios:
            lines.append("")
            lines.append("Ratios: " + "; ".join(f"{k} = {v}" for k, v in ratios.items()))
        lines.append("")
    return "\n".join(lines)


def headline(data: dict[str, Any]) -> dict[str, str]:
    """The ratios every note repeats: vs relay, no-op / cold, repeat / cold."""
    scenarios = data["scenarios"]

    def wall(name: str) -> float | None:
        summary = scenarios.get(name, {}).get("summary")
        return None if summary is None else float(summary["wall_s"])

    cold = wall("cold")
    ratios: dict[str, str] = {}
    relay = data.get("peers", {}).get("relay-compiler", {})
    if "cold" in relay:
        ratios["sodabuild cold / relay cold"] = _ratio(cold, relay["cold"]["wall_s"])
    if "noop" in relay and wall("noop") is not None:
        ratios["sodabuild no-op / relay no-op"] = _ratio(wall("noop"), relay["noop"]["wall_s"])
    for name in ("noop", "repeat_in_session", "leaf_edit", "five_percent_edit"):
        if wall(name) is not None:
            ratios[f"{name} / cold"] = _ratio(wall(name), cold)
    return ratios


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> str:
    """Ratios current / baseline of median wall time, per size and scenario."""
    lines = [
        "| size | scenario | baseline (s) | current (s) | current / baseline |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for size, data in current["sizes"].items():
        base = baseline.get("sizes", {}).get(size)
        if base is None:
            continue
        for name, scenario in data["scenarios"].items():
            now = scenario.get("summary", {}).get("wall_s")
            before = base["scenarios"].get(name, {}).get("summary", {}).get("wall_s")
            if now is None or before is None:
                continue
            lines.append(
                f"| {size} | {name} | {_fmt(before)} | {_fmt(now)} | {_ratio(now, before)} |"
            )
    return "\n".join(lines)


# -- the regression gate ----------------------------------------------------------------------

RELAY = "relay-compiler"
RELAY_WALL = "sodabuild cold / relay cold"
RELAY_RSS = "sodabuild cold peak RSS / relay cold peak RSS"

RatioKey = tuple[str, str]  # (size, ratio name)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _summary_value(summary: Any, key: str) -> float | None:
    return _number(summary.get(key)) if isinstance(summary, Mapping) else None


def ratios(result: Mapping[str, Any]) -> dict[RatioKey, float]:
    """The dimensionless ratios of one result, comparable across machines and days.

    Per size: every measured scenario's median wall / this run's cold median wall (named
    ``"<scenario> / cold"``, cold itself excluded); where relay-compiler ran, sodabuild
    cold wall / relay-compiler cold wall and, when both have it, the same for peak RSS.
    A ratio is absent when its scenario was skipped or a denominator is missing or zero.
    """
    out: dict[RatioKey, float] = {}
    sizes = result.get("sizes")
    if not isinstance(sizes, Mapping):
        return out
    for size, data in sizes.items():
        if not isinstance(data, Mapping):
            continue
        scenarios = data.get("scenarios")
        scenarios = scenarios if isinstance(scenarios, Mapping) else {}
        cold_summary = scenarios.get("cold", {})
        cold_summary = cold_summary.get("summary") if isinstance(cold_summary, Mapping) else None
        cold = _summary_value(cold_summary, "wall_s")
        if not cold:
            continue
        for name, scenario in scenarios.items():
            if name == "cold" or not isinstance(scenario, Mapping):
                continue
            wall = _summary_value(scenario.get("summary"), "wall_s")
            if wall is not None:
                out[(size, f"{name} / cold")] = wall / cold
        peers = data.get("peers")
        relay = peers.get(RELAY) if isinstance(peers, Mapping) else None
        relay_cold = relay.get("cold") if isinstance(relay, Mapping) else None
        relay_wall = _summary_value(relay_cold, "wall_s")
        if relay_wall:
            out[(size, RELAY_WALL)] = cold / relay_wall
        rss = _summary_value(cold_summary, "peak_rss_mb")
        relay_rss = _summary_value(relay_cold, "peak_rss_mb")
        if rss is not None and relay_rss:
            out[(size, RELAY_RSS)] = rss / relay_rss
    return out


@dataclass(frozen=True)
class RatioCheck:
    """One ratio present in both results; worse = current > baseline * (1 + tolerance)."""

    size: str
    name: str
    baseline: float
    current: float
    worse: bool

    @property
    def change(self) -> float | None:
        """current / baseline - 1 (None when the baseline ratio is zero)."""
        return self.current / self.baseline - 1 if self.baseline else None

    def to_json(self) -> dict[str, Any]:
        change = self.change
        return {
            "size": self.size,
            "ratio": self.name,
            "baseline": self.baseline,
            "current": self.current,
            "change": None if change is None else round(change, 6),
            "verdict": "WORSE" if self.worse else "ok",
        }


@dataclass(frozen=True)
class Gate:
    """The outcome of comparing a result's ratios with a baseline's."""

    tolerance: float
    checks: list[RatioCheck] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what was not in both, and why

    @property
    def regressions(self) -> list[RatioCheck]:
        return [c for c in self.checks if c.worse]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def to_json(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "passed": self.passed,
            "checks": [c.to_json() for c in self.checks],
            "regressed": [f"{c.size}: {c.name}" for c in self.regressions],
            "skipped": list(self.skipped),
        }


def _sizes(result: Mapping[str, Any]) -> list[str]:
    sizes = result.get("sizes")
    return list(sizes) if isinstance(sizes, Mapping) else []


def gate(current: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float) -> Gate:
    """Compare every ratio present in both results (see :func:`ratios`)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    now, before = ratios(current), ratios(baseline)
    current_sizes, baseline_sizes = _sizes(current), _sizes(baseline)
    skipped = [f"size {s}: not in the baseline" for s in current_sizes if s not in baseline_sizes]
    skipped += [f"size {s}: not in this run" for s in baseline_sizes if s not in current_sizes]
    checks: list[RatioCheck] = []
    for key, value in now.items():
        size, name = key
        if key in before:
            limit = before[key] * (1 + tolerance)
            checks.append(RatioCheck(size, name, before[key], value, value > limit))
        elif size in baseline_sizes:
            skipped.append(f"{size}: {name}: not in the baseline")
    skipped += [
        f"{size}: {name}: not in this run"
        for size, name in before
        if size in current_sizes and (size, name) not in now
    ]
    return Gate(tolerance, checks, skipped)


def regressions(
    current: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float
) -> list[RatioCheck]:
    """The ratios more than ``tolerance`` (a fraction: 0.05 = 5%) worse than the baseline's."""
    return gate(current, baseline, tolerance).regressions


def gate_table(result: Gate) -> str:
    """Markdown: one row per compared ratio, then what was skipped, then the verdict line."""
    lines = [
        "| size | ratio | baseline | current | change | verdict |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for c in result.checks:
        change = c.change
        shown = "-" if change is None else f"{change:+.1%}"
        verdict = "WORSE" if c.worse else "ok"
        lines.append(
            f"| {c.size} | {c.name} | {c.baseline:.4g} | {c.current:.4g} | {shown} | {verdict} |"
        )
    lines.append("")
    if result.skipped:
        lines.append("Skipped (not in both): " + "; ".join(result.skipped))
        lines.append("")
    tolerance = f"{result.tolerance:.1%}"
    bad = result.regressions
    if bad:
        names = ", ".join(f"{c.size}: {c.name}" for c in bad)
        lines.append(
            f"REGRESSED: {len(bad)} of {len(result.checks)} ratios more than {tolerance} "
            f"worse than the baseline: {names}"
        )
    elif result.checks:
        lines.append(
            f"No ratio regressed: {len(result.checks)} compared, none more than {tolerance} worse."
        )
    else:
        lines.append("No ratio regressed: nothing was compared (no ratio is in both results).")
    return "\n".join(lines)
