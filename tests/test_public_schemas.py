"""Schemas as their owners publish them: GitHub's and Proca's SDL dumps build.

The schemas live read-only in ``../shared/schemas`` beside the clone (see its README): they
are data, never committed here. Each is copied into a small workspace whose project points
at it, with realistic documents of that API, and built through the real CLI. Spec-only
problems (GitHub's deprecation inconsistencies, its 2025 duplicate fields) are
``SCHEMA_SPEC`` warnings at exact locations; a wrong document is still ``GQL_VALIDATION``.
The expected warnings are literal, so running this module under graphql-core 3.2 and 3.3
proves both give the same set. The small in-process cases pin the classification table of
``sodabuild/validate/spec.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from sodabuild.diagnostics import Severity
from sodabuild.validate.schema import load_schema
from sodabuild.validate.spec import ONE_OF_SUPPORTED

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"

needs_schemas = pytest.mark.skipif(
    not SCHEMAS.is_dir(),
    reason=f"the public schemas are not checked out beside the clone ({SCHEMAS} is missing)",
)

GITHUB_FRAGMENTS = '''from sodabuild.graphql import gql

RepoFields = gql("""
fragment RepoFields on Repository {
  id
  name
  nameWithOwner
  description
  stargazerCount
  isPrivate
  owner {
    login
    ... on Organization { name }
    ... on User { name }
  }
}
""")

CommentFields = gql("""
fragment CommentFields on Comment {
  author { login avatarUrl(size: 48) }
  authorAssociation
  body
  createdAt
}
""")

ReactableFields = gql("""
fragment ReactableFields on Reactable {
  databaseId
  reactionGroups { content }
}
""")
'''

GITHUB_QUERIES = '''from sodabuild.graphql import gql

from app.fragments import CommentFields, ReactableFields, RepoFields

ViewerRepos = gql("""
query ViewerRepos($first: Int!, $after: String) {
  viewer {
    login
    name
    repositories(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...RepoFields }
    }
  }
}
""", RepoFields)

RepoIssues = gql("""
query RepoIssues($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    ...RepoFields
    issues(first: 20, after: $after, states: [OPEN], orderBy: {field: CREATED_AT, direction: DESC}) {
      nodes {
        number
        title
        url
        ...CommentFields
        ...ReactableFields
        labels(first: 5) { nodes { name color } }
      }
    }
    pullRequest(number: 1) { title ...ReactableFields ...CommentFields }
  }
}
""", RepoFields, CommentFields, ReactableFields)

NodeById = gql("""
query NodeById($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on PullRequest { databaseId title resourcePath }
    ... on Issue { number }
  }
}
""")

AddStar = gql("""
mutation AddStar($id: ID!) {
  addStar(input: {starrableId: $id}) { starrable { stargazerCount } }
}
""")
'''

# A true error: Repository has no field "stars".
GITHUB_BROKEN = '''from sodabuild.graphql import gql

Broken = gql("""
query Broken($owner: String!) {
  repository(owner: $owner, name: "x") { stars }
}
""")
'''

PROCA_QUERIES = '''from sodabuild.graphql import gql

CampaignStats = gql("""
fragment CampaignStats on Campaign {
  id
  name
  title
  stats {
    supporterCount
    supporterCountByArea { area count }
    actionCount { actionType count }
  }
}
""")

Campaigns = gql("""
query Campaigns($title: String) {
  campaigns(title: $title) {
    __typename
    ...CampaignStats
    ... on PublicCampaign { externalId }
  }
}
""", CampaignStats)
'''

#: Every SCHEMA_SPEC warning (line, column) per schema, the same under graphql-core 3.2 and 3.3.
GITHUB_2024_WARNINGS = [
    (36189, 3),  # PullRequest.databaseId deprecated, Reactable.databaseId not
    (37478, 3),
    (37725, 3),
    (54931, 3),  # TeamDiscussion.authorAssociation, Comment.authorAssociation not
    (55096, 3),
    (55116, 3),
    (55196, 3),
    (55311, 3),
    (55321, 3),
]
GITHUB_2025_WARNINGS = [
    (15153, 3),  # EnterpriseOwnerInfo.repositoryDeployKeySetting, defined twice
    (15158, 3),  # EnterpriseOwnerInfo.repositoryDeployKeySettingOrganizations, twice
    (33126, 3),  # Project.id deprecated, Node.id not
    (33249, 3),
    (33429, 3),
    (36957, 3),
    (38263, 3),
    (38510, 3),
    (55971, 3),
    (56136, 3),
    (56156, 3),
    (56236, 3),
    (56351, 3),
    (56361, 3),
]


def make_workspace(root: Path, schema: str, modules: dict[str, str]) -> Path:
    """A workspace with one project ``api`` whose schema is a copy of the public ``schema``."""
    (root / "api" / "app").mkdir(parents=True)
    (root / "sodabuild.toml").write_text(
        '[workspace]\nname = "public"\n\n[[projects]]\nname = "api"\nroot = "api"\n'
    )
    (root / "api" / "sodabuild.toml").write_text(
        '[project]\nschema = "schema.graphql"\ninclude = ["app/**/*.py"]\n'
    )
    shutil.copyfile(SCHEMAS / schema, root / "api" / "schema.graphql")
    (root / "api" / "app" / "__init__.py").write_text("")
    for name, text in modules.items():
        (root / "api" / "app" / name).write_text(text)
    return root


def build(workspace: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "sodabuild", "build", "-w", str(workspace), "--json"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, data


def diagnostics(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(data.get("diagnostics", []))
    for project in data.get("projects", []):
        found.extend(project["diagnostics"])
    return found


def spec_warnings(data: dict[str, Any]) -> list[tuple[int, int]]:
    found = [d for d in diagnostics(data) if d["code"] == "SCHEMA_SPEC"]
    for d in found:
        assert d["severity"] == "warning", d
        assert d["file"] == "api/schema.graphql", d
        assert d["message"] and "\n" not in d["message"] and d["hint"], d
    return sorted((d["line"], d["column"]) for d in found)


def errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in diagnostics(data) if d["severity"] == "error"]


def elements(workspace: Path) -> set[str]:
    artifact = json.loads((workspace / "api" / "__generated__" / "artifact.json").read_text())
    return set(artifact["elements"])


# -- GitHub ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def github_2024(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, Any]]:
    workspace = make_workspace(
        tmp_path_factory.mktemp("gh2024"),
        "github-2024-07-08.graphql",
        {"fragments.py": GITHUB_FRAGMENTS, "queries.py": GITHUB_QUERIES},
    )
    code, data = build(workspace)
    return workspace, code, data


@needs_schemas
def test_github_2024_builds_with_located_warnings(
    github_2024: tuple[Path, int, dict[str, Any]],
) -> None:
    workspace, code, data = github_2024
    assert code == 0, errors(data)
    assert data["ok"] is True
    assert spec_warnings(data) == GITHUB_2024_WARNINGS  # each once, not once per document
    sample = next(d for d in diagnostics(data) if (d["line"], d["column"]) == (36189, 3))
    assert "PullRequest.databaseId" in sample["message"]
    assert "Reactable.databaseId" in sample["message"]
    assert {e.split("::")[-1] for e in elements(workspace)} >= {
        "ViewerRepos",
        "RepoIssues",
        "NodeById",
        "AddStar",
        "RepoFields",
    }


@needs_schemas
def test_github_2024_rebuild_reports_the_warnings_again_and_real_errors(
    github_2024: tuple[Path, int, dict[str, Any]],
) -> None:
    """A non-no-op rebuild from the warm cache reports the schema's warnings again (the
    schema is not remembered as known-good); a wrong document is GQL_VALIDATION."""
    workspace, _, _ = github_2024
    queries = workspace / "api" / "app" / "queries.py"
    queries.write_text(queries.read_text() + "\n# edited\n")
    code, data = build(workspace)
    assert code == 0, errors(data)
    assert spec_warnings(data) == GITHUB_2024_WARNINGS

    (workspace / "api" / "app" / "broken.py").write_text(GITHUB_BROKEN)
    code, data = build(workspace)
    assert code == 1
    found = errors(data)
    assert [(d["code"], d["file"], d["line"]) for d in found] == [
        ("GQL_VALIDATION", "api/app/broken.py", 5)
    ], found
    assert "stars" in found[0]["message"]
    assert spec_warnings(data) == GITHUB_2024_WARNINGS


@needs_schemas
def test_github_2025_duplicate_fields_build(tmp_path: Path) -> None:
    workspace = make_workspace(
        tmp_path,
        "github-2025-02-27.graphql",
        {
            "fragments.py": GITHUB_FRAGMENTS,
            "queries.py": GITHUB_QUERIES,
            "broken.py": GITHUB_BROKEN,
        },
    )
    code, data = build(workspace)
    assert code == 1  # the broken document only
    assert [d["code"] for d in errors(data)] == ["GQL_VALIDATION"]
    assert spec_warnings(data) == GITHUB_2025_WARNINGS
    duplicate = next(d for d in diagnostics(data) if (d["line"], d["column"]) == (15153, 3))
    assert "EnterpriseOwnerInfo.repositoryDeployKeySetting" in duplicate["message"]
    assert "line 15003" in duplicate["message"]


# -- Proca -----------------------------------------------------------------------------------


@needs_schemas
@pytest.mark.parametrize("schema", ["proca-2022-04-28.graphql", "proca-2023-11-01.graphql"])
def test_proca_builds_clean(schema: str, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, schema, {"queries.py": PROCA_QUERIES})
    code, data = build(workspace)
    assert code == 0, diagnostics(data)
    assert diagnostics(data) == []
    assert {e.split("::")[-1] for e in elements(workspace)} == {"Campaigns", "CampaignStats"}


# -- the classification, in process ----------------------------------------------------------

QUERY = "type Query { a: Int }\n"

#: (SDL, builds, [(code, line, column)]) -- see the table in sodabuild/validate/spec.py.
CASES: dict[str, tuple[str, bool, list[tuple[str, int | None, int | None]]]] = {
    "field twice, descriptions differ": (
        'type Query {\n  "one"\n  a: Int\n  "two"\n  a: Int\n}\n',
        True,
        [("SCHEMA_SPEC", 5, 3)],
    ),
    "field twice, types differ": (
        "type Query {\n  a: Int\n  a: String\n}\n",
        False,
        [("SCHEMA_INVALID", 2, 3)],
    ),
    "field in type and extension": (
        QUERY + "extend type Query { a: Int }\n",
        True,
        [("SCHEMA_SPEC", 2, 21)],
    ),
    "scalar twice": ("scalar D\nscalar D\ntype Query { d: D }\n", True, [("SCHEMA_SPEC", 2, 8)]),
    "object twice, differently": (
        QUERY + "type A { x: Int }\ntype A { y: Int }\n",
        False,
        [("SCHEMA_INVALID", 2, 6)],
    ),
    "argument twice": (
        "type Query { a(x: Int, x: Int): Int }\n",
        True,
        [("SCHEMA_SPEC", 1, 24)],
    ),
    "enum value twice": ("enum E { A B A }\ntype Query { e: E }\n", True, [("SCHEMA_SPEC", 1, 14)]),
    "union member twice": (
        "type A { x: Int }\nunion U = A | A\ntype Query { u: U }\n",
        True,
        [("SCHEMA_SPEC", 2, 15)],
    ),
    "deprecated implementation field": (
        "interface N { id: ID }\ntype Query implements N { id: ID @deprecated }\n",
        True,
        [("SCHEMA_SPEC", 2, 27)],
    ),
    "deprecated required argument": (
        "type Query { a(x: Int! @deprecated): Int }\n",
        True,
        [("SCHEMA_SPEC", 1, 16)],
    ),
    "one root for two operations": (
        "schema { query: Q mutation: Q }\ntype Q { a: Int }\n",
        True,
        [("SCHEMA_SPEC", 1, 19)],
    ),
    "unknown directive": (
        'type Query { a: Int @key(fields: "a") }\n',
        True,
        [("SCHEMA_SPEC", 1, 21)],
    ),
    "misplaced directive": (
        "type Query @deprecated { a: Int }\n",
        True,
        [("SCHEMA_SPEC", 1, 12)],
    ),
    "unknown directive argument": (
        'type Query { a: Int @deprecated(why: "x") }\n',
        True,
        [("SCHEMA_SPEC", 1, 33)],
    ),
    "unknown type": ("type Query { a: Nope }\n", False, [("SCHEMA_INVALID", 1, 17)]),
    "no query root": ("type Foo { a: Int }\n", False, [("SCHEMA_INVALID", None, None)]),
    "missing interface field": (
        "interface N { id: ID }\ntype Query implements N { a: Int }\n",
        False,
        [("SCHEMA_INVALID", 1, 15)],
    ),
    "interface field of another type": (
        "interface N { id: ID }\ntype Query implements N { id: Int }\n",
        False,
        [("SCHEMA_INVALID", 1, 19)],
    ),
    "invalid default value": (
        'type Query { a(x: Int = "s"): Int }\n',
        False,
        [("SCHEMA_INVALID", 1, 25)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_classification(name: str) -> None:
    sdl, builds, expected = CASES[name]
    loaded = load_schema([("schema.graphql", sdl.encode())])
    assert (loaded.schema is not None) == builds, loaded.diagnostics
    found = [(d.code, d.line, d.column) for d in loaded.diagnostics]
    assert sorted(found, key=str) == sorted(expected, key=str), [
        d.render() for d in loaded.diagnostics
    ]
    for diagnostic in loaded.diagnostics:
        severity = Severity.WARNING if diagnostic.code == "SCHEMA_SPEC" else Severity.ERROR
        assert diagnostic.severity is severity
        assert diagnostic.hint or diagnostic.code == "SCHEMA_INVALID"
        assert "\n" not in diagnostic.message


def test_schema_with_warnings_validates_documents() -> None:
    """The built schema is usable by graphql-core's validate() (no stale validation errors)
    and still rejects what it must."""
    sdl = (
        "interface N { id: ID }\n"
        "type Query implements N { id: ID @deprecated a(x: Int, x: Int): Int a(x: Int): Int }\n"
    )
    loaded = load_schema([("schema.graphql", sdl.encode())])
    assert loaded.schema is not None
    assert [d.code for d in loaded.diagnostics] == [
        "SCHEMA_SPEC"
    ] * 3  # argument, field, deprecation
    assert validate(loaded.schema, parse("{ id a(x: 1) ... on N { id } }")) == []
    assert validate(loaded.schema, parse('{ a(x: "s") b }'))


def test_one_of_needs_graphql_core_3_3() -> None:
    sdl = "input I @oneOf { a: Int b: Int }\ntype Query { f(i: I): Int }\n"
    loaded = load_schema([("schema.graphql", sdl.encode())])
    if ONE_OF_SUPPORTED:
        assert loaded.schema is not None and loaded.diagnostics == ()
        errors = validate(loaded.schema, parse("{ f(i: {a: 1, b: 2}) }"))
        assert errors, "3.3 enforces @oneOf"
    else:
        assert loaded.schema is None
        assert [(d.code, d.line, d.column) for d in loaded.diagnostics] == [
            ("SCHEMA_INVALID", 1, 9)
        ]


def test_each_repeated_definition_is_one_warning() -> None:
    counts = Counter(
        (d.code, d.line, d.column)
        for d in load_schema(
            [("schema.graphql", b"scalar D\nscalar D\nscalar D\ntype Query { d: D }\n")]
        ).diagnostics
    )
    assert counts == {("SCHEMA_SPEC", 2, 8): 1, ("SCHEMA_SPEC", 3, 8): 1}
