"""``sodabuild init``: adopting sodabuild on existing code.

The acceptance test: on copies of the example projects with their config files removed,
``init`` writes a workspace file whose build gives the same artifact elements as the
hand-written config's (``workspace.example.toml`` and the projects' own files).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sodabuild.config import load_workspace
from sodabuild.init.config import config_text
from sodabuild.init.survey import survey

from .conftest import FIXTURES, generator, read_tree, run_cli

#: What a checkout of the fixtures holds besides sources (never copied).
NOT_SOURCES = shutil.ignore_patterns(
    "__generated__", "__pycache__", ".*sodabuild-spare", ".cache", "sodabuild.toml"
)


def adopt(target: Path, *names: str) -> Path:
    """Copies of fixture projects, without any sodabuild config, in ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(FIXTURES / name, target / name, ignore=NOT_SOURCES)
    return target


def elements(artifact: Path) -> dict[str, Any]:
    elements: dict[str, Any] = json.loads(artifact.read_bytes())["elements"]
    return elements


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace, built with its hand-written config."""
    from .conftest import copy_example_workspace

    root = copy_example_workspace(tmp_path_factory.mktemp("reference") / "ws")
    run = run_cli("build", cwd=root)
    assert run.code == 0, run.stderr
    return root / "fixtures"


def test_init_on_the_library_and_the_app_builds_what_the_hand_written_config_does(
    tmp_path: Path, reference: Path
) -> None:
    repo = adopt(tmp_path / "repo", "small-app", "shared-lib")
    run = run_cli("init", cwd=repo)
    assert run.code == 0, run.stderr
    assert "wrote" in run.stdout and "2 projects" in run.stdout
    workspace = load_workspace(repo / "sodabuild.toml")  # the written config loads
    assert [(p.name, p.root) for p in workspace.projects] == [
        ("shared-lib", "shared-lib"),
        ("small-app", "small-app"),
    ]
    assert all(p.schema_paths == (f"{p.root}/schema.graphql",) for p in workspace.projects)
    # small-app's legacy client uses the gql library, the rest sodabuild.graphql
    assert workspace.projects[0].graphql_options().gql_modules == ["gql", "sodabuild.graphql"]
    assert "shared-lib: 8 documents -> 8 built, 0 errors, 0 warnings" in run.stdout
    assert "small-app: 36 documents -> 36 built, 0 errors, 0 warnings" in run.stdout
    build = run_cli("build", "--json", cwd=repo)
    assert build.code == 0, build.stderr
    for name in ("small-app", "shared-lib"):
        ours = elements(repo / name / "__generated__" / "artifact.json")
        assert ours == elements(reference / name / "__generated__" / "artifact.json"), name


def test_init_on_the_gql_library_app_builds_what_the_hand_written_config_does(
    tmp_path: Path, reference: Path
) -> None:
    repo = adopt(tmp_path, "gql-app") / "gql-app"
    run = run_cli("init", cwd=repo)
    assert run.code == 0, run.stderr
    text = (repo / "sodabuild.toml").read_text()
    assert 'gql_modules = ["gql"]' in text
    assert 'fragments = "both"' in text
    workspace = load_workspace(repo / "sodabuild.toml")
    (project,) = workspace.projects
    assert (project.name, project.root, project.schema_paths) == (
        "gql-app",
        ".",
        ("schema.graphql",),
    )
    # 11 gql() calls (from `from gql import gql` and `import gql`), 2 marked strings,
    # 2 .graphql files; one document is dynamic
    assert "11 gql() calls (gql from gql) and 2 marked strings in 3 Python files" in run.stdout
    assert "2 GraphQL files with operations or fragments" in run.stdout
    assert "17 documents -> 16 built, 1 dynamic" in run.stdout
    assert "GQL_DYNAMIC" in run.stderr  # the first build's diagnostics, with their frames
    build = run_cli("build", cwd=repo)
    assert build.code == 0, build.stderr
    assert elements(repo / "__generated__" / "artifact.json") == elements(
        reference / "gql-app" / "__generated__" / "artifact.json"
    )


def test_init_finds_source_roots_of_a_src_layout(tmp_path: Path) -> None:
    """The generated app (one project, packages under app/src) as its generator wrote it,
    and adopted by init."""
    written = tmp_path / "written"
    generator().generate(written, modules=60, seed=1)
    adopted = tmp_path / "adopted"
    shutil.copytree(written, adopted, ignore=shutil.ignore_patterns("sodabuild.toml"))
    assert run_cli("build", cwd=written).code == 0
    run = run_cli("init", cwd=adopted)
    assert run.code == 0, run.stderr
    (project,) = load_workspace(adopted / "sodabuild.toml").projects
    assert (project.root, project.source_roots) == ("app", ("app/src",))
    assert run_cli("build", cwd=adopted).code == 0
    artifact = Path("app/__generated__/artifact.json")
    assert elements(adopted / artifact) == elements(written / artifact)


def test_init_never_overwrites(tmp_path: Path) -> None:
    repo = adopt(tmp_path / "repo", "gql-app")
    existing = repo / "sodabuild.toml"
    existing.write_text("# mine\n")
    for args in (("init",), ("init", "--dry-run"), ("init", str(repo))):
        run = run_cli(*args, cwd=repo)
        assert run.code == 2
        assert run.stderr.startswith(
            "sodabuild.toml:1:1: error USAGE sodabuild.toml already exists; "
            "sodabuild init never overwrites a file"
        )
        assert "1 | # mine" in run.stderr and "= hint: edit it" in run.stderr
    assert existing.read_text() == "# mine\n"


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    repo = adopt(tmp_path / "repo", "small-app", "shared-lib")
    before = read_tree(repo)
    listing = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    run = run_cli("init", "--dry-run", "repo", cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert read_tree(repo) == before  # no config, no cache, no outputs
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == listing
    assert "would write" in run.stdout and "--- sodabuild.toml" in run.stdout
    printed = run.stdout.split("--- sodabuild.toml\n", 1)[1].split("\n---\n", 1)[0] + "\n"
    assert printed == config_text(survey(repo))
    assert "small-app: 36 documents -> 36 built" in run.stdout
    assert "next: `sodabuild init repo` writes it" in run.stdout


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


SCHEMA = "type Query { viewer: User }\ntype User { login: String }\n"


def test_how_documents_are_written_is_detected(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "schema/api.graphqls": SCHEMA,
            "src/client/__init__.py": "",
            "src/client/a.py": """
                import gql
                A = gql.gql("query A { viewer { login } }")
            """,
            "src/client/b.py": """
                from mycompany.graphql import gql as g
                B = g("query B { viewer { login } }")
            """,
            "src/client/c.py": """
                from sodabuild import graphql
                C = graphql.gql("query C { viewer { login } }")
            """,
            "src/client/d.py": """
                # language=GraphQL
                D = "query D { viewer { login } }"
                def helper():
                    from gql import gql  # imported, never called here
            """,
            "src/client/e.py": "import gql  # the module, gql.gql never called\n",
            "src/client/queries/viewer.graphql": "query E { viewer { login } }\n",
            "schema.json": '{"data": {"__schema": {}}}',
        },
    )
    found = survey(repo)
    assert found.schemas == ["schema/api.graphqls"]
    assert found.graphql == ["src/client/queries/viewer.graphql"]
    assert found.introspection == ["schema.json"]
    assert found.gql_modules == ["gql", "mycompany.graphql", "sodabuild.graphql"]
    assert {d.path: (d.calls, d.marked) for d in found.python} == {
        "src/client/a.py": (1, 0),
        "src/client/b.py": (1, 0),
        "src/client/c.py": (1, 0),
        "src/client/d.py": (0, 1),
    }
    (project,) = found.projects
    assert (project.root, project.schemas, project.source_roots) == (
        ".",
        ["schema/api.graphqls"],
        ["src"],
    )
    run = run_cli("init", cwd=repo)
    assert run.code == 0, run.stderr
    assert "not used: schema.json: introspection JSON" in run.stdout
    assert "5 documents -> 5 built, 0 errors, 0 warnings" in run.stdout


def test_only_marked_strings_keep_the_default_gql_modules(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "schema.graphql": SCHEMA,
            "queries.py": '# language=GraphQL\nVIEWER = "query Viewer { viewer { login } }"\n',
        },
    )
    found = survey(repo)
    assert found.gql_modules == ["sodabuild.graphql", "gql"]
    assert found.projects[0].source_roots == []  # the root: the default, not written
    assert run_cli("init", cwd=repo).code == 0
    assert run_cli("build", cwd=repo).code == 0


def test_one_project_per_directory_with_a_schema_and_its_code(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "services/billing/schema.graphql": SCHEMA,
            "services/billing/billing/__init__.py": "",
            "services/billing/billing/q.py": (
                "from gql import gql\nQ = gql('query Billing { viewer { login } }')\n"
            ),
            # a nested project: excluded from the outer one
            "services/billing/tools/schema.graphql": SCHEMA,
            "services/billing/tools/t.py": (
                "from gql import gql\nT = gql('query Tools { viewer { login } }')\n"
            ),
            "services/users/schema.graphql": SCHEMA,
            "services/users/users.py": (
                "from gql import gql\nU = gql('query Users { viewer { login } }')\n"
            ),
            "docs/schema/unused.graphql": SCHEMA,  # no code beside it
            "scripts/orphan.py": "from gql import gql\nO = gql('query O { viewer { login } }')\n",
        },
    )
    found = survey(repo)
    assert [(p.name, p.root, p.exclude) for p in found.projects] == [
        ("billing", "services/billing", ["tools/**"]),
        ("tools", "services/billing/tools", []),
        ("users", "services/users", []),
    ]
    assert found.unused_schemas == ["docs/schema/unused.graphql"]
    assert found.orphans == ["scripts/orphan.py"]
    run = run_cli("init", cwd=repo)
    assert run.code == 0, run.stderr
    assert "in no project: scripts/orphan.py" in run.stdout
    for name in ("billing", "tools", "users"):
        assert f"  {name}: 1 document -> 1 built, 0 errors, 0 warnings" in run.stdout
    assert run_cli("build", cwd=repo).code == 0


def test_virtualenvs_and_build_output_are_not_searched_nor_built(tmp_path: Path) -> None:
    duplicate = "from gql import gql\nQ = gql('query Viewer { viewer { login } }')\n"
    repo = write(
        tmp_path,
        {
            "schema.graphql": SCHEMA,
            "app/__init__.py": "",
            "app/q.py": duplicate,
            # copies of the code that would be duplicate operations if built
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/lib/site.py": duplicate,
            ".tox/py311/lib/q.py": duplicate,
            "build/lib/app/q.py": duplicate,
            "node_modules/x/q.py": duplicate,
        },
    )
    found = survey(repo)
    assert [d.path for d in found.python] == ["app/q.py"]
    assert found.skipped == {
        ".tox": "hidden",
        "build": "build output",
        "env": "a virtualenv",
        "node_modules": "tooling or generated files",
    }
    # the rule already excludes node_modules; the others get excludes of their own
    assert found.projects[0].exclude == [".tox/**", "build/**", "env/**"]
    run = run_cli("init", cwd=repo)
    assert run.code == 0, run.stderr
    assert "1 document -> 1 built, 0 errors, 0 warnings" in run.stdout
    assert run_cli("build", cwd=repo).code == 0


def test_no_schema_is_a_todo_and_the_first_build_says_so(tmp_path: Path) -> None:
    repo = write(
        tmp_path, {"q.py": "from gql import gql\nQ = gql('query Q { viewer { login } }')\n"}
    )
    run = run_cli("init", cwd=repo)
    assert run.code == 0, run.stderr
    text = (repo / "sodabuild.toml").read_text()
    assert '# schema = "schema.graphql"' in text and "TODO" in text
    assert "schemas: none found" in run.stdout
    assert "SCHEMA_NOT_FOUND" in run.stderr
    load_workspace(repo / "sodabuild.toml")


def test_a_directory_that_is_not_one_is_a_usage_error(tmp_path: Path) -> None:
    run = run_cli("init", str(tmp_path / "missing"), cwd=tmp_path)
    assert run.code == 2 and "is not a directory" in run.stderr


def test_other_workspaces_are_left_alone_and_project_files_kept(tmp_path: Path) -> None:
    query = "from gql import gql\nQ = gql('query {name} {{ viewer {{ login }} }}')\n"
    repo = write(
        tmp_path,
        {
            "api/schema.graphql": SCHEMA,
            "api/q.py": query.format(name="Api"),
            # the project's own file: kept, init writes only the project's name and root
            "api/sodabuild.toml": '[project]\nschema = "schema.graphql"\nfragments = "sideways"\n',
            # another workspace inside this one: not searched
            "vendor/tool/sodabuild.toml": '[workspace]\nname = "tool"\n',
            "vendor/tool/schema.graphql": SCHEMA,
            "vendor/tool/q.py": query.format(name="Tool"),
        },
    )
    found = survey(repo)
    assert found.skipped == {"vendor/tool": "a sodabuild workspace of its own"}
    (project,) = found.projects
    assert project.root == "api" and project.has_project_file
    run = run_cli("init", cwd=repo)
    # the file is written; the project's own file is wrong, which the first build says
    assert run.code == 2
    assert "wrote" in run.stdout and "could not start, the config is wrong" in run.stdout
    assert "api/sodabuild.toml:3:1: error CONFIG_INVALID" in run.stderr
    text = (repo / "sodabuild.toml").read_text()
    assert "# its other settings are in api/sodabuild.toml" in text
    assert "schema =" not in text
