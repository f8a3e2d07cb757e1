"""``sodabuild.graphql`` documents executed by the real ``gql`` client library.

Runs against whichever gql major is installed (the ``test`` extra installs 4.x; the 3.x
branch is kept for environments that have gql 3 and graphql-core < 3.2.7):
``Client(schema=...)`` executes locally through gql's local-schema transport, the way
code written for that major calls it (3.x: ``execute(document, variable_values=...)``;
4.x: ``execute(request)`` with ``request.variable_values`` set).
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gql as gql_library
import pytest
from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    is_abstract_type,
    is_enum_type,
    is_input_object_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    print_ast,
    type_from_ast,
)

from sodabuild.graphql import GraphQLDocument, gql

from .conftest import run_cli

GQL_MAJOR = int(gql_library.__version__.split(".")[0])

SDL = """
interface Node { id: ID! }

type User implements Node {
  id: ID!
  login: String!
  name: String
  friends(first: Int = 10): [User!]!
  org: Org
}

type Org implements Node {
  id: ID!
  login: String!
  members(first: Int = 10): [User!]!
}

enum Role { ADMIN MEMBER }

input RenameInput { id: ID!, name: String! }

type Query {
  node(id: ID!): Node
  user(id: ID!): User
  viewer: User!
  users(ids: [ID!]!): [User]!
}

type Mutation {
  rename(input: RenameInput!): User
  grant(userId: ID!, role: Role!): String!
}
"""


def _users() -> dict[str, dict[str, Any]]:
    org: dict[str, Any] = {"__typename": "Org", "id": "o1", "login": "acme"}
    users: dict[str, dict[str, Any]] = {
        uid: {"__typename": "User", "id": uid, "login": login, "name": name, "org": org}
        for uid, login, name in [
            ("u1", "ada", "Ada Lovelace"),
            ("u2", "alan", None),
            ("u3", "grace", "Grace Hopper"),
        ]
    }
    for user in users.values():
        others = [u for u in users.values() if u is not user]
        user["friends"] = lambda _info, first=10, others=others: others[:first]
    org["members"] = lambda _info, first=10: list(users.values())[:first]
    return users


def _root() -> dict[str, Any]:
    """Resolvers through ``root_value`` (graphql-core calls callables with info, args)."""
    users = _users()
    nodes: dict[str, Any] = {**users, "o1": users["u1"]["org"]}

    def rename(_info: GraphQLResolveInfo, input: dict[str, str]) -> dict[str, Any]:
        user = {**users[input["id"]], "name": input["name"]}
        return user

    return {
        "node": lambda _info, id: nodes.get(id),
        "user": lambda _info, id: users.get(id),
        "viewer": lambda _info: users["u1"],
        "users": lambda _info, ids: [users.get(i) for i in ids],
        "rename": rename,
        "grant": lambda _info, userId, role: f"{users[userId]['login']}:{role}",
    }


@pytest.fixture
def client() -> Any:
    return gql_library.Client(schema=build_schema(SDL))


def _execute(
    client: Any, document: Any, variables: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """``document`` as gql's own ``gql()`` returns it, executed as code for this major does."""
    kwargs.setdefault("root_value", _root())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated call path (gql 4: DocumentNode)
        if GQL_MAJOR >= 4:
            document.variable_values = variables
            result = client.execute(document, **kwargs)
        else:
            result = client.execute(document, variable_values=variables, **kwargs)
    assert isinstance(result, dict)
    return result


def _document_node(request: Any) -> DocumentNode:
    node = request.document if GQL_MAJOR >= 4 else request
    assert isinstance(node, DocumentNode)
    return node


# -- sodabuild.graphql.gql() documents --------------------------------------------------

BASE = gql("fragment UserBase on User { id login }")
CARD = gql(
    "fragment UserCard on User { ...UserBase name friends(first: $friends) { ...UserBase } }",
    BASE,
)
ORG = gql("fragment OrgFields on Org { id login members(first: 2) { ...UserCard } }", CARD)
GET_USER = gql(
    """
    query GetUser($id: ID!, $friends: Int = 1) {
      user(id: $id) { ...UserCard org { ...OrgFields } }
    }
    """,
    CARD,
    ORG,
)
GET_USER_TEXT = """
    query GetUser($id: ID!, $friends: Int = 1) {
      user(id: $id) { ...UserCard org { ...OrgFields } }
    }
    fragment OrgFields on Org { id login members(first: 2) { ...UserCard } }
    fragment UserCard on User { ...UserBase name friends(first: $friends) { ...UserBase } }
    fragment UserBase on User { id login }
"""


