"""Artifact deltas: what changed between two artifacts, and how to apply that.

``diff(old, new)`` lists added, changed and removed elements (with old and new hashes);
``apply(old, delta)`` rebuilds the new artifact from the old one. The invariant, tested
over random edit sequences: ``dumps(apply(old, diff(old, new))) == dumps(new)``, byte for
byte, so a consumer that only ever receives deltas holds exactly the full artifact.
"""

from __future__ import annotations

import copy
from typing import Any

DELTA_FORMAT = "sodabuild-artifact-delta"
DELTA_VERSION = 1


def empty_artifact(project: str) -> dict[str, Any]:
    """What a project's artifact is before its first build."""
    from sodabuild.emit.outputs import ARTIFACT_VERSION

    return {"version": ARTIFACT_VERSION, "project": project, "schema_hash": "", "elements": {}}


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The delta of one project's artifact."""
    before: dict[str, Any] = old.get("elements", {})
    after: dict[str, Any] = new.get("elements", {})
    added = {key: after[key] for key in sorted(after.keys() - before.keys())}
    removed = {
        key: {"old_hash": before[key]["hash"]} for key in sorted(before.keys() - after.keys())
    }
    changed = {
        key: {
            "old_hash": before[key]["hash"],
            "new_hash": after[key]["hash"],
            "element": after[key],
        }
        for key in sorted(before.keys() & after.keys())
        if before[key] != after[key]
    }
    header = {k: v for k, v in new.items() if k != "elements"}
    old_header = {k: v for k, v in old.items() if k != "elements"}
    return {
        "header": header,
        "header_changed": header != old_header,
        "added": added,
        "changed": changed,
        "removed": removed,
    }


def apply(old: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """The artifact ``delta`` was computed against ``old`` to reach."""
    elements = copy.deepcopy(old.get("elements", {}))
    for key, entry in delta["removed"].items():
        if elements.get(key, {}).get("hash") != entry["old_hash"]:
            raise ValueError(f"delta does not apply: {key} is not the removed version")
        del elements[key]
    for key, entry in delta["changed"].items():
        if elements.get(key, {}).get("hash") != entry["old_hash"]:
            raise ValueError(f"delta does not apply: {key} is not the changed version")
        elements[key] = copy.deepcopy(entry["element"])
    for key, element in delta["added"].items():
        if key in elements:
            raise ValueError(f"delta does not apply: {key} already exists")
        elements[key] = copy.deepcopy(element)
    return {**delta["header"], "elements": dict(sorted(elements.items()))}


def is_empty(delta: dict[str, Any]) -> bool:
    return not (delta["added"] or delta["changed"] or delta["removed"] or delta["header_changed"])
