"""Workspace and project configuration: TOML files validated by pydantic, resolved and hashed."""

from sodabuild.config.load import config_json_schema, find_workspace_file, load_workspace
from sodabuild.config.model import GraphQLPluginOptions, ResolvedProject, ResolvedWorkspace

__all__ = [
    "GraphQLPluginOptions",
    "ResolvedProject",
    "ResolvedWorkspace",
    "config_json_schema",
    "find_workspace_file",
    "load_workspace",
]
