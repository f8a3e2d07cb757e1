"""Find the workspace file: cheap (tomllib only), so the no-op fast path can use it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sodabuild.diagnostics import Diagnostic, SodabuildError

WORKSPACE_FILENAME = "sodabuild.toml"


def find_workspace_file(start: Path, explicit: Path | None = None) -> Path:
    """The workspace file: ``explicit`` (a file or a directory), else found walking up."""
    if explicit is not None:
        candidate = explicit / WORKSPACE_FILENAME if explicit.is_dir() else explicit
        if not candidate.is_file():
            what = (
                f"directory {str(explicit)!r} has no {WORKSPACE_FILENAME}"
                if explicit.is_dir()
                else f"workspace file {str(explicit)!r} does not exist"
            )
            raise SodabuildError(
                [
                    Diagnostic(
                        "CONFIG_NOT_FOUND",
                        what,
                        hint="pass -w/--workspace the path of a workspace TOML file",
                    )
                ]
            )
        _not_a_project_file(candidate.resolve())
        return candidate.resolve()
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / WORKSPACE_FILENAME
        if candidate.is_file() and _has_workspace_table(candidate):
            return candidate
    others = _workspace_files_in(start)
    hint = "run `sodabuild init` to write one here, or run inside a workspace"
    if others:
        hint += f", or pass one of these: -w {' / -w '.join(others)}"
    else:
        hint += ", or pass -w/--workspace PATH"
    raise SodabuildError(
        [
            Diagnostic(
                "CONFIG_NOT_FOUND",
                f"no {WORKSPACE_FILENAME} with a [workspace] table in {start} or its parents",
                hint=hint,
            )
        ]
    )


def _workspace_files_in(directory: Path) -> list[str]:
    """Other TOML files with a [workspace] table here (``workspace.example.toml``)."""
    try:
        names = sorted(p.name for p in directory.iterdir() if p.suffix == ".toml" and p.is_file())
    except OSError:
        return []
    return [name for name in names if _is_table(directory / name, "workspace")][:3]


def _not_a_project_file(path: Path) -> None:
    """A project's own config file named as the workspace: one clear error, and where the
    workspace that lists the project is (walking up from the project)."""
    if not _is_table(path, "project") or _is_table(path, "workspace"):
        return
    workspace = None
    for directory in path.parent.parents:
        candidate = directory / WORKSPACE_FILENAME
        if candidate.is_file() and _is_table(candidate, "workspace"):
            workspace = candidate
            break
        others = _workspace_files_in(directory)
        if others:
            workspace = directory / others[0]
            break
    hint = (
        f"pass the workspace file: -w {workspace}"
        if workspace is not None
        else "pass the workspace file (the one with a [workspace] table and [[projects]])"
    )
    raise SodabuildError(
        [
            Diagnostic(
                "CONFIG_INVALID",
                f"{path.name} is a project file (it has a [project] table), not a workspace",
                str(path),
                1,
                1,
                hint=hint,
            )
        ]
    )


def _is_table(path: Path, name: str) -> bool:
    try:
        return name in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return False


def _has_workspace_table(path: Path) -> bool:
    try:
        return "workspace" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return True  # let the loader report what is wrong with it
