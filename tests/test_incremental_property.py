"""Property: after any sequence of edits, incremental outputs equal a clean build's.

Edits: a fragment or operation changes, a field is added and removed again, definitions
are added to and dropped from a file (a duplicate operation name included), modules are
added, deleted and renamed, an import breaks and is fixed, a file breaks and is fixed, the
schema changes (and breaks), a plugin option and a rule file change; in the gql-library
style project, a fragment constant that other modules import and splice changes (and
breaks validation), a constant becomes dynamic and static again, a fragment in a .graphql
file that others find by name changes, and a second fragment of the same name appears; in
the TypeScript web client, an interpolated fragment, a spliced string constant, a
re-export, tsconfig.json's paths and a file's syntax change, modules come and go, and a
TypeScript file joins the Python gql-app, spreading its .graphql fragments by name (a
mixed-language project). After every step the
warm session's outputs and diagnostics, and those of a fresh session that starts from the
persisted cache (a new process, in effect), are compared with a clean build of a copy of
the same tree.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sodabuild.config import load_workspace
from sodabuild.emit.delta import apply as apply_delta
from sodabuild.emit.delta import diff, empty_artifact
from sodabuild.emit.outputs import dumps
from sodabuild.engine import build_workspace
from sodabuild.rules.load import load_rules
from sodabuild.session.fingerprint import is_commit_dir
from sodabuild.session.session import BuilderSession, ChangeSet

from .conftest import FIXTURES, REPO, read_tree

#: 50 in the suite (~90 s on 2 cores: four projects, one resolving fragments by name);
#: SODABUILD_PROPERTY_EXAMPLES=1000 for a long run.
EXAMPLES = int(os.environ.get("SODABUILD_PROPERTY_EXAMPLES", "50"))
APP = "fixtures/small-app"
LOCAL_RULE = """\
load("@builtin//graphql.star", "PYTHON_SOURCES")

rule(
    name = "graphql-local",
    description = "DESCRIPTION",
    discovery = PYTHON_SOURCES,
    outputs = [
        chunk_output(path = "chunks"),
        artifact_output(path = "artifact.json"),
        manifest_output(path = "MANIFEST", format = "apollo"),
    ],
)
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "ws"
    for name in ("small-app", "shared-lib", "gql-app", "web-client"):
        shutil.copytree(
            FIXTURES / name,
            root / "fixtures" / name,
            ignore=shutil.ignore_patterns("__generated__", "__pycache__"),
        )
    workspace = (REPO / "workspace.example.toml").read_text()
    workspace = workspace.replace('cache_dir = ".cache/sodabuild"', 'rule_dirs = ["rules-local"]')
    (root / "sodabuild.toml").write_text(workspace)
    (root / "rules-local").mkdir()
    (root / "rules-local" / "local.star").write_text(
        LOCAL_RULE.replace("DESCRIPTION", "v0").replace("MANIFEST", "persisted-queries.json")
    )
    project = root / APP / "sodabuild.toml"
    project.write_text(project.read_text() + 'rules = ["graphql-local"]\n')
    return root


def gql_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "fixtures").rglob("*.py") if "gql(" in p.read_text())


