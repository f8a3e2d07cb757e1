"""Build: the pipeline that runs the stages for the selected projects of a workspace."""

from sodabuild.build.pipeline import BuildResult, ProjectResult, build_workspace

__all__ = ["BuildResult", "ProjectResult", "build_workspace"]
