"""Persisted documents the client really sends: ``sodabuild.transport`` with the real ``gql``.

A real build of the example workspace writes the three manifests (Apollo, Relay,
GraphQL-over-HTTP persisted documents); a local HTTP server knows only those documents
(by id, or by text for ``"document"``), executes them with graphql-core against the
project's schema, and answers ``PersistedQueryNotFound`` to anything else. ``gql.Client``
sends operations of the example projects through :func:`persisted_transport`: the gql
app's own strings (``from gql import gql``) and small-app's ``sodabuild.graphql``
documents.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gql as gql_library
import pytest
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)
from graphql import (
    GraphQLEnumType,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    get_named_type,
    get_nullable_type,
    graphql_sync,
    is_enum_type,
    is_leaf_type,
    is_list_type,
    print_ast,
)

from sodabuild.graphql import GraphQLDocument
from sodabuild.transport import (
    FORMATS,
    PersistedDocumentError,
    canonical_document,
    document_id,
    load_manifest,
    persisted_transport,
)

from .conftest import REPO, copy_example_workspace, run_cli

RULE = """\
load("@builtin//graphql.star", "PYTHON_SOURCES", "STANDARD_OUTPUTS")

rule(
    name = "persisted",
    discovery = PYTHON_SOURCES,
    outputs = STANDARD_OUTPUTS + [
        manifest_output(path = "relay.json", format = "relay"),
        manifest_output(path = "persisted-documents.json", format = "persisted-documents"),
    ],
)
"""

#: The manifest file each wire format is tested with (any format loads in any case).
MANIFEST = {
    "apollo": "persisted-queries.json",
    "document-id": "persisted-documents.json",
    "document": "relay.json",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace built with the three manifests."""
    ws = copy_example_workspace(tmp_path_factory.mktemp("persisted") / "ws")
    (ws / "rules").mkdir()
    (ws / "rules" / "persisted.star").write_text(RULE, encoding="utf-8")
    config = (REPO / "workspace.example.toml").read_text(encoding="utf-8")
    config = config.replace("[workspace]\n", '[workspace]\nrule_dirs = ["rules"]\n', 1)
    config = config.replace('rules = ["graphql-typed"]\n', "")  # gql-app's: "persisted" here
    for project in ("shared-lib", "small-app", "gql-app"):
        root = f'root = "fixtures/{project}"\n'
        config = config.replace(root, root + 'rules = ["persisted"]\n')
    (ws / "sodabuild.toml").write_text(config, encoding="utf-8")
    run = run_cli("build", "-w", str(ws), "--json")
    assert run.code == 0, run.stdout + run.stderr
    return ws


def _out(ws: Path, project: str) -> Path:
    return ws / "fixtures" / project / "__generated__"


def _operations(ws: Path, project: str) -> dict[str, dict[str, Any]]:
    """The artifact's operations by name."""
    artifact = json.loads((_out(ws, project) / "artifact.json").read_text())
    return {e["name"]: e for e in artifact["elements"].values() if e["kind"] == "operation"}


def _hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the server: knows the manifest's documents only ----------------------------------------

_LEAVES: dict[str, Any] = {"Int": 3, "Float": 1.5, "Boolean": True}


