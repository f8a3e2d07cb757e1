"""The build engine: runs the stages (discover, scan, resolve, compose, validate, emit, write) for the selected projects of a workspace, cold or incrementally."""

from sodabuild.engine.pipeline import BuildResult, ProjectResult, build_workspace

__all__ = ["BuildResult", "ProjectResult", "build_workspace"]
