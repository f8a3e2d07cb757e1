"""Typed results (``python_types_output``): generated pydantic models and TypedDicts.

The fixture ``fixtures/typed-app`` has an interface, a union, an enum, a mapped and an
unmapped custom scalar, nullable and list fields, @include/@skip, aliases and keyword field
names, with fragments on an object type, an interface and a union; ``fixtures/gql-app`` is
real client code (spliced fragments, documents in methods). For both: the generated modules
are snapshotted, imported, type-checked with ``mypy --strict`` (one run for the module),
and every operation is executed against the fixture schema with ``graphql_sync`` and its
result parsed back into the generated model.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    graphql_sync,
)
from syrupy.assertion import SnapshotAssertion

from sodabuild.emit.python_types import module_targets
from sodabuild.session.session import BuilderSession, ChangeSet

from .conftest import FIXTURES, copy_example_workspace, read_tree, run_cli

TYPED = "typed_types"  # the package the typed-app tree is imported as
GQL_APP = "gqlapp_types"
EXAMPLE = "example_types"  # the typed project of the example workspace (workspace.example.toml)


def _workspace(root: Path, *projects: tuple[str, Path, str]) -> Path:
    """A workspace of copied fixture projects: (name, fixture, extra project keys)."""
    lines = ['[workspace]\nname = "typed"\n']
    for name, fixture, extra in projects:
        shutil.copytree(
            fixture,
            root / name,
            ignore=shutil.ignore_patterns("__generated__", "__pycache__", ".*.sodabuild-*"),
        )
        lines.append(f'[[projects]]\nname = "{name}"\nroot = "{name}"\n{extra}')
    (root / "sodabuild.toml").write_text("\n".join(lines), encoding="utf-8")
    return root


def _types(root: Path, project: str) -> dict[str, bytes]:
    return read_tree(root / project / "__generated__" / "types")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both fixture projects built with the graphql-typed rule (gql-app selects it here)."""
    root = _workspace(
        tmp_path_factory.mktemp("typed") / "ws",
        ("typed-app", FIXTURES / "typed-app", ""),
        ("gql-app", FIXTURES / "gql-app", 'rules = ["graphql-typed"]\n'),
    )
    result = run_cli("build", "-w", str(root), "--json")
    assert result.code == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example workspace, built as the README's first command builds it: one
    project (gql-app) selects the typed rule there."""
    root = copy_example_workspace(tmp_path_factory.mktemp("example") / "ws")
    result = run_cli("build", "-w", str(root), "--json")
    assert result.code == 0, result.stdout + result.stderr
    typed = [
        p["name"] for p in json.loads(result.stdout)["projects"] if "python_types" in p["outputs"]
    ]
    assert typed == ["gql-app"]
    return root


@pytest.fixture(scope="module")
def packages(
    built: Path, example: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The generated trees as importable packages (relative imports only: the top package
    may be named anything)."""
    root = tmp_path_factory.mktemp("packages")
    shutil.copytree(built / "typed-app" / "__generated__" / "types", root / TYPED)
    shutil.copytree(built / "gql-app" / "__generated__" / "types", root / GQL_APP)
    shutil.copytree(example / "fixtures" / "gql-app" / "__generated__" / "types", root / EXAMPLE)
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] in (TYPED, GQL_APP, EXAMPLE)]:
            del sys.modules[name]


def _import(name: str) -> ModuleType:
    return importlib.import_module(name)


# -- snapshots and layout ----------------------------------------------------------------


def test_typed_app_modules(built: Path, snapshot: SnapshotAssertion) -> None:
    tree = _types(built, "typed-app")
    assert sorted(tree) == [
        "__init__.py",
        "_schema.py",
        "app/__init__.py",
        "app/fragments.py",
        "app/queries.py",
    ]
    assert {path: data.decode() for path, data in tree.items()} == snapshot


def test_gql_app_modules(built: Path, snapshot: SnapshotAssertion) -> None:
    tree = _types(built, "gql-app")
    assert {path: data.decode() for path, data in tree.items()} == snapshot
    # A spliced fragment that is also an element of the project (the marked REPO_FIELDS)
    # is imported; the plain-string ones are defined where they are spliced.
    client = tree["ghclient/client.py"].decode()
    assert "from ..ghclient.fragments import RepoFields\n" in client
    assert "class UserFields(_schema.Model):" in client


def test_module_targets() -> None:
    targets = module_targets(
        [
            "app/__init__.py",
            "app/q.py",
            "app/q.graphql",
            "app/q/x.py",
            "my-lib/class.py",
            "_schema.py",
            "1st.py",
        ]
    )
    assert targets == {
        "app/__init__.py": ("app", "__init__"),
        "app/q.py": ("app", "q_2"),  # `app/q/` is a package
        "app/q.graphql": ("app", "q_graphql"),
        "app/q/x.py": ("app", "q", "x"),
        "my-lib/class.py": ("my_lib", "class_"),
        "_schema.py": ("_schema_2",),
        "1st.py": ("_1st",),
    }


# -- type checking --------------------------------------------------------------------------