def _resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Every field answers from the arguments on its path (``user(login: "ada") { login }``
    is ``"ada"``), else a value of its type named after it."""
    context = dict(source["args"]) if isinstance(source, dict) else {}
    for name, value in args.items():
        context[name] = value
        if isinstance(value, dict):  # input objects: their fields too
            context.update(value)
    return _value(info.return_type, info, context)


def _value(type_: Any, info: GraphQLResolveInfo, context: dict[str, Any]) -> Any:
    type_ = get_nullable_type(type_)
    if is_list_type(type_):
        return [_value(type_.of_type, info, context)]
    named = get_named_type(type_)
    if not is_leaf_type(named):
        return {"args": context}
    if context.get(info.field_name) is not None:
        return context[info.field_name]
    if is_enum_type(named):
        assert isinstance(named, GraphQLEnumType)
        return next(iter(named.values))
    return _LEAVES.get(named.name, f"{info.parent_type.name}.{info.field_name}")


def _resolve_type(_value: Any, info: GraphQLResolveInfo, abstract: Any) -> str:
    return str(info.schema.get_possible_types(abstract)[0].name)


def _run(schema: GraphQLSchema, text: str, variables: Any, operation: Any) -> dict[str, Any]:
    result = graphql_sync(
        schema,
        text,
        variable_values=variables,
        operation_name=operation,
        field_resolver=_resolve,
        type_resolver=_resolve_type,
    )
    return result.formatted  # type: ignore[return-value]


@dataclass
class Server:
    """A persisted-documents server: executes the documents it knows, by id (Apollo's
    ``extensions.persistedQuery``, ``documentId``) or by their exact text (``query``)."""

    schema: GraphQLSchema
    documents: dict[str, str]  # sha256 hex -> text
    register: bool = False  # Apollo APQ: learn a document sent with its id
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        persisted = (body.get("extensions") or {}).get("persistedQuery")
        if "documentId" in body:
            document_id = body["documentId"]
            text = self.documents.get(document_id.removeprefix("sha256:"))
            if text is None or not document_id.startswith("sha256:"):
                return 400, _error("PersistedDocumentNotFound", "PERSISTED_DOCUMENT_NOT_FOUND")
        elif persisted is not None:
            digest = persisted["sha256Hash"]
            text = self.documents.get(digest)
            if text is None and self.register and "query" in body:
                if _hex(body["query"]) != digest:
                    return 400, _error("provided sha does not match query")
                text = self.documents[digest] = body["query"]
            if text is None:
                return 200, _error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        elif "query" in body:
            text = body["query"]
            if _hex(text) not in self.documents:
                return 400, _error("document not in the allowlist")
        else:
            return 400, _error("no document")
        return 200, _run(self.schema, text, body.get("variables"), body.get("operationName"))


def _error(message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["extensions"] = {"code": code}
    return {"errors": [error]}


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path == "/broken":
                self._send(500, b"<html>Internal Server Error</html>", "text/html")
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.bodies.append(body)
            server.headers.append(dict(self.headers.items()))
            status, answer = server.answer(body)
            self._send(status, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{http.server_address[1]}/graphql"
    try:
        yield server
    finally:
        http.shutdown()
        http.server_close()
        thread.join()


def _server(ws: Path, project: str, register: bool = False) -> Server:
    """A server that knows the project's Apollo manifest (as written by the build)."""
    schema = build_schema((ws / "fixtures" / project / "schema.graphql").read_text())
    manifest = json.loads((_out(ws, project) / "persisted-queries.json").read_text())
    documents = {op["id"]: op["body"] for op in manifest["operations"]}
    return Server(schema, documents, register)


# -- the example projects' documents ---------------------------------------------------------


@pytest.fixture
def ghclient(built: Path) -> Iterator[types.ModuleType]:
    """``ghclient.queries`` of the built gql app: its own strings, for ``gql.gql``. The
    package's ``__init__`` is not run (it imports gql's requests transport; requests is
    not installed)."""
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "ghclient"}
    package = types.ModuleType("ghclient")
    package.__path__ = [str(built / "fixtures" / "gql-app" / "ghclient")]
    sys.modules["ghclient"] = package
    try:
        yield importlib.import_module("ghclient.queries")
    finally:
        for name in [k for k in sys.modules if k.split(".")[0] == "ghclient"]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture
def small_app(built: Path) -> Iterator[Path]:
    """Import path set up for small-app's ``sodabuild.graphql`` documents."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    sys.path[:0] = [
        str(built / "fixtures" / "small-app"),
        str(built / "fixtures" / "shared-lib"),
    ]
    try:
        yield built
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            del sys.modules[name]


def _request(document: Any, variables: dict[str, Any] | None = None) -> Any:
    request = gql_library.GraphQLRequest(document)
    request.variable_values = variables
    return request


def _gql_app_calls(
    queries: types.ModuleType, operations: dict[str, dict[str, Any]]
) -> list[tuple[str, Any, dict[str, Any] | None]]:
    """(operation name, gql request, variables) as the gql app sends them: its own strings
    through the library's ``gql()``; a .graphql document and a mutation from the artifact."""
    return [
        ("Viewer", gql_library.gql(queries.VIEWER_QUERY), None),
        ("Repo", gql_library.gql(queries.REPO_QUERY), {"owner": "octo", "name": "hello"}),
        (
            "RepoIssues",
            gql_library.gql(queries.ISSUES_QUERY),
            {"owner": "octo", "name": "hello", "states": ["OPEN", "CLOSED"]},
        ),
        ("UserRepos", gql_library.gql(queries.USER_REPOS_QUERY), {"login": "ada", "first": 2}),
        (
            "RepositoryOverview",
            gql_library.gql(operations["RepositoryOverview"]["document"]),
            {"owner": "octo", "name": "hello"},
        ),
        ("AddStar", gql_library.gql(operations["AddStar"]["document"]), {"id": "R_1"}),
    ]


