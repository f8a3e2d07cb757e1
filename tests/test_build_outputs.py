"""End to end: the real CLI on the bundled example workspace; snapshots and determinism."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from sodabuild.config import load_workspace
from sodabuild.engine import build_workspace
from sodabuild.rules.load import load_rules

from .conftest import read_tree, run_cli

PROJECTS = ("shared-lib", "small-app", "web-client")


def outputs(ws: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for project in PROJECTS:
        out = ws / "fixtures" / project / "__generated__"
        for rel, data in read_tree(out).items():
            found[f"{project}/{rel}"] = data
    return found


def test_example_build_json_summary(example_workspace: Path) -> None:
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0, run.stdout + run.stderr
    summary = run.json()
    assert summary["ok"] is True
    by_name = {p["name"]: p for p in summary["projects"]}
    assert set(by_name) == {*PROJECTS, "gql-app"}
    for name, project in by_name.items():
        if name == "gql-app":  # real gql-library code: one document is built at run time
            assert [d["code"] for d in project["diagnostics"]] == ["GQL_DYNAMIC"]
            assert project["dynamic_documents"] == 1
        else:
            assert project["diagnostics"] == []
            assert project["dynamic_documents"] == 0
        assert project["documents"] == project["elements"] + project["dynamic_documents"]
        assert project["elements"] > 0 and project["modules"] > 0
        for kind in ("artifact", "manifest", "chunks"):
            assert (example_workspace / project["outputs"][kind]).exists(), (name, kind)
    assert by_name["small-app"]["outputs"]["artifact"] == (
        "fixtures/small-app/__generated__/artifact.json"
    )
    assert set(summary["stats"]["timings_ms"]) >= {"discover", "scan", "validate", "write"}


def test_example_outputs_snapshot(example_workspace: Path, snapshot: SnapshotAssertion) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    texts = {path: data.decode() for path, data in outputs(example_workspace).items()}
    assert texts == snapshot


def test_artifact_shape(example_workspace: Path) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    out = example_workspace / "fixtures" / "small-app" / "__generated__"
    artifact = json.loads((out / "artifact.json").read_text())
    manifest = json.loads((out / "persisted-queries.json").read_text())
    elements: dict[str, Any] = artifact["elements"]
    # a project's artifact lists only its own modules' elements
    assert all(not key.startswith(("shared-lib:", "//")) for key in elements)
    # foreign fragments appear in fragment lists under an id naming their project
    foreign = {f for e in elements.values() for f in e["fragments"] if f.startswith("shared-lib:")}
    assert foreign, "small-app uses shared-lib fragments"
    for element in elements.values():
        import hashlib

        digest = hashlib.sha256(element["document"].encode()).hexdigest()
        assert element["hash"] == f"sha256:{digest}"
    operations = [e for e in elements.values() if e["kind"] == "operation"]
    assert manifest["format"] == "apollo-persisted-query-manifest"
    assert manifest["version"] == 1
    assert len(manifest["operations"]) == len(operations)
    for entry in manifest["operations"]:
        assert set(entry) == {"id", "body", "name", "type"}
    # chunk per module holds exactly that module's elements
    modules = {e["module"] for e in elements.values()}
    chunk_files = sorted((out / "chunks").rglob("*.json"))
    assert len(chunk_files) == len(modules)
    for chunk_file in chunk_files:
        chunk = json.loads(chunk_file.read_text())
        assert {e["module"] for e in chunk["elements"].values()} == {chunk["module"]}


def test_no_absolute_paths_and_relocatable(example_workspace: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "deeper" / "copy"
    shutil.copytree(example_workspace, other)
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    assert run_cli("build", "-w", str(other)).code == 0
    first, second = outputs(example_workspace), outputs(other)
    assert first == second
    for data in first.values():
        assert str(tmp_path).encode() not in data


def test_two_builds_byte_identical_and_second_writes_nothing(example_workspace: Path) -> None:
    first = run_cli("build", "-w", str(example_workspace), "--json")
    snapshot = outputs(example_workspace)
    mtimes = {p: os.stat(p).st_mtime_ns for p in example_workspace.rglob("__generated__/**/*.json")}
    second = run_cli("build", "-w", str(example_workspace), "--json")
    assert first.code == second.code == 0
    assert outputs(example_workspace) == snapshot
    assert all(p["files_written"] == 0 for p in second.json()["projects"])
    assert mtimes == {
        p: os.stat(p).st_mtime_ns for p in example_workspace.rglob("__generated__/**/*.json")
    }


def test_shuffled_directory_order_gives_same_outputs(
    example_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build() -> dict[str, bytes]:
        workspace = load_workspace(example_workspace / "sodabuild.toml")
        result = build_workspace(workspace, load_rules(example_workspace, []))
        assert result.ok
        return outputs(example_workspace)

    expected = build()
    for project in PROJECTS:
        shutil.rmtree(example_workspace / "fixtures" / project / "__generated__")
    real_scandir = os.scandir
    rng = random.Random(7)

    class Shuffled:
        def __init__(self, path: Any) -> None:
            self.entries = list(real_scandir(path))
            rng.shuffle(self.entries)

        def __iter__(self) -> Any:
            return self

        def __next__(self) -> Any:
            if not self.entries:
                raise StopIteration
            return self.entries.pop()

        def close(self) -> None:
            self.entries = []

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    monkeypatch.setattr(os, "scandir", Shuffled)
    assert build() == expected


def test_check_mode(example_workspace: Path) -> None:
    stale = run_cli("build", "-w", str(example_workspace), "--check", "--json")
    assert stale.code == 1
    assert any(p["stale"] for p in stale.json()["projects"])
    assert not (example_workspace / "fixtures" / "small-app" / "__generated__").exists()
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    fresh = run_cli("build", "-w", str(example_workspace), "--check")
    assert fresh.code == 0, fresh.stdout
    assert "up to date" in fresh.stdout


def test_stale_chunk_of_deleted_module_is_removed(example_workspace: Path) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    app = example_workspace / "fixtures" / "small-app"
    chunk = app / "__generated__" / "chunks" / "app" / "orgs" / "queries.py.json"
    assert chunk.exists()
    (app / "app" / "orgs" / "queries.py").unlink()
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0, run.stdout
    assert not chunk.exists()
    artifact = json.loads((app / "__generated__" / "artifact.json").read_text())
    assert not any(key.startswith("app/orgs/queries.py::") for key in artifact["elements"])


def test_project_selection(example_workspace: Path) -> None:
    run = run_cli("build", "-w", str(example_workspace), "-p", "small-app", "--json")
    assert run.code == 0, run.stdout
    assert [p["name"] for p in run.json()["projects"]] == ["small-app"]
    assert not (example_workspace / "fixtures" / "shared-lib" / "__generated__").exists()
    unknown = run_cli("build", "-w", str(example_workspace), "-p", "nope")
    assert unknown.code == 2
    assert "unknown project 'nope'" in unknown.stderr


def test_workspace_found_by_walking_up(example_workspace: Path) -> None:
    run = run_cli("build", "--json", cwd=example_workspace / "fixtures" / "small-app" / "app")
    assert run.code == 0, run.stderr
    assert run.json()["workspace"] == "example"


def test_cache_counts_per_project_add_up_to_the_totals(example_workspace: Path) -> None:
    """``projects[i].cache`` besides ``stats.counts``: cold, after an edit, and a no-op."""

    def counts(summary: dict[str, Any]) -> tuple[dict[str, dict[str, int]], list[int]]:
        per_project = {p["name"]: p["cache"] for p in summary["projects"]}
        totals = summary["stats"]["counts"]
        for key in ("hits", "misses", "skips"):
            assert sum(c[key] for c in per_project.values()) == totals[f"cache_{key}"], key
        return per_project, [totals["cache_hits"], totals["cache_misses"]]

    ws = example_workspace
    cold, _ = counts(run_cli("build", "-w", str(ws), "--json").json())
    assert all(c["hits"] == 0 and c["misses"] > 0 for c in cold.values())
    library = ws / "fixtures" / "shared-lib" / "shared" / "graphql" / "user.py"
    library.write_text(library.read_text() + "# edited\n")
    edited, _ = counts(run_cli("build", "-w", str(ws), "--json").json())
    assert edited["shared-lib"]["misses"] == 1  # the edited file's scan
    assert edited["small-app"]["misses"] == edited["gql-app"]["misses"] == 0
    repeat = run_cli("build", "-w", str(ws), "--json").json()
    assert repeat["cache"]["no_op"] is True
    no_op, _ = counts(repeat)
    for project in repeat["projects"]:
        name = project["name"]
        reused = edited[name]["hits"] + edited[name]["misses"]
        assert no_op[name] == {"hits": reused, "misses": 0, "skips": project["modules"]}


def test_no_documents_hint_says_where_and_what_was_searched(tmp_path: Path) -> None:
    (tmp_path / "app" / "pkg").mkdir(parents=True)
    (tmp_path / "sodabuild.toml").write_text(
        '[workspace]\nname = "w"\n\n[plugins.graphql]\ngql_modules = ["myco.gql"]\n\n'
        '[[projects]]\nname = "app"\nroot = "app"\nschema = "schema.graphql"\n'
        'exclude = ["pkg/legacy/**"]\n'
    )
    (tmp_path / "app" / "schema.graphql").write_text("type Query { a: Int }\n")
    (tmp_path / "app" / "pkg" / "a.py").write_text("QUERY = 'query { a }'  # a plain string\n")
    (tmp_path / "app" / "pkg" / "b.py").write_text("from gql import Client  # gql, no call\n")
    run = run_cli("build", "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    (diagnostic,) = run.json()["projects"][0]["diagnostics"]
    assert diagnostic["code"] == "GQL_NO_DOCUMENTS"
    hint = diagnostic["hint"]
    assert hint.startswith(
        "searched app for **/*.py, **/*.graphql, **/*.gql, **/*.ts, **/*.tsx, **/*.mts,"
        " **/*.cts, **/*.js, **/*.jsx, **/*.mjs, **/*.cjs (the rule's"
    )
    assert "minus pkg/legacy/**" in hint
    assert "contains 'gql' or `language=GraphQL` (1 of 2 did)" in hint
    assert "imported from myco.gql ([plugins.graphql] gql_modules)" in hint
    assert ".gql, .graphql files count when they hold an operation or a fragment" in hint
