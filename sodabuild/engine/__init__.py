"""The build engine: runs the stages (discover, scan, resolve, compose, validate, emit, write) for the selected projects of a workspace, cold or incrementally.

The package itself imports nothing heavy: ``engine.summary`` serves the no-op path, which
must not load graphql-core, pydantic or Starlark; the pipeline loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sodabuild.engine.pipeline import BuildResult, ProjectResult, build_workspace

__all__ = ["BuildResult", "ProjectResult", "build_workspace"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sodabuild.engine import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
