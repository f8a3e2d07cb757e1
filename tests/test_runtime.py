"""Run-time ``gql()`` composes the same documents as the build, byte for byte."""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from sodabuild.graphql import GraphQLCompositionError, GraphQLDocument, gql

from .conftest import run_cli


@pytest.fixture
def fixture_modules(example_workspace: Path) -> Iterator[Path]:
    """Import path set up for the example projects; ``gql`` (client library) shimmed."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    shim = types.ModuleType("gql")
    shim.gql = gql  # type: ignore[attr-defined]
    sys.modules["gql"] = shim
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
        sys.modules.pop("gql", None)


def _module_name(module_path: str) -> str:
    name = module_path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def test_runtime_documents_equal_artifact(fixture_modules: Path) -> None:
    ws = fixture_modules
    assert run_cli("build", "-w", str(ws), "--json").code == 0
    compared = 0
    for project in ("small-app", "shared-lib"):
        artifact = json.loads(
            (ws / "fixtures" / project / "__generated__" / "artifact.json").read_text()
        )
        for element_id, element in artifact["elements"].items():
            module = importlib.import_module(_module_name(element["module"]))
            value = getattr(module, element["binding"])
            assert isinstance(value, GraphQLDocument), element_id
            assert value.document == element["document"], element_id
            assert value.hash == element["hash"], element_id
            assert value.name == element["name"]
            assert value.kind == element["kind"]
            assert value.operation == element["operation"]
            compared += 1
    assert compared >= 40


def test_runtime_rejects_unpassed_fragment() -> None:
    with pytest.raises(GraphQLCompositionError, match="UserFields"):
        gql("query Q { viewer { ...UserFields } }")


def test_runtime_rejects_name_clash() -> None:
    a = gql("fragment F on User { id }")
    b = gql("fragment F on User { name }")
    user = gql("fragment G on User { ...F }", a)
    with pytest.raises(GraphQLCompositionError, match="two different fragments named 'F'"):
        gql("query Q { viewer { ...G ...F } }", user, b)


def test_runtime_shared_fragment_is_not_a_clash() -> None:
    base = gql("fragment Base on User { id }")
    left = gql("fragment Left on User { ...Base }", base)
    right = gql("fragment Right on User { ...Base }", base)
    query = gql("query Q { viewer { ...Left ...Right } }", left, right)
    assert query.fragment_names == ("Base", "Left", "Right")
    assert query.document.startswith("query Q {")
    assert query.hash.startswith("sha256:")


def test_runtime_syntax_error_is_a_value_error() -> None:
    with pytest.raises(GraphQLCompositionError, match="Syntax Error"):
        gql("query Q { ")