# -- ids ------------------------------------------------------------------------------------


def test_manifests_agree_and_ids_are_the_builds(built: Path, ghclient: types.ModuleType) -> None:
    out = _out(built, "gql-app")
    loaded = {name: load_manifest(out / name) for name in MANIFEST.values()}
    apollo = loaded["persisted-queries.json"]
    assert loaded["relay.json"] == apollo
    assert loaded["persisted-documents.json"] == apollo
    operations = _operations(built, "gql-app")
    assert set(apollo) == {e["hash"].removeprefix("sha256:") for e in operations.values()}
    for name, request, _ in _gql_app_calls(ghclient, operations):
        element = operations[name]
        # the library parses the app's own layout; the canonical text is the build's
        assert canonical_document(request.document) == element["document"], name
        assert document_id(request.document) == element["hash"], name
    # fragments in another order, before the operation: the same document, the same id
    fragments = ghclient.ISSUE_FIELDS + ghclient.PAGE_INFO_FIELDS
    assert ghclient.ISSUES_QUERY.endswith(fragments)
    operation = ghclient.ISSUES_QUERY.removesuffix(fragments)
    shuffled = gql_library.gql(ghclient.PAGE_INFO_FIELDS + operation + ghclient.ISSUE_FIELDS)
    assert print_ast(shuffled.document) != operations["RepoIssues"]["document"]
    assert document_id(shuffled.document) == operations["RepoIssues"]["hash"]


def test_sodabuild_documents_print_to_their_canonical_text(small_app: Path) -> None:
    manifest = load_manifest(_out(small_app, "small-app") / "persisted-queries.json")
    checked = 0
    for name, element in _operations(small_app, "small-app").items():
        module = importlib.import_module(element["module"].removesuffix(".py").replace("/", "."))
        value = getattr(module, element["binding"])
        if not isinstance(value, GraphQLDocument):
            continue  # app.legacy: the gql library's own gql()
        request = value.to_gql()
        # what gql sends, printed by graphql-core 3.3, is the build's text: its id is ours
        assert print_ast(request.document) == value.document == element["document"], name
        assert canonical_document(request.document) == value.document
        assert document_id(request.document) == value.hash == element["hash"]
        assert document_id(value) == value.hash
        assert value.hash.removeprefix("sha256:") in manifest
        checked += 1
    assert checked >= 15


def test_canonical_document_refuses_what_is_not_one_named_operation() -> None:
    with pytest.raises(PersistedDocumentError, match="one operation; this one has 2"):
        canonical_document("query A { a } query B { b }")
    with pytest.raises(PersistedDocumentError, match="one operation; this one has 0"):
        canonical_document("fragment F on T { a }")
    with pytest.raises(PersistedDocumentError, match="named"):
        canonical_document("{ a }")
    with pytest.raises(PersistedDocumentError, match="defined twice"):
        canonical_document("query A { ...F } fragment F on T { a } fragment F on T { b }")
    with pytest.raises(PersistedDocumentError, match="Syntax Error"):
        canonical_document("query A {")


def test_load_manifest_checks_the_ids(tmp_path: Path) -> None:
    text = "query A {\n  a\n}"
    good = tmp_path / "good.json"
    good.write_text(json.dumps({f"sha256:{_hex(text)}": text}))
    assert load_manifest(good) == {_hex(text): text}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({_hex(text): text + " "}))
    with pytest.raises(PersistedDocumentError, match="does not hash to it"):
        load_manifest(bad)
    bad.write_text(json.dumps({"operations": [{"id": "x", "body": text}]}))
    with pytest.raises(PersistedDocumentError, match="malformed entry 'x'"):
        load_manifest(bad)
    bad.write_text("[]")
    with pytest.raises(PersistedDocumentError, match="not a persisted-document manifest"):
        load_manifest(bad)


