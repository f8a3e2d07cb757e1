"""Config loading: merge, defaults, resolved paths, slice hashes, located errors, CLI."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from sodabuild.config import find_workspace_file, load_workspace
from sodabuild.config.load import config_json_schema, slice_hashes
from sodabuild.config.locate import key_positions, locate
from sodabuild.diagnostics import Diagnostic, SodabuildError

from .conftest import run_cli

HASH_KEYS = {"discovery", "resolution", "codegen", "plugin:graphql"}

WORKSPACE = """\
# the demo workspace
[workspace]
name = "demo"

[aliases]
core = "libs/core/core"
shared = "libs/core/shared"

[extensions]
".pyi" = "python"

[plugins.graphql]
gql_modules = ["sodabuild.graphql"]

[[projects]]
name = "app"
root = "apps/app"
schema = "schema.graphql"
include = ["app/**/*.py"]

[[projects]]
name = "core"
root = "libs/core"
"""

APP_PROJECT = """\
[project]
exclude = ["app/tests/**"]
source_roots = [".", "src"]
out_dir = "gen/out"
rules = ["graphql", "extra"]

[aliases]
shared = "vendor/shared"
local = "src/local"

[extensions]
".pyw" = "python"

[plugins.graphql]
gql_modules = ["mygql", "gql"]
"""

# A minimal valid workspace whose single project lives in apps/a. Line numbers:
# 1 [workspace], 2 name, 3 blank, 4 [[projects]], 5 name, 6 root.
MINIMAL = '[workspace]\nname = "w"\n\n[[projects]]\nname = "a"\nroot = "apps/a"\n'

#: The default extension map's GraphQL-file, TypeScript and JavaScript entries.
GRAPHQL_FILES = {
    ".gql": "graphql",
    ".graphql": "graphql",
    **dict.fromkeys((".ts", ".tsx", ".mts", ".cts"), "typescript"),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), "javascript"),
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_workspace(
    root: Path,
    workspace: str = MINIMAL,
    project: str | None = None,
    dirs: tuple[str, ...] = ("apps/a",),
) -> Path:
    for directory in dirs:
        (root / directory).mkdir(parents=True, exist_ok=True)
    if project is not None:
        write(root / "apps/a/sodabuild.toml", project)
    return write(root / "sodabuild.toml", workspace)


def load_errors(ws_file: Path) -> list[Diagnostic]:
    with pytest.raises(SodabuildError) as info:
        load_workspace(ws_file)
    return info.value.diagnostics


def where(diagnostic: Diagnostic) -> tuple[str, str | None, int | None, int | None]:
    return (diagnostic.code, diagnostic.file, diagnostic.line, diagnostic.column)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    ws = tmp_path / "demo"
    (ws / "apps/app").mkdir(parents=True)
    (ws / "libs/core").mkdir(parents=True)
    write(ws / "apps/app/sodabuild.toml", APP_PROJECT)
    return write(ws / "sodabuild.toml", WORKSPACE)


# -- loading a valid workspace -----------------------------------------------------------


def test_workspace_level_fields(demo: Path) -> None:
    resolved = load_workspace(demo)
    assert resolved.root == str(demo.parent.resolve())
    assert resolved.file == "sodabuild.toml"
    assert resolved.name == "demo"
    assert resolved.cache_dir == ".cache/sodabuild"
    assert resolved.rule_dirs == ()
    assert [p.name for p in resolved.projects] == ["app", "core"]


def test_inline_keys_merge_with_project_file(demo: Path) -> None:
    app = load_workspace(demo).project("app")
    data = app.model_dump()
    hashes = data.pop("hashes")
    assert data == {
        "name": "app",
        "root": "apps/app",
        "config_files": ("sodabuild.toml", "apps/app/sodabuild.toml"),
        "schema_paths": ("apps/app/schema.graphql",),
        "include": ("app/**/*.py",),
        "exclude": ("app/tests/**",),
        "source_roots": ("apps/app", "apps/app/src"),
        "out_dir": "apps/app/gen/out",
        "rules": ("graphql", "extra"),
        "aliases": {
            "core": "libs/core/core",
            "local": "apps/app/src/local",
            "shared": "apps/app/vendor/shared",
        },
        "extensions": {
            ".cjs": "javascript",
            ".cts": "typescript",
            ".gql": "graphql",
            ".graphql": "graphql",
            ".js": "javascript",
            ".jsx": "javascript",
            ".mjs": "javascript",
            ".mts": "typescript",
            ".py": "python",
            ".pyi": "python",
            ".pyw": "python",
            ".ts": "typescript",
            ".tsx": "typescript",
        },
        "plugins": {"graphql": {"gql_modules": ["mygql", "gql"]}},
        "fragments": "both",
        "ts_base_url": None,
        "ts_paths": (),
    }
    assert set(hashes) == HASH_KEYS
    assert app.graphql_options().gql_modules == ["mygql", "gql"]


def test_project_without_file_gets_defaults(demo: Path) -> None:
    core = load_workspace(demo).project("core")
    assert core.config_files == ("sodabuild.toml",)
    assert core.root == "libs/core"
    assert core.schema_paths == ()
    assert core.include is None
    assert core.exclude == ()
    assert core.source_roots == ("libs/core",)
    assert core.out_dir == "libs/core/__generated__"
    assert core.rules == ("graphql",)
    assert core.aliases == {"core": "libs/core/core", "shared": "libs/core/shared"}
    assert core.extensions == {**GRAPHQL_FILES, ".py": "python", ".pyi": "python"}
    assert core.plugins == {"graphql": {"gql_modules": ["sodabuild.graphql"]}}
    assert core.graphql_options().gql_modules == ["sodabuild.graphql"]
    assert core.graphql_options().manifest_format == "apollo"


def test_minimal_workspace_defaults(tmp_path: Path) -> None:
    resolved = load_workspace(make_workspace(tmp_path))
    project = resolved.project("a")
    assert project.extensions == {**GRAPHQL_FILES, ".py": "python"}
    assert project.plugins == {}
    assert project.aliases == {}
    assert project.graphql_options().gql_modules == ["sodabuild.graphql", "gql"]
    assert project.out_dir == "apps/a/__generated__"
    assert project.source_roots == ("apps/a",)
    with pytest.raises(KeyError):
        resolved.project("nope")


def test_plugin_options_merge_key_by_key(tmp_path: Path) -> None:
    ws = MINIMAL.replace(
        "\n[[projects]]", '\n[plugins.graphql]\nmanifest_format = "apollo"\n\n[[projects]]'
    )
    project = '[plugins.graphql]\ngql_modules = ["x.y"]\n'
    resolved = load_workspace(make_workspace(tmp_path, ws, project))
    assert resolved.project("a").plugins == {
        "graphql": {"manifest_format": "apollo", "gql_modules": ["x.y"]}
    }


def test_paths_are_workspace_relative_posix(tmp_path: Path) -> None:
    ws = (
        '[workspace]\nname = "w"\ncache_dir = "./build/../.cache/sb/"\nrule_dirs = ["./rules/"]\n'
        '\n[[projects]]\nname = "a"\nroot = "./apps//a/"\nschema = ["s/one.graphql", "./two.graphql"]\n'
        'out_dir = "out/./gen"\nsource_roots = ["src/../lib", "."]\n'
        '\n[[projects]]\nname = "top"\nroot = "."\n'
    )
    resolved = load_workspace(make_workspace(tmp_path, ws))
    assert resolved.cache_dir == ".cache/sb"
    assert resolved.rule_dirs == ("rules",)
    a = resolved.project("a")
    assert a.root == "apps/a"
    assert a.schema_paths == ("apps/a/s/one.graphql", "apps/a/two.graphql")
    assert a.out_dir == "apps/a/out/gen"
    assert a.source_roots == ("apps/a/lib", "apps/a")
    top = resolved.project("top")
    assert top.root == "."
    assert top.config_files == ("sodabuild.toml",)  # the workspace file is not read twice
    assert top.out_dir == "__generated__"
    assert top.source_roots == (".",)


def test_project_root_is_workspace_root_itself(tmp_path: Path) -> None:
    ws = '[workspace]\nname = "w"\n\n[[projects]]\nname = "top"\nroot = "."\ninclude = ["*.py"]\n'
    project = load_workspace(make_workspace(tmp_path, ws, dirs=())).project("top")
    assert project.include == ("*.py",)
    assert project.schema_paths == ()


# -- slice hashes --------------------------------------------------------------------------


def hashes_for(root: Path, *, include: str = '"**/*.py"', modules: str = '"gql"') -> dict:
    ws = (
        '[workspace]\nname = "w"\n\n[plugins.graphql]\n'
        f"gql_modules = [{modules}]\n\n"
        f'[[projects]]\nname = "a"\nroot = "apps/a"\ninclude = [{include}]\nschema = "s.graphql"\n'
    )
    return dict(load_workspace(make_workspace(root, ws)).project("a").hashes)


def test_hashes_have_every_slice_and_are_hex(tmp_path: Path) -> None:
    hashes = hashes_for(tmp_path)
    assert set(hashes) == HASH_KEYS
    for value in hashes.values():
        assert len(value) == 16
        int(value, 16)


def test_changing_include_changes_only_discovery(tmp_path: Path) -> None:
    before = hashes_for(tmp_path / "one")
    after = hashes_for(tmp_path / "two", include='"app/**/*.py"')
    changed = {key for key in HASH_KEYS if before[key] != after[key]}
    assert changed == {"discovery"}


def test_changing_a_plugin_option_changes_only_its_slice(tmp_path: Path) -> None:
    before = hashes_for(tmp_path / "one")
    after = hashes_for(tmp_path / "two", modules='"gql", "sodabuild.graphql"')
    changed = {key for key in HASH_KEYS if before[key] != after[key]}
    assert changed == {"plugin:graphql"}


def test_identical_configs_in_different_directories_hash_the_same(tmp_path: Path) -> None:
    one = hashes_for(tmp_path / "one")
    two = hashes_for(tmp_path / "somewhere" / "else" / "two")
    assert one == two


def test_identical_demo_workspaces_resolve_identically(tmp_path: Path) -> None:
    resolved = []
    for name in ("x", "y/z"):
        ws = tmp_path / name
        (ws / "apps/app").mkdir(parents=True)
        (ws / "libs/core").mkdir(parents=True)
        write(ws / "apps/app/sodabuild.toml", APP_PROJECT)
        resolved.append(load_workspace(write(ws / "sodabuild.toml", WORKSPACE)))
    first, second = (r.model_dump(exclude={"root"}) for r in resolved)
    assert first == second


def test_default_plugin_options_hash_like_explicit_defaults(tmp_path: Path) -> None:
    implicit = load_workspace(make_workspace(tmp_path / "one")).project("a")
    explicit_ws = MINIMAL.replace(
        "\n[[projects]]",
        '\n[plugins.graphql]\ngql_modules = ["sodabuild.graphql", "gql"]\n'
        'manifest_format = "apollo"\n\n[[projects]]',
    )
    explicit = load_workspace(make_workspace(tmp_path / "two", explicit_ws)).project("a")
    assert implicit.hashes == explicit.hashes


def test_resolution_hash_sees_other_projects(demo: Path) -> None:
    app = load_workspace(demo).project("app")
    others = [{"name": "app", "root": "apps/app", "source_roots": ["apps/app"]}]
    assert slice_hashes(app, others)["resolution"] != app.hashes["resolution"]
    assert slice_hashes(app, others)["codegen"] == app.hashes["codegen"]


# -- errors ----------------------------------------------------------------------------------


def test_unknown_key_inline_in_projects(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, MINIMAL + "# note\nbogus = 1\n"))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 8, 1)
    assert error.message == "unknown key 'projects.0.bogus'"
    assert error.hint is not None and "config schema" in error.hint


def test_unknown_key_in_workspace_table(tmp_path: Path) -> None:
    ws = MINIMAL.replace('name = "w"\n', 'name = "w"\n  cache_dri = "c"\n', 1)
    [error] = load_errors(make_workspace(tmp_path, ws))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 3, 3)
    assert error.message == "unknown key 'workspace.cache_dri'"


def test_unknown_key_in_second_project_entry(tmp_path: Path) -> None:
    ws = MINIMAL + '\n[[projects]]\nname = "b"\nroot = "apps/a"\nouts_dir = "x"\n'
    [error] = load_errors(make_workspace(tmp_path, ws))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 11, 1)
    assert error.message == "unknown key 'projects.1.outs_dir'"


def test_unknown_key_in_project_file(tmp_path: Path) -> None:
    project = '# project\n[project]\nschema = "s.graphql"\nincludes = ["x"]\n'
    [error] = load_errors(make_workspace(tmp_path, MINIMAL, project))
    assert where(error) == ("CONFIG_INVALID", "apps/a/sodabuild.toml", 4, 1)
    assert error.message == "unknown key 'project.includes'"


def test_all_errors_of_a_file_are_reported_together(tmp_path: Path) -> None:
    ws = '[workspace]\nname = "w"\nx = 1\n\n[[projects]]\nname = "a"\nroot = "apps/a"\ny = 2\n'
    errors = load_errors(make_workspace(tmp_path, ws))
    assert [(e.line, e.message) for e in errors] == [
        (3, "unknown key 'workspace.x'"),
        (8, "unknown key 'projects.0.y'"),
    ]


def test_wrong_type(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, MINIMAL + 'include = "app/*.py"\n'))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 7, 1)
    assert error.message == "invalid value for 'projects.0.include': Input should be a valid list"


def test_wrong_type_of_schema_in_project_file(tmp_path: Path) -> None:
    errors = load_errors(make_workspace(tmp_path, MINIMAL, "[project]\n\nschema = 5\n"))
    assert errors
    for error in errors:
        assert where(error) == ("CONFIG_INVALID", "apps/a/sodabuild.toml", 3, 1)
        assert error.message.startswith("invalid value for 'project.schema")


def test_wrong_type_is_strict_not_coerced(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, MINIMAL.replace('"w"', "42")))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 2, 1)
    assert error.message.startswith("invalid value for 'workspace.name'")


def test_missing_workspace_name(tmp_path: Path) -> None:
    ws = '# header comment\n[workspace]\ncache_dir = "c"\n\n[[projects]]\nname = "a"\nroot = "apps/a"\n'
    [error] = load_errors(make_workspace(tmp_path, ws))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 2, 1)
    assert error.message == "missing required key 'workspace.name'"


def test_missing_projects(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, '[workspace]\nname = "w"\n'))
    assert error.code == "CONFIG_INVALID"
    assert error.message == "missing required key 'projects'"


def test_invalid_project_name(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, MINIMAL.replace('"a"', '"a b"')))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 5, 1)
    assert error.message.startswith("invalid value for 'projects.0.name'")


def test_duplicate_project_name(tmp_path: Path) -> None:
    ws = MINIMAL + '\n[[projects]]\nroot = "apps/a"\nname = "a"\n'
    [error] = load_errors(make_workspace(tmp_path, ws))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 10, 1)
    assert error.message == "duplicate project name 'a'"


def test_malformed_toml(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, '[workspace]\nname = "w"\nfoo\n'))
    assert where(error) == ("CONFIG_TOML", "sodabuild.toml", 3, 4)
    assert error.message.startswith("malformed TOML: ")
    assert "line" not in error.message  # the position moved into line/column


def test_malformed_toml_in_project_file(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, MINIMAL, '[project]\nschema = "s\n'))
    assert where(error) == ("CONFIG_TOML", "apps/a/sodabuild.toml", 2, 12)


def test_config_not_utf8(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    ws.write_bytes(b'[workspace]\nname = "\xff"\n')
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_TOML", "sodabuild.toml", 1, 1)


@pytest.mark.parametrize(
    ("workspace", "project", "expected"),
    [
        pytest.param(
            MINIMAL.replace("\n[[projects]]", '\n[aliases]\nx = "../out"\n\n[[projects]]'),
            None,
            ("sodabuild.toml", 5, "'aliases.x' = '../out'"),
            id="workspace-alias",
        ),
        pytest.param(
            MINIMAL,
            '[aliases]\nfine = "ok"\nbad = "../../../elsewhere"\n',
            ("apps/a/sodabuild.toml", 3, "'aliases.bad' = '../../../elsewhere'"),
            id="project-alias",
        ),
        pytest.param(
            MINIMAL.replace('root = "apps/a"', 'root = "apps/../.."'),
            None,
            ("sodabuild.toml", 6, "'projects.0.root' = 'apps/../..'"),
            id="root",
        ),
        pytest.param(
            MINIMAL,
            '[project]\nout_dir = "gen"\nschema = "../../../s.graphql"\n',
            ("apps/a/sodabuild.toml", 3, "'project.schema' = '../../../s.graphql'"),
            id="schema-in-project-file",
        ),
        pytest.param(
            MINIMAL + 'schema = ["ok.graphql", "/etc/schema.graphql"]\n',
            None,
            ("sodabuild.toml", 7, "'projects.0.schema.1' = '/etc/schema.graphql'"),
            id="absolute-schema-inline",
        ),
        pytest.param(
            MINIMAL.replace('name = "w"', 'name = "w"\ncache_dir = "../cache"'),
            None,
            ("sodabuild.toml", 3, "'workspace.cache_dir' = '../cache'"),
            id="cache-dir",
        ),
        pytest.param(
            MINIMAL.replace('name = "w"', 'name = "w"\ncache_dir = "/tmp/cache"'),
            None,
            ("sodabuild.toml", 3, "'workspace.cache_dir' = '/tmp/cache'"),
            id="absolute-cache-dir",
        ),
        pytest.param(
            MINIMAL,
            '[project]\nout_dir = "../../../gen"\n',
            ("apps/a/sodabuild.toml", 2, "'project.out_dir' = '../../../gen'"),
            id="out-dir",
        ),
        pytest.param(
            MINIMAL + 'source_roots = [".", "../../.."]\n',
            None,
            ("sodabuild.toml", 7, "'projects.0.source_roots.1' = '../../..'"),
            id="source-root",
        ),
    ],
)
def test_paths_escaping_the_workspace(
    tmp_path: Path, workspace: str, project: str | None, expected: tuple[str, int, str]
) -> None:
    [error] = load_errors(make_workspace(tmp_path / "ws", workspace, project))
    file, line, start = expected
    assert where(error) == ("CONFIG_PATH_ESCAPE", file, line, 1)
    assert error.message == f"{start} points outside the workspace root"


def test_symlink_leaving_the_workspace_is_an_escape(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    ws = make_workspace(tmp_path / "ws", MINIMAL.replace("apps/a", "link"), dirs=())
    (tmp_path / "ws" / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_PATH_ESCAPE", "sodabuild.toml", 6, 1)


@pytest.mark.parametrize(
    ("workspace", "project", "expected"),
    [
        pytest.param(
            MINIMAL,
            '[project]\ninclude = ["app/**/*.py", "../**/*.py"]\n',
            ("apps/a/sodabuild.toml", 2, "glob '../**/*.py' in 'include'"),
            id="include",
        ),
        pytest.param(
            MINIMAL + 'exclude = ["a/../../x"]\n',
            None,
            ("sodabuild.toml", 7, "glob 'a/../../x' in 'exclude'"),
            id="exclude",
        ),
        pytest.param(
            MINIMAL,
            '\n[project]\nexclude = ["/abs/**"]\n',
            ("apps/a/sodabuild.toml", 3, "glob '/abs/**' in 'exclude'"),
            id="absolute",
        ),
    ],
)
def test_globs_may_not_leave_the_project(
    tmp_path: Path, workspace: str, project: str | None, expected: tuple[str, int, str]
) -> None:
    [error] = load_errors(make_workspace(tmp_path, workspace, project))
    file, line, start = expected
    assert where(error) == ("CONFIG_PATH_ESCAPE", file, line, 1)
    assert error.message == f"{start} may match outside the project root"


def test_dots_inside_glob_names_are_fine(tmp_path: Path) -> None:
    project = '[project]\ninclude = ["**/..hidden/*.py", "a..b/*.py"]\n'
    resolved = load_workspace(make_workspace(tmp_path, MINIMAL, project))
    assert resolved.project("a").include == ("**/..hidden/*.py", "a..b/*.py")


def test_key_set_inline_and_in_project_file_conflicts(tmp_path: Path) -> None:
    ws = MINIMAL + 'include = ["a/*.py"]\nout_dir = "o"\n'
    project = '[project]\nout_dir = "p"\nschema = "s.graphql"\ninclude = ["b/*.py"]\n'
    errors = load_errors(make_workspace(tmp_path, ws, project))
    assert [where(e) for e in errors] == [
        ("CONFIG_CONFLICT", "apps/a/sodabuild.toml", 4, 1),
        ("CONFIG_CONFLICT", "apps/a/sodabuild.toml", 2, 1),
    ]
    assert (
        errors[0].message == "'include' is set here and inline in the workspace (sodabuild.toml:7)"
    )
    assert (
        errors[1].message == "'out_dir' is set here and inline in the workspace (sodabuild.toml:8)"
    )


def test_unknown_plugin_in_workspace(tmp_path: Path) -> None:
    ws = MINIMAL.replace("\n[[projects]]", "\n[plugins.relay]\nx = 1\n\n[[projects]]")
    [error] = load_errors(make_workspace(tmp_path, ws))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 4, 1)
    assert error.message == "unknown plugin 'relay'"
    assert error.hint == "known plugins: graphql"


def test_unknown_plugin_in_project_file(tmp_path: Path) -> None:
    project = '[project]\nout_dir = "g"\n\n[plugins.nope]\nx = 1\n'
    [error] = load_errors(make_workspace(tmp_path, MINIMAL, project))
    assert where(error) == ("CONFIG_INVALID", "apps/a/sodabuild.toml", 4, 1)
    assert error.message == "unknown plugin 'nope'"


def test_invalid_plugin_options(tmp_path: Path) -> None:
    project = '[plugins.graphql]\ngql_modules = ["1bad"]\nmanifest_format = "relay"\n'
    errors = load_errors(make_workspace(tmp_path, MINIMAL, project))
    assert [(e.code, e.file, e.line) for e in errors] == [
        ("CONFIG_INVALID", "apps/a/sodabuild.toml", 2),
        ("CONFIG_INVALID", "apps/a/sodabuild.toml", 3),
    ]
    assert errors[0].message.startswith("invalid value for 'plugins.graphql.gql_modules.0'")
    assert errors[1].message.startswith("invalid value for 'plugins.graphql.manifest_format'")


def test_nonexistent_project_root(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, MINIMAL.replace("apps/a", "apps/missing"))
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 6, 1)
    assert error.message == "project root 'apps/missing' of 'a' is not a directory"


def test_project_root_that_is_a_file(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, MINIMAL.replace("apps/a", "notes.txt"))
    write(tmp_path / "notes.txt", "x")
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 6, 1)


# -- finding the workspace file --------------------------------------------------------------


def test_find_walks_up_past_project_files(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", MINIMAL, '[project]\nout_dir = "gen"\n')
    start = tmp_path / "ws/apps/a/pkg/sub"
    start.mkdir(parents=True)
    assert find_workspace_file(start) == ws.resolve()
    assert find_workspace_file(tmp_path / "ws/apps/a") == ws.resolve()
    assert find_workspace_file(tmp_path / "ws") == ws.resolve()


def test_find_explicit_directory_or_file(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    other = write(tmp_path / "ws/custom.toml", MINIMAL)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert find_workspace_file(elsewhere, tmp_path / "ws") == ws.resolve()
    assert find_workspace_file(elsewhere, other) == other.resolve()


def test_find_explicit_missing(tmp_path: Path) -> None:
    with pytest.raises(SodabuildError) as info:
        find_workspace_file(tmp_path, tmp_path / "nope.toml")
    [error] = info.value.diagnostics
    assert error.code == "CONFIG_NOT_FOUND"
    assert "nope.toml" in error.message
    with pytest.raises(SodabuildError) as info:
        find_workspace_file(tmp_path, tmp_path)  # a directory without sodabuild.toml
    assert info.value.diagnostics[0].code == "CONFIG_NOT_FOUND"


def test_find_nothing_found(tmp_path: Path) -> None:
    if any((p / "sodabuild.toml").is_file() for p in tmp_path.resolve().parents):
        pytest.skip("a parent of the temporary directory holds a sodabuild.toml")
    start = tmp_path / "a/b"
    start.mkdir(parents=True)
    write(tmp_path / "a/sodabuild.toml", '[project]\nout_dir = "x"\n')  # not a workspace
    with pytest.raises(SodabuildError) as info:
        find_workspace_file(start)
    [error] = info.value.diagnostics
    assert error.code == "CONFIG_NOT_FOUND"
    assert error.file is None


# -- locating keys in TOML text --------------------------------------------------------------

TRICKY = """\
# top comment
# [[projects]]
[workspace]  # trailing comment
name = "w"   # name = "x"
  cache_dir = ".c"