USES = f"""\
from {TYPED}.app import fragments, queries
from {TYPED} import _schema


def role_of(user: fragments.UserFields) -> _schema.Role:
    return user.role


def names(result: queries.GetUserResult) -> list[str]:
    assert result.user is not None
    role_of(result.user)  # a result extends the fragments it spreads
    return [friend.name for friend in result.user.friends] + [result.user.from_ or ""]


def node_name(node: fragments.NodeFields) -> str:
    if isinstance(node, fragments.NodeFields_User):
        return node.name
    return node.typename


variables: queries.GetUserVariables = {{"id": "u1", "skipPosts": False}}
search: queries.SearchVariables = {{
    "text": "a",
    "filter": {{"roles": ["ADMIN", _schema.Role.GUEST], "after": None}},
}}
post: queries.CreatePostVariables = {{"input": {{"title": "t", "from": "x", "tags": ["a"]}}}}
"""

MISUSES = f"""\
from {TYPED}.app import queries

missing: queries.GetUserVariables = {{"id": "u1"}}
wrong: queries.SearchVariables = {{"text": 1}}
unknown: queries.GetNodeVariables = {{"id": "n", "first": 2}}
"""


def test_mypy_strict(packages: Path) -> None:
    """One mypy run: the generated packages (the example workspace's included), code using
    them right (no error) and wrong (exactly the expected errors), with the pydantic
    plugin."""
    (packages / "uses.py").write_text(USES, encoding="utf-8")
    (packages / "misuses.py").write_text(MISUSES, encoding="utf-8")
    config = packages / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\nplugins = pydantic.mypy\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            "-p",
            TYPED,
            "-p",
            GQL_APP,
            "-p",
            EXAMPLE,
            "-m",
            "uses",
            "-m",
            "misuses",
        ],
        cwd=packages,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(packages)},
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 2: mypy did not run
    errors = sorted(
        line.split(": error:")[0] for line in proc.stdout.splitlines() if ": error:" in line
    )
    assert errors == ["misuses.py:3", "misuses.py:4", "misuses.py:5"], proc.stdout


def test_every_model_builds(packages: Path) -> None:
    """Models are built on first use (``defer_build``): build each one now."""
    import pydantic

    built = 0
    for package in (TYPED, GQL_APP, EXAMPLE):
        root = _import(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            module = _import(info.name)
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, pydantic.BaseModel)
                    and value.__module__ == module.__name__
                ):
                    assert value.model_rebuild(force=True) is True
                    built += 1
    assert built > 120


def test_generated_modules_import_without_graphql_core(packages: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        import {TYPED}.app.queries, {GQL_APP}.ghclient.client
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("graphql", "sodabuild"))
        print(heavy)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=packages, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"


# -- executing the operations ---------------------------------------------------------------

NOW = "2024-01-02T03:04:05Z"
BOB: dict[str, Any] = {
    "__typename": "User",
    "id": "u2",
    "name": "Bob",
    "email": None,
    "role": "GUEST",
    "createdAt": NOW,
    "friends": [],
    "nicknames": None,
    "from": None,
    "class": None,
    "metadata": None,
    "posts": [],
}
POST: dict[str, Any] = {
    "__typename": "Post",
    "id": "p1",
    "title": "Hello",
    "body": None,
    "tags": ["a", "b"],
    "publishedAt": None,
}
ALICE: dict[str, Any] = {
    "__typename": "User",
    "id": "u1",
    "name": "Alice",
    "email": "alice@example.com",
    "role": "ADMIN",
    "createdAt": NOW,
    "friends": [BOB],
    "nicknames": ["al", None],
    "from": "Paris",
    "class": 3,
    "metadata": {"tags": ["x"], "n": 1.5, "ok": True},
    "posts": [POST],
}
POST["author"] = ALICE
TEAM: dict[str, Any] = {
    "__typename": "Team",
    "id": "t1",
    "name": "Core",
    "members": [ALICE, BOB],
    "lead": ALICE,
}
NODES = {"u1": ALICE, "u2": BOB, "p1": POST, "t1": TEAM, "1": ALICE}
ROOT: dict[str, Any] = {
    "user": lambda _info, id: NODES.get(id),
    "node": lambda _info, id: NODES.get(id),
    "viewer": ALICE,
    "search": lambda _info, **_args: [ALICE, TEAM, POST],
    "createPost": lambda _info, input: {**POST, "title": input["title"], "tags": input["tags"]},
}


def _fixture_schema() -> GraphQLSchema:
    return build_schema((FIXTURES / "typed-app" / "schema.graphql").read_text())