# -- sending --------------------------------------------------------------------------------


@pytest.mark.parametrize("wire", FORMATS)
def test_gql_app_operations_in_each_format(
    built: Path, ghclient: types.ModuleType, wire: str
) -> None:
    operations = _operations(built, "gql-app")
    manifest = _out(built, "gql-app") / MANIFEST[wire]
    with serving(_server(built, "gql-app")) as server:
        transport = persisted_transport(
            server.url, format=wire, manifest=manifest, headers={"Authorization": "bearer t"}
        )
        client = gql_library.Client(transport=transport)
        calls = _gql_app_calls(ghclient, operations)
        results = {}
        for name, request, variables in calls:
            request.variable_values = variables
            data = client.execute(request)
            expected = _run(server.schema, operations[name]["document"], variables, name)
            assert data == expected["data"], name
            results[name] = data
    assert results["Repo"]["repository"]["nameWithOwner"] == "Repository.nameWithOwner"
    assert results["UserRepos"]["user"]["login"] == "ada"
    assert results["RepoIssues"]["repository"]["issues"]["nodes"][0]["state"] in ("OPEN", "CLOSED")
    assert results["AddStar"]["addStar"]["starrable"]["stargazerCount"] == 3
    assert results["Viewer"]["viewer"]["login"] == "User.login"
    assert len(server.bodies) == len(calls)
    assert all(h["Authorization"] == "bearer t" for h in server.headers)
    for (name, _, variables), body in zip(calls, server.bodies, strict=True):
        digest = operations[name]["hash"].removeprefix("sha256:")
        assert body["operationName"] == name
        assert body.get("variables") == variables
        if wire == "apollo":
            assert set(body) <= {"extensions", "variables", "operationName"}
            assert body["extensions"] == {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        elif wire == "document-id":
            assert set(body) <= {"documentId", "variables", "operationName"}
            assert body["documentId"] == f"sha256:{digest}"
        else:
            assert body["query"] == operations[name]["document"]  # the canonical text
            assert "extensions" not in body
            assert "documentId" not in body


@pytest.mark.parametrize("wire", FORMATS)
def test_sodabuild_documents_in_each_format(small_app: Path, wire: str) -> None:
    users = importlib.import_module("app.users.queries")
    repos = importlib.import_module("app.repos.queries")
    mutations = importlib.import_module("app.issues.mutations")
    calls: list[tuple[GraphQLDocument, dict[str, Any]]] = [
        (users.GetUser, {"id": "u1", "reposFirst": 2}),
        (repos.GetRepository, {"owner": "octo", "name": "hello"}),
        (repos.ListViewerRepositories, {}),
        (mutations.CreateIssue, mutations.create_issue_input("R_1", " Bug ", "It fails")),
    ]
    manifest = _out(small_app, "small-app") / MANIFEST[wire]
    schema_text = (small_app / "fixtures" / "small-app" / "schema.graphql").read_text()
    with serving(_server(small_app, "small-app")) as server:
        transport = persisted_transport(server.url, format=wire, manifest=manifest)
        # with the schema too: gql validates (and serializes) before sending
        client = gql_library.Client(transport=transport, schema=schema_text)
        with client as session:
            for document, variables in calls:
                request = document.to_gql()
                request.variable_values = variables or None
                data = session.execute(request)
                expected = _run(server.schema, document.document, variables, document.name)
                assert data == expected["data"], document.name
                if document.name == "GetUser":
                    assert data["user"]["id"] == "u1"
                if document.name == "CreateIssue":
                    assert data["createIssue"]["issue"]["title"] == "Bug"
    for (document, _), body in zip(calls, server.bodies, strict=True):
        if wire == "apollo":
            assert "query" not in body
            assert body["extensions"]["persistedQuery"]["sha256Hash"] == document.hash[7:]
        elif wire == "document-id":
            assert "query" not in body
            assert body["documentId"] == document.hash
        else:
            assert body["query"] == document.document


@pytest.mark.parametrize("wire", FORMATS)
def test_a_document_outside_the_manifest_is_refused_before_sending(built: Path, wire: str) -> None:
    manifest = _out(built, "gql-app") / MANIFEST[wire]
    with serving(_server(built, "gql-app")) as server:
        client = gql_library.Client(
            transport=persisted_transport(server.url, format=wire, manifest=manifest)
        )
        request = gql_library.gql("query NotBuilt { viewer { login } }")
        with pytest.raises(PersistedDocumentError, match=r"NotBuilt \(sha256:[0-9a-f]{64}\)"):
            client.execute(request)
        # a built operation's name with another document is another document
        with pytest.raises(PersistedDocumentError, match="Viewer"):
            client.execute(gql_library.gql("query Viewer { viewer { login } }"))
    assert server.bodies == []


@pytest.mark.parametrize("wire", ["apollo", "document-id"])
def test_without_a_manifest_the_server_refuses_an_unknown_id(built: Path, wire: str) -> None:
    with serving(_server(built, "gql-app")) as server:
        client = gql_library.Client(transport=persisted_transport(server.url, format=wire))
        with pytest.raises(TransportQueryError, match="PersistedQueryNotFound") as caught:
            client.execute(gql_library.gql("query NotBuilt { viewer { login } }"))
        assert "NotBuilt" in str(caught.value)
        assert caught.value.errors is not None
        assert caught.value.errors[0]["message"] in (
            "PersistedQueryNotFound",
            "PersistedDocumentNotFound",
        )
        # a built one still goes through
        viewer = _operations(built, "gql-app")["Viewer"]["document"]
        assert client.execute(gql_library.gql(viewer))["viewer"]["login"] == "User.login"
    assert len(server.bodies) == 2
    assert all("query" not in body for body in server.bodies)


def test_document_format_sends_the_text_an_allowlist_knows(built: Path) -> None:
    with serving(_server(built, "gql-app")) as server:
        client = gql_library.Client(transport=persisted_transport(server.url, format="document"))
        with pytest.raises(TransportQueryError, match="allowlist"):
            client.execute(gql_library.gql("query NotBuilt { viewer { login } }"))
    assert server.bodies == [
        {"query": "query NotBuilt {\n  viewer {\n    login\n  }\n}", "operationName": "NotBuilt"}
    ]


def test_apollo_retry_registers_the_document(built: Path) -> None:
    text = "query Login { viewer { login } }"
    with serving(_server(built, "gql-app", register=True)) as server:
        transport = persisted_transport(server.url, retry_with_document=True)
        client = gql_library.Client(transport=transport)
        assert client.execute(gql_library.gql(text)) == {"viewer": {"login": "User.login"}}
        assert client.execute(gql_library.gql(text)) == {"viewer": {"login": "User.login"}}
    canonical = canonical_document(text)
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": _hex(canonical)}}
    assert server.bodies == [
        {"extensions": persisted, "operationName": "Login"},  # not found
        {"extensions": persisted, "operationName": "Login", "query": canonical},  # registers
        {"extensions": persisted, "operationName": "Login"},  # known now
    ]


def test_http_failures_are_gql_transport_errors(built: Path) -> None:
    viewer = gql_library.gql(_operations(built, "gql-app")["Viewer"]["document"])
    with serving(_server(built, "gql-app")) as server:
        broken = server.url.replace("/graphql", "/broken")
        client = gql_library.Client(transport=persisted_transport(broken))
        with pytest.raises(TransportServerError, match="500") as caught:
            client.execute(viewer)
        assert caught.value.code == 500
        url = server.url
    client = gql_library.Client(transport=persisted_transport(url, timeout=5))
    with pytest.raises(TransportConnectionFailed):
        client.execute(viewer)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown format 'graphql'"):
        persisted_transport("http://127.0.0.1:9/", format="graphql")
    with pytest.raises(ValueError, match="'apollo' format only"):
        persisted_transport("http://127.0.0.1:9/", format="document-id", retry_with_document=True)


def test_importing_the_module_does_not_import_gql() -> None:
    probe = (
        "import sys, sodabuild.transport as t\n"
        "assert 'gql' not in sys.modules and 'graphql' not in sys.modules\n"
        "t.PersistedTransport\n"
        "assert 'gql' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
