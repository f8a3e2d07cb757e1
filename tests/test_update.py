"""The change-set fast path (engine/update.py): edits applied to a session's last build.

Every test compares the outputs with a clean build of a copy of the tree, and checks which
path ran (``BuildResult.mode``) and what was redone.
"""

from __future__ import annotations

import json
from pathlib import Path

from sodabuild.session.session import BuilderSession, ChangeSet

from .test_session import clean_outputs, outputs

APP = "fixtures/small-app"
ORGS = f"{APP}/app/orgs/queries.py"
#: What the example workspace always warns about: gql-app's one document built at run time.
EXAMPLE_WARNINGS = {"GQL_DYNAMIC"}
USERS_FRAGMENTS = f"{APP}/app/users/fragments.py"
ARTIFACT = f"{APP}/__generated__/artifact.json"


def started(ws: Path) -> BuilderSession:
    session = BuilderSession(ws)
    session.load()
    assert session.update().ok
    return session


def small_app(result: object) -> object:
    return next(p for p in result.projects if p.name == "small-app")  # type: ignore[attr-defined]


def edit(ws: Path, rel: str, old: str, new: str) -> None:
    path = ws / rel
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_leaf_edit_rewrites_one_chunk_and_reuses_the_rest(
    example_workspace: Path, tmp_path: Path
) -> None:
    session = started(example_workspace)
    chunks = session.last.counts["chunks_rebuilt"]
    edit(example_workspace, ORGS, "createdAt", "createdAt\n        __typename")
    result = session.update(ChangeSet.of(modified=[ORGS]))
    assert result.ok and result.mode == "changes"
    assert sorted(small_app(result).written) == [  # type: ignore[attr-defined]
        "artifact.json",
        "chunks/app/orgs/queries.py.json",
        "persisted-queries.json",
        "runtime/app/orgs/queries.py.json",
    ]
    assert result.counts["chunks_written"] == result.counts["chunks_rebuilt"] == 1
    assert result.counts["chunks_reused"] == chunks - 1
    # the scan, the composition and validation of the edited definition, and the composition
    # of the one below it in the file (its position moved; its document did not)
    assert result.counts["cache_misses"] == 4
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)
    artifact = json.loads((example_workspace / ARTIFACT).read_text())
    assert "__typename" in artifact["elements"]["app/orgs/queries.py::GetOrganization"]["document"]


def test_stat_pass_finds_edits_without_a_change_set(
    example_workspace: Path, tmp_path: Path
) -> None:
    session = started(example_workspace)
    edit(example_workspace, ORGS, "slug\n", "slug\n      __typename\n")
    result = session.update()
    assert result.mode == "changes"
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)
    again = session.update()
    assert again.mode == "no-op"


def test_fragment_edit_reaches_exactly_its_users(example_workspace: Path, tmp_path: Path) -> None:
    session = started(example_workspace)
    before = json.loads((example_workspace / ARTIFACT).read_text())["elements"]
    edit(example_workspace, USERS_FRAGMENTS, "login\n", "login\n      __typename\n")
    result = session.update(ChangeSet.of(modified=[USERS_FRAGMENTS]))
    assert result.mode == "changes"
    after = json.loads((example_workspace / ARTIFACT).read_text())["elements"]
    changed = {key for key in after if after[key] != before[key]}
    users = {key for key, element in after.items() if "UserAvatar" in element["document"]}
    assert "app/users/fragments.py::UserAvatar" in changed
    # every changed element is the fragment's file or a user of UserAvatar, and vice versa
    assert changed == users | {k for k in after if k.startswith("app/users/fragments.py::")}
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)


def test_whitespace_edit_of_a_fragment_stops_at_the_fragment(example_workspace: Path) -> None:
    session = started(example_workspace)
    edit(example_workspace, USERS_FRAGMENTS, "      login\n", "      login   \n")
    result = session.update(ChangeSet.of(modified=[USERS_FRAGMENTS]))
    assert result.mode == "changes"
    # the scan and the fragment itself; its users are keyed by what it produced: unchanged
    assert result.counts["cache_misses"] == 2
    # only the run-time index: gql() is looked up by its exact string, whitespace included
    assert small_app(result).written == ["runtime/app/users/fragments.py.json"]  # type: ignore[attr-defined]
    reasons = session.warm.reasons  # type: ignore[union-attr]
    assert "propagation stopped here" in reasons[f"{USERS_FRAGMENTS}::UserAvatar"]


def test_touch_without_content_change_writes_nothing(example_workspace: Path) -> None:
    session = started(example_workspace)
    (example_workspace / ORGS).touch()
    result = session.update(ChangeSet.of(modified=[ORGS]))
    assert result.mode == "changes"
    assert result.counts["cache_misses"] == 0
    assert all(not p.written for p in result.projects)


