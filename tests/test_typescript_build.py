"""TypeScript and JavaScript sources through the real CLI: the example's web client, a
project mixing Python and TypeScript, tsconfig.json (paths, baseUrl, extends) and its
edits in a new process, specifiers (`.js` naming `.ts`, index files, specifier aliases),
interpolated strings and documents, and positions in characters of the host file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .conftest import read_tree, run_cli

SCHEMA = """\
type Query {
  user(id: ID!): User
  viewer: User!
}

type User {
  id: ID!
  login: String!
  name: String
  friend: User
}
"""


def workspace(root: Path, files: dict[str, str], project: str = "") -> Path:
    """A one-project workspace at ``root`` holding ``files`` (and the schema)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sodabuild.toml").write_text(
        '[workspace]\nname = "ts"\n\n[[projects]]\nname = "app"\nroot = "app"\n'
        'schema = "schema.graphql"\n' + project
    )
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "schema.graphql").write_text(SCHEMA)
    for name, text in files.items():
        path = root / "app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def build(root: Path, *args: str) -> dict[str, Any]:
    result = run_cli("build", "--json", *args, cwd=root)
    data: dict[str, Any] = result.json()
    data["exit"] = result.code
    return data


def artifact(root: Path, project: str = "app") -> dict[str, Any]:
    path = root / project / "__generated__" / "artifact.json"
    elements: dict[str, Any] = json.loads(path.read_bytes())["elements"]
    return elements