def toggle(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    path.write_text(text.replace(old, new, 1) if old in text else text.replace(new, old, 1))


def apply(root: Path, op: tuple[str, int], originals: dict[Path, str]) -> None:
    kind, n = op
    gql_app = root / "fixtures" / "gql-app" / "ghclient"
    web = root / "fixtures" / "web-client" / "src"
    files = gql_files(root)
    app = root / APP / "app"
    if kind == "typename" and files:
        path = files[n % len(files)]
        text = path.read_text()
        brace = text.index("{", text.index("gql("))
        path.write_text(text[: brace + 1] + " __typename" + text[brace + 1 :])
    elif kind == "untypename":
        for path in files:
            text = path.read_text()
            if " __typename" in text:
                path.write_text(text.replace(" __typename", "", 1))
                break
    elif kind == "add_definition" and files:
        path = files[n % len(files)]
        path.write_text(path.read_text() + f'\nAdded{n} = gql("query Added{n} {{ __typename }}")\n')
    elif kind == "drop_definition":
        for path in files:
            text = path.read_text()
            if "\nAdded" in text:
                path.write_text(text[: text.rindex("\nAdded")] + "\n")
                break
    elif kind == "add_module":
        (app / f"extra_{n}.py").write_text(
            "from sodabuild.graphql import gql\n\n"
            f'Extra{n} = gql("query Extra{n} {{ __typename }}")\n'
        )
    elif kind == "delete_module":
        extras = sorted(app.glob("extra_*.py"))
        victim = extras[0] if extras else app / "orgs" / "queries.py"
        victim.unlink(missing_ok=True)
    elif kind == "rename_module":
        extras = sorted(app.glob("extra_*.py"))
        if extras:
            extras[0].rename(app / f"renamed_{n}.py")
        elif (app / "orgs" / "queries.py").exists():
            (app / "orgs" / "queries.py").rename(app / "orgs" / "queries_moved.py")
    elif kind == "break_file" and files:
        path = files[n % len(files)]
        originals.setdefault(path, path.read_text())
        path.write_text(path.read_text() + "\nBroken = (\n")
    elif kind == "break_import":
        path = app / "issues" / "queries.py"
        originals.setdefault(path, path.read_text())
        path.write_text(
            path.read_text().replace("from .fragments import", "from .fragmentz import")
        )
    elif kind == "fix":
        for path, text in originals.items():
            if path.exists():
                path.write_text(text)
        originals.clear()
    elif kind == "schema":
        schema = root / APP / "schema.graphql"
        text = schema.read_text()
        extension = f"\nextend type Query {{ extra{n}: String }}\n"
        if "extend type Query" in text:
            schema.write_text(text.split("\nextend type Query")[0] + "\n")
        else:
            schema.write_text(text + extension)
    elif kind == "schema_break":
        toggle(root / APP / "schema.graphql", "type Query {", "type Query {{")
    elif kind == "plugin":
        toggle(
            root / "sodabuild.toml",
            'gql_modules = ["sodabuild.graphql", "gql"]',
            'gql_modules = ["sodabuild.graphql"]',
        )
    elif kind == "constant":  # a spliced fragment constant, imported by other modules
        toggle(gql_app / "fragments.py", "  login\n  name\n", "  login\n  name\n  bio\n")
    elif kind == "constant_invalid":
        toggle(gql_app / "fragments.py", "  hasNextPage\n", "  hasNextPages\n")
    elif kind == "constant_dynamic":
        toggle(
            gql_app / "queries.py", "    + PAGE_INFO_FIELDS\n", "    + PAGE_INFO_FIELDS.format()\n"
        )
    elif kind == "graphql_file":
        toggle(gql_app / "graphql" / "fragments.graphql", "  login\n", "  login\n  __typename\n")
    elif kind == "fragment_twice":
        extra = gql_app / "graphql" / "more.graphql"
        if extra.exists():
            extra.unlink()
        else:
            extra.write_text("fragment ActorFields on Actor {\n  login\n}\n")
    elif kind == "ts_fragment":  # interpolated by users.ts, reached through re-exports
        toggle(web / "graphql" / "image.ts", "    altText\n", "    altText\n    width\n")
    elif kind == "ts_string":  # a string constant spliced into UserCard.tsx's query
        toggle(web / "components" / "UserCard.tsx", '"name bio"', '"name"')
    elif kind == "ts_reexport":
        toggle(
            web / "graphql" / "index.ts",
            'export * from "./users";',
            'export { UserAvatar as UserChip } from "./users";',
        )
    elif kind == "ts_tsconfig":
        toggle(root / "fixtures" / "web-client" / "tsconfig.json", '["src/*"]', '["lib/*"]')
    elif kind == "ts_break":
        path = web / "graphql" / "users.ts"
        originals.setdefault(path, path.read_text())
        path.write_text(path.read_text() + "\nconst broken = ;\n")
    elif kind == "ts_add_module":
        (web / "pages" / f"extra{n}.ts").write_text(
            'import { graphql } from "react-relay";\n\n'
            f"export const Extra{n} = graphql`query Extra{n} {{ viewer {{ ...RepoOwner }} }}`;\n"
            "export const RepoOwner = graphql`fragment RepoOwner on User { login }`;\n"
        )
    elif kind == "ts_delete_module":
        extras = sorted((web / "pages").glob("extra*.ts"))
        victim = extras[0] if extras else web / "pages" / "closeIssue.mjs"
        victim.unlink(missing_ok=True)
    elif kind == "mixed":  # a TypeScript file in the Python gql-app: fragments by name
        mixed = root / "fixtures" / "gql-app" / "web" / "issues.ts"
        if mixed.exists():
            mixed.unlink()
        else:
            mixed.parent.mkdir(exist_ok=True)
            mixed.write_text(
                'import { gql } from "@apollo/client";\n\n'
                "export const WebIssue = gql`\n"
                "  query WebIssue($owner: String!, $name: String!, $number: Int!) {\n"
                "    repository(owner: $owner, name: $name) {\n"
                "      issue(number: $number) { ...IssueSummary }\n"
                "    }\n"
                "  }\n"
                "`;\n"
            )
    elif kind == "rule":
        rule = root / "rules-local" / "local.star"
        if n % 2:
            toggle(rule, '"persisted-queries.json"', '"pq.json"')
        else:
            toggle(rule, 'description = "v0"', 'description = "v1"')


OPS = st.tuples(
    st.sampled_from(
        [
            "typename",
            "typename",
            "untypename",
            "add_definition",
            "drop_definition",
            "add_module",
            "delete_module",
            "rename_module",
            "break_file",
            "break_import",
            "fix",
            "schema",
            "schema_break",
            "plugin",
            "rule",
            "constant",
            "constant",
            "constant_invalid",
            "constant_dynamic",
            "graphql_file",
            "fragment_twice",
            "ts_fragment",
            "ts_string",
            "ts_reexport",
            "ts_tsconfig",
            "ts_break",
            "ts_add_module",
            "ts_delete_module",
            "mixed",
        ]
    ),
    st.integers(0, 50),
)


@pytest.fixture(autouse=True, scope="module")
def _rules_in_process() -> Iterator[None]:
    """Rule evaluation in a forked, resource-limited child (tests/test_input_hardening.py)
    gives the same rules as in-process; forking this test's large heap a thousand times
    would cost minutes."""
    before = os.environ.get("SODABUILD_RULES_IN_PROCESS")
    os.environ["SODABUILD_RULES_IN_PROCESS"] = "1"
    yield
    if before is None:
        del os.environ["SODABUILD_RULES_IN_PROCESS"]
    else:
        os.environ["SODABUILD_RULES_IN_PROCESS"] = before


def artifacts(root: Path) -> dict[str, Any]:
    found = {}
    for project in ("small-app", "shared-lib", "gql-app", "web-client"):
        path = root / "fixtures" / project / "__generated__" / "artifact.json"
        if path.exists():
            found[project] = json.loads(path.read_bytes())
    return found


def observe(root: Path, result: Any) -> dict[str, Any]:
    """Outputs of every project that built (a failed one keeps its previous outputs, by
    design, so only its diagnostics are compared), and all diagnostics."""
    seen: dict[str, Any] = {}
    for project in result.projects:
        diagnostics = sorted(
            (d.code, d.file, d.line, d.column, d.message) for d in project.diagnostics
        )
        outputs = read_tree(root / project.out_dir) if project.ok else None
        seen[project.name] = (project.ok, diagnostics, outputs)
    return seen


def clean_build(root: Path, scratch: Path) -> dict[str, Any]:
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(
        root,
        scratch,
        ignore=shutil.ignore_patterns("__generated__", ".cache", ".*.sodabuild-spare"),
    )
    workspace = load_workspace(scratch / "sodabuild.toml")
    result = build_workspace(workspace, load_rules(scratch, list(workspace.rule_dirs)))
    return observe(scratch, result)


def session_build(session: BuilderSession, changes: ChangeSet | None = None) -> Any:
    from sodabuild.diagnostics import SodabuildError

    try:
        return session.update(changes)
    except SodabuildError:
        return None


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file()
        and not {"__generated__", ".cache"} & set(p.relative_to(root).parts)
        and not any(is_commit_dir(part) for part in p.relative_to(root).parts)
    }


