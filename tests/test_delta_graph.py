"""Artifact deltas (``--write-delta``), graph pictures (``graph``), early cutoff, ``explain``."""

from __future__ import annotations

import json
from pathlib import Path

from syrupy.assertion import SnapshotAssertion

from sodabuild.emit.delta import apply, diff, empty_artifact, is_empty
from sodabuild.emit.outputs import dumps

from .conftest import run_cli

ARTIFACT = "fixtures/small-app/__generated__/artifact.json"


def test_diff_and_apply_round_trip() -> None:
    old = {
        "version": 1,
        "project": "p",
        "schema_hash": "a",
        "elements": {"x": {"hash": "1", "v": 1}, "y": {"hash": "2", "v": 2}},
    }
    new = {
        "version": 1,
        "project": "p",
        "schema_hash": "b",
        "elements": {"y": {"hash": "3", "v": 3}, "z": {"hash": "4", "v": 4}},
    }
    delta = diff(old, new)
    assert list(delta["added"]) == ["z"]
    assert delta["removed"] == {"x": {"old_hash": "1"}}
    assert delta["changed"]["y"]["old_hash"] == "2" and delta["changed"]["y"]["new_hash"] == "3"
    assert delta["header_changed"] is True
    assert dumps(apply(old, delta)) == dumps(new)
    assert is_empty(diff(new, new))
    first = diff(empty_artifact("p"), new)
    assert dumps(apply(empty_artifact("p"), first)) == dumps(new)


def test_apply_refuses_a_delta_for_another_base() -> None:
    old = {"version": 1, "project": "p", "schema_hash": "", "elements": {"x": {"hash": "1"}}}
    new = {"version": 1, "project": "p", "schema_hash": "", "elements": {"x": {"hash": "2"}}}
    other = {"version": 1, "project": "p", "schema_hash": "", "elements": {"x": {"hash": "9"}}}
    try:
        apply(other, diff(old, new))
    except ValueError as exc:
        assert "not the changed version" in str(exc)
    else:
        raise AssertionError("applied a delta to the wrong base")


def test_write_delta_after_edits(example_workspace: Path, tmp_path: Path) -> None:
    ws = example_workspace
    delta_file = tmp_path / "delta.json"
    assert run_cli("build", "-w", str(ws), "--write-delta", str(delta_file)).code == 0
    first = json.loads(delta_file.read_text())
    assert first["format"] == "sodabuild-artifact-delta"
    assert len(first["projects"]["small-app"]["added"]) == 36  # from nothing
    before = (ws / ARTIFACT).read_bytes()
    fragments = ws / "fixtures/small-app/app/users/fragments.py"
    fragments.write_text(fragments.read_text().replace("{", "{ __typename", 1))
    (ws / "fixtures/small-app/app/orgs/queries.py").unlink()
    (ws / "fixtures/small-app/app/added.py").write_text(
        'from sodabuild.graphql import gql\n\nAdded = gql("query Added { __typename }")\n'
    )
    run = run_cli("build", "-w", str(ws), "--write-delta", str(delta_file))
    assert run.code == 0, run.stdout
    delta = json.loads(delta_file.read_text())["projects"]["small-app"]
    assert list(delta["added"]) == ["app/added.py::Added"]
    assert all(key.startswith("app/orgs/queries.py::") for key in delta["removed"])
    assert delta["changed"], "the edited fragment and its users changed"
    for entry in delta["changed"].values():
        assert entry["old_hash"] != entry["new_hash"]
    after = (ws / ARTIFACT).read_bytes()
    assert dumps(apply(json.loads(before), delta)) == after
    assert is_empty(json.loads(delta_file.read_text())["projects"]["shared-lib"])
    # nothing changed: an empty delta (from the no-op path)
    assert run_cli("build", "-w", str(ws), "--write-delta", str(delta_file)).code == 0
    assert all(is_empty(p) for p in json.loads(delta_file.read_text())["projects"].values())


