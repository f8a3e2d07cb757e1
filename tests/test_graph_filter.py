"""``sodabuild build --graph-filter``: the real CLI on a copy of the example workspace.

Expectations come from a full unfiltered build's artifact (and, for ``depth``, from the
fragments each gql() call passes, read from the fixture sources with ``ast``).
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from .conftest import copy_example_workspace, run_cli
from .test_session import clean_outputs, outputs

APP = "fixtures/small-app"
LIB = "fixtures/shared-lib"
OUT = "__generated__"

OPS_RULE = """\
load("@builtin//graphql.star", "PYTHON_SOURCES", "STANDARD_OUTPUTS")

rule(
    name = "graphql-ops",
    pipeline = "graphql",
    description = "operations and what they include",
    discovery = PYTHON_SOURCES,
    pruning = pruning_filter(kinds = ["operation"]),
    outputs = STANDARD_OUTPUTS,
)
"""

ORPHAN = '''\
from sodabuild.graphql import gql

OrphanFields = gql("""
    fragment OrphanFields on User {
      id
      login
    }
""")
'''
ORPHAN_ID = "app/orphans.py::OrphanFields"


# -- helpers ---------------------------------------------------------------------------------


def build(ws: Path, *filters: str, json_out: bool = True) -> Any:
    args = ["build", "-w", str(ws)]
    for value in filters:
        args += ["--graph-filter", value]
    return run_cli(*args, *(["--json"] if json_out else []))


def ok_build(ws: Path, *filters: str) -> dict[str, Any]:
    run = build(ws, *filters)
    assert run.code == 0, run.stdout + run.stderr
    summary: dict[str, Any] = run.json()
    return summary


def by_project(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in summary["projects"]}


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def elements(ws: Path, project: str = APP) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = read_json(ws / project / OUT / "artifact.json")["elements"]
    return found


def manifest(ws: Path, project: str = APP) -> dict[str, dict[str, Any]]:
    """Persisted-query manifest entries by operation name."""
    data = read_json(ws / project / OUT / "persisted-queries.json")
    return {entry["name"]: entry for entry in data["operations"]}


def chunks(ws: Path, project: str = APP) -> dict[str, set[str]]:
    """Chunk files: module -> element ids; the file name is the module's."""
    root = ws / project / OUT / "chunks"
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.json")) if root.exists() else []:
        data = read_json(path)
        assert path.relative_to(root).as_posix() == f"{data['module']}.json"
        found[data["module"]] = set(data["elements"])
    return found


def closure(full: dict[str, dict[str, Any]], roots: Iterable[str]) -> set[str]:
    """``roots`` and the fragments they include that belong to the same project
    (``fragments`` already lists the transitive closure; other projects' ids carry a
    ``project:`` prefix and are not keys of ``full``)."""
    found = set(roots)
    for root in list(found):
        found.update(f for f in full[root]["fragments"] if f in full)
    return found


def assert_outputs(ws: Path, full: dict[str, dict[str, Any]], expected: set[str]) -> None:
    """small-app's artifact, manifest and chunks hold exactly ``expected``, each element
    as the full build has it."""
    got = elements(ws)
    assert set(got) == expected
    for ident in expected:
        assert got[ident] == full[ident], ident
    operations = {full[i]["name"] for i in expected if full[i]["kind"] == "operation"}
    assert set(manifest(ws)) == operations
    modules: dict[str, set[str]] = {}
    for ident in expected:
        modules.setdefault(full[ident]["module"], set()).add(ident)
    assert chunks(ws) == modules


def passed_fragments(ws: Path) -> dict[str, set[str]]:
    """Binding name -> the binding names its gql() call passes (``as`` imports undone;
    ``module.Name`` counts as ``Name``). Binding names are unique in the example workspace."""
    passes: dict[str, set[str]] = {}
    for path in sorted((ws / "fixtures").rglob("*.py")):
        tree = ast.parse(path.read_bytes())
        aliases = {
            alias.asname: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
            if alias.asname
        }
        for node in tree.body:
            if not (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call)
                and node.value.args
                and isinstance(node.value.args[0], ast.Constant)
                and isinstance(node.value.args[0].value, str)
            ):
                continue
            names = set()
            for arg in node.value.args[1:]:
                if isinstance(arg, ast.Name):
                    names.add(aliases.get(arg.id, arg.id))
                elif isinstance(arg, ast.Attribute):
                    names.add(arg.attr)
            name = node.targets[0].id
            assert name not in passes, f"binding {name} is not unique"
            passes[name] = names
    return passes


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A full unfiltered build of a pristine copy: artifacts, manifests, sources' passes."""
    ws = copy_example_workspace(tmp_path_factory.mktemp("full") / "ws")
    summary = ok_build(ws)
    assert all(p["graph_filter"] == "" for p in summary["projects"])
    return {
        "app": elements(ws, APP),
        "lib": elements(ws, LIB),
        "app_manifest": manifest(ws, APP),
        "passes": passed_fragments(ws),
    }


