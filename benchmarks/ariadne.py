"""Typed results side by side with ariadne-codegen, on the same operations (issue 12).

Generates a fixture app (``fixtures/generate.py``), then, one run each, as separate
processes measured by :mod:`benchmarks.measure`:

* ``sodabuild_cold``: ``sodabuild build`` on a clean tree (no out_dir, no cache), with the
  project's default rule;
* ``sodabuild_cold_typed``: the same with ``rules = ["graphql-typed"]`` (typed results on
  top of the artifact, manifest, chunks and run-time indexes);
* ``ariadne_codegen``: a full generation of its client package (pydantic result models,
  input types, enums, fragments, client methods) for the same operations: every
  operation and fragment of the typed build's artifact, each definition once, written to
  one ``.graphql`` file next to the schema, with a ``[tool.ariadne-codegen]`` config.

ariadne-codegen is not a dependency of sodabuild: install it into a venv of its own and
name its executable (``--ariadne``, default ``ariadne-codegen`` on ``PATH``); without it
the script measures sodabuild only and says so. Not run by the test suite.

ariadne-codegen 0.19.0 stops with ``KeyError`` on the large app's operations: a fragment
on an interface that an operation spreads into an object type is "unpacked" (its fields
inlined) and left out of ``fragments.py`` while another fragment still extends it
(``FragmentsGenerator._get_sorted_class_defs``). That run is recorded as it is; with
``--past-crash`` it runs again with that one lookup patched in memory (a missing fragment
has no classes): the cost of its full generation on these operations (the package it
then writes is not checked).

Usage::

    python -m venv /tmp/ariadne-venv && /tmp/ariadne-venv/bin/pip install ariadne-codegen
    python -m benchmarks.ariadne --size large --ariadne /tmp/ariadne-venv/bin/ariadne-codegen \\
        --past-crash
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement, run_measured
from benchmarks.run import SIZES, _generator

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO / ".cache" / "bench-ariadne"

#: ariadne-codegen's command, with the lookup that fails on these operations patched.
PAST_CRASH = """\
import collections, sys
from ariadne_codegen.client_generators.fragments import FragmentsGenerator
from ariadne_codegen.main import main
sorted_defs = FragmentsGenerator._get_sorted_class_defs
FragmentsGenerator._get_sorted_class_defs = lambda self, class_defs_dict, dependencies_dict: (
    sorted_defs(self, collections.defaultdict(list, class_defs_dict), dependencies_dict)
)
sys.argv[0] = "ariadne-codegen"
sys.exit(main())
"""


def _build(workspace: Path) -> Measurement:
    """One cold ``sodabuild build`` of the generated workspace (project ``app``)."""
    shutil.rmtree(workspace / "app" / "__generated__", ignore_errors=True)
    for spare in (workspace / "app").glob(".__generated__*"):
        shutil.rmtree(spare, ignore_errors=True)
    shutil.rmtree(workspace / ".cache", ignore_errors=True)
    os.sync()  # the removal's writes land now, not during the measured build's commit
    time.sleep(2)
    argv = [sys.executable, "-m", "sodabuild", "build", "-w", str(workspace), "--json"]
    measured = run_measured(argv)
    if measured.returncode != 0:
        raise SystemExit(f"sodabuild build failed: {measured.stdout[-2000:]}{measured.stderr}")
    return measured


def _select_typed(workspace: Path, typed: bool) -> None:
    config = workspace / "app" / "sodabuild.toml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith("rules = ")]
    if typed:
        lines.append('rules = ["graphql-typed"]')
    config.write_text("\n".join(lines) + "\n")


def operations_document(artifact: dict[str, Any]) -> tuple[str, int, int]:
    """Every operation and fragment of the artifact's documents, each definition once (the
    composed documents repeat their fragments): the text, and the operation and fragment
    counts."""
    definitions: dict[str, str] = {}
    for element in artifact["elements"].values():
        pieces = element["document"].split("\n\nfragment ")
        for text in [pieces[0], *("fragment " + piece for piece in pieces[1:])]:
            head = text.split("{", 1)[0].split("(", 1)[0].split()
            key = " ".join(head[:2])  # "query Name", "fragment Name"
            if definitions.setdefault(key, text) != text:
                raise SystemExit(f"two different definitions named {key!r}")
    operations = sum(1 for key in definitions if not key.startswith("fragment "))
    text = "\n\n".join(definitions[key] for key in sorted(definitions)) + "\n"
    return text, operations, len(definitions) - operations


def _measure_ariadne(argv: list[str], work: Path) -> dict[str, Any]:
    shutil.rmtree(work / "graphql_client", ignore_errors=True)
    measured = run_measured(argv, cwd=work)
    package = work / "graphql_client"
    files = list(package.rglob("*.py")) if package.exists() else []
    lines = measured.stderr.strip().splitlines()
    return {
        "wall_s": round(measured.wall_s, 3),
        "cpu_s": round(measured.cpu_s, 3),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "returncode": measured.returncode,
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "error": lines[-1] if measured.returncode and lines else "",
    }


def _ariadne(
    ariadne: str, workspace: Path, artifact: dict[str, Any], past_crash: bool
) -> dict[str, Any]:
    found = shutil.which(ariadne)
    if found is None:
        return {"skipped": f"{ariadne} not found (pip install ariadne-codegen in a venv)"}
    work = workspace / "ariadne"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    document, operations, fragments = operations_document(artifact)
    (work / "operations.graphql").write_text(document)
    shutil.copy(workspace / "app" / "schema.graphql", work / "schema.graphql")
    (work / "pyproject.toml").write_text(
        "[tool.ariadne-codegen]\n"
        'schema_path = "schema.graphql"\n'
        'queries_path = "operations.graphql"\n'
        'target_package_name = "graphql_client"\n'
    )
    python = str(Path(found).parent / "python")
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('ariadne-codegen'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    result: dict[str, Any] = {
        "version": version,
        "operations": operations,
        "fragments": fragments,
        "as_released": _measure_ariadne([found], work),
    }
    print(f"ariadne-codegen: {result['as_released']['wall_s']:.2f} s", file=sys.stderr)
    if past_crash and result["as_released"]["returncode"] != 0:
        result["past_crash"] = _measure_ariadne([python, "-c", PAST_CRASH], work)
        seconds = result["past_crash"]["wall_s"]
        print(f"ariadne-codegen past the crash: {seconds:.2f} s", file=sys.stderr)
    return result


def _timings(measured: Measurement) -> dict[str, float]:
    stats = json.loads(measured.stdout)["stats"]
    return {k: round(v / 1000, 3) for k, v in stats["timings_ms"].items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ariadne")
    parser.add_argument("--size", choices=sorted(SIZES), default="large")
    parser.add_argument("--ariadne", default="ariadne-codegen", help="its executable")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument(
        "--past-crash",
        action="store_true",
        help="if ariadne-codegen fails, run it again with the failing lookup patched",
    )
    args = parser.parse_args(argv)
    workspace = args.work / args.size
    _generator().generate(workspace, SIZES[args.size], seed=0)
    result: dict[str, Any] = {"size": args.size, "modules": SIZES[args.size]}
    for name, typed in (("sodabuild_cold", False), ("sodabuild_cold_typed", True)):
        _select_typed(workspace, typed)
        measured = _build(workspace)
        result[name] = {
            "wall_s": round(measured.wall_s, 3),
            "cpu_s": round(measured.cpu_s, 3),
            "peak_rss_mb": round(measured.peak_rss_mb, 1),
            "timings_s": _timings(measured),
        }
        print(f"{name}: {measured.wall_s:.2f} s", file=sys.stderr, flush=True)
    plain, typed_ = result["sodabuild_cold"]["wall_s"], result["sodabuild_cold_typed"]["wall_s"]
    result["typed_added_fraction"] = round((typed_ - plain) / plain, 3)
    artifact = json.loads((workspace / "app" / "__generated__" / "artifact.json").read_text())
    result["ariadne_codegen"] = _ariadne(args.ariadne, workspace, artifact, args.past_crash)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
