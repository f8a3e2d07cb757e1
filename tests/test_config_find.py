"""Finding the workspace file: what a newcomer sees when there is none, or when a project
file is passed as one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sodabuild.diagnostics import SodabuildError


def test_no_workspace_suggests_init_and_the_toml_files_here(tmp_path: Path) -> None:
    from sodabuild.config.find import find_workspace_file

    (tmp_path / "workspace.example.toml").write_text('[workspace]\nname = "w"\n')
    with pytest.raises(SodabuildError) as raised:
        find_workspace_file(tmp_path)
    hint = raised.value.diagnostics[0].hint or ""
    assert "sodabuild init" in hint and "-w workspace.example.toml" in hint


def test_a_project_file_named_as_the_workspace_is_one_clear_error(tmp_path: Path) -> None:
    from sodabuild.config.find import find_workspace_file

    (tmp_path / "workspace.example.toml").write_text('[workspace]\nname = "w"\n')
    project = tmp_path / "app" / "sodabuild.toml"
    project.parent.mkdir()
    project.write_text('[project]\nschema = "schema.graphql"\n')
    with pytest.raises(SodabuildError) as raised:
        find_workspace_file(tmp_path, project)
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.code == "CONFIG_INVALID"
    assert "is a project file" in diagnostic.message
    assert diagnostic.hint == f"pass the workspace file: -w {tmp_path / 'workspace.example.toml'}"