def changes_between(before: dict[str, bytes], after: dict[str, bytes]) -> ChangeSet:
    """What a file watcher reports for an edit step."""
    return ChangeSet.of(
        added=after.keys() - before.keys(),
        modified={p for p in before.keys() & after.keys() if before[p] != after[p]},
        removed=before.keys() - after.keys(),
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=5), watched=st.booleans())
def test_incremental_equals_clean(
    template: Path, tmp_path: Path, ops: list[tuple[str, int]], watched: bool
) -> None:
    """``watched``: each step names its changes as watch mode does (a ChangeSet, trusted);
    otherwise the session finds them by a stat pass."""
    root = tmp_path / "ws"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root)
    session = BuilderSession(root)
    session.load()
    assert session.update().ok
    originals: dict[Path, str] = {}
    for step, op in enumerate(ops):
        artifacts_before = artifacts(root)
        tree_before = snapshot(root) if watched else {}
        apply(root, op, originals)
        changes = changes_between(tree_before, snapshot(root)) if watched else None
        result = session_build(session, changes)
        expected_ok = True
        try:
            expected = clean_build(root, tmp_path / "clean")
        except Exception:  # a config-level error: the session must have refused too
            expected_ok = False
        if not expected_ok:
            assert result is None, f"step {step}: {op}"
            session = BuilderSession(root)
            continue
        assert result is not None, f"step {step}: {op}"
        assert observe(root, result) == expected, f"step {step}: {op}"
        # a delta since the previous build, applied to the previous artifact, is the new one
        for project, new in artifacts(root).items():
            old = artifacts_before.get(project, empty_artifact(project))
            assert dumps(apply_delta(old, diff(old, new))) == dumps(new), f"delta, step {step}"
        # a new process starting from the persisted cache sees the same
        session.save({"ok": result.ok})
        fresh = session_build(BuilderSession(root))
        assert fresh is not None and observe(root, fresh) == expected, f"fresh, step {step}: {op}"
