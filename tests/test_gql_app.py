"""End to end: the gql-app example project (code written for the ``gql`` client library:
plain-string constants, fragments spliced as strings, gql() inside methods, marked strings,
.graphql files, one run-time document) through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from .conftest import FIXTURES, REPO, CliRun, read_tree, run_cli

APP = "fixtures/gql-app"
GENERATED = f"{APP}/__generated__"
CLIENT = f"{APP}/ghclient/client.py"
FRAGMENTS = f"{APP}/ghclient/fragments.py"
QUERIES = f"{APP}/ghclient/queries.py"
#: The one document known only at run time: `gql(build_query(fields))`, at the argument.
DYNAMIC = ("warning", "GQL_DYNAMIC", CLIENT, 125, 40)
#: `title` in the IssueFields fragment string of fragments.py (line 23, column 3).
ISSUE_TITLE = (23, 3)


def copy_workspace(target: Path) -> Path:
    """The bundled example workspace, gql-app included, copied to ``target``."""
    (target / "fixtures").mkdir(parents=True)
    for name in ("shared-lib", "small-app", "gql-app", "web-client"):
        shutil.copytree(
            FIXTURES / name,
            target / "fixtures" / name,
            ignore=shutil.ignore_patterns("__generated__", "__pycache__", ".*.sodabuild-*"),
        )
    shutil.copy(REPO / "workspace.example.toml", target / "sodabuild.toml")
    return target


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return copy_workspace(tmp_path / "ws")


def build(ws: Path, *args: str) -> CliRun:
    return run_cli("build", "-w", str(ws), "--json", *args)


def located(summary: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """Every diagnostic of the summary as (severity, code, file, line, column)."""
    return [
        (d["severity"], d["code"], d["file"], d["line"], d["column"])
        for project in summary["projects"]
        for d in project["diagnostics"]
    ]


def outputs(ws: Path) -> dict[str, bytes]:
    return read_tree(ws / GENERATED)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def test_builds_with_only_the_dynamic_warning(workspace: Path, snapshot: SnapshotAssertion) -> None:
    run = build(workspace)
    assert run.code == 0, run.stdout + run.stderr
    summary = run.json()
    assert summary["ok"] is True
    assert located(summary) == [DYNAMIC]
    (project,) = (p for p in summary["projects"] if p["name"] == "gql-app")
    (warning,) = project["diagnostics"]
    assert "build_query(fields)" in warning["message"]
    assert project["dynamic_documents"] == 1
    assert project["failed_definitions"] == 0

    artifact = json.loads((workspace / GENERATED / "artifact.json").read_text())
    elements: dict[str, Any] = artifact["elements"]
    names = {e["name"] for e in elements.values()}
    # every static spelling became a document: constants, `%`, f-string, dedent + `+`,
    # class attribute, nested call, `gql.gql`, re-exported constant, marked strings, files
    assert names >= {
        "AddStar",
        "Contributors",
        "Issue",
        "OpenPullRequests",
        "RateLimit",
        "Repo",
        "RepoFields",
        "RepoIssues",
        "RepositoryOverview",
        "SearchRepos",
        "User",
        "Viewer",
    }
    assert "ViewerFields" not in names
    assert not any(key.startswith("schema.graphql") for key in elements)  # the schema file
    # the conditional builds one element per variant
    variants = {
        e["name"]
        for key, e in elements.items()
        if key.startswith("ghclient/client.py::GitHubClient.repositories.")
    }
    assert variants == {"OrgRepos", "UserRepos"}
    # the .graphql operation spreads a marked Python fragment and another file's fragments
    overview = elements["ghclient/graphql/repository.graphql::RepositoryOverview"]
    assert overview["fragments"] == [
        "ghclient/fragments.py::REPO_FIELDS",
        "ghclient/graphql/fragments.graphql::ActorFields",
        "ghclient/graphql/fragments.graphql::IssueSummary",
    ]
    # spliced fragment strings are part of their documents
    issues = next(e for e in elements.values() if e["name"] == "RepoIssues")
    assert "fragment IssueFields on Issue" in issues["document"]
    assert "fragment PageInfoFields on PageInfo" in issues["document"]

    texts = {
        name: (workspace / GENERATED / name).read_text()
        for name in ("artifact.json", "persisted-queries.json")
    }
    assert texts == snapshot


def test_text_output_shows_the_one_warning(workspace: Path) -> None:
    run = run_cli("build", "-w", str(workspace), "-p", "gql-app")
    assert run.code == 0, run.stdout + run.stderr
    warnings = [line for line in run.stdout.splitlines() if " warning " in line]
    assert warnings == [
        f"{CLIENT}:125:40: warning GQL_DYNAMIC document not built: `build_query(fields)` "
        "is a call: its result is known only at run time"
    ]


def test_invalid_field_in_fragment_string_located_in_fragments_py(workspace: Path) -> None:
    assert build(workspace, "-p", "gql-app").code == 0
    before = outputs(workspace)
    fragments = workspace / FRAGMENTS
    line, column = ISSUE_TITLE
    assert fragments.read_text().splitlines()[line - 1][column - 1 :] == "title"
    edit(fragments, "  title\n", "  headline\n")

    run = build(workspace, "-p", "gql-app")
    assert run.code == 1, run.stdout + run.stderr
    summary = run.json()
    errors = [d for d in located(summary) if d[0] == "error"]
    assert errors == [("error", "GQL_VALIDATION", FRAGMENTS, line, column)]
    assert [d for d in located(summary) if d[0] != "error"] == [DYNAMIC]
    (project,) = summary["projects"]
    (error,) = (d for d in project["diagnostics"] if d["severity"] == "error")
    assert "headline" in error["message"] and "Issue" in error["message"]
    # a project with errors keeps its previous outputs
    assert outputs(workspace) == before


def test_no_op_then_constant_edit_matches_clean_build(workspace: Path, tmp_path: Path) -> None:
    first = build(workspace, "-p", "gql-app")
    assert first.code == 0, first.stdout + first.stderr
    built = outputs(workspace)
    generated = workspace / GENERATED
    mtimes = {p: os.stat(p).st_mtime_ns for p in generated.rglob("*") if p.is_file()}

    second = build(workspace, "-p", "gql-app")
    assert second.code == 0, second.stdout + second.stderr
    summary = second.json()
    assert summary["cache"]["no_op"] is True
    assert [p["files_written"] for p in summary["projects"]] == [0]
    assert located(summary) == [DYNAMIC]  # the warning is shown again
    assert outputs(workspace) == built
    assert mtimes == {p: os.stat(p).st_mtime_ns for p in generated.rglob("*") if p.is_file()}

    def change(ws: Path) -> None:
        queries = ws / QUERIES
        # used by two conditional variants in client.py, and by name from __init__'s
        # `from .queries import *` in reports.py
        edit(
            queries,
            "      totalCount\n      nodes { ...RepoFields }",
            "      nodes { ...RepoFields }",
        )
        edit(queries, "viewer { ...UserFields company location }", "viewer { ...UserFields bio }")

    change(workspace)
    incremental = build(workspace, "-p", "gql-app")
    assert incremental.code == 0, incremental.stdout + incremental.stderr
    summary = incremental.json()
    assert summary["cache"]["no_op"] is False
    assert summary["stats"]["counts"]["cache_hits"] > 0  # incremental, not a clean rebuild
    assert summary["projects"][0]["files_written"] > 0
    assert located(summary) == [DYNAMIC]
    after = outputs(workspace)
    assert after != built
    artifact = json.loads(after["artifact.json"])

    def documents(name: str) -> list[str]:
        return [e["document"] for e in artifact["elements"].values() if e["name"] == name]

    assert all("totalCount" not in d for n in ("OrgRepos", "UserRepos") for d in documents(n))
    assert [("bio" in d, "company" in d) for d in documents("Viewer")] == [(True, False)]

    clean = copy_workspace(tmp_path / "clean")
    change(clean)
    fresh = build(clean, "-p", "gql-app", "--no-incremental")
    assert fresh.code == 0, fresh.stdout + fresh.stderr
    assert after == outputs(clean)