# -- selection -------------------------------------------------------------------------------


def test_include_module_glob_and_kind(example_workspace: Path, full: dict[str, Any]) -> None:
    app = full["app"]
    value = "include=app/issues/**,kind=operation"
    summary = ok_build(example_workspace, value)
    selected = {
        i
        for i, e in app.items()
        if e["module"].startswith("app/issues/") and e["kind"] == "operation"
    }
    assert len(selected) == 8  # hand-checked: 5 mutations, 2 queries, 1 subscription
    expected = closure(app, selected)
    # the closure reaches outside app/issues/ (repos and users fragments)
    assert {"app/repos/fragments.py::LabelFields", "app/users/fragments.py::UserAvatar"} <= expected
    assert_outputs(example_workspace, app, expected)
    # the manifest entries are those of the full build
    ops = manifest(example_workspace)
    assert ops == {name: full["app_manifest"][name] for name in ops}
    app_summary = by_project(summary)["small-app"]
    assert app_summary["graph_filter"] == value
    assert app_summary["elements"] == len(expected)


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_depth_adds_users_hop_by_hop(
    example_workspace: Path, full: dict[str, Any], depth: int
) -> None:
    app = full["app"]
    target = "app/repos/fragments.py::LabelFields"
    ids = {e["binding"]: i for i, e in app.items()}
    users: dict[str, set[str]] = {}
    for name, passed in full["passes"].items():
        for fragment in passed:
            if name in ids and fragment in ids:
                users.setdefault(ids[fragment], set()).add(ids[name])
    # hand-checked in the sources: who passes LabelFields directly
    assert {app[u]["binding"] for u in users[target]} == {
        "GetRepository",
        "AddLabelsToIssue",
        "PullRequestFields",
        "IssueSummary",
    }
    within = {target}
    frontier = {target}
    for _ in range(depth):
        frontier = {u for f in frontier for u in users.get(f, ())} - within
        within |= frontier
    containing = {i for i, e in app.items() if target in e["fragments"]}
    assert within <= containing | {target}

    summary = ok_build(example_workspace, f"include=**::LabelFields,depth={depth}")
    assert by_project(summary)["small-app"]["graph_filter"] == (
        f"include=**::LabelFields,depth={depth}"
    )
    assert_outputs(example_workspace, app, closure(app, within))
    got = set(elements(example_workspace))
    if depth == 0:
        assert got == {target}
    if depth >= 3:  # the longest chain of users: LabelFields <- IssueSummary <- IssueFields <- op
        assert got & containing == containing


def test_depth_grows_monotonically_to_all_users(
    example_workspace: Path, full: dict[str, Any]
) -> None:
    """Without reading the sources: each hop adds users (elements whose closure holds the
    fragment) until all of them are in, and only users and what they include."""
    app = full["app"]
    target = "app/issues/fragments.py::IssueSummary"
    containing = {i for i, e in app.items() if target in e["fragments"]} | {target}
    previous: set[str] = set()
    for depth in range(5):
        ok_build(example_workspace, f"include=**::IssueSummary,depth={depth}")
        got = set(elements(example_workspace))
        selected = got & containing
        assert previous <= selected
        assert got == closure(app, selected)
        if selected == containing:
            break
        assert selected != previous, f"depth {depth} added nothing yet misses users"
        previous = selected
    else:
        pytest.fail("depth 4 still does not reach every user")


def test_exclude_keeps_dependencies(example_workspace: Path, full: dict[str, Any]) -> None:
    app = full["app"]
    ok_build(
        example_workspace,
        "include=app/users/**,exclude=app/users/fragments.py",
        "exclude=**::GetUserByLogin",
    )
    roots = {"app/users/queries.py::GetUser", "app/users/queries.py::ViewerDashboard"}
    expected = closure(app, roots)
    # excluded as roots, kept as what the selected operations include
    assert {"app/users/fragments.py::UserCard", "app/users/fragments.py::UserAvatar"} <= expected
    assert "app/users/queries.py::GetUserByLogin" not in expected
    assert_outputs(example_workspace, app, expected)
    assert "app/users/fragments.py" in chunks(example_workspace)