[extensions]
".py" = "python"
'.pyi' = "python"
sub.dotted = 1

[ plugins . "graphql" ]
manifest_format = "apollo"

[[projects]]
name = "a"
root = "a"

[[projects]] # second
name = "b"
"root" = "b"
include = [
  "x = y",
  "**/*.py",
]

[[other]]
k = 1

[[projects]]
name = "c"
  inner.key = 1
"""


def test_key_positions_on_tricky_toml() -> None:
    assert key_positions(TRICKY) == {
        ("workspace",): (3, 1),
        ("workspace", "name"): (4, 1),
        ("workspace", "cache_dir"): (5, 3),
        ("extensions",): (7, 1),
        ("extensions", ".py"): (8, 1),
        ("extensions", ".pyi"): (9, 1),
        ("extensions", "sub", "dotted"): (10, 1),
        ("plugins", "graphql"): (12, 1),
        ("plugins", "graphql", "manifest_format"): (13, 1),
        ("projects",): (15, 1),
        ("projects", 0): (15, 1),
        ("projects", 0, "name"): (16, 1),
        ("projects", 0, "root"): (17, 1),
        ("projects", 1): (19, 1),
        ("projects", 1, "name"): (20, 1),
        ("projects", 1, "root"): (21, 1),
        ("projects", 1, "include"): (22, 1),
        ("other",): (27, 1),
        ("other", 0): (27, 1),
        ("other", 0, "k"): (28, 1),
        ("projects", 2): (30, 1),
        ("projects", 2, "name"): (31, 1),
        ("projects", 2, "inner", "key"): (32, 3),
    }


def test_locate_falls_back_to_longest_written_prefix() -> None:
    assert locate(TRICKY, ("projects", 2, "root")) == (30, 1)
    assert locate(TRICKY, ("projects", 1, "include", 1)) == (22, 1)
    assert locate(TRICKY, ("extensions", ".py")) == (8, 1)
    assert locate(TRICKY, ("workspace", "rule_dirs")) == (3, 1)
    assert locate(TRICKY, ("aliases", "x")) is None
    assert locate("", ("workspace",)) is None


def test_locate_dotted_keys_at_top_level() -> None:
    text = 'workspace.name = "w"\nplugins.graphql.gql_modules = ["a"]\n'
    assert locate(text, ("workspace", "name")) == (1, 1)
    assert locate(text, ("plugins", "graphql", "gql_modules", 0)) == (2, 1)


def test_sub_table_of_array_element_is_located(tmp_path: Path) -> None:
    ws = MINIMAL + "\n[projects.extra]\nx = 1\n"
    assert key_positions(ws)[("projects", 0, "extra")] == (8, 1)
    [error] = load_errors(make_workspace(tmp_path, ws))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 8, 1)


# -- JSON Schema ------------------------------------------------------------------------------


def test_config_schema_lists_the_config_keys() -> None:
    schema = config_json_schema()
    workspace, project = schema["oneOf"]
    assert set(workspace["properties"]) == {
        "workspace",
        "projects",
        "aliases",
        "extensions",
        "plugins",
    }
    assert set(project["properties"]) == {"project", "aliases", "extensions", "plugins"}
    assert schema["x-project-keys"] == [
        "schema",
        "include",
        "exclude",
        "source_roots",
        "out_dir",
        "rules",
        "fragments",
    ]
    assert set(schema["x-plugins"]) == {"graphql"}
    assert set(schema["x-plugins"]["graphql"]["properties"]) == {
        "gql_modules",
        "manifest_format",
        "scalars",
    }
    entry = schema["$defs"]["ProjectEntry"]
    assert set(entry["properties"]) == {"name", "root", *schema["x-project-keys"]}
    assert workspace["additionalProperties"] is False


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_config_schema_refs_resolve_from_the_document_root() -> None:
    schema = config_json_schema()
    refs = _refs(schema)
    assert refs
    for ref in refs:
        node: object = schema
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, ref
            node = node[part]
    assert [branch["title"] for branch in schema["oneOf"]] == ["workspace file", "project file"]


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_config_show_json(example_workspace: Path) -> None:
    result = run_cli("config", "show", "--json", cwd=example_workspace)
    assert result.code == 0, result.stderr
    data = result.json()
    assert "root" not in data
    assert data["name"] == "example"
    assert data["file"] == "sodabuild.toml"
    assert [p["name"] for p in data["projects"]] == [
        "shared-lib",
        "small-app",
        "gql-app",
        "web-client",
    ]
    for project in data["projects"]:
        assert set(project["hashes"]) == HASH_KEYS
        assert project["root"] == f"fixtures/{project['name']}"
        assert project["out_dir"] == f"fixtures/{project['name']}/__generated__"
        assert project["aliases"] == {"shared": "fixtures/shared-lib/shared"}
    loaded = load_workspace(example_workspace / "sodabuild.toml")
    assert [p["hashes"] for p in data["projects"]] == [p.hashes for p in loaded.projects]


def test_cli_config_show_toml(example_workspace: Path) -> None:
    result = run_cli("config", "show", "-w", str(example_workspace), cwd=example_workspace.parent)
    assert result.code == 0, result.stderr
    data = tomllib.loads(result.stdout)
    assert data["name"] == "example"
    assert [p["name"] for p in data["projects"]] == [
        "shared-lib",
        "small-app",
        "gql-app",
        "web-client",
    ]
    assert all(set(p["hashes"]) == HASH_KEYS for p in data["projects"])
    assert data["projects"][1]["include"] == ["app/**/*.py"]


def test_cli_config_schema_is_json() -> None:
    result = run_cli("config", "schema")
    assert result.code == 0, result.stderr
    assert result.json() == json.loads(json.dumps(config_json_schema()))


def test_cli_bad_config_exits_2_with_location(tmp_path: Path) -> None:
    make_workspace(tmp_path, MINIMAL.replace('name = "w"\n', 'name = "w"\nbogus = 1\n', 1))
    result = run_cli("config", "show", cwd=tmp_path / "apps/a")
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "sodabuild.toml:3:1: error CONFIG_INVALID unknown key 'workspace.bogus'\n"
    )
    assert "\n  = hint: " in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_malformed_toml_exits_2(tmp_path: Path) -> None:
    make_workspace(tmp_path, '[workspace]\nname = "w"\nfoo\n')
    result = run_cli("config", "show", "--json", cwd=tmp_path)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    data = result.json()
    assert data["ok"] is False
    [diagnostic] = data["diagnostics"]
    assert (diagnostic["code"], diagnostic["file"], diagnostic["line"], diagnostic["column"]) == (
        "CONFIG_TOML",
        "sodabuild.toml",
        3,
        4,
    )


def test_cli_missing_workspace_exits_2(tmp_path: Path) -> None:
    result = run_cli("config", "show", "-w", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert result.code == 2
    assert "CONFIG_NOT_FOUND" in result.stderr
    assert "Traceback" not in result.stderr


# -- safe on untrusted checkouts (issue 9) -------------------------------------------------


def test_deeply_nested_toml_is_config_toml(tmp_path: Path) -> None:
    [error] = load_errors(make_workspace(tmp_path, MINIMAL + "x = " + "[" * 4000 + "]" * 4000))
    assert where(error) == ("CONFIG_TOML", "sodabuild.toml", 1, 1)
    assert "nested too deeply" in error.message


def test_find_survives_deeply_nested_toml(tmp_path: Path) -> None:
    make_workspace(tmp_path, MINIMAL + "x = " + "[" * 4000 + "]" * 4000)
    assert find_workspace_file(tmp_path / "apps/a") == tmp_path / "sodabuild.toml"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("a\\u0000b", "contains a NUL byte", id="nul"),
        pytest.param("a\\nb", "contains a control character", id="newline"),
        pytest.param("c" * 5000, "is too long", id="long"),
        pytest.param("n" * 256, "has a component longer than 255 bytes", id="long-name"),
    ],
)
def test_impossible_cache_dir_is_config_invalid(tmp_path: Path, value: str, reason: str) -> None:
    ws = MINIMAL.replace('name = "w"', f'name = "w"\ncache_dir = "{value}"')
    [error] = load_errors(make_workspace(tmp_path, ws))
    assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 3, 1)
    assert error.message.startswith("'workspace.cache_dir' = ")
    assert error.message.endswith(reason) or reason in error.message
    assert len(error.message) < 200


def test_default_out_dir_is_checked_for_symlinks(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    ws = make_workspace(tmp_path / "ws")
    (tmp_path / "ws/apps/a/__generated__").symlink_to(tmp_path / "outside")
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_PATH_ESCAPE", "sodabuild.toml", 6, 1)
    assert "default out_dir" in error.message


def test_default_out_dir_symlinked_inside_resolves_to_its_target(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, dirs=("apps/a", "gen/a"))
    (tmp_path / "apps/a/__generated__").symlink_to(tmp_path / "gen/a")
    assert load_workspace(ws).projects[0].out_dir == "gen/a"


def test_intermediate_symlink_leaving_the_workspace_is_an_escape(tmp_path: Path) -> None:
    (tmp_path / "outside/back").mkdir(parents=True)
    ws = make_workspace(tmp_path / "ws", project='[project]\nout_dir = "hop/gen"\n')
    (tmp_path / "ws/apps/a/hop").symlink_to(tmp_path / "outside")
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_PATH_ESCAPE", "apps/a/sodabuild.toml", 2, 1)


@pytest.mark.parametrize(
    ("workspace", "project", "expected", "words"),
    [
        pytest.param(
            MINIMAL.replace('name = "w"', 'name = "w"\ncache_dir = "."'),
            None,
            ("sodabuild.toml", 3),
            "is the workspace root",
            id="cache-dot",
        ),
        pytest.param(
            MINIMAL.replace('name = "w"', 'name = "w"\ncache_dir = "apps"'),
            None,
            ("sodabuild.toml", 3),
            "contains the root of project 'a'",
            id="cache-contains-root",
        ),
        pytest.param(
            MINIMAL.replace('name = "w"', 'name = "w"\ncache_dir = "apps/a/__generated__"'),
            None,
            ("sodabuild.toml", 3),
            "is the out_dir of project 'a'",
            id="cache-is-out-dir",
        ),
        pytest.param(
            MINIMAL,
            '[project]\nout_dir = "."\n',
            ("apps/a/sodabuild.toml", 2),
            "is the root of project 'a'",
            id="out-dir-root",
        ),
        pytest.param(
            MINIMAL,
            '[project]\nsource_roots = ["src"]\nout_dir = "src"\n',
            ("apps/a/sodabuild.toml", 3),
            "is source root 'apps/a/src' of project 'a'",
            id="out-dir-source-root",
        ),
        pytest.param(
            MINIMAL,
            '[project]\nout_dir = "../.."\n',
            ("apps/a/sodabuild.toml", 2),
            "is the workspace root",
            id="out-dir-workspace",
        ),
        pytest.param(
            MINIMAL,
            '[project]\nout_dir = "../../.cache"\n',
            ("apps/a/sodabuild.toml", 2),
            "contains the cache dir",
            id="out-dir-contains-cache",
        ),
        pytest.param(
            MINIMAL.replace(
                'name = "w"', 'name = "w"\ncache_dir = "apps/a/gen"\nrule_dirs = ["apps/a/gen/r"]'
            ),
            None,
            ("sodabuild.toml", 3),
            "contains rule directory 'apps/a/gen/r'",
            id="cache-contains-rules",
        ),
        pytest.param(
            MINIMAL,
            '[project]\nout_dir = "gen"\nsource_roots = [".", "gen/py"]\n',
            ("apps/a/sodabuild.toml", 2),
            "contains source root 'apps/a/gen/py' of project 'a'",
            id="out-dir-contains-source-root",
        ),
        pytest.param(
            MINIMAL + 'out_dir = "gen"\n\n[[projects]]\nname = "b"\nroot = "apps/a/gen"\n',
            None,
            ("sodabuild.toml", 7),
            "is the root of project 'b'",
            id="out-dir-is-other-root",
        ),
        pytest.param(
            MINIMAL + 'out_dir = "../gen"\n\n[[projects]]\nname = "b"\nroot = "apps/b"\n'
            'out_dir = "../gen"\n',
            None,
            ("sodabuild.toml", 12),
            "is the out_dir of project 'a'",
            id="shared-out-dir",
        ),
    ],
)
def test_destructive_overlaps_are_errors(
    tmp_path: Path,
    workspace: str,
    project: str | None,
    expected: tuple[str, int],
    words: str,
) -> None:
    ws = make_workspace(tmp_path, workspace, project, dirs=("apps/a", "apps/b", "apps/a/gen"))
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_OVERLAP", *expected, 1)
    assert words in error.message, error.message
    assert error.hint


def test_out_dirs_nested_in_their_roots_are_fine(tmp_path: Path) -> None:
    ws = MINIMAL + '\n[[projects]]\nname = "b"\nroot = "apps/b"\nout_dir = "gen/b"\n'
    resolved = load_workspace(make_workspace(tmp_path, ws, dirs=("apps/a", "apps/b")))
    assert [p.out_dir for p in resolved.projects] == ["apps/a/__generated__", "apps/b/gen/b"]


def test_max_file_bytes(tmp_path: Path) -> None:
    assert load_workspace(make_workspace(tmp_path)).max_file_bytes == 16 * 1024 * 1024
    ws = MINIMAL.replace('name = "w"', 'name = "w"\nmax_file_bytes = 1024')
    assert load_workspace(make_workspace(tmp_path, ws)).max_file_bytes == 1024
    for bad in ("-1", "0", str(10**30), "1.5", '"1"'):
        ws = MINIMAL.replace('name = "w"', f'name = "w"\nmax_file_bytes = {bad}')
        [error] = load_errors(make_workspace(tmp_path, ws))
        assert where(error) == ("CONFIG_INVALID", "sodabuild.toml", 3, 1)


def test_glob_with_a_nul_byte_is_config_invalid(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, project='[project]\ninclude = ["a\\u0000/*.py"]\n')
    [error] = load_errors(ws)
    assert where(error) == ("CONFIG_INVALID", "apps/a/sodabuild.toml", 2, 1)
    assert "NUL" in error.message
