"""Pydantic models of the config files (as written) and of the resolved config (as used).

File models are strict and reject unknown keys; the resolved models are frozen and hold
only workspace-relative POSIX paths, so they hash the same in every checkout.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sodabuild.remote.settings import RemoteCacheSettings

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
ProjectName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
ModulePrefix = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
]
Suffix = Annotated[str, StringConstraints(pattern=r"^\.[A-Za-z0-9_.\-]+$")]
#: An ``[aliases]`` key: a Python module prefix (``app.graphql``) or a JavaScript module
#: specifier prefix (``@/graphql``, ``~lib``, ``@scope/pkg``): no spaces, no ``*``, not
#: relative, no empty segment.
AliasPrefix = Annotated[
    str,
    StringConstraints(
        pattern=r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
        r"|[@~#$A-Za-z0-9_\-][@~#$A-Za-z0-9_.\-]*(?:/[@~#$A-Za-z0-9_\-][@~#$A-Za-z0-9_.\-]*)*)$"
    ),
]

#: Scanners sodabuild ships, by name (the values of ``[extensions]``).
SCANNERS: tuple[str, ...] = ("python", "graphql", "typescript", "javascript")
ScannerName = Literal["python", "graphql", "typescript", "javascript"]
DEFAULT_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".graphql": "graphql",
    ".gql": "graphql",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
}
#: How a fragment spread finds its fragment (``fragments`` project key).
FragmentResolution = Literal["imports", "names", "both"]
DEFAULT_GQL_MODULES: tuple[str, ...] = ("sodabuild.graphql", "gql")
#: Largest input file read by default (``[workspace] max_file_bytes``): 16 MiB.
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


class WorkspaceTable(_Strict):
    """``[workspace]`` of the workspace file."""

    name: NonEmpty = Field(description="Name of the workspace.")
    cache_dir: NonEmpty = Field(
        ".cache/sodabuild", description="Cache directory, relative to the workspace root."
    )
    rule_dirs: list[NonEmpty] = Field(
        default_factory=list,
        description="Directories of Starlark rule files, relative to the workspace root.",
    )
    max_file_bytes: int = Field(
        DEFAULT_MAX_FILE_BYTES,
        ge=1,
        le=1 << 40,
        description="Largest input file (source, schema) read, in bytes; a larger one is an"
        " INPUT_TOO_LARGE error.",
    )
    remote_cache: RemoteCacheSettings | None = Field(
        None,
        description="A remote cache shared by the workspace's builds (REAPI over gRPC, or"
        " bazel-remote's HTTP protocol); reads only unless `upload = true`.",
    )


class ProjectSettings(_Strict):
    """Keys of ``[project]`` in ``<root>/sodabuild.toml`` (also allowed inline in ``[[projects]]``)."""

    schema_paths: NonEmpty | list[NonEmpty] | None = Field(
        None, alias="schema", description="Schema SDL file(s), relative to the project root."
    )
    include: list[NonEmpty] | None = Field(
        None,
        description="Globs of source files, relative to the project root (default: the rule's).",
    )
    exclude: list[NonEmpty] | None = Field(
        None, description="Globs of files to leave out, relative to the project root."
    )
    source_roots: list[NonEmpty] | None = Field(
        None, description="Directories holding top-level packages, relative to the project root."
    )
    out_dir: NonEmpty | None = Field(
        None, description="Output directory, relative to the project root (default __generated__)."
    )
    rules: list[NonEmpty] | None = Field(
        None,
        description="Names of the rules this project uses (default: the built-in graphql rule).",
    )
    fragments: FragmentResolution | None = Field(
        None,
        description='How a fragment spread finds its fragment: "imports" (passed to gql() or '
        'defined in the same document), "names" (by name among the project\'s fragments) or '
        '"both" (default: a passed argument wins, otherwise by name).',
    )


PROJECT_KEYS: tuple[str, ...] = (
    "schema",
    "include",
    "exclude",
    "source_roots",
    "out_dir",
    "rules",
    "fragments",
)


class ProjectEntry(ProjectSettings):
    """One ``[[projects]]`` entry of the workspace file."""

    name: ProjectName = Field(description="Unique project name.")
    root: NonEmpty = Field(description="Project root directory, relative to the workspace root.")


DottedName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
]
GraphQLName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class ScalarMapping(_Strict):
    """``[plugins.graphql.scalars] <Scalar> = { type = ... }``: the Python type of a custom
    scalar in typed results (``python_types_output``)."""

    type: DottedName = Field(
        description='Python type of the scalar\'s values: a builtin ("str", "int", "float",'
        ' "bool") or a dotted import path ("datetime.datetime", "decimal.Decimal").'
    )
    parse: DottedName | None = Field(
        None,
        description="Dotted import path of a function from the JSON value to `type` (for"
        " types pydantic cannot validate itself).",
    )
    serialize: DottedName | None = Field(
        None,
        description="Dotted import path of a function from `type` back to a JSON value"
        " (used by `model_dump`).",
    )


class GraphQLPluginOptions(_Strict):
    """``[plugins.graphql]``: options of the GraphQL rule pack."""

    gql_modules: list[ModulePrefix] = Field(
        default_factory=lambda: list(DEFAULT_GQL_MODULES),
        description="Modules whose `gql` function marks a GraphQL definition.",
    )
    manifest_format: Literal["apollo"] = Field(
        "apollo", description="Format of the persisted-query manifest."
    )
    scalars: dict[GraphQLName, ScalarMapping] = Field(
        default_factory=dict,
        description="Custom scalar name -> its Python type in typed results (unmapped"
        " custom scalars are typed as any JSON value).",
    )


#: Plugin option models by plugin name.
PLUGINS: dict[str, type[_Strict]] = {"graphql": GraphQLPluginOptions}


class _Shared(_Strict):
    aliases: dict[AliasPrefix, NonEmpty] = Field(
        default_factory=dict,
        description="Python module prefix (`app.graphql`) or JavaScript specifier prefix"
        " (`@/graphql`) -> directory.",
    )
    extensions: dict[Suffix, ScannerName] = Field(
        default_factory=dict, description="File suffix -> scanner name."
    )
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Plugin option tables, by plugin name."
    )


class WorkspaceFile(_Shared):
    """The workspace file (``sodabuild.toml`` with a ``[workspace]`` table)."""

    workspace: WorkspaceTable
    projects: list[ProjectEntry] = Field(min_length=1)


class ProjectFile(_Shared):
    """A per-project file ``<root>/sodabuild.toml``."""

    project: ProjectSettings = Field(default_factory=lambda: ProjectSettings())


def keys_at(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The keys the table at ``path`` below ``model`` accepts, as they are written (field
    aliases: ``schema``), or [] when ``path`` leads to no table of known keys."""
    current: Any = model
    for part in path:
        current = _member(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _member(annotation: Any, part: str | int) -> Any:
    """What ``part`` of a value of type ``annotation`` is (a field, an item, a value)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _member(typing.get_args(annotation)[0], part)
    if origin in (typing.Union, types.UnionType):
        found = (_member(option, part) for option in typing.get_args(annotation))
        return next((member for member in found if member is not None), None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    if origin in (list, tuple) and isinstance(part, int):
        return typing.get_args(annotation)[0]
    if origin is dict and isinstance(part, str):
        return typing.get_args(annotation)[1]
    return None


class ResolvedProject(_Strict):
    """Everything the pipeline reads about one project; all paths workspace-relative POSIX."""

    name: str
    root: str
    config_files: tuple[str, ...]
    schema_paths: tuple[str, ...]
    include: tuple[str, ...] | None
    exclude: tuple[str, ...]
    source_roots: tuple[str, ...]
    out_dir: str
    rules: tuple[str, ...]
    aliases: dict[str, str]
    extensions: dict[str, str]
    plugins: dict[str, dict[str, Any]]
    fragments: FragmentResolution = "both"
    #: ``compilerOptions.baseUrl`` and ``paths`` of the project's tsconfig.json (and what
    #: it extends), workspace-relative; the files read are in ``config_files``.
    ts_base_url: str | None = None
    ts_paths: tuple[tuple[str, tuple[str, ...]], ...] = ()
    hashes: dict[str, str] = Field(default_factory=dict)

    def graphql_options(self) -> GraphQLPluginOptions:
        return GraphQLPluginOptions.model_validate(self.plugins.get("graphql", {}))


class ResolvedWorkspace(_Strict):
    """The resolved workspace; ``root`` is the only absolute path and is never hashed."""

    root: str
    file: str
    name: str
    cache_dir: str
    rule_dirs: tuple[str, ...]
    projects: tuple[ResolvedProject, ...]
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: Not part of any cache key: where results are shared does not change them.
    remote_cache: RemoteCacheSettings | None = None

    def project(self, name: str) -> ResolvedProject:
        for project in self.projects:
            if project.name == name:
                return project
        raise KeyError(name)