EDIT_SEQUENCE = (
    ("fragment gains a field", "app/users/fragments.py", "login\n", "login\n      __typename\n"),
    ("operation renamed", "app/orgs/queries.py", "query GetTeamMembers(", "query TeamMembers("),
    ("definition added", "app/orgs/queries.py", None, 'Orgs = gql("query Orgs { __typename }")\n'),
    ("fragment reverted", "app/users/fragments.py", "login\n      __typename\n", "login\n"),
    ("definition dropped", "app/orgs/queries.py", 'Orgs = gql("query Orgs { __typename }")\n', ""),
)


def test_deltas_over_an_edit_sequence(
    example_workspace: Path, tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    """Each step's delta (snapshotted) applied to the previous artifact is the new artifact,
    byte for byte; the deltas come from the real CLI after each edit."""
    ws = example_workspace
    app = ws / "fixtures/small-app"
    delta_file = tmp_path / "delta.json"
    assert run_cli("build", "-w", str(ws)).code == 0
    for step, (what, rel, old, new) in enumerate(EDIT_SEQUENCE):
        path = app / rel
        text = path.read_text()
        path.write_text(text + new if old is None else text.replace(old, new, 1))
        before = json.loads((ws / ARTIFACT).read_bytes())
        run = run_cli("build", "-w", str(ws), "--write-delta", str(delta_file))
        assert run.code == 0, (what, run.stdout)
        delta = json.loads(delta_file.read_text())
        assert delta == snapshot(name=f"{step}-{what}")
        after = (ws / ARTIFACT).read_bytes()
        assert dumps(apply(before, delta["projects"]["small-app"])) == after, what
        assert is_empty(delta["projects"]["shared-lib"])


def test_graph_pictures(example_workspace: Path) -> None:
    ws = str(example_workspace)
    dot = run_cli("graph", "-w", ws, "--level", "definition", "--filter", "*::UserAvatar")
    assert dot.code == 0, dot.stderr
    assert dot.stdout.startswith('digraph "example definitions" {')
    edge = (
        '"fixtures/small-app/app/users/fragments.py::UserAvatar" -> '
        '"fixtures/shared-lib/shared/graphql/common.py::ImageFields";'
    )
    assert edge in dot.stdout
    mermaid = run_cli("graph", "-w", ws, "--format", "mermaid")
    assert mermaid.code == 0
    assert mermaid.stdout.startswith("graph LR\n")
    assert " --> " in mermaid.stdout
    assert run_cli("graph", "-w", ws, "--format", "svg").code == 2


def test_early_cutoff_and_explain(example_workspace: Path) -> None:
    ws = str(example_workspace)
    assert run_cli("build", "-w", ws).code == 0
    fragments = example_workspace / "fixtures/small-app/app/users/fragments.py"
    original = fragments.read_text()
    brace = original.index("{", original.index("gql("))
    # whitespace inside the string: reparsed, same document, users untouched
    fragments.write_text(original[: brace + 1] + "\n      " + original[brace + 1 :])
    counts = run_cli("build", "-w", ws, "--json").json()["stats"]["counts"]
    # the file's scan, the one definition, and the definition below it in the file (its
    # position moved, so it is recomposed: its cached warnings would point at old lines)
    assert counts["cache_misses"] == 3
    why = run_cli("explain", "-w", ws, "app/users/fragments.py").stdout
    assert "changed: content differs from the cache" in why
    assert "propagation stopped here" in why
    users = run_cli("explain", "-w", ws, "app/issues/fragments.py::CommentFields").stdout
    assert "reused" in users
    # a real change reaches its users, and explain names the fragment that did it
    fragments.write_text(original[: brace + 1] + " __typename" + original[brace + 1 :])
    assert run_cli("build", "-w", ws).code == 0
    users = run_cli("explain", "-w", ws, "small-app:app/issues/fragments.py::CommentFields")
    assert users.code == 0
    assert "fragment argument(s) changed: fixtures/small-app/app/users/fragments.py::" in (
        users.stdout
    )
    missing = run_cli("explain", "-w", ws, "no/such/module.py")
    assert missing.code == 1 and "not part of the last build" in missing.stderr