def test_filter_is_applied_per_project(example_workspace: Path, full: dict[str, Any]) -> None:
    summary = ok_build(example_workspace, "include=app/orgs/**")
    projects = by_project(summary)
    assert projects["shared-lib"]["elements"] == 0
    assert elements(example_workspace, LIB) == {}
    assert manifest(example_workspace, LIB) == {}
    assert chunks(example_workspace, LIB) == {}
    # small-app's operations include shared-lib fragments; those do not enter shared-lib's
    # outputs, which hold only shared-lib's own selection
    app = full["app"]
    roots = {i for i, e in app.items() if e["module"] == "app/orgs/queries.py"}
    assert any(f.startswith("shared-lib:") for r in roots for f in app[r]["fragments"])
    assert_outputs(example_workspace, app, closure(app, roots))
    # a filter that selects in both
    ok_build(example_workspace, "kind=operation,include=**/viewer.py,include=app/users/**")
    lib = full["lib"]
    assert set(elements(example_workspace, LIB)) == closure(
        lib, {i for i, e in lib.items() if e["module"] == "shared/graphql/viewer.py"}
    )


# -- validation ------------------------------------------------------------------------------


def test_validation_error_outside_the_selection(example_workspace: Path) -> None:
    module = example_workspace / APP / "app/notifications/queries.py"
    text = module.read_text()
    assert text.count("        unread\n") == 1  # MarkNotificationRead's selection
    module.write_text(text.replace("        unread\n", "        unreadd\n"))

    filtered = build(example_workspace, "include=app/users/**")
    assert filtered.code == 0, filtered.stdout
    assert all(not p["diagnostics"] for p in filtered.json()["projects"])

    unfiltered = build(example_workspace)
    assert unfiltered.code == 1
    codes = [d["code"] for p in unfiltered.json()["projects"] for d in p["diagnostics"]]
    assert sorted(codes) == ["GQL_DYNAMIC", "GQL_VALIDATION"]  # gql-app's dynamic document

    # the broken operation is selected: the filtered build fails too
    selected = build(example_workspace, "include=**::MarkNotificationRead")
    assert selected.code == 1
    assert "GQL_VALIDATION" in selected.stdout


def test_python_syntax_error_outside_the_selection_is_reported(example_workspace: Path) -> None:
    module = example_workspace / APP / "app/legacy/client.py"
    module.write_text(module.read_text() + "\ndef broken(:\n")
    run = build(example_workspace, "include=app/users/**")
    assert run.code == 1
    diagnostics = [d for p in run.json()["projects"] for d in p["diagnostics"]]
    assert [(d["code"], d["file"]) for d in diagnostics] == [
        ("PY_SYNTAX", f"{APP}/app/legacy/client.py")
    ]


# -- a rule's default filter -----------------------------------------------------------------


def test_rule_pruning_filter_is_the_default(example_workspace: Path, full: dict[str, Any]) -> None:
    ws = example_workspace
    config = ws / "sodabuild.toml"
    text = config.read_text()
    line = 'cache_dir = ".cache/sodabuild"'
    assert line in text
    config.write_text(text.replace(line, f'{line}\nrule_dirs = ["rules-local"]'))
    (ws / "rules-local").mkdir()
    (ws / "rules-local" / "ops.star").write_text(OPS_RULE)
    project = ws / APP / "sodabuild.toml"
    project.write_text(project.read_text() + 'rules = ["graphql-ops"]\n')
    (ws / APP / "app/orphans.py").write_text(ORPHAN)
    app = full["app"]

    # the rule's kinds = ["operation"]: operations and what they include; no orphan
    summary = by_project(ok_build(ws))
    assert summary["small-app"]["graph_filter"] == "kind=operation"
    assert summary["shared-lib"]["graph_filter"] == ""  # the built-in rule: no filter
    expected = closure(app, {i for i, e in app.items() if e["kind"] == "operation"})
    assert ORPHAN_ID not in elements(ws)
    assert_outputs(ws, app, expected)
    assert set(elements(ws, LIB)) == set(full["lib"])

    # the command line replaces the kinds field
    summary = by_project(ok_build(ws, "kind=fragment"))
    assert summary["small-app"]["graph_filter"] == "kind=fragment"
    got = elements(ws)
    assert (got[ORPHAN_ID]["kind"], got[ORPHAN_ID]["fragments"]) == ("fragment", [])
    fragments = {i for i, e in app.items() if e["kind"] == "fragment"}
    assert set(got) == fragments | {ORPHAN_ID}
    assert manifest(ws) == {}

    # a field the command line does not give keeps the rule's value
    summary = by_project(ok_build(ws, "include=app/users/**"))
    assert summary["small-app"]["graph_filter"] == "include=app/users/**,kind=operation"
    users_ops = {
        i
        for i, e in app.items()
        if e["module"].startswith("app/users/") and e["kind"] == "operation"
    }
    assert_outputs(ws, app, closure(app, users_ops))


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("inclde=x", "inclde"),
        ("kind=query", "query"),
        ("depth=-1", "-1"),
        ("include=", "include="),
        ("include=app/**,,kind=operation", "include=app/**,,kind=operation"),
        ("depth=1,depth=2", "depth given twice"),
    ],
)
def test_malformed_filter_is_a_usage_error(
    example_workspace: Path, value: str, mentions: str
) -> None:
    run = build(example_workspace, value, json_out=False)
    assert run.code == 2
    assert "USAGE" in run.stderr
    assert f"'{value}'" in run.stderr and mentions in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert not (example_workspace / APP / OUT).exists()  # nothing was built


