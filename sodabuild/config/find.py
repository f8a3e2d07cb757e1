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
        return candidate.resolve()
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / WORKSPACE_FILENAME
        if candidate.is_file() and _has_workspace_table(candidate):
            return candidate
    raise SodabuildError(
        [
            Diagnostic(
                "CONFIG_NOT_FOUND",
                f"no {WORKSPACE_FILENAME} with a [workspace] table in {start} or its parents",
                hint="run inside a workspace, or pass -w/--workspace PATH",
            )
        ]
    )


def _has_workspace_table(path: Path) -> bool:
    try:
        return "workspace" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return True  # let the loader report what is wrong with it