def _plain(data: Any) -> Any:
    """``data`` without ``__typename`` keys: composition selects ``__typename`` beside
    fragment spreads and inline fragments (the raw texts compared against do not)."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if k != "__typename"}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def test_to_gql_is_what_the_library_gql_returns() -> None:
    own = gql_library.gql(GET_USER.document)
    converted = GET_USER.to_gql()
    assert type(converted) is type(own)
    if GQL_MAJOR >= 4:
        assert isinstance(converted, gql_library.GraphQLRequest)
        assert converted is not GET_USER.to_gql()  # mutable request: a new one each call
    else:
        assert isinstance(converted, DocumentNode)
    assert print_ast(_document_node(converted)) == GET_USER.document
    assert _document_node(converted) == _document_node(own)


def test_fragment_arguments_nested_and_variables(client: Any) -> None:
    variables = {"id": "u2", "friends": 2}
    result = _execute(client, GET_USER.to_gql(), variables)
    assert _plain(result) == _plain(_execute(client, gql_library.gql(GET_USER_TEXT), variables))
    user = result["user"]
    assert user["login"] == "alan"
    assert user["name"] is None
    assert [f["login"] for f in user["friends"]] == ["ada", "grace"]
    assert user["org"]["login"] == "acme"
    assert [m["id"] for m in user["org"]["members"]] == ["u1", "u2"]
    assert _plain(user["org"]["members"][0]["friends"]) == [
        {"id": "u2", "login": "alan"},
        {"id": "u3", "login": "grace"},
    ]


def test_variable_default_applies(client: Any) -> None:
    result = _execute(client, GET_USER.to_gql(), {"id": "u1"})
    assert _plain(result) == _plain(_execute(client, gql_library.gql(GET_USER_TEXT), {"id": "u1"}))
    assert [f["login"] for f in result["user"]["friends"]] == ["alan"]  # $friends = 1


def test_fragment_on_interface_and_shared_fragment(client: Any) -> None:
    node_fields = gql("fragment NodeFields on Node { id ... on User { ...UserBase } }", BASE)
    query = gql(
        """
        query Nodes($a: ID!, $b: ID!) {
          a: node(id: $a) { ...NodeFields ... on Org { login } }
          b: node(id: $b) { __typename ...NodeFields }
          viewer { ...UserBase }
        }
        """,
        node_fields,
        BASE,
    )
    assert query.fragment_names == ("NodeFields", "UserBase")
    text = """
        query Nodes($a: ID!, $b: ID!) {
          a: node(id: $a) { ...NodeFields ... on Org { login } }
          b: node(id: $b) { __typename ...NodeFields }
          viewer { ...UserBase }
        }
        fragment NodeFields on Node { id ... on User { ...UserBase } }
        fragment UserBase on User { id login }
    """
    variables = {"a": "o1", "b": "u3"}
    result = _execute(client, query.to_gql(), variables)
    assert _plain(result) == _plain(_execute(client, gql_library.gql(text), variables))
    assert result == {  # composition selects __typename beside the spreads
        "a": {"__typename": "Org", "id": "o1", "login": "acme"},
        "b": {"__typename": "User", "id": "u3", "login": "grace"},
        "viewer": {"__typename": "User", "id": "u1", "login": "ada"},
    }


def test_list_variables_and_inline_fragment_definitions(client: Any) -> None:
    # the gql-library style: a fragment defined in the same string, plus a passed one
    query = gql(
        """
        query Many($ids: [ID!]!) { users(ids: $ids) { ...Short ...UserBase } }
        fragment Short on User { name }
        """,
        BASE,
    )
    result = _execute(client, query.to_gql(), {"ids": ["u3", "nobody", "u1"]})
    assert _plain(result) == {
        "users": [
            {"name": "Grace Hopper", "id": "u3", "login": "grace"},
            None,
            {"name": "Ada Lovelace", "id": "u1", "login": "ada"},
        ]
    }


def test_mutation_with_input_and_enum_variables(client: Any) -> None:
    mutation = gql(
        """
        mutation Rename($input: RenameInput!, $user: ID!, $role: Role!) {
          rename(input: $input) { ...UserBase name }
          grant(userId: $user, role: $role)
        }
        """,
        BASE,
    )
    variables = {"input": {"id": "u2", "name": "Alan Turing"}, "user": "u3", "role": "ADMIN"}
    result = _execute(client, mutation.to_gql(), variables)
    assert _plain(result) == {
        "rename": {"id": "u2", "login": "alan", "name": "Alan Turing"},
        "grant": "grace:ADMIN",
    }
    assert mutation.operation == "mutation"


def test_library_validates_the_composed_document(client: Any) -> None:
    # composes (sodabuild has no schema at run time); gql validates it against the schema
    bad = gql("query Bad { viewer { ...UserBase email } }", BASE)
    with pytest.raises(GraphQLError, match="email"):
        _execute(client, bad.to_gql())


# -- the build's documents, executed --------------------------------------------------


def _input_value(t: GraphQLInputType) -> Any:
    if is_non_null_type(t):
        return _input_value(t.of_type)
    if is_list_type(t):
        return [_input_value(t.of_type)]
    if is_input_object_type(t):
        assert isinstance(t, GraphQLInputObjectType)
        return {
            name: _input_value(field.type)
            for name, field in t.fields.items()
            if is_non_null_type(field.type)
        }
    if is_enum_type(t):
        assert isinstance(t, GraphQLEnumType)
        return next(iter(t.values))
    return _SCALARS.get(getattr(t, "name", ""), "2024-01-02T03:04:05Z")


_SCALARS: dict[str, Any] = {"ID": "1", "String": "text", "Int": 2, "Float": 1.5, "Boolean": True}


def _output_value(t: GraphQLOutputType) -> Any:
    if is_non_null_type(t):
        return _output_value(t.of_type)
    if is_list_type(t):
        return [_output_value(t.of_type)]
    if is_object_type(t) or is_abstract_type(t):
        return {}
    if is_enum_type(t):
        assert isinstance(t, GraphQLEnumType)
        return next(iter(t.values))
    return _SCALARS.get(getattr(t, "name", ""), "2024-01-02T03:04:05Z")


def _field_resolver(_source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
    """A stand-in server: every field answers a value of its schema type."""
    return _output_value(info.return_type)


def _type_resolver(_value: Any, info: GraphQLResolveInfo, abstract_type: Any) -> str:
    return str(info.schema.get_possible_types(abstract_type)[0].name)


def _required_variables(schema: GraphQLSchema, document: DocumentNode) -> dict[str, Any]:
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    values = {}
    for definition in operation.variable_definitions or ():
        t = type_from_ast(schema, definition.type)
        if t is not None and is_non_null_type(t) and definition.default_value is None:
            values[definition.variable.name.value] = _input_value(t)
    return values


@pytest.fixture
def fixture_modules(example_workspace: Path) -> Iterator[Path]:
    """Import path set up for the example projects (``from gql import gql`` is the real one)."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    sys.path[:0] = [
        str(example_workspace / "fixtures" / "small-app"),
        str(example_workspace / "fixtures" / "shared-lib"),
    ]
    try:
        yield example_workspace
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            del sys.modules[name]


