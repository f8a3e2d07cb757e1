"""The real CLI on a generated app: clean build, run-time equality, relocatable outputs."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from .conftest import generator, read_tree, run_cli


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "ws"
    generator().generate(out, 160, seed=3)
    run = run_cli("build", "-w", str(out), "--json")
    assert run.code == 0, run.stdout + run.stderr
    summary = run.json()
    assert summary["ok"] and summary["projects"][0]["diagnostics"] == []
    return out


def test_generated_app_builds_every_definition(generated: Path) -> None:
    artifact = json.loads((generated / "app" / "__generated__" / "artifact.json").read_text())
    assert len(artifact["elements"]) > 100
    kinds = {e["kind"] for e in artifact["elements"].values()}
    assert kinds == {"operation", "fragment"}


@pytest.mark.parametrize("mode", ["compose", "prebuilt"])
def test_generated_runtime_documents_equal_artifact(
    generated: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Composed at run time and prebuilt (zero-runtime) alike: every definition's document,
    hash, name, kind, operation, type condition and variables are the artifact's."""
    monkeypatch.setenv("SODABUILD_RUNTIME", mode)
    artifact = json.loads((generated / "app" / "__generated__" / "artifact.json").read_text())
    src = generated / "app" / "src"
    before = set(sys.modules)
    sys.path.insert(0, str(src))
    try:
        for element in artifact["elements"].values():
            name = element["module"].removeprefix("src/").removesuffix(".py").replace("/", ".")
            module = importlib.import_module(name.removesuffix(".__init__"))
            value = getattr(module, element["binding"])
            assert value.prebuilt == (mode == "prebuilt")
            assert value.document == element["document"]
            assert (value.hash, value.name, value.kind) == (
                element["hash"],
                element["name"],
                element["kind"],
            )
            assert (value.operation, value.type_condition) == (
                element["operation"],
                element["type_condition"],
            )
            assert [list(v) for v in value.variables] == [
                [v["name"], v["type"], v["default"]] for v in element["variables"]
            ]
    finally:
        sys.path.remove(str(src))
        for name in set(sys.modules) - before:
            del sys.modules[name]


def test_generated_outputs_identical_in_another_directory(generated: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generator().generate(other, 160, seed=3)
    assert run_cli("build", "-w", str(other)).code == 0
    first = read_tree(generated / "app" / "__generated__")
    assert first == read_tree(other / "app" / "__generated__")
