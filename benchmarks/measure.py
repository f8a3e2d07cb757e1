"""Run one command as a child process and measure it: wall, CPU (user+sys) and peak RSS.

``os.wait4`` gives the resource usage of exactly that child (and the descendants it
waited for), so measurements of consecutive runs never mix.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)


def run_measured(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> Measurement:
    """Run ``argv``; stdout/stderr are captured to temp files (no pipe back-pressure)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=err
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measurement(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


@dataclass(frozen=True)
class Summary:
    """Median and spread of repeated measurements."""

    runs: int
    wall_s: float
    wall_min_s: float
    wall_max_s: float
    cpu_s: float
    peak_rss_mb: float

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def summarize(measurements: Sequence[Measurement]) -> Summary:
    walls = [m.wall_s for m in measurements]
    return Summary(
        runs=len(measurements),
        wall_s=statistics.median(walls),
        wall_min_s=min(walls),
        wall_max_s=max(walls),
        cpu_s=statistics.median(m.cpu_s for m in measurements),
        peak_rss_mb=max(m.peak_rss_mb for m in measurements),
    )
