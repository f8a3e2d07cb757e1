"""Workspace and project configuration: TOML files validated by pydantic, resolved and hashed.

Names are imported lazily so that ``sodabuild.config.find`` stays cheap (no pydantic).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GraphQLPluginOptions",
    "ResolvedProject",
    "ResolvedWorkspace",
    "config_json_schema",
    "find_workspace_file",
    "load_workspace",
]


def __getattr__(name: str) -> Any:
    if name in ("config_json_schema", "load_workspace"):
        from sodabuild.config import load

        return getattr(load, name)
    if name == "find_workspace_file":
        from sodabuild.config.find import find_workspace_file

        return find_workspace_file
    if name in ("GraphQLPluginOptions", "ResolvedProject", "ResolvedWorkspace"):
        from sodabuild.config import model

        return getattr(model, name)
    raise AttributeError(name)