def test_malformed_filter_json(example_workspace: Path) -> None:
    run = build(example_workspace, "include=app/**", "kind=query")
    assert run.code == 2
    (diagnostic,) = run.json()["diagnostics"]
    assert diagnostic["code"] == "USAGE"
    assert "'kind=query'" in diagnostic["message"]


# -- summary, no-op and cache ----------------------------------------------------------------


def test_summary_line_shows_the_canonical_filter(example_workspace: Path) -> None:
    run = build(
        example_workspace,
        "kind=operation",
        " include=app/users/** , include=app/users/**",
        json_out=False,
    )
    assert run.code == 0, run.stderr
    canonical = "include=app/users/**,kind=operation"
    app_line = next(line for line in run.stdout.splitlines() if line.startswith("small-app:"))
    assert f"(graph filter {canonical})" in app_line
    plain = build(example_workspace, json_out=False)
    assert "graph filter" not in plain.stdout


def test_no_op_keys_on_the_filter(example_workspace: Path, tmp_path: Path) -> None:
    ws = example_workspace
    value = "include=app/orgs/**,kind=operation"
    first = ok_build(ws, value)
    assert first["cache"]["no_op"] is False
    assert {p["graph_filter"] for p in first["projects"]} == {value}
    filtered = outputs(ws)
    second = ok_build(ws, value)
    assert second["cache"]["no_op"] is True
    assert by_project(second)["small-app"]["graph_filter"] == value
    assert outputs(ws) == filtered

    other = ok_build(ws, "include=app/users/**")
    assert other["cache"]["no_op"] is False
    assert outputs(ws) != filtered

    unfiltered = ok_build(ws)
    assert unfiltered["cache"]["no_op"] is False
    assert {p["graph_filter"] for p in unfiltered["projects"]} == {""}
    assert outputs(ws) == clean_outputs(ws, tmp_path)
    assert ok_build(ws)["cache"]["no_op"] is True


def test_filtered_build_after_full_build_matches_clean_filtered_build(
    example_workspace: Path, tmp_path: Path
) -> None:
    ws = example_workspace
    value = "include=app/users/**,kind=operation"
    ok_build(ws)
    ok_build(ws, value)
    clean = tmp_path / "clean"
    shutil.copytree(ws, clean, ignore=shutil.ignore_patterns("__generated__", ".cache"))
    ok_build(clean, value)
    assert outputs(ws) == outputs(clean)


def test_repeated_filtered_build_after_full_build_is_a_no_op(example_workspace: Path) -> None:
    ws = example_workspace
    value = "include=app/users/**,kind=operation"
    ok_build(ws)
    ok_build(ws, value)
    assert ok_build(ws, value)["cache"]["no_op"] is True


# -- the graph command -----------------------------------------------------------------------


def test_graph_command_takes_the_filter(example_workspace: Path, full: dict[str, Any]) -> None:
    help_text = run_cli("graph", "--help").stdout
    if "--graph-filter" not in help_text:
        pytest.skip("sodabuild graph has no --graph-filter")
    run = run_cli(
        "graph",
        "-w",
        str(example_workspace),
        "--level",
        "definition",
        "--format",
        "mermaid",
        "--graph-filter",
        "include=app/orgs/**",
    )
    assert run.code == 0, run.stderr
    nodes = {
        line.split('["', 1)[1].rstrip('"]') for line in run.stdout.splitlines() if '["' in line
    }
    app = full["app"]
    roots = {i for i, e in app.items() if e["module"] == "app/orgs/queries.py"}
    selected = closure(app, roots)
    # small-app's selection, plus the shared-lib fragments it includes (composed with it)
    cross = {
        f"{LIB}/{f.split(':', 1)[1]}"
        for r in roots
        for f in app[r]["fragments"]
        if f.startswith("shared-lib:")
    }
    assert cross
    assert nodes == {f"{APP}/{i}" for i in selected} | cross
    bad = run_cli("graph", "-w", str(example_workspace), "--graph-filter", "depth=x")
    assert bad.code == 2 and "'depth=x'" in bad.stderr and "Traceback" not in bad.stderr