def diagnostics(data: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    return sorted(
        (d["code"], d["file"], d["line"], d["column"])
        for project in data["projects"]
        for d in project["diagnostics"]
    )


def test_example_web_client_builds_every_form(example_workspace: Path) -> None:
    data = build(example_workspace, "-p", "web-client")
    assert data["exit"] == 0, data
    [project] = data["projects"]
    assert project["diagnostics"] == []
    elements = artifact(example_workspace, "fixtures/web-client")
    assert sorted(elements) == [
        "src/components/UserCard.tsx::GET_USER",
        "src/graphql/image.ts::ImageFields",
        "src/graphql/search.ts::SearchUsers",
        "src/graphql/users.ts::UserAvatar",
        "src/pages/RepoList.tsx::RepoListQuery",
        "src/pages/closeIssue.mjs::CloseIssue",
        "src/pages/repoListItem.ts::RepoListItem",
    ]
    card = elements["src/components/UserCard.tsx::GET_USER"]
    # `${UserAvatar}` through "@/graphql" (tsconfig paths) and its `export *` re-export,
    # and the string constant `${USER_FIELDS}` spliced into the selection
    assert card["fragments"] == [
        "src/graphql/image.ts::ImageFields",
        "src/graphql/users.ts::UserAvatar",
    ]
    assert "    name\n    bio\n" in card["document"]
    search = elements["src/graphql/search.ts::SearchUsers"]  # gql.tada's array argument
    assert "src/graphql/users.ts::UserAvatar" in search["fragments"]
    relay = elements["src/pages/RepoList.tsx::RepoListQuery"]  # a spread found by name
    assert relay["fragments"] == ["src/pages/repoListItem.ts::RepoListItem"]


def test_python_and_typescript_in_one_project_share_fragments_by_name(tmp_path: Path) -> None:
    root = workspace(
        tmp_path / "ws",
        {
            "app/__init__.py": "",
            "app/fragments.py": (
                "from sodabuild.graphql import gql\n\n"
                'UserName = gql("fragment UserName on User { id name }")\n'
            ),
            "app/queries.py": (
                "from sodabuild.graphql import gql\n\n"
                'Viewer = gql("query Viewer { viewer { ...WebLogin } }")\n'
            ),
            "web/fragments.ts": (
                'import { gql } from "@apollo/client";\n\n'
                "export const WebLogin = gql`fragment WebLogin on User { id login }`;\n"
            ),
            "web/queries.ts": (
                'import { gql } from "@apollo/client";\n\n'
                "export const WebUser = gql`query WebUser { user(id: 1) { ...UserName } }`;\n"
            ),
        },
        project='source_roots = ["."]\n',
    )
    data = build(root)
    assert data["exit"] == 0, data
    elements = artifact(root)
    assert elements["web/queries.ts::WebUser"]["fragments"] == ["app/fragments.py::UserName"]
    assert elements["app/queries.py::Viewer"]["fragments"] == ["web/fragments.ts::WebLogin"]
    # one format whatever the language: the same keys, the module is the file
    assert set(elements["web/queries.ts::WebUser"]) == set(elements["app/queries.py::Viewer"])


def test_imports_never_cross_languages(tmp_path: Path) -> None:
    root = workspace(
        tmp_path / "ws",
        {
            "app/__init__.py": "",
            "app/fragments.py": (
                "from sodabuild.graphql import gql\n\n"
                'UserName = gql("fragment UserName on User { id name }")\n'
            ),
            "web/q.ts": (
                'import { gql } from "@apollo/client";\n'
                'import { UserName } from "../app/fragments";\n\n'
                "export const Q = gql`query Q { viewer { ...UserName } } ${UserName}`;\n"
            ),
        },
    )
    data = build(root)
    assert data["exit"] == 1
    assert diagnostics(data) == [("IMPORT_UNRESOLVED", "app/web/q.ts", 2, 10)]


def test_tsconfig_extends_paths_and_an_edit_in_a_new_process(tmp_path: Path) -> None:
    root = workspace(
        tmp_path / "ws",
        {
            "tsconfig.base.json": (
                "{\n  // shared by every package\n"
                '  "compilerOptions": { "baseUrl": ".", "paths": { "~frags/*": ["lib/*"] } },\n}\n'
            ),
            "tsconfig.json": '{ "extends": "./tsconfig.base.json" }\n',
            "lib/user.ts": (
                'import { gql } from "@apollo/client";\n'
                "export const UserName = gql`fragment UserName on User { id name }`;\n"
            ),
            "other/user.ts": (
                'import { gql } from "@apollo/client";\n'
                "export const UserName = gql`fragment UserName on User { id login }`;\n"
            ),
            "src/q.ts": (
                'import { gql } from "@apollo/client";\n'
                'import { UserName } from "~frags/user.js";\n\n'
                "export const Q = gql`query Q { viewer { ...UserName } } ${UserName}`;\n"
            ),
        },
        project='fragments = "imports"\n',
    )
    assert build(root)["exit"] == 0
    assert artifact(root)["src/q.ts::Q"]["fragments"] == ["lib/user.ts::UserName"]
    # the base file changes: a new process sees it (it is part of the project's config)
    base = root / "app" / "tsconfig.base.json"
    base.write_text(base.read_text().replace('["lib/*"]', '["other/*"]'))
    edited = build(root)
    assert edited["exit"] == 0, edited
    assert artifact(root)["src/q.ts::Q"]["fragments"] == ["other/user.ts::UserName"]
    incremental = read_tree(root / "app" / "__generated__")
    shutil.rmtree(root / "app" / "__generated__")
    shutil.rmtree(root / ".cache")
    assert build(root)["exit"] == 0
    assert read_tree(root / "app" / "__generated__") == incremental
    # a broken tsconfig is a located config error, and nothing is written
    (root / "app" / "tsconfig.json").write_text('{ "extends": "./missing.json" }\n')
    broken = run_cli("build", cwd=root)
    assert broken.code == 2
    assert "app/tsconfig.json:1:" in broken.stderr and "TSCONFIG_INVALID" in broken.stderr
    assert read_tree(root / "app" / "__generated__") == incremental


def test_specifier_aliases_index_files_and_namespace_imports(tmp_path: Path) -> None:
    root = workspace(
        tmp_path / "ws",
        {
            "web/graphql/index.ts": 'export * as users from "./users";\n',
            "web/graphql/users.ts": (
                'import { gql } from "@apollo/client";\n'
                "export const UserName = gql`fragment UserName on User { id name }`;\n"
            ),
            "web/q.tsx": (
                'import { gql } from "@apollo/client";\n'
                'import * as frags from "@/graphql";\n\n'
                "export const Q = gql`query Q { viewer { ...UserName } } ${frags.users.UserName}`;\n"
            ),
        },
    )
    (root / "sodabuild.toml").write_text(
        (root / "sodabuild.toml").read_text() + '\n[aliases]\n"@/graphql" = "app/web/graphql"\n'
    )
    data = build(root)
    assert data["exit"] == 0, data
    assert artifact(root)["web/q.tsx::Q"]["fragments"] == ["web/graphql/users.ts::UserName"]


def test_errors_are_located_in_characters_of_the_host_file(tmp_path: Path) -> None:
    root = workspace(
        tmp_path / "ws",
        {
            # CRLF line ends, a multi-byte character and an astral one before the document
            "q.ts": (
                'import { gql } from "@apollo/client";\r\n'
                '\r\nconst a = "é😀"; export const Q = gql`query Q { viewer { nmae } }`;\r\n'
            ),
            "r.js": "export const R = graphql`\n  query R {\n    viewer { login }\n  }\n`;\nfoo(;\n",
        },
    )
    data = build(root)
    assert data["exit"] == 1
    # `nmae` is at character 57 of line 3 (the emoji counts as one column)
    line = ["", 'const a = "é😀"; export const Q = gql`query Q { viewer { nmae } }`;'][1]
    assert line.index("nmae") + 1 == 57
    assert diagnostics(data) == [
        ("GQL_VALIDATION", "app/q.ts", 3, 57),
        ("TS_SYNTAX", "app/r.js", 6, 5),
    ]


def test_an_interpolation_of_something_else_is_reported_where_it_is(tmp_path: Path) -> None:
    root = workspace(
        tmp_path / "ws",
        {
            "q.ts": (
                'import { gql } from "@apollo/client";\n'
                'import * as React from "react";\n\n'
                "export const A = gql`query A { viewer { id } } ${React}`;\n"
                "export const B = gql`query B { viewer { ${pick()} } }`;\n"
            ),
        },
    )
    data = build(root)
    found = diagnostics(data)
    assert ("GQL_ARG_NOT_FRAGMENT", "app/q.ts", 4, 50) in found
    assert ("GQL_DYNAMIC", "app/q.ts", 5, 43) in found
