"""Safe on untrusted checkouts: nothing outside the workspace is read or written, configs
that would destroy data are errors, and no input can hang or exhaust a build.

Every test runs the real CLI in a subprocess on a fixture tree made in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VALID = REPO / "fixtures" / "invalid" / "valid"

#: A module holding a gql() document that must never be built (it lives outside).
OUTSIDE_MODULE = """\
from sodabuild.graphql import gql

Stolen = gql(\"\"\"
    query Stolen {
      users(first: 1) {
        id
      }
    }
\"\"\")
"""


def run(workspace: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SODABUILD_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "sodabuild", *args, "-w", str(workspace)],
        cwd=workspace,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=timeout,
    )


def build(workspace: Path, *args: str, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    proc = run(workspace, "build", "--json", "--no-incremental", *args, timeout=timeout)
    assert proc.returncode != 3, proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def diagnostics(summary: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(summary.get("diagnostics", []))
    for project in summary.get("projects", []):
        found.extend(project["diagnostics"])
    return found


def codes(summary: dict[str, Any]) -> list[str]:
    return [d["code"] for d in diagnostics(summary)]


def make_ws(tmp_path: Path) -> Path:
    """A copy of the valid case: one project ``app`` in ``app/`` with two definitions."""
    ws = tmp_path / "ws"
    shutil.copytree(VALID, ws, ignore=shutil.ignore_patterns("expected.json", "__generated__"))
    return ws


def set_workspace(ws: Path, extra: str = "", project: str = "") -> None:
    (ws / "sodabuild.toml").write_text(
        f'[workspace]\nname = "valid"\n{extra}\n[[projects]]\nname = "app"\nroot = "app"\n'
        f"{project}",
        encoding="utf-8",
    )


def set_project(ws: Path, extra: str) -> None:
    (ws / "app/sodabuild.toml").write_text(
        f'[project]\nschema = "schema.graphql"\ninclude = ["app/**/*.py"]\n{extra}',
        encoding="utf-8",
    )


def ids(ws: Path, out_dir: str = "app/__generated__") -> set[str]:
    artifact = json.loads((ws / out_dir / "artifact.json").read_text(encoding="utf-8"))
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and "::" in key:
                    found.add(key)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(artifact)
    return found


# -- 1. config inputs are located config errors ---------------------------------------------


def test_deeply_nested_toml_is_a_located_config_error(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_workspace(ws, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"]) == ("CONFIG_TOML", "sodabuild.toml")
    assert "nested too deeply" in error["message"]


def test_deeply_nested_project_file_is_a_located_config_error(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_project(ws, "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")
    code, summary = build(ws)
    assert code == 2
    assert [(d["code"], d["file"]) for d in diagnostics(summary)] == [
        ("CONFIG_TOML", "app/sodabuild.toml")
    ]


@pytest.mark.parametrize(
    ("extra", "project", "line"),
    [
        pytest.param('cache_dir = "a\\u0000b"\n', "", 3, id="nul-cache-dir"),
        pytest.param("", 'out_dir = "gen\\u0000"\n', 7, id="nul-out-dir"),
        pytest.param("", 'source_roots = [".", "x\\u0001y"]\n', 7, id="control-source-root"),
        pytest.param('cache_dir = "' + "c" * 5000 + '"\n', "", 3, id="long-cache-dir"),
        pytest.param('cache_dir = "' + "d/" * 2100 + 'x"\n', "", 3, id="long-path"),
        pytest.param("", 'schema = "' + "s" * 300 + '.graphql"\n', 7, id="long-name"),
    ],
)
def test_impossible_paths_are_config_invalid_at_the_key(
    tmp_path: Path, extra: str, project: str, line: int
) -> None:
    ws = make_ws(tmp_path)
    (ws / "app/sodabuild.toml").write_text("[project]\n", encoding="utf-8")
    set_workspace(ws, extra, project)
    code, summary = build(ws)
    assert code == 2, summary
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_INVALID",
        "sodabuild.toml",
        line,
    )
    assert len(error["message"]) < 300  # a 5,000-character value is shortened


def test_nul_in_project_file_alias_is_config_invalid(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_project(ws, '[aliases]\nx = "a\\u0000"\n')
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_INVALID",
        "app/sodabuild.toml",
        5,
    )


def test_default_out_dir_symlinked_outside_is_an_escape(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / "app/__generated__").symlink_to(outside, target_is_directory=True)
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_PATH_ESCAPE",
        "sodabuild.toml",
        6,
    )
    assert list(outside.iterdir()) == []


def test_symlink_on_the_way_to_out_dir_is_an_escape(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    outside = tmp_path / "outside"
    (outside / "gen").mkdir(parents=True)
    (ws / "app/build").symlink_to(outside, target_is_directory=True)
    set_project(ws, 'out_dir = "build/gen"\n')
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_PATH_ESCAPE",
        "app/sodabuild.toml",
        4,
    )
    assert list((outside / "gen").iterdir()) == []


def test_symlink_on_the_way_to_cache_dir_is_an_escape(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / ".cache").symlink_to(outside, target_is_directory=True)
    proc = run(ws, "build", "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [error] = diagnostics(json.loads(proc.stdout))
    assert (error["code"], error["file"]) == ("CONFIG_PATH_ESCAPE", "sodabuild.toml")
    assert list(outside.iterdir()) == []


def test_symlink_leaving_and_coming_back_is_an_escape(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "back").symlink_to(ws / "app", target_is_directory=True)
    (ws / "hop").symlink_to(outside, target_is_directory=True)
    set_workspace(ws, 'cache_dir = "hop/back/cache"\n')
    code, summary = build(ws)
    assert code == 2
    assert codes(summary) == ["CONFIG_PATH_ESCAPE"]


def test_project_file_symlinked_outside_is_not_read(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    secret = tmp_path / "secret.toml"
    secret.write_text('[project]\nschema = "schema.graphql"\n', encoding="utf-8")
    (ws / "app/sodabuild.toml").unlink()
    (ws / "app/sodabuild.toml").symlink_to(secret)
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_PATH_ESCAPE",
        "sodabuild.toml",
        6,
    )


# -- 2. configs that would destroy data ---------------------------------------------------------


def test_cache_dir_dot_is_an_overlap_and_the_workspace_survives(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_workspace(ws, 'cache_dir = "."\n')
    before = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*"))
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_OVERLAP",
        "sodabuild.toml",
        3,
    )
    assert "workspace root" in error["message"] and error["hint"]
    assert sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*")) == before


@pytest.mark.parametrize(
    ("cache_dir", "what"),
    [
        pytest.param("app", "the root of project 'app'", id="project-root"),
        pytest.param("app/app", "source root", id="source-root"),
        pytest.param("app/__generated__", "out_dir of project 'app'", id="out-dir"),
        pytest.param("app/schema.graphql", "schema file", id="schema"),
    ],
)
def test_cache_dir_may_not_hold_what_must_survive(
    tmp_path: Path, cache_dir: str, what: str
) -> None:
    ws = make_ws(tmp_path)
    set_project(ws, 'source_roots = [".", "app"]\n')
    set_workspace(ws, f'cache_dir = "{cache_dir}"\n')
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert error["code"] == "CONFIG_OVERLAP"
    assert what in error["message"], error["message"]


def test_out_dir_equal_to_project_root_is_an_overlap(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    (ws / "app/keep.json").write_text("{}", encoding="utf-8")
    set_project(ws, 'out_dir = "."\n')
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_OVERLAP",
        "app/sodabuild.toml",
        4,
    )
    assert "the root of project 'app'" in error["message"]
    assert (ws / "app/keep.json").read_text(encoding="utf-8") == "{}"


def test_out_dir_equal_to_a_source_directory_is_an_overlap(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_project(ws, 'source_roots = ["."]\nout_dir = "."\n')
    code, summary = build(ws)
    assert code == 2
    assert codes(summary) == ["CONFIG_OVERLAP"]


def test_out_dir_containing_the_workspace_root_is_an_overlap(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_project(ws, 'out_dir = ".."\n')
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert error["code"] == "CONFIG_OVERLAP"
    assert "workspace root" in error["message"]


def test_two_projects_sharing_an_out_dir_is_an_overlap(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    shutil.copytree(ws / "app", ws / "lib")
    (ws / "sodabuild.toml").write_text(
        '[workspace]\nname = "valid"\n\n'
        '[[projects]]\nname = "app"\nroot = "app"\nout_dir = "../gen"\n\n'
        '[[projects]]\nname = "lib"\nroot = "lib"\nout_dir = "../gen"\n',
        encoding="utf-8",
    )
    code, summary = build(ws)
    assert code == 2
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == (
        "CONFIG_OVERLAP",
        "sodabuild.toml",
        12,
    )
    assert "out_dir of project 'app'" in error["message"]
    assert not (ws / "gen").exists()


def test_out_dir_inside_the_project_root_stays_allowed(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_project(ws, 'out_dir = "gen"\n')
    code, summary = build(ws)
    assert code == 0, summary
    assert (ws / "app/gen/artifact.json").is_file()


def test_clean_with_cache_dir_dot_keeps_the_workspace(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_workspace(ws, 'cache_dir = "."\n')
    before = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*"))
    proc = run(ws, "build", "--json")
    assert proc.returncode == 2
    proc = run(ws, "clean")
    assert proc.returncode in (0, 2), proc.stdout + proc.stderr
    assert sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*")) == before


# -- 3. rule output paths ----------------------------------------------------------------------


RULE = """\
rule(
    name = "custom",
    pipeline = "graphql",
    outputs = [
{outputs}
    ],
)
"""


def with_rule(ws: Path, outputs: str) -> None:
    (ws / "rules").mkdir(exist_ok=True)
    (ws / "rules/custom.star").write_text(RULE.format(outputs=outputs), encoding="utf-8")
    set_workspace(ws, 'rule_dirs = ["rules"]\n')
    set_project(ws, 'rules = ["custom"]\n')


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        pytest.param(
            '        chunk_output(path = "."),\n        artifact_output(path = "artifact.json"),',
            "may not be out_dir itself",
            id="chunks-dot",
        ),
        pytest.param(
            '        chunk_output(path = "./"),', "empty components", id="chunks-dot-slash"
        ),
        pytest.param('        artifact_output(path = "a//b.json"),', "empty", id="empty-component"),
        pytest.param(
            '        artifact_output(path = "a/../../x"),', "stay in out_dir", id="escape"
        ),
        pytest.param('        artifact_output(path = "/etc/x"),', "stay in out_dir", id="absolute"),
        pytest.param('        artifact_output(path = "a\\x00b"),', "NUL", id="nul"),
        pytest.param(
            '        chunk_output(path = "c"),\n        artifact_output(path = "c/artifact.json"),',
            "overlaps the chunks directory",
            id="artifact-in-chunks",
        ),
        pytest.param(
            '        artifact_output(path = "x.json"),\n'
            '        manifest_output(path = "./x.json"),',
            "share the path 'x.json'",
            id="same-path",
        ),
        pytest.param(
            '        artifact_output(path = "a"),\n        chunk_output(path = "a/chunks"),',
            "overlaps the chunks directory",
            id="chunks-below-a-file",
        ),
    ],
)
def test_invalid_rule_output_paths(tmp_path: Path, outputs: str, message: str) -> None:
    ws = make_ws(tmp_path)
    with_rule(ws, outputs)
    code, summary = build(ws)
    assert code == 2, summary
    [error] = diagnostics(summary)
    assert (error["code"], error["file"]) == ("RULE_INVALID", "rules/custom.star")
    assert error["line"] >= 1
    assert message in error["message"], error["message"]
    assert not (ws / "app/__generated__").exists()


def test_normalised_rule_output_paths_build(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    with_rule(
        ws,
        '        chunk_output(path = "./chunks"),\n'
        '        artifact_output(path = "out/./artifact.json"),',
    )
    code, summary = build(ws)
    assert code == 0, summary
    assert (ws / "app/__generated__/out/artifact.json").is_file()
    assert summary["projects"][0]["outputs"]["chunks"] == "app/__generated__/chunks"


# -- 4. inputs never read outside the workspace, never hang ----------------------------------


def skipped(summary: dict[str, Any]) -> dict[str, str]:
    return {
        d["file"]: d["message"]
        for d in diagnostics(summary)
        if d["code"] == "INPUT_SKIPPED" and d["severity"] == "warning"
    }


def test_fifo_named_py_is_skipped_without_blocking(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    os.mkfifo(ws / "app/app/x.py")
    code, summary = build(ws, timeout=30)
    assert code == 0, summary
    assert skipped(summary) == {"app/app/x.py": "skipped: a FIFO"}
    assert len(ids(ws)) == 2


def test_import_of_a_fifo_module_does_not_block(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    # the module is reached only by import resolution (not discovered: excluded)
    set_project(ws, 'exclude = ["app/fifo.py"]\n')
    os.mkfifo(ws / "app/app/fifo.py")
    (ws / "app/app/user.py").write_text(
        "from sodabuild.graphql import gql\nfrom app.fifo import F\n\n"
        'Q = gql("query Q { users { id ...F } }", F)\n',
        encoding="utf-8",
    )
    code, summary = build(ws, timeout=30)
    assert code == 1
    assert "IMPORT_UNRESOLVED" in codes(summary)


def test_socket_named_py_is_skipped(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    path = ws / "app/app/s.py"
    if len(os.fsencode(path)) > 100:
        pytest.skip("socket path too long for AF_UNIX")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(os.fspath(path))
        code, summary = build(ws, timeout=30)
    finally:
        server.close()
    assert code == 0, summary
    assert skipped(summary) == {"app/app/s.py": "skipped: a socket"}


def test_symlink_to_dev_zero_is_skipped(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    (ws / "app/app/zero.py").symlink_to("/dev/zero")
    code, summary = build(ws, timeout=30)
    assert code == 0, summary
    assert skipped(summary) == {
        "app/app/zero.py": "skipped: symlink to a path outside the workspace"
    }


def test_symlink_to_a_module_outside_is_not_built(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stolen.py").write_text(OUTSIDE_MODULE, encoding="utf-8")
    (ws / "app/app/stolen.py").symlink_to(outside / "stolen.py")
    code, summary = build(ws)
    assert code == 0, summary
    assert skipped(summary) == {
        "app/app/stolen.py": "skipped: symlink to a path outside the workspace"
    }
    assert not [i for i in ids(ws) if "Stolen" in i]
    assert "Stolen" not in (ws / "app/__generated__/artifact.json").read_text(encoding="utf-8")


def test_symlinked_directory_outside_is_not_followed(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stolen.py").write_text(OUTSIDE_MODULE, encoding="utf-8")
    (ws / "app/app/ext").symlink_to(outside, target_is_directory=True)
    code, summary = build(ws)
    assert code == 0, summary
    assert skipped(summary) == {"app/app/ext": "skipped: symlink to a path outside the workspace"}
    assert "Stolen" not in (ws / "app/__generated__/artifact.json").read_text(encoding="utf-8")


def test_symlink_inside_the_workspace_is_still_read(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    (ws / "shared").mkdir()
    (ws / "shared/extra.py").write_text(OUTSIDE_MODULE.replace("Stolen", "Extra"), encoding="utf-8")
    (ws / "app/app/extra.py").symlink_to(ws / "shared/extra.py")
    code, summary = build(ws)
    assert code == 0, summary
    assert skipped(summary) == {}
    assert "app/extra.py::Extra" in ids(ws)


def test_import_through_a_symlink_outside_is_unresolved(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "frags.py").write_text(
        'from sodabuild.graphql import gql\n\nF = gql("fragment F on User { id }")\n',
        encoding="utf-8",
    )
    # discovery skips the directory link; resolution must not read through it either
    (ws / "app/app/ext").symlink_to(outside, target_is_directory=True)
    (ws / "app/app/user.py").write_text(
        "from sodabuild.graphql import gql\nfrom app.ext.frags import F\n\n"
        'Q = gql("query Q { users { ...F } }", F)\n',
        encoding="utf-8",
    )
    code, summary = build(ws)
    assert code == 1
    [error] = [d for d in diagnostics(summary) if d["severity"] == "error"]
    assert (error["code"], error["file"], error["line"]) == (
        "IMPORT_UNRESOLVED",
        "app/app/user.py",
        2,
    )


def test_schema_symlinked_outside_is_not_read(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    secret = tmp_path / "secret.graphql"
    shutil.copy(ws / "app/schema.graphql", secret)
    (ws / "app/schema.graphql").unlink()
    (ws / "app/schema.graphql").symlink_to(secret)
    code, summary = build(ws)
    assert code == 2
    assert codes(summary) == ["CONFIG_PATH_ESCAPE"]


def test_file_over_max_file_bytes_is_a_located_error(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_workspace(ws, "max_file_bytes = 4096\n")
    (ws / "app/app/big.py").write_text("gql = 1\n" + "# padding\n" * 1000, encoding="utf-8")
    code, summary = build(ws)
    assert code == 1, summary
    [error] = diagnostics(summary)
    assert (error["code"], error["file"], error["line"]) == ("INPUT_TOO_LARGE", "app/app/big.py", 1)
    assert "4096" in error["message"]
    # raised enough, it builds
    set_workspace(ws, "max_file_bytes = 1048576\n")
    code, summary = build(ws)
    assert code == 0, summary


def test_default_max_file_bytes_bounds_reads(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    big = ws / "app/app/huge.py"
    with open(big, "wb") as handle:
        handle.truncate(16 * 1024 * 1024 + 1)  # sparse: cheap on disk
    code, summary = build(ws)
    assert code == 1
    assert [(d["code"], d["file"]) for d in diagnostics(summary)] == [
        ("INPUT_TOO_LARGE", "app/app/huge.py")
    ]


def test_max_file_bytes_must_be_positive(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_workspace(ws, "max_file_bytes = 0\n")
    code, summary = build(ws)
    assert code == 2
    assert codes(summary) == ["CONFIG_INVALID"]


def test_skip_warnings_repeat_on_an_incremental_build(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    os.mkfifo(ws / "app/app/x.py")
    first = run(ws, "build", "--json", timeout=30)
    second = run(ws, "build", "--json", timeout=30)
    assert first.returncode == second.returncode == 0, first.stdout + second.stdout
    assert skipped(json.loads(first.stdout)) == {"app/app/x.py": "skipped: a FIFO"}


def test_schema_fifo_does_not_block(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    (ws / "app/schema.graphql").unlink()
    os.mkfifo(ws / "app/schema.graphql")
    code, summary = build(ws, timeout=30)
    assert code == 1
    assert codes(summary) == ["SCHEMA_NOT_FOUND"]


def test_schema_over_max_file_bytes_is_a_located_error(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_workspace(ws, "max_file_bytes = 300\n")
    with open(ws / "app/schema.graphql", "a", encoding="utf-8") as handle:
        handle.write("# padding\n" * 20)
    code, summary = build(ws)
    assert code == 1
    assert [(d["code"], d["file"], d["line"]) for d in diagnostics(summary)] == [
        ("INPUT_TOO_LARGE", "app/schema.graphql", 1)
    ]


def test_import_of_a_module_symlinked_to_dev_zero_is_unresolved(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_project(ws, 'exclude = ["app/zero.py"]\n')
    (ws / "app/app/zero.py").symlink_to("/dev/zero")
    (ws / "app/app/user.py").write_text(
        "from sodabuild.graphql import gql\nfrom app.zero import F\n\n"
        'Q = gql("query Q { users { ...F } }", F)\n',
        encoding="utf-8",
    )
    code, summary = build(ws, timeout=30)
    assert code == 1
    assert "IMPORT_UNRESOLVED" in codes(summary)


def test_too_large_file_becoming_small_builds_incrementally(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    set_workspace(ws, "max_file_bytes = 200\n")
    first = run(ws, "build", "--json")
    assert first.returncode == 1
    assert "INPUT_TOO_LARGE" in codes(json.loads(first.stdout))
    set_workspace(ws, "max_file_bytes = 100000\n")
    second = run(ws, "build", "--json")
    assert second.returncode == 0, second.stdout
    set_workspace(ws, "max_file_bytes = 200\n")
    third = run(ws, "build", "--json")  # the warm state may not hide the limit
    assert third.returncode == 1
    assert "INPUT_TOO_LARGE" in codes(json.loads(third.stdout))
