"""Run-time ``gql()`` composes the same documents as the build, byte for byte."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_runtime_documents_equal_artifact(
    fixture_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SODABUILD_RUNTIME", "compose")  # composed, not the prebuilt index
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
            assert not value.prebuilt
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


# -- zero-runtime: prebuilt documents from the build's run-time indexes ---------------------

PROBE = """
import importlib, json, sys, types, warnings
import sodabuild.graphql as runtime
shim = types.ModuleType("gql")
shim.gql = runtime.gql
sys.modules["gql"] = shim
warnings.simplefilter("always")
caught = []
warnings.showwarning = lambda message, *args, **kwargs: caught.append(str(message))
found = {}
for project, module_name, binding in json.loads(sys.argv[1]):
    value = getattr(importlib.import_module(module_name), binding)
    found[f"{module_name}:{binding}"] = {
        "document": value.document, "hash": value.hash, "name": value.name,
        "kind": value.kind, "operation": value.operation,
        "type_condition": value.type_condition, "variables": [list(v) for v in value.variables],
        "fragments": list(value.fragment_names), "prebuilt": value.prebuilt,
    }
print(json.dumps({"found": found, "graphql": "graphql" in sys.modules, "warnings": caught}))
"""


def _definitions(ws: Path) -> list[tuple[str, str, str]]:
    found = []
    for project in ("small-app", "shared-lib"):
        artifact = json.loads(
            (ws / "fixtures" / project / "__generated__" / "artifact.json").read_text()
        )
        for element in artifact["elements"].values():
            found.append((project, _module_name(element["module"]), element["binding"]))
    return sorted(found)


def _probe(ws: Path, mode: str, definitions: list[tuple[str, str, str]]) -> dict[str, Any]:
    roots = [str(ws / "fixtures" / "small-app"), str(ws / "fixtures" / "shared-lib")]
    env = {**os.environ, "SODABUILD_RUNTIME": mode, "PYTHONPATH": os.pathsep.join(roots)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(definitions)],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_prebuilt_and_composed_documents_are_identical(example_workspace: Path) -> None:
    ws = example_workspace
    assert run_cli("build", "-w", str(ws)).code == 0
    definitions = _definitions(ws)
    assert len(definitions) >= 40
    prebuilt = _probe(ws, "prebuilt", definitions)
    composed = _probe(ws, "compose", definitions)
    assert not prebuilt["graphql"], "zero-runtime imported graphql-core"
    assert composed["graphql"]
    assert not prebuilt["warnings"] and not composed["warnings"]
    for key, value in prebuilt["found"].items():
        assert value.pop("prebuilt") is True, key
        assert composed["found"][key].pop("prebuilt") is False, key
    assert prebuilt["found"] == composed["found"]


def test_a_stale_module_is_composed_with_one_warning(example_workspace: Path) -> None:
    ws = example_workspace
    assert run_cli("build", "-w", str(ws)).code == 0
    queries = ws / "fixtures" / "small-app" / "app" / "users" / "queries.py"
    text = queries.read_text()
    edited = text.replace("{", "{ __typename", 1)  # the first document of the module
    assert edited != text
    queries.write_text(edited)
    definitions = [d for d in _definitions(ws) if d[1] == "app.users.queries"]
    auto = _probe(ws, "auto", definitions)
    composed = _probe(ws, "compose", definitions)
    assert len(auto["warnings"]) == 1
    assert "app/users/queries.py has gql() calls the last build did not see" in auto["warnings"][0]
    stale = [key for key, value in auto["found"].items() if not value["prebuilt"]]
    assert len(stale) == 1
    for value in [*auto["found"].values(), *composed["found"].values()]:
        value.pop("prebuilt")
    assert auto["found"] == composed["found"]  # the stale call composed the edited text


def test_without_outputs_auto_composes_silently_and_prebuilt_warns(
    example_workspace: Path,
) -> None:
    ws = example_workspace
    assert run_cli("build", "-w", str(ws)).code == 0
    definitions = _definitions(ws)
    for project in ("small-app", "shared-lib"):
        shutil.rmtree(ws / "fixtures" / project / "__generated__")
    auto = _probe(ws, "auto", definitions)
    assert not auto["warnings"]
    assert not any(value["prebuilt"] for value in auto["found"].values())
    required = _probe(ws, "prebuilt", definitions)
    assert required["warnings"] and all("no prebuilt documents" in w for w in required["warnings"])