def _execute(model: Any, variables: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Execute an operation's DOCUMENT against the fixture schema and parse its data."""
    result = graphql_sync(
        _fixture_schema(), model.DOCUMENT, root_value=ROOT, variable_values=variables
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data, model.model_validate(result.data)


def _roundtrip(model: Any, data: dict[str, Any]) -> None:
    """The model keeps every field of the data, as the data had it."""
    assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == data


def test_get_user(packages: Path) -> None:
    queries = _import(f"{TYPED}.app.queries")
    fragments = _import(f"{TYPED}.app.fragments")
    schema = _import(f"{TYPED}._schema")
    data, result = _execute(queries.GetUserResult, {"id": "u1", "skipPosts": False})
    _roundtrip(result, data)
    user = result.user
    assert isinstance(user, fragments.UserWithFriends)
    assert isinstance(user, fragments.UserFields)
    assert (user.id, user.name, user.from_, user.klass) == ("u1", "Alice", "Paris", 3)
    assert user.role is schema.Role.ADMIN
    assert user.createdAt == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert user.email is None  # @include(if: $withEmail), false by default: not sent
    assert "email" not in data["user"]
    assert user.nicknames == ["al", None]
    assert user.metadata == {"tags": ["x"], "n": 1.5, "ok": True}
    assert [(f.id, f.name) for f in user.friends] == [("u2", "Bob")]
    assert [(p.id, p.title, p.publishedAt) for p in user.posts] == [("p1", "Hello", None)]
    assert queries.GetUserResult.NAME == "GetUser"
    assert queries.GetUserResult.HASH.startswith("sha256:")

    data, result = _execute(
        queries.GetUserResult, {"id": "u1", "withEmail": True, "skipPosts": True}
    )
    _roundtrip(result, data)
    assert result.user.email == "alice@example.com"
    assert result.user.posts is None
    data, result = _execute(queries.GetUserResult, {"id": "nobody", "skipPosts": True})
    assert result.user is None


def test_get_node(packages: Path) -> None:
    queries = _import(f"{TYPED}.app.queries")
    fragments = _import(f"{TYPED}.app.fragments")
    for node_id, model, check in (
        ("u1", queries.GetNodeResult_node_User, lambda n: (n.name, n.friends[0].name)),
        ("p1", fragments.NodeFields_Post, lambda n: n.title),
        ("t1", fragments.NodeFields_Other, lambda n: n.id),  # Team: not told apart
    ):
        data, result = _execute(queries.GetNodeResult, {"id": node_id})
        _roundtrip(result, data)
        assert type(result.node) is model
        assert (
            check(result.node)
            == {
                "u1": ("Alice", "Bob"),
                "p1": "Hello",
                "t1": "t1",
            }[node_id]
        )
    assert issubclass(queries.GetNodeResult_node_User, fragments.NodeFields_User)


def test_search(packages: Path) -> None:
    queries = _import(f"{TYPED}.app.queries")
    fragments = _import(f"{TYPED}.app.fragments")
    data, result = _execute(queries.SearchResult, {"text": "a"})
    _roundtrip(result, data)
    user, team, post = result.search
    assert type(user) is fragments.SearchFields_User and user.name == "Alice"
    assert type(team) is queries.SearchResult_search_Team
    assert isinstance(team, fragments.SearchFields_Team)
    assert (team.name, team.lead.name, [m.id for m in team.members]) == (
        "Core",
        "Alice",
        ["u1", "u2"],
    )
    assert type(post) is fragments.SearchFields_Post and post.tags == ["a", "b"]


def test_create_post_and_untyped(packages: Path) -> None:
    queries = _import(f"{TYPED}.app.queries")
    fragments = _import(f"{TYPED}.app.fragments")
    variables = {"input": {"title": "New", "tags": ["t"]}}
    data, result = _execute(queries.CreatePostResult, variables)
    _roundtrip(result, data)
    assert (result.createPost.title, result.createPost.tags) == ("New", ["t"])
    # composition selects __typename beside the spread: a subclass of the fragment's model
    assert isinstance(result.createPost.author, fragments.UserFields)
    # The source selects no __typename; composition adds it, so the node gets its type.
    data, result = _execute(queries.UntypedResult)
    _roundtrip(result, data)
    assert result.node.id == "u1"
    assert (type(result.node).__name__, result.node.name) == ("UntypedResult_node_User", "Alice")


def test_unknown_enum_value_and_typename(packages: Path) -> None:
    queries = _import(f"{TYPED}.app.queries")
    fragments = _import(f"{TYPED}.app.fragments")
    schema = _import(f"{TYPED}._schema")
    user = {**ALICE, "role": "AUDITOR"}  # a value the server added later
    parsed = fragments.UserFields.model_validate(user)
    assert isinstance(parsed.role, schema.Role)
    assert parsed.role.value == "AUDITOR" and parsed.role == "AUDITOR"
    assert schema.Role("AUDITOR") is parsed.role
    assert parsed.model_dump(mode="json")["role"] == "AUDITOR"
    assert schema.Role("ADMIN") is schema.Role.ADMIN
    robot = {"__typename": "Robot", "id": "r1", "serial": "X"}  # a type added later
    result = queries.GetNodeResult.model_validate({"node": robot})
    assert type(result.node) is fragments.NodeFields_Other
    assert (result.node.typename, result.node.id) == ("Robot", "r1")
    assert result.node.model_extra == {"serial": "X"}
    search = queries.SearchResult.model_validate({"search": [{"__typename": "Robot"}]})
    assert type(search.search[0]) is fragments.SearchFields_Other


def _fake(value: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """A resolver that makes up a value of every field's type (two list items, the
    abstract types' object types in turn)."""
    return _made(info.return_type, len(info.path.as_list()))


def _made(gtype: Any, seed: int) -> Any:
    if isinstance(gtype, GraphQLNonNull):
        return _made(gtype.of_type, seed)
    if isinstance(gtype, GraphQLList):
        return [_made(gtype.of_type, seed + i) for i in range(2)]
    if isinstance(gtype, GraphQLScalarType):
        return {
            "ID": f"id{seed}",
            "String": f"s{seed}",
            "Int": seed,
            "Float": seed + 0.5,
            "Boolean": seed % 2 == 0,
            "DateTime": NOW,
        }.get(gtype.name, {"json": [seed, "x"]})
    if isinstance(gtype, GraphQLEnumType):
        names = list(gtype.values)
        return names[seed % len(names)]
    if isinstance(gtype, GraphQLInterfaceType | GraphQLUnionType):
        return {"__typename": _possible[gtype.name][seed % len(_possible[gtype.name])]}
    assert isinstance(gtype, GraphQLObjectType)
    return {}


_possible: dict[str, list[str]] = {}
#: Values of the required variables of the fixtures' operations (the resolver ignores them).
REQUIRED: dict[str, Any] = {
    "ID!": "x",
    "String!": "x",
    "Int!": 1,
    "Boolean!": True,
    "PostInput!": {"title": "t"},
}


@pytest.mark.parametrize("project", ["typed-app", "gql-app"])
def test_every_operation_parses_made_up_data(project: str, built: Path, packages: Path) -> None:
    """Every operation of the project, executed with made-up data for every field, parses
    into its model and dumps back to the same data."""
    schema_path = built / project / "schema.graphql"
    schema = build_schema(schema_path.read_text())
    _possible.clear()
    for gtype in schema.type_map.values():
        if isinstance(gtype, GraphQLInterfaceType | GraphQLUnionType):
            _possible[gtype.name] = sorted(t.name for t in schema.get_possible_types(gtype))
    package = TYPED if project == "typed-app" else GQL_APP
    artifact = json.loads((built / project / "__generated__" / "artifact.json").read_text())
    targets = module_targets({e["module"] for e in artifact["elements"].values()})
    seen = 0
    for element in artifact["elements"].values():
        if element["kind"] != "operation":
            continue
        module = _import(".".join((package, *targets[element["module"]])))
        model = getattr(module, f"{element['name']}Result")
        assert element["document"] == model.DOCUMENT
        assert element["hash"] == model.HASH
        variables = {
            v["name"]: REQUIRED[v["type"]]
            for v in element["variables"]
            if v["type"].endswith("!") and v["default"] is None
        }
        result = graphql_sync(
            schema, model.DOCUMENT, variable_values=variables, field_resolver=_fake
        )
        assert result.errors is None, (element["name"], result.errors)
        assert result.data is not None
        _roundtrip(model.model_validate(result.data), result.data)
        seen += 1
    assert seen == {"typed-app": 5, "gql-app": 13}[project]


# -- incremental = clean --------------------------------------------------------------------

QUERIES_EDIT = ("        klass: class\n", "        klass: class\n        bio: email\n")


def _session_build(session: BuilderSession, change: ChangeSet | None = None) -> str:
    result = session.update(change)
    assert result.ok, [d for p in result.projects for d in p.diagnostics]
    return str(result.mode)


def _clean(root: Path, tmp: Path) -> dict[str, bytes]:
    copy = tmp / f"clean-{len(list(tmp.iterdir()))}"
    shutil.copytree(
        root, copy, ignore=shutil.ignore_patterns("__generated__", ".*.sodabuild-*", ".cache")
    )
    result = run_cli("build", "-w", str(copy), "--no-incremental")
    assert result.code == 0, result.stderr
    return _types(copy, "typed-app")


def test_incremental_equals_clean(tmp_path: Path) -> None:
    """A session applying edits (a query, a schema field, the scalar mapping) writes the
    same typed modules as a clean build of the same tree; an edit of one module leaves the
    other modules' files as they were."""
    root = _workspace(tmp_path / "ws", ("typed-app", FIXTURES / "typed-app", ""))
    app = root / "typed-app"
    cleans = tmp_path / "cleans"
    cleans.mkdir()
    session = BuilderSession(root / "sodabuild.toml", cwd=root)
    session.load()
    try:
        _session_build(session)
        before = _types(root, "typed-app")
        inodes = {p: (app / "__generated__" / "types" / p).stat().st_ino for p in before}

        queries = app / "app" / "queries.py"
        queries.write_text(queries.read_text().replace(*QUERIES_EDIT), encoding="utf-8")
        mode = _session_build(session, ChangeSet.of(modified=["typed-app/app/queries.py"]))
        assert mode == "changes"
        after = _types(root, "typed-app")
        assert after == _clean(root, cleans)
        assert b"bio: str | None" in after["app/queries.py"]
        changed = {p for p in after if after[p] != before.get(p)}
        assert changed == {"app/queries.py"}
        for path in ("app/fragments.py", "_schema.py"):
            assert (app / "__generated__" / "types" / path).stat().st_ino == inodes[path]

        # a new fragment takes the name of a nested model of fragments.py: that model is
        # renamed, and queries.py (whose elements did not change) imports the new name
        fragments = app / "app" / "fragments.py"
        fragments.write_text(
            fragments.read_text()
            + '\nUserWithFriends_friends = gql("fragment UserWithFriends_friends on User { id }")\n',
            encoding="utf-8",
        )
        _session_build(session, ChangeSet.of(modified=["typed-app/app/fragments.py"]))
        after = _types(root, "typed-app")
        assert after == _clean(root, cleans)
        assert b"    UserWithFriends_friends_2,\n" in after["app/queries.py"]

        # a schema edit changes types without changing any document
        schema = app / "schema.graphql"
        schema.write_text(
            schema.read_text().replace("  email: String\n", "  email: String!\n"),
            encoding="utf-8",
        )
        _session_build(session, ChangeSet.of(modified=["typed-app/schema.graphql"]))
        after = _types(root, "typed-app")
        assert after == _clean(root, cleans)
        assert b"    email: str\n" in after["app/fragments.py"]

        # so does the scalar mapping
        config = app / "sodabuild.toml"
        config.write_text(
            config.read_text().replace('type = "datetime.datetime"', 'type = "str"'),
            encoding="utf-8",
        )
        _session_build(session, ChangeSet.of(modified=["typed-app/sodabuild.toml"]))
        after = _types(root, "typed-app")
        assert after == _clean(root, cleans)
        assert b"DateTime: typing.TypeAlias = str\n" in after["_schema.py"]

        # a module that loses its documents loses its typed module
        queries.write_text('"""No documents any more."""\n', encoding="utf-8")
        _session_build(session, ChangeSet.of(modified=["typed-app/app/queries.py"]))
        after = _types(root, "typed-app")
        assert after == _clean(root, cleans)
        assert "app/queries.py" not in after and "app/fragments.py" in after
        assert fragments.exists()
    finally:
        session.dispose()


def test_leaf_edit_writes_one_typed_module_and_noop_writes_nothing(tmp_path: Path) -> None:
    """From the command line (a new process each build): a no-op build writes nothing; an
    edit of one operation rewrites its typed module and no other typed file (a file
    rewritten is a new inode: unchanged ones are kept as they are)."""
    root = _workspace(tmp_path / "ws", ("typed-app", FIXTURES / "typed-app", ""))
    types = root / "typed-app" / "__generated__" / "types"

    def build() -> int:
        result = run_cli("build", "-w", str(root), "--json")
        assert result.code == 0, result.stdout + result.stderr
        (project,) = json.loads(result.stdout)["projects"]
        written: int = project["files_written"]
        return written

    def inodes() -> dict[str, int]:
        return {p.relative_to(types).as_posix(): p.stat().st_ino for p in types.rglob("*.py")}

    assert build() > 0
    before = inodes()
    assert build() == 0
    assert inodes() == before
    queries = root / "typed-app" / "app" / "queries.py"
    queries.write_text(queries.read_text().replace(*QUERIES_EDIT), encoding="utf-8")
    assert build() > 0
    after = inodes()
    assert sorted(after) == sorted(before)
    assert {p for p in after if after[p] != before[p]} == {"app/queries.py"}
    assert build() == 0


# -- names ----------------------------------------------------------------------------------

COLLISIONS = '''\
from sodabuild.graphql import gql

GetUserResult = gql("""
    fragment GetUserResult on User { id }
""")

GetUser = gql("""
    query GetUser { viewer { id } }
""")

GetUserVariables = gql("""
    fragment GetUserVariables on User { name }
""")

# language=GraphQL
DUP = """fragment Dup on User { id }"""
Dup = gql(DUP)
UsesDup = gql("query UsesDup { viewer { ...Dup } }", Dup)

Other = gql("""
    query Keywords($from: String = "a", $class: Int!) {
      search(text: $from, first: $class) { __typename }
      viewer { import: name, model_dump: id, __typename }
    }
""")
'''


def test_collisions_and_keywords(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    """Clashing names get ``_2`` in a deterministic order; keyword variables make a
    functional TypedDict; keyword and BaseModel names become ``name_`` with an alias."""
    root = _workspace(tmp_path / "ws", ("typed-app", FIXTURES / "typed-app", ""))
    (root / "typed-app" / "app" / "queries.py").write_text(COLLISIONS, encoding="utf-8")
    (root / "typed-app" / "app" / "fragments.py").unlink()
    result = run_cli("build", "-w", str(root))
    assert result.code == 0, result.stderr
    text = _types(root, "typed-app")["app/queries.py"].decode()
    assert text == snapshot
    # a marked string also passed to gql() is two equal elements: one model
    assert text.count("class Dup(") == 1
    assert "class UsesDupResult_viewer(Dup):" in text  # Dup plus the __typename composition adds
    compile(text, "queries.py", "exec")
    packages = tmp_path / "packages"
    shutil.copytree(root / "typed-app" / "__generated__" / "types", packages / "collide_types")
    sys.path.insert(0, str(packages))
    try:
        module = importlib.import_module("collide_types.app.queries")
        parsed = module.KeywordsResult.model_validate(
            {"search": [], "viewer": {"__typename": "User", "import": "n", "model_dump": "u1"}}
        )
        viewer = parsed.viewer
        assert (viewer.typename, viewer.import_, viewer.model_dump_) == ("User", "n", "u1")
        assert parsed.model_dump(by_alias=True) == {
            "search": [],
            "viewer": {"__typename": "User", "import": "n", "model_dump": "u1"},
        }
        variables: Any = module.KeywordsVariables
        assert variables.__required_keys__ == {"class"}
        assert variables.__optional_keys__ == {"from"}
    finally:
        sys.path.remove(str(packages))
        for name in [m for m in sys.modules if m.startswith("collide_types")]:
            del sys.modules[name]


def _import_tree(root: Path, name: str, module: str) -> ModuleType:
    """Import ``module`` of the generated tree of ``root``'s typed-app, as package ``name``."""
    packages = root.parent / f"{name}-packages"
    shutil.copytree(root / "typed-app" / "__generated__" / "types", packages / name)
    sys.path.insert(0, str(packages))
    try:
        return importlib.import_module(f"{name}.{module}")
    finally:
        sys.path.remove(str(packages))


@pytest.fixture
def forget_imports() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


CYCLE = {
    "a.py": "from sodabuild.graphql import gql\n\n"
    'F2 = gql("fragment F2 on User { id }")\n'
    'F1 = gql("fragment F1 on User { name ...G1 }")\n',
    "b.py": "from sodabuild.graphql import gql\n\n"
    'G1 = gql("fragment G1 on User { email }")\n'
    'G2 = gql("fragment G2 on User { role ...F2 }")\n',
    "c.py": 'from sodabuild.graphql import gql\n\nQ = gql("query Q { viewer { ...F1 ...G2 } }")\n',
}


def test_import_cycles_are_copied(tmp_path: Path, forget_imports: None) -> None:
    """Fragments of two modules that spread each other's fragments would make their typed
    modules import each other: each defines the other's fragment instead; a third module
    imports both."""
    root = _workspace(tmp_path / "ws", ("typed-app", FIXTURES / "typed-app", ""))
    app = root / "typed-app" / "app"
    for name in ("fragments.py", "queries.py"):
        (app / name).unlink()
    for name, text in CYCLE.items():
        (app / name).write_text(text, encoding="utf-8")
    result = run_cli("build", "-w", str(root))
    assert result.code == 0, result.stdout
    tree = _types(root, "typed-app")
    assert "import G1" not in tree["app/a.py"].decode()
    assert "class G1(_schema.Model):" in tree["app/a.py"].decode()
    assert "class F2(_schema.Model):" in tree["app/b.py"].decode()
    assert "from ..app.a import F1\nfrom ..app.b import G2\n" in tree["app/c.py"].decode()
    c = _import_tree(root, "cycle_types", "app.c")
    a = importlib.import_module("cycle_types.app.a")
    b = importlib.import_module("cycle_types.app.b")
    viewer = {"__typename": "User", "name": "n", "email": None, "role": "ADMIN", "id": "u1"}
    parsed = c.QResult.model_validate({"viewer": viewer})
    assert isinstance(parsed.viewer, a.F1) and isinstance(parsed.viewer, b.G2)
    assert parsed.viewer.model_dump(mode="json", by_alias=True) == viewer


def test_scalar_mapping(tmp_path: Path, forget_imports: None) -> None:
    """Workspace and project scalar tables merge; ``parse``/``serialize`` wrap the type;
    an invalid mapping is a located config error."""
    root = _workspace(tmp_path / "ws", ("typed-app", FIXTURES / "typed-app", ""))
    workspace = root / "sodabuild.toml"
    workspace.write_text(
        workspace.read_text()
        + '\n[plugins.graphql.scalars]\nDateTime = { type = "str" }\n'
        + 'Metadata = { type = "str", parse = "json.dumps", serialize = "json.loads" }\n',
        encoding="utf-8",
    )
    result = run_cli("build", "-w", str(root))
    assert result.code == 0, result.stdout
    schema_text = _types(root, "typed-app")["_schema.py"].decode()
    assert "\nimport datetime\nimport json\n" in schema_text  # the project's DateTime wins
    assert (
        "Metadata: typing.TypeAlias = typing.Annotated[str, pydantic.PlainValidator(json.dumps),"
        " pydantic.PlainSerializer(json.loads)]\n"
    ) in schema_text
    fragments = _import_tree(root, "scalar_types", "app.fragments")
    del fragments
    queries = importlib.import_module("scalar_types.app.queries")
    user = {**ALICE, "klass": 3, "friends": [], "posts": []}
    parsed = queries.GetUserResult.model_validate({"user": user})
    assert parsed.user.metadata == json.dumps(ALICE["metadata"])
    assert parsed.model_dump(mode="json")["user"]["metadata"] == ALICE["metadata"]

    workspace.write_text(
        workspace.read_text().replace('DateTime = { type = "str" }', 'DateTime = { typ = "str" }'),
        encoding="utf-8",
    )
    result = run_cli("build", "-w", str(root))
    assert result.code == 2
    assert "sodabuild.toml:" in result.stderr and "CONFIG_INVALID" in result.stderr


# -- regressions ----------------------------------------------------------------------------

#: USER_FIELDS, a plain-string fragment of gql-app that other modules import and splice:
#: the edit adds a line above REPO_FIELDS (a marked string, an element of its own).
CONSTANT_EDIT = ("  login\n  name\n", "  login\n  name\n  bio\n")


def _gql_app_workspace(root: Path) -> Path:
    _workspace(root, ("gql-app", FIXTURES / "gql-app", 'rules = ["graphql-typed"]\n'))
    workspace = root / "sodabuild.toml"
    workspace.write_text(
        workspace.read_text() + '\n[plugins.graphql]\ngql_modules = ["sodabuild.graphql", "gql"]\n',
        encoding="utf-8",
    )
    return root


def _clean_tree(root: Path, tmp: Path, project: str) -> dict[str, bytes]:
    """The out_dir of ``project`` after a clean build of a copy of ``root``."""
    copy = tmp / f"clean-{len(list(tmp.iterdir()))}"
    shutil.copytree(
        root, copy, ignore=shutil.ignore_patterns("__generated__", ".*.sodabuild-*", ".cache")
    )
    result = run_cli("build", "-w", str(copy), "--no-incremental")
    assert result.code == 0, result.stderr
    return read_tree(copy / project / "__generated__")


@pytest.mark.parametrize("watched", [True, False])
def test_imported_constant_edit_equals_clean(tmp_path: Path, watched: bool) -> None:
    """An edit of a spliced constant moves a fragment element of the same module (its line
    changes, its document does not): the fragment's shapes were remembered under its old
    owner, whose nested models the renamed module never named (KeyError in
    ``_Renderer.ref``). Warm session and a new process on its cache equal a clean build."""
    root = _gql_app_workspace(tmp_path / "ws")
    cleans = tmp_path / "cleans"
    cleans.mkdir()
    fragments = root / "gql-app" / "ghclient" / "fragments.py"
    out = root / "gql-app" / "__generated__"
    session = BuilderSession(root / "sodabuild.toml", cwd=root)
    session.load()
    try:
        session.update()
        for step in range(2):  # the edit, then back
            text = fragments.read_text(encoding="utf-8")
            old, new = CONSTANT_EDIT if step == 0 else CONSTANT_EDIT[::-1]
            assert old in text
            fragments.write_text(text.replace(old, new, 1), encoding="utf-8")
            change = ChangeSet.of(modified=["gql-app/ghclient/fragments.py"])
            result = session.update(change if watched else None)
            assert result.ok, [d for p in result.projects for d in p.diagnostics]
            expected = _clean_tree(root, cleans, "gql-app")
            assert read_tree(out) == expected, f"step {step}"
            line = b"(ghclient/fragments.py, line %d)" % (33 if step == 0 else 32)
            assert line in expected["types/ghclient/fragments.py"]
            session.save({"ok": True})
            fresh = BuilderSession(root / "sodabuild.toml", cwd=root)
            fresh.load()
            try:
                assert fresh.update().ok
            finally:
                fresh.dispose()
            assert read_tree(out) == expected, f"fresh, step {step}"
    finally:
        session.dispose()


def test_fragment_made_ambiguous_and_back_equals_clean(tmp_path: Path) -> None:
    """A second fragment of a name others find by name makes them fail (ambiguous), and
    goes again: the fragment's shape was made anew meanwhile, while the remembered shape of
    a fragment spreading it (unchanged all along) still extended the earlier one; the module
    had both (the class twice) and its user another base. A remembered shape now holds
    only while the fragment shapes it was made with are the current ones."""
    root = _gql_app_workspace(tmp_path / "ws")
    cleans = tmp_path / "cleans"
    cleans.mkdir()
    extra = root / "gql-app" / "ghclient" / "graphql" / "more.graphql"
    out = root / "gql-app" / "__generated__"
    session = BuilderSession(root / "sodabuild.toml", cwd=root)
    session.load()
    try:
        assert session.update().ok
        extra.write_text("fragment ActorFields on Actor {\n  login\n}\n", encoding="utf-8")
        result = session.update()
        codes = {d.code for p in result.projects for d in p.diagnostics}
        assert not result.ok and "GQL_FRAGMENT_AMBIGUOUS" in codes
        extra.unlink()
        assert session.update().ok
        tree = read_tree(out)
        assert tree == _clean_tree(root, cleans, "gql-app")
        assert tree["types/ghclient/graphql/fragments_graphql.py"].count(b"class ActorFields(") == 1
    finally:
        session.dispose()


UNKNOWN_FIELD = '''

Broken = gql("""
    query Broken($id: ID!) {
      user(id: $id) { id nickname { id } }
    }
""")
'''


def test_unknown_field_is_a_validation_error_only(tmp_path: Path) -> None:
    """A document selecting a field the schema lacks: the build reports the located
    validation error (exit 1, nothing else) and keeps its previous outputs."""
    root = _workspace(tmp_path / "ws", ("typed-app", FIXTURES / "typed-app", ""))
    assert run_cli("build", "-w", str(root)).code == 0
    before = _types(root, "typed-app")
    queries = root / "typed-app" / "app" / "queries.py"
    queries.write_text(queries.read_text(encoding="utf-8") + UNKNOWN_FIELD, encoding="utf-8")
    for extra in ((), ("--no-incremental",)):
        result = run_cli("build", "-w", str(root), "--json", *extra)
        assert result.code == 1, result.stdout + result.stderr
        diagnostics = [
            (d["code"], d["file"], d["line"], d["column"])
            for project in json.loads(result.stdout)["projects"]
            for d in project["diagnostics"]
        ]
        broken = "      user(id: $id) { id nickname { id } }"
        line = queries.read_text(encoding="utf-8").splitlines().index(broken) + 1
        column = broken.index("nickname") + 1
        assert diagnostics == [("GQL_VALIDATION", "typed-app/app/queries.py", line, column)]
        assert _types(root, "typed-app") == before


def test_emitter_skips_a_definition_the_schema_does_not_have(built: Path) -> None:
    """The emitter itself, handed an element that failed validation (a build never does:
    it drops them), emits the other definitions and none for that one, instead of failing
    on the schema lookup."""
    from sodabuild.emit.outputs import Element
    from sodabuild.emit.python_types import TypedModules
    from sodabuild.emit.registry import ElementTable
    from sodabuild.rules.load import load_rules

    artifact = json.loads((built / "typed-app" / "__generated__" / "artifact.json").read_text())
    elements = [
        Element(
            id=key,
            module=e["module"],
            binding=e["binding"],
            line=e["line"],
            kind=e["kind"],
            name=e["name"],
            operation=e["operation"],
            type_condition=e["type_condition"],
            document=e["document"],
            fragments=tuple(e["fragments"]),
            variables=tuple((v["name"], v["type"], v["default"]) for v in e["variables"]),
            hash=e["hash"],
        )
        for key, e in artifact["elements"].items()
    ]
    broken = [
        ("query Broken {\n  viewer {\n    nickname\n  }\n}", "operation"),
        ("query Deep {\n  viewer {\n    friends {\n      nickname\n    }\n  }\n}", "operation"),
        ("fragment Gone on Missing {\n  id\n}", "fragment"),
        ("fragment Wrong on User {\n  id\n  nickname\n}", "fragment"),
    ]
    for index, (document, kind) in enumerate(broken):
        name = document.split()[1]
        elements.append(
            Element(
                id=f"app/broken.py::{name}",
                module="app/broken.py" if index % 2 else "app/queries.py",
                binding=name,
                line=index + 1,
                kind=kind,
                name=name,
                operation="query" if kind == "operation" else None,
                type_condition=None if kind == "operation" else document.split()[3],
                document=document,
                fragments=(),
                variables=(),
                hash=f"sha256:{index}",
            )
        )
    output = load_rules(built, []).rules["graphql-typed"].output("python_types")
    assert output is not None
    table = ElementTable("typed-app", schema_hash=artifact["schema_hash"])
    table.elements = {e.id: e for e in elements}
    table.ids = sorted(table.elements)
    for key in table.ids:
        table.modules.setdefault(table.elements[key].module, []).append(key)
    table.schema_source = _fixture_schema
    table.plugins = {"graphql": {"scalars": {"DateTime": {"type": "datetime.datetime"}}}}
    files = {
        path.removeprefix("types/"): data
        for path, data in TypedModules(output).files(table, set(table.modules)).items()
    }
    broken_module = files.pop("app/broken.py").decode()
    assert files == _types(built, "typed-app")  # queries.py too: nothing of Broken, Gone
    assert "class " not in broken_module  # Deep and Wrong: no models, no error


# -- the document parser ----------------------------------------------------------------------

TRICKY = [
    'query Q($a: [ID!]! = ["x"], $b: Boolean = true @dir(x: 1), $c: In = {k: [1, 2.5e3, -3]})'
    ' @op { x: f(s: "a { } ( ) \\" \\u00e9", b: """block\n  "quoted" \\""" { }\n""") { id } }',
    "{ a @include(if: true) b @skip(if: true) c @include(if: false) d @skip(if: $v)"
    " e @include(if: $v) @skip(if: false) ...F @include(if: $v) ... @skip(if: $w) { g }"
    " ... on T { h } ... { i } }",
    "subscription S { s(arg: ENUM, o: {nested: {deep: [{x: null}]}}) { on: id } }",
    "mutation { m(input: {" + ", ".join(f"f{i}: {i}" for i in range(30)) + "}) { id } }",
    "fragment F on T @d(x: [1, 2]) { ...G alias: f(x: $v) @d { __typename } }",
    'query Long($v: String = "' + "x" * 90 + '") { f(a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7,'
    " h: 8, i: 9, j: 10, k: 11, l: 12, m: 13) { id } }",
]


def _dump(node: Any) -> Any:
    """The shaper's nodes as plain data."""
    from sodabuild.emit import python_types as pt

    if isinstance(node, tuple | list):
        return [_dump(n) for n in node]
    if isinstance(node, pt._Set):
        return _dump(node.selections)
    if isinstance(node, pt._Field):
        return ["field", node.key, node.name, node.cond, _dump(node.selection_set)]
    if isinstance(node, pt._Inline):
        return ["inline", node.type_condition, node.cond, _dump(node.selection_set)]
    if isinstance(node, pt._Spread):
        return ["spread", node.name, node.cond]
    if isinstance(node, pt._FragmentDef):
        return ["fragment", node.name, node.type_condition, _dump(node.selection_set)]
    if isinstance(node, pt._OperationDef):
        return ["operation", node.operation, node.variables, _dump(node.selection_set)]
    return node


def test_document_parser_reads_what_graphql_core_reads(built: Path) -> None:
    """The emitter's parser of canonical text gives the nodes graphql-core's parse does
    (converted), for every document of the fixtures and for odd canonical prints; text it
    does not expect is refused (the emitter then parses with graphql-core)."""
    from graphql import parse

    from sodabuild.compose.printer import print_document
    from sodabuild.emit import python_types as pt

    texts = [print_document(parse(source)) for source in TRICKY]
    for project in ("typed-app", "gql-app"):
        artifact = json.loads((built / project / "__generated__" / "artifact.json").read_text())
        for element in artifact["elements"].values():
            pieces = element["document"].split("\n\nfragment ")
            texts.extend([pieces[0], *("fragment " + piece for piece in pieces[1:])])
    for text in texts:
        expected = pt._converted(parse(text, no_location=True).definitions)
        assert len(expected) == 1, text
        assert _dump(pt._parse_definition(text)) == _dump(expected[0]), text
        if isinstance(expected[0], pt._FragmentDef):
            assert pt._parse_definition(text).text == text
    for bad in ["query Q { a", "query Q { a } }", "{ a } { b }", "query Q { # c\n a }", "{ 1 }"]:
        with pytest.raises(pt._Unexpected):
            pt._parse_definition(bad)
