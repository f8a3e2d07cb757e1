"""Markdown tables of a benchmark result, and ratios against a baseline result."""

from __future__ import annotations

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
