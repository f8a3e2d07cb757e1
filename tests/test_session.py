"""Sessions, the persistent cache, the no-op fast path and watch mode."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from sodabuild.session.fastpath import SESSION_FILE, STATE_FILE
from sodabuild.session.session import BuilderSession, ChangeSet
from sodabuild.session.store import MAGIC

from .conftest import read_tree, run_cli

GENERATED = ("fixtures/shared-lib/__generated__", "fixtures/small-app/__generated__")


def outputs(ws: Path) -> dict[str, bytes]:
    return {f"{g}/{rel}": data for g in GENERATED for rel, data in read_tree(ws / g).items()}


def clean_outputs(ws: Path, tmp: Path) -> dict[str, bytes]:
    """Outputs of a clean build of a copy of ``ws`` (no cache, no outputs)."""
    copy = tmp / f"clean-{time.monotonic_ns()}"
    shutil.copytree(
        ws, copy, ignore=shutil.ignore_patterns("__generated__", ".cache", "__pycache__")
    )
    run = run_cli("build", "-w", str(copy), "--no-incremental")
    assert run.code in (0, 1), run.stderr
    return outputs(copy)


def test_second_build_is_a_no_op_with_full_hit_ratio(example_workspace: Path) -> None:
    first = run_cli("build", "-w", str(example_workspace), "--json")
    assert first.code == 0
    assert first.json()["stats"]["counts"]["cache_misses"] > 0
    second = run_cli("build", "-w", str(example_workspace), "--json").json()
    third = run_cli("build", "-w", str(example_workspace), "--json").json()
    for summary in (second, third):
        assert summary["stats"]["cache_hit_ratio"] == 1.0
        assert summary["stats"]["counts"]["cache_misses"] == 0
        assert summary["stats"]["counts"]["documents_validated"] == 0
        assert summary["stats"]["counts"]["chunks_written"] == 0
        assert summary["stats"]["counts"]["chunks_rebuilt"] == 0
        assert all(p["files_written"] == 0 for p in summary["projects"])
    assert third["cache"]["no_op"] is True
    assert third["projects"][0]["elements"] == first.json()["projects"][0]["elements"]


def test_edit_in_new_process_matches_clean_build(example_workspace: Path, tmp_path: Path) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    fragments = example_workspace / "fixtures/small-app/app/users/fragments.py"
    text = fragments.read_text()
    fragments.write_text(text.replace("{", "{ __typename", 1))
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0, run.stdout
    counts = run.json()["stats"]["counts"]
    assert counts["cache_hits"] > counts["cache_misses"] > 0
    assert counts["files_read"] < counts["files_seen"]
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)


def test_warm_session_api(example_workspace: Path, tmp_path: Path) -> None:
    session = BuilderSession(example_workspace)
    session.load()
    first = session.update()
    assert first.ok
    module = example_workspace / "fixtures/small-app/app/orgs/queries.py"
    module.write_text(module.read_text() + "\n# touched\n")
    second = session.update(ChangeSet.of(modified=[str(module)]))
    assert second.ok
    assert second.counts["cache_misses"] == 1  # the one re-scanned file
    module.unlink()
    third = session.update(ChangeSet.of(removed=["fixtures/small-app/app/orgs/queries.py"]))
    assert third.ok
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)
    session.dispose()
    assert (example_workspace / ".cache/sodabuild" / STATE_FILE).exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupt_or_foreign_cache_is_purged_and_rebuilt(
    example_workspace: Path, damage: str
) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    state = example_workspace / ".cache/sodabuild" / STATE_FILE
    data = state.read_bytes()
    if damage == "truncate":
        state.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        state.write_bytes(b"\x00" * 64)
    else:
        state.write_bytes(data.replace(b'"format": 1', b'"format": 99', 1))
    (example_workspace / "fixtures/small-app/app/api.py").write_text("# changed\n")
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0, run.stdout + run.stderr
    summary = run.json()
    assert [n["code"] for n in summary["cache"]["notes"]] == ["CACHE_PURGED"]
    assert summary["stats"]["counts"]["cache_hits"] == 0
    assert state.read_bytes().startswith(MAGIC)
    again = run_cli("build", "-w", str(example_workspace), "--json").json()
    assert again["cache"]["notes"] == [] and again["stats"]["cache_hit_ratio"] == 1.0


def test_no_incremental_and_cache_dir_override(example_workspace: Path, tmp_path: Path) -> None:
    cache = tmp_path / "elsewhere"
    run = run_cli("build", "-w", str(example_workspace), "--incremental-cache-dir", str(cache))
    assert run.code == 0
    assert (cache / SESSION_FILE).exists()
    assert not (example_workspace / ".cache/sodabuild").exists()
    clean = run_cli("build", "-w", str(example_workspace), "--no-incremental", "--json").json()
    assert clean["stats"]["counts"]["cache_hits"] == 0


def test_show_cache_and_clean(example_workspace: Path) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    shown = run_cli("build", "-w", str(example_workspace), "--show-cache")
    assert shown.code == 0
    report = shown.json()
    assert report["location"] == ".cache/sodabuild"
    assert report["entries"]["compositions"] == 67  # 60 Python, 7 TypeScript
    assert report["size_bytes"] > 0
    assert set(report["keys"]["small-app"]) >= {"discovery", "resolution", "codegen", "rules"}
    assert report["last_build"] is not None
    cleaned = run_cli("clean", "-w", str(example_workspace))
    assert cleaned.code == 0 and "removed" in cleaned.stdout
    assert not (example_workspace / ".cache/sodabuild").exists()


def test_config_and_schema_changes_rebuild_what_depends_on_them(
    example_workspace: Path, tmp_path: Path
) -> None:
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    schema = example_workspace / "fixtures/small-app/schema.graphql"
    schema.write_text(schema.read_text() + "\nextend type Query { ping: String }\n")
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0
    counts = run.json()["stats"]["counts"]
    # small-app's and web-client's documents (one schema file) are revalidated against the
    # new schema; shared-lib's are not
    assert counts["documents_validated"] == 36 + 7
    workspace_file = example_workspace / "sodabuild.toml"
    workspace_file.write_text(
        workspace_file.read_text().replace(
            'gql_modules = ["sodabuild.graphql", "gql"]', 'gql_modules = ["sodabuild.graphql"]'
        )
    )
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 0
    summary = run.json()
    # the gql-library module is no longer a source of definitions
    assert summary["projects"][1]["elements"] == 33
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)


def test_output_write_failure_is_a_diagnostic(example_workspace: Path) -> None:
    # a file where the output directory should be: no write can succeed, even as root
    (example_workspace / "fixtures/small-app/__generated__").write_text("not a directory")
    run = run_cli("build", "-w", str(example_workspace), "--json")
    assert run.code == 1, run.stdout + run.stderr
    diagnostics = [d for p in run.json()["projects"] for d in p["diagnostics"]]
    # (and gql-app's dynamic document, a warning)
    assert sorted(d["code"] for d in diagnostics) == ["GQL_DYNAMIC", "OUTPUT_WRITE"]
    assert diagnostics[0]["file"].startswith("fixtures/small-app/__generated__")
    assert "Traceback" not in run.stderr


def test_watch_mode_rebuilds_on_save_and_survives_errors(example_workspace: Path) -> None:
    from sodabuild.session.watch import watch_workspace

    module = example_workspace / "fixtures/small-app/app/orgs/queries.py"
    artifact = example_workspace / "fixtures/small-app/__generated__/artifact.json"
    original = module.read_text()
    done: list[int] = []
    thread = threading.Thread(
        target=lambda: done.append(watch_workspace(example_workspace, None, stop_after=3)),
        daemon=True,
    )
    thread.start()

    def wait_for(predicate: object, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            time.sleep(0.02)
        raise AssertionError("timed out")

    wait_for(artifact.exists)
    before = artifact.read_bytes()
    time.sleep(0.3)
    module.write_text(original + "\nBroken = gql(\n")  # a syntax error: reported, watch goes on
    time.sleep(0.6)
    assert artifact.read_bytes() == before
    temp = module.with_suffix(".py.tmp")  # an editor's write-temp-then-rename save
    temp.write_text(original.replace("{", "{ __typename", 1))
    os.replace(temp, module)
    wait_for(lambda: artifact.read_bytes() != before)
    module.write_text(original)
    wait_for(lambda: artifact.read_bytes() == before)
    thread.join(timeout=30)
    assert done == [0]
    assert (example_workspace / ".cache/sodabuild" / STATE_FILE).exists()