def test_errors_fall_back_to_the_full_build_and_back(
    example_workspace: Path, tmp_path: Path
) -> None:
    session = started(example_workspace)
    edit(example_workspace, ORGS, "createdAt", "createdAtt")
    broken = session.update(ChangeSet.of(modified=[ORGS]))
    assert broken.mode == "full" and not broken.ok
    codes = {d.code for p in broken.projects for d in p.diagnostics}
    assert codes == {"GQL_VALIDATION", *EXAMPLE_WARNINGS}
    edit(example_workspace, ORGS, "createdAtt", "createdAt")
    fixed = session.update(ChangeSet.of(modified=[ORGS]))
    assert fixed.ok and fixed.mode == "full"  # the last build had errors: no graph to patch
    edit(example_workspace, ORGS, "createdAt", "createdAt\n        __typename")
    fast = session.update(ChangeSet.of(modified=[ORGS]))
    assert fast.ok and fast.mode == "changes"
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)


def test_definitions_added_renamed_and_removed_in_a_file(
    example_workspace: Path, tmp_path: Path
) -> None:
    session = started(example_workspace)
    edit(example_workspace, ORGS, "GetTeamMembers = gql(", "GetTeamMembers2 = gql(")
    renamed = session.update(ChangeSet.of(modified=[ORGS]))
    assert renamed.mode == "changes" and renamed.ok
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)
    path = example_workspace / ORGS
    path.write_text(path.read_text() + '\nOrgCount = gql("query OrgCount { __typename }")\n')
    added = session.update(ChangeSet.of(modified=[ORGS]))
    assert added.mode == "changes" and added.ok
    artifact = json.loads((example_workspace / ARTIFACT).read_text())
    assert "app/orgs/queries.py::OrgCount" in artifact["elements"]
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)
    path.write_text(path.read_text().split("\nOrgCount = ")[0] + "\n")
    removed = session.update(ChangeSet.of(modified=[ORGS]))
    assert removed.mode == "changes" and removed.ok
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)


def test_a_duplicate_operation_name_is_reported_by_the_full_build(
    example_workspace: Path,
) -> None:
    session = started(example_workspace)
    path = example_workspace / ORGS
    path.write_text(path.read_text() + '\nAgain = gql("query GetOrganization { __typename }")\n')
    result = session.update(ChangeSet.of(modified=[ORGS]))
    assert result.mode == "full" and not result.ok
    assert {d.code for p in result.projects for d in p.diagnostics} == {
        "GQL_DUPLICATE_OPERATION",
        *EXAMPLE_WARNINGS,
    }


def test_structural_changes_take_the_full_build(example_workspace: Path, tmp_path: Path) -> None:
    session = started(example_workspace)
    extra = example_workspace / APP / "app/extra.py"
    extra.write_text('from sodabuild.graphql import gql\n\nX = gql("query X { __typename }")\n')
    added = session.update(ChangeSet.of(added=[str(extra)]))
    assert added.mode == "full" and added.ok
    schema = example_workspace / APP / "schema.graphql"
    schema.write_text(schema.read_text() + "\nextend type Query { extra: String }\n")
    assert session.update(ChangeSet.of(modified=[str(schema)])).mode == "full"
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)


def test_deleted_output_is_restored_by_the_stat_pass(example_workspace: Path) -> None:
    session = started(example_workspace)
    chunk = example_workspace / APP / "__generated__/chunks/app/orgs/queries.py.json"
    data = chunk.read_bytes()
    chunk.unlink()
    result = session.update()
    assert result.mode == "full"
    assert chunk.read_bytes() == data


def test_fresh_process_after_fast_updates_is_a_no_op(example_workspace: Path) -> None:
    session = started(example_workspace)
    edit(example_workspace, ORGS, "createdAt", "createdAt\n        __typename")
    assert session.update().mode == "changes"
    session.dispose({"ok": True})
    fresh = BuilderSession(example_workspace)
    result = fresh.update()
    assert result.ok and result.counts["cache_misses"] == 0
    assert all(not p.written for p in result.projects)


def test_edits_of_a_re_export_module_re_resolve_through_it(
    example_workspace: Path, tmp_path: Path
) -> None:
    """A package ``__init__`` with no gql() of its own: definitions whose fragment arguments
    resolve through it are resolved again; the same targets mean nothing is recomposed."""
    reexports = "fixtures/shared-lib/shared/graphql/__init__.py"
    session = started(example_workspace)
    edit(
        example_workspace,
        reexports,
        "from .org import OrgMembersPage, OrgSummary\n",
        "from .org import OrgMembersPage\nfrom .org import OrgSummary as OrgSummary\n",
    )
    same = session.update(ChangeSet.of(modified=[reexports]))
    assert same.mode == "changes" and same.ok
    assert same.counts["cache_misses"] == 1  # its scan; every composition is a hit
    assert all(not p.written for p in same.projects)
    edit(
        example_workspace, reexports, "from .org import OrgSummary", "from .orgz import OrgSummary"
    )
    broken = session.update(ChangeSet.of(modified=[reexports]))
    assert broken.mode == "full" and not broken.ok
    assert {d.code for p in broken.projects for d in p.diagnostics} == {
        "IMPORT_UNRESOLVED",
        *EXAMPLE_WARNINGS,
    }
    edit(
        example_workspace, reexports, "from .orgz import OrgSummary", "from .org import OrgSummary"
    )
    assert session.update(ChangeSet.of(modified=[reexports])).ok
    assert outputs(example_workspace) == clean_outputs(example_workspace, tmp_path)
