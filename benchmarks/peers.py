"""Peer tools for the side-by-side benchmark: relay-compiler on the generated JS twin.

The JS twin (``fixtures/generate.py --js-twin DIR`` or ``generate_js_twin``) holds the
same GraphQL work as the Python workspace, as ``graphql`...``` tags for relay-compiler.
This module installs relay-compiler with npm into a cache directory, builds the argv of
one real (non-watch) compile, which parses, validates, prints and writes artifacts to
``__generated__`` directories next to the sources, and measures it with
:mod:`benchmarks.measure`:

* ``cold``: every ``__generated__`` directory of the twin is removed first;
* ``noop``: a rerun on unchanged files (the twin is compiled once, unmeasured, if it has no
  artifacts yet). Without watchman relay keeps no state between runs, so a no-op rerun
  re-reads and re-parses everything and only skips rewriting unchanged artifacts.

Only the standard library and ``node``/``npm`` on ``PATH`` are needed. The measured
command is ``node_modules/.bin/relay-compiler``: a small Node script that starts the
native binary, so each run includes a Node start-up (~40 ms, ~40 MB RSS).

Usage::

    python -m benchmarks.peers --size medium --runs 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

from benchmarks.measure import Measurement, run_measured, summarize

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = REPO / ".cache" / "peers"
RELAY_VERSION = "21.0.1"
NPM_TIMEOUT_S = 600.0

Scenario = Literal["cold", "noop"]
SCENARIOS: tuple[Scenario, ...] = ("cold", "noop")


@dataclass(frozen=True)
class RelayInstall:
    """Outcome of :func:`ensure_relay`: the runnable binary, or ``None`` and why."""

    version: str
    binary: Path | None
    reason: str = ""  # set when binary is None
    reused: bool = False  # an existing install was used (no npm run)
    seconds: float = 0.0  # time spent installing/checking

    @property
    def ok(self) -> bool:
        return self.binary is not None


def find_npm() -> str | None:
    """Path of ``npm`` on ``PATH``, or ``None``."""
    return shutil.which("npm")


def find_node() -> str | None:
    """Path of ``node`` on ``PATH``, or ``None``."""
    return shutil.which("node")


def _installed_version(prefix: Path) -> str | None:
    manifest = prefix / "node_modules" / "relay-compiler" / "package.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def _check_runnable(binary: Path) -> str:
    """Empty string when ``binary --version`` works, else the reason it does not."""
    try:
        proc = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {binary}: {exc}"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return f"{binary} --version exited {proc.returncode}: {detail[-1] if detail else ''}"
    return ""


def ensure_relay(cache_dir: Path, version: str = RELAY_VERSION) -> RelayInstall:
    """Install ``relay-compiler@version`` into ``cache_dir/relay-<version>`` (or reuse it).

    Runs ``npm install --prefix <dir> --no-audit --no-fund relay-compiler@<version>`` unless
    that directory already holds this version. Never raises for a missing tool or a failed
    install: the result then has ``binary=None`` and a ``reason``.
    """
    start = time.perf_counter()

    def result(binary: Path | None, reason: str = "", reused: bool = False) -> RelayInstall:
        return RelayInstall(version, binary, reason, reused, time.perf_counter() - start)

    if find_node() is None:
        return result(None, "node is not on PATH")
    npm = find_npm()
    if npm is None:
        return result(None, "npm is not on PATH")
    prefix = Path(cache_dir) / f"relay-{version}"
    binary = prefix / "node_modules" / ".bin" / "relay-compiler"
    if _installed_version(prefix) == version and binary.exists():
        problem = _check_runnable(binary)
        if not problem:
            return result(binary, reused=True)
    prefix.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "npm_config_update_notifier": "false"}
    argv = [
        npm,
        "install",
        "--prefix",
        str(prefix),
        "--no-audit",
        "--no-fund",
        f"relay-compiler@{version}",
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return result(None, f"npm install failed: {exc}")
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        return result(None, f"npm install exited {proc.returncode}: {tail}")
    installed = _installed_version(prefix)
    if installed != version:
        return result(None, f"npm installed relay-compiler {installed!r}, wanted {version!r}")
    if not binary.exists():
        return result(None, f"{binary} missing after npm install")
    problem = _check_runnable(binary)
    if problem:
        return result(None, problem)
    return result(binary)


def relay_command(binary: Path, twin_dir: Path) -> list[str]:
    """argv of one real, non-watch relay-compiler compile of the twin (run with cwd=twin_dir).

    Writes the artifacts (no ``--validate``), uses the twin's ``relay.config.json``
    explicitly, scans the directory tree instead of asking watchman, and prints errors
    only.
    """
    return [
        str(binary),
        str(Path(twin_dir).resolve() / "relay.config.json"),
        "--noWatchman",
        "--output",
        "quiet-with-errors",
    ]


def generated_dirs(twin_dir: Path) -> list[Path]:
    """Every ``__generated__`` directory below ``twin_dir``."""
    return sorted(p for p in Path(twin_dir).rglob("__generated__") if p.is_dir())


def clear_artifacts(twin_dir: Path) -> int:
    """Remove every ``__generated__`` directory below ``twin_dir``; return how many."""
    dirs = generated_dirs(twin_dir)
    for d in dirs:
        shutil.rmtree(d)
    return len(dirs)


class PeerError(RuntimeError):
    """A peer tool failed where it had to succeed."""


def measure_relay(binary: Path, twin_dir: Path, scenario: Scenario) -> Measurement:
    """Measure one relay-compiler run on the twin (wall, CPU, peak RSS; see module doc)."""
    twin_dir = Path(twin_dir)
    argv = relay_command(binary, twin_dir)
    if scenario == "cold":
        clear_artifacts(twin_dir)
    elif scenario == "noop":
        if not generated_dirs(twin_dir):
            primer = run_measured(argv, cwd=twin_dir)
            if primer.returncode != 0:
                raise PeerError(f"relay-compiler failed priming the no-op run:\n{primer.stderr}")
    else:
        raise ValueError(f"unknown scenario {scenario!r} (expected one of {SCENARIOS})")
    return run_measured(argv, cwd=twin_dir)


# ------------------------------------------------------------------------------ CLI


def load_generator() -> ModuleType:
    """``fixtures/generate.py`` as a module (the fixtures directory is not a package)."""
    name = "sodabuild_fixtures_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "fixtures" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure relay-compiler on the JS twin.")
    parser.add_argument("--size", choices=sorted(load_generator().SIZES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--version", default=RELAY_VERSION, help="relay-compiler version")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--twin", type=Path, default=None, help="twin dir (default: a temp dir)")
    args = parser.parse_args(None if argv is None else list(argv))

    install = ensure_relay(args.cache_dir, args.version)
    if install.binary is None:
        print(f"relay-compiler unavailable: {install.reason}", file=sys.stderr)
        return 2
    gen = load_generator()
    modules = gen.SIZES[args.size]
    with tempfile.TemporaryDirectory(prefix="relay-twin-") as tmp:
        twin_dir = args.twin or Path(tmp) / "twin"
        start = time.perf_counter()
        twin = gen.generate_js_twin(twin_dir, modules, args.seed)
        twin_s = time.perf_counter() - start
        report: dict[str, object] = {
            "tool": "relay-compiler",
            "version": install.version,
            "install_s": round(install.seconds, 3),
            "install_reused": install.reused,
            "size": args.size,
            "twin": {**asdict(twin), "seconds": round(twin_s, 3)},
        }
        for scenario in SCENARIOS:
            runs = [measure_relay(install.binary, twin_dir, scenario) for _ in range(args.runs)]
            failed = [m for m in runs if m.returncode != 0]
            if failed:
                print(failed[0].stderr, file=sys.stderr)
                return 1
            report[scenario] = summarize(runs).to_json()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