def test_build_documents_are_what_gql_executes(fixture_modules: Path) -> None:
    ws = fixture_modules
    assert run_cli("build", "-w", str(ws), "--json").code == 0
    project = ws / "fixtures" / "small-app"
    schema = build_schema((project / "schema.graphql").read_text())
    client = gql_library.Client(schema=schema)
    artifact = json.loads((project / "__generated__" / "artifact.json").read_text())
    executed = 0
    for element_id, element in artifact["elements"].items():
        module_name = element["module"].removesuffix(".py").replace("/", ".")
        module = importlib.import_module(module_name.removesuffix(".__init__"))
        value = getattr(module, element["binding"])
        if not isinstance(value, GraphQLDocument):
            continue  # app.legacy: written against the gql library's own gql()
        request = value.to_gql()
        assert print_ast(_document_node(request)) == element["document"], element_id
        if element["kind"] != "operation" or element["operation"] == "subscription":
            continue
        variables = _required_variables(schema, _document_node(request))
        options = {"field_resolver": _field_resolver, "type_resolver": _type_resolver}
        result = _execute(client, request, variables, root_value=None, **options)
        own = gql_library.gql(element["document"])
        assert _plain(result) == _plain(
            _execute(client, own, variables, root_value=None, **options)
        )
        assert result, element_id
        executed += 1
    assert executed >= 15
