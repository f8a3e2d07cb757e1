"""Output kinds behind one interface: several manifests, one per format, from one rule.

The Apollo manifest, Relay's ``{id: text}`` and GraphQL-over-HTTP persisted documents
(``{"sha256:<hex>": text}``) list the same operations with the same ids and texts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from syrupy.assertion import SnapshotAssertion

from sodabuild.emit.outputs import Element, documents_by_id
from sodabuild.emit.registry import KINDS, ElementTable, constructor
from tests.conftest import REPO, run_cli

RULE = """\
load("@builtin//graphql.star", "PYTHON_SOURCES")

rule(
    name = "persisted",
    discovery = PYTHON_SOURCES,
    outputs = [
        artifact_output(path = "artifact.json"),
        manifest_output(path = "apollo.json"),
        manifest_output(path = "relay.json", format = "relay"),
        manifest_output(path = "persisted-documents.json", format = "persisted-documents"),
    ],
)
"""


def _element(name: str, document: str, digest: str) -> Element:
    return Element(
        id=f"m.py::{name}",
        module="m.py",
        binding=name,
        line=1,
        kind="operation",
        name=name,
        operation="query",
        type_condition=None,
        document=document,
        fragments=(),
        variables=(),
        hash=f"sha256:{digest}",
    )


def test_documents_by_id() -> None:
    table = ElementTable(
        "p", operations=[_element("A", "{ a }", "aa"), _element("B", "{ b }", "bb")]
    )
    relay = json.loads(documents_by_id(table, lambda e: e.hash.removeprefix("sha256:")))
    assert relay == {"aa": "{ a }", "bb": "{ b }"}
    persisted = json.loads(documents_by_id(table, lambda e: e.hash))
    assert persisted == {"sha256:aa": "{ a }", "sha256:bb": "{ b }"}


def test_every_kind_has_a_constructor() -> None:
    assert {constructor(kind) for kind in KINDS} >= {
        "artifact_output",
        "manifest_output",
        "chunk_output",
    }


def test_one_rule_writes_three_manifest_formats(
    tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(
        REPO / "fixtures" / "gql-app",
        root / "app",
        ignore=shutil.ignore_patterns("__generated__"),
    )
    (root / "rules").mkdir()
    (root / "rules" / "persisted.star").write_text(RULE, encoding="utf-8")
    (root / "sodabuild.toml").write_text(
        '[workspace]\nname = "w"\nrule_dirs = ["rules"]\n\n'
        '[plugins.graphql]\ngql_modules = ["sodabuild.graphql", "gql"]\n\n'
        '[[projects]]\nname = "app"\nroot = "app"\nrules = ["persisted"]\n',
        encoding="utf-8",
    )
    run = run_cli("build", "--json", cwd=root)
    assert run.code == 0, run.stdout + run.stderr
    outputs = run.json()["projects"][0]["outputs"]
    assert sorted(outputs) == [
        "artifact",
        "manifest",
        "manifest:persisted-documents",
        "manifest:relay",
    ]
    out = root / "app" / "__generated__"
    apollo = json.loads((out / "apollo.json").read_text())
    relay = json.loads((out / "relay.json").read_text())
    persisted = json.loads((out / "persisted-documents.json").read_text())
    assert apollo["operations"]
    assert relay == {entry["id"]: entry["body"] for entry in apollo["operations"]}
    assert persisted == {f"sha256:{id_}": body for id_, body in relay.items()}
    assert (out / "relay.json").read_text() == snapshot
    # the second build is a no-op; dropping a manifest removes its file
    assert "no-op" in run_cli("build", cwd=root).stdout
    rule = root / "rules" / "persisted.star"
    rule.write_text(
        RULE.replace('        manifest_output(path = "relay.json", format = "relay"),\n', "")
    )
    assert run_cli("build", cwd=root).code == 0
    assert not (out / "relay.json").exists()
    assert (out / "persisted-documents.json").exists()


def test_two_manifests_of_one_format_are_a_rule_error(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "app").mkdir(parents=True)
    (root / "rules").mkdir()
    (root / "rules" / "twice.star").write_text(
        'rule(name = "twice", outputs = [manifest_output(path = "a.json"),'
        ' manifest_output(path = "b.json", format = "apollo")])\n',
        encoding="utf-8",
    )
    (root / "sodabuild.toml").write_text(
        '[workspace]\nname = "w"\nrule_dirs = ["rules"]\n\n'
        '[[projects]]\nname = "app"\nroot = "app"\nrules = ["twice"]\n',
        encoding="utf-8",
    )
    run = run_cli("build", cwd=root)
    assert run.code == 2
    assert "more than one manifest output" in run.stderr
