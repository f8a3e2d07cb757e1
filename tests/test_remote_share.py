"""Unit tests of what a build shares through a remote cache (sodabuild/remote/share.py):
keys, shards of the warm state, their merge, and the allow-list unpickler. The protocols
and whole builds against real servers are in test_remote_client.py and
test_remote_build.py."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from sodabuild.config.load import load_workspace
from sodabuild.engine import build_workspace
from sodabuild.engine.state import WarmState
from sodabuild.remote.share import COMMON, SHARD, RemoteShare, _merge, _shards, loads
from sodabuild.rules.load import load_rules


@pytest.fixture
def built(example_workspace: Path) -> tuple[WarmState, dict[str, str]]:
    workspace = load_workspace(example_workspace / "sodabuild.toml")
    result = build_workspace(workspace, load_rules(example_workspace, []), check=True)
    assert result.state is not None
    state = result.state
    inputs = {path: stamp.hash for path, stamp in state.files.items()}
    return state, inputs


def test_keys_change_with_the_inputs_of_their_package_only() -> None:
    inputs = {"app/a.py": "1", "app/b.py": "2", "lib/c.py": "3", "schema.graphql": "4"}
    project, packages = RemoteShare.keys("ctx", inputs)
    assert set(packages) == {"app", "lib", ""}
    again = RemoteShare.keys("ctx", dict(reversed(inputs.items())))
    assert again == (project, packages)  # order of discovery does not matter
    edited, edited_packages = RemoteShare.keys("ctx", {**inputs, "lib/c.py": "9"})
    assert edited != project
    assert edited_packages["lib"] != packages["lib"]
    assert {k: v for k, v in edited_packages.items() if k != "lib"} == {
        k: v for k, v in packages.items() if k != "lib"
    }
    other, _ = RemoteShare.keys("another config", inputs)
    assert other != project


def test_shards_round_trip_into_an_empty_state(built: tuple[WarmState, dict[str, str]]) -> None:
    state, inputs = built
    shards = _shards(inputs, state)
    assert shards and all(isinstance(data, bytes) for data in shards.values())
    fresh = WarmState()
    for directory, data in shards.items():
        _merge(fresh, f"{SHARD}{directory}", loads(data), inputs)
    assert fresh.scans == {p: s for p, s in state.scans.items() if p in inputs}
    assert fresh.markers == {p: m for p, m in state.markers.items() if p in inputs}
    assert fresh.composed.keys() == {r for r in state.composed if r.path in inputs}
    assert all(fresh.composed[ref].key == state.composed[ref].key for ref in fresh.composed)
    # the same state gives the same bytes (blobs dedupe on the server)
    assert _shards(inputs, state) == shards


def test_local_entries_win_unless_stale(built: tuple[WarmState, dict[str, str]]) -> None:
    state, inputs = built
    path = next(p for p in state.scans if p in inputs)
    digest, modules, scan = state.scans[path]
    shard = ("shard", [(path, (digest, modules, scan))], [], [])
    stale = WarmState(scans={path: ("old-content", modules, scan)})
    _merge(stale, f"{SHARD}x", shard, inputs)
    assert stale.scans[path][0] == digest  # the local entry was for other contents
    other_scan = ("another", modules, scan)
    local = WarmState(scans={path: (digest, modules, scan)})
    _merge(local, f"{SHARD}x", ("shard", [(path, other_scan)], [], []), inputs)
    assert local.scans[path][0] == digest  # a current local entry is kept
    common = WarmState()
    _merge(common, COMMON, ("common", [("doc", "schema")], ["schema"], []), inputs)
    assert common.validated == {("doc", "schema")} and common.validated_schemas == {"schema"}
    with pytest.raises(ValueError):
        _merge(common, COMMON, ("shard", [], [], []), inputs)  # a blob under the wrong name


class _Exploit:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_Exploit()),
        pickle.dumps(eval),
        # a sodabuild class that is not plain data
        pickle.dumps(RemoteShare),
    ],
)
def test_a_blob_can_build_data_but_never_run_code(payload: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError):
        loads(payload)
