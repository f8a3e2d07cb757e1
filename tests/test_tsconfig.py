"""read_tsconfig: JSONC, extends chains, baseUrl/paths semantics, located errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.config.tsconfig import (
    JsoncError,
    TsConfig,
    TsConfigError,
    read_tsconfig,
    strip_jsonc,
)
from sodabuild.diagnostics import CODES, Diagnostic


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def read(root: Path, files: dict[str, str | bytes], project: str = "web") -> TsConfig | None:
    write(root, files)
    return read_tsconfig(root, project)


def error(root: Path, files: dict[str, str | bytes], project: str = "web") -> TsConfigError:
    write(root, files)
    with pytest.raises(TsConfigError) as info:
        read_tsconfig(root, project)
    return info.value


def where(exc: TsConfigError) -> tuple[str, int, int]:
    return exc.path, exc.line, exc.column


# -- JSONC ---------------------------------------------------------------------------------


def test_strip_jsonc_keeps_offsets_and_strings() -> None:
    text = '{\n  // a comment "x"\n  "a": "http://x/*y*/", /* b\n c */ "b": [1, 2,],\n}\n'
    stripped = strip_jsonc(text)
    assert len(stripped) == len(text)
    assert stripped.count("\n") == text.count("\n")
    assert json.loads(stripped) == {"a": "http://x/*y*/", "b": [1, 2]}
    assert [i for i, c in enumerate(text) if c == "\n"] == [
        i for i, c in enumerate(stripped) if c == "\n"
    ]


def test_strip_jsonc_escaped_quotes_and_comment_markers() -> None:
    text = r'{"a": "q\"// not a comment", "b": "\\", // c' + '\n"c": "/*"}'
    assert json.loads(strip_jsonc(text)) == {"a": 'q"// not a comment', "b": "\\", "c": "/*"}


def test_strip_jsonc_trailing_commas_behind_comments() -> None:
    text = '{"a": [1, /* x */ ], "b": {"c": 1, // x\n}, // y\n}'
    assert json.loads(strip_jsonc(text)) == {"a": [1], "b": {"c": 1}}


def test_strip_jsonc_keeps_a_lone_comma() -> None:
    for text in ("[,]", "{,}", "[1,,]"):
        with pytest.raises(json.JSONDecodeError):
            json.loads(strip_jsonc(text))


def test_strip_jsonc_unterminated_comment() -> None:
    with pytest.raises(JsoncError) as info:
        strip_jsonc('{"a": 1 /* never closed\n}')
    assert info.value.offset == 8


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=6), children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_strip_jsonc_is_the_identity_on_json(value: object) -> None:
    for text in (json.dumps(value), json.dumps(value, indent=2, ensure_ascii=False)):
        assert strip_jsonc(text) == text


def test_comments_trailing_commas_and_slashes_in_strings(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "web/tsconfig.json": """\
// the web app
{
  /* options
     of the compiler */
  "compilerOptions": {
    "baseUrl": ".", // here
    "paths": {
      "//*": ["src//*",],  // a pattern with slashes
      "@/*": ["./src/*", /* second */ "./lib/*",],
    },
  },
}
"""
        },
    )
    assert config == TsConfig(
        files=("web/tsconfig.json",),
        base_url="web",
        paths=(("//*", ("web/src/*",)), ("@/*", ("web/src/*", "web/lib/*"))),
    )


def test_bom(tmp_path: Path) -> None:
    text = '{"compilerOptions": {"baseUrl": "src"}}'
    config = read(tmp_path, {"web/tsconfig.json": b"\xef\xbb\xbf" + text.encode()})
    assert config is not None and config.base_url == "web/src"


def test_bom_error_columns_count_from_after_the_bom(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": b"\xef\xbb\xbf{ x }"})
    assert where(exc) == ("web/tsconfig.json", 1, 3)


def test_absent_and_empty(tmp_path: Path) -> None:
    assert read(tmp_path, {"web/a.ts": ""}) is None
    (tmp_path / "web" / "tsconfig.json").mkdir()
    assert read_tsconfig(tmp_path, "web") is None  # a directory is no tsconfig
    assert read(tmp_path, {"other/tsconfig.json": "// nothing\n"}, "other") == TsConfig(
        ("other/tsconfig.json",), None, ()
    )
    assert read(tmp_path, {"third/tsconfig.json": "{}"}, "third") == TsConfig(
        ("third/tsconfig.json",), None, ()
    )


def test_project_at_the_workspace_root(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {"tsconfig.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"*": ["*"]}}}'},
        ".",
    )
    assert config == TsConfig(("tsconfig.json",), ".", (("*", ("*",)),))


# -- paths and baseUrl ---------------------------------------------------------------------


def test_paths_without_base_url_are_relative_to_the_tsconfig(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "web/tsconfig.json": json.dumps(
                {"compilerOptions": {"paths": {"@/*": ["./src/*"], "~lib": ["../lib/index.ts"]}}}
            )
        },
    )
    assert config == TsConfig(
        ("web/tsconfig.json",), None, (("@/*", ("web/src/*",)), ("~lib", ("lib/index.ts",)))
    )


def test_paths_with_base_url_are_relative_to_it(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "web/tsconfig.json": json.dumps(
                {"compilerOptions": {"baseUrl": "./src", "paths": {"@/*": ["app/*"]}}}
            )
        },
    )
    assert config == TsConfig(("web/tsconfig.json",), "web/src", (("@/*", ("web/src/app/*",)),))


def test_paths_keep_file_order(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "web/tsconfig.json": '{"compilerOptions": {"paths": {"z": ["z"], "a": ["a"], "m": ["m"]}}}'
        },
    )
    assert config is not None
    assert [pattern for pattern, _ in config.paths] == ["z", "a", "m"]


def test_absolute_and_config_dir_targets(tmp_path: Path) -> None:
    root = os.path.realpath(tmp_path)
    config = read(
        tmp_path,
        {
            "base/tsconfig.json": json.dumps(
                {
                    "compilerOptions": {
                        "baseUrl": "${configDir}/src",
                        "paths": {"@/*": ["${configDir}/gen/*", "app/*", f"{root}/abs/*"]},
                    }
                }
            ),
            "web/tsconfig.json": '{"extends": "../base/tsconfig.json"}',
        },
    )
    assert config == TsConfig(
        ("web/tsconfig.json", "base/tsconfig.json"),
        "web/src",
        (("@/*", ("web/gen/*", "web/src/app/*", "abs/*")),),
    )


# -- extends -------------------------------------------------------------------------------


def test_extends_relative_with_and_without_json(tmp_path: Path) -> None:
    files = {
        "tsconfig.base.json": '{"compilerOptions": {"baseUrl": "."}}',
        "web/tsconfig.json": '{"extends": "../tsconfig.base"}',
    }
    config = read(tmp_path, files)
    assert config == TsConfig(("web/tsconfig.json", "tsconfig.base.json"), ".", ())
    write(tmp_path, {"web/tsconfig.json": '{"extends": "../tsconfig.base.json"}'})
    assert read_tsconfig(tmp_path, "web") == config


def test_extends_a_path_without_json_prefers_the_exact_file(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "web/base": '{"compilerOptions": {"baseUrl": "exact"}}',
            "web/base.json": '{"compilerOptions": {"baseUrl": "json"}}',
            "web/tsconfig.json": '{"extends": "./base"}',
        },
    )
    assert config is not None and config.base_url == "web/exact"


def test_extends_chain(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "tsconfig.root.json": '{"compilerOptions": {"paths": {"@root/*": ["./root/*"]}}}',
            "configs/mid.json": '{"extends": "../tsconfig.root.json",'
            ' "compilerOptions": {"baseUrl": "../shared"}}',
            "web/tsconfig.json": '{"extends": "../configs/mid.json"}',
        },
    )
    # paths from the root file, resolved against the baseUrl set (later) in mid.json
    assert config == TsConfig(
        ("web/tsconfig.json", "configs/mid.json", "tsconfig.root.json"),
        "shared",
        (("@root/*", ("shared/root/*",)),),
    )


def test_extends_list_later_ones_win(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "a.json": '{"compilerOptions": {"baseUrl": "a", "paths": {"a": ["x"]}}}',
            "b.json": '{"compilerOptions": {"baseUrl": "b"}}',
            "web/tsconfig.json": '{"extends": ["../a.json", "../b.json"]}',
        },
    )
    assert config == TsConfig(("web/tsconfig.json", "a.json", "b.json"), "b", (("a", ("b/x",)),))


def test_child_overrides_and_paths_replace_the_whole_object(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "base.json": json.dumps(
                {"compilerOptions": {"baseUrl": ".", "paths": {"a/*": ["a/*"], "b": ["b"]}}}
            ),
            "web/tsconfig.json": json.dumps(
                {"extends": "../base.json", "compilerOptions": {"paths": {"c": ["./c"]}}}
            ),
        },
    )
    # the child's paths replace the base's; the base's baseUrl still anchors them
    assert config == TsConfig(("web/tsconfig.json", "base.json"), ".", (("c", ("c",)),))


def test_paths_of_a_base_without_base_url_stay_relative_to_the_base(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "configs/base.json": '{"compilerOptions": {"paths": {"@/*": ["../web/src/*"]}}}',
            "web/tsconfig.json": '{"extends": "../configs/base.json"}',
        },
    )
    assert config is not None and config.paths == (("@/*", ("web/src/*",)),)


def test_null_resets_an_inherited_option(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "base.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"a": ["a"]}}}',
            "web/tsconfig.json": '{"extends": "../base.json",'
            ' "compilerOptions": {"baseUrl": null, "paths": null}}',
        },
    )
    assert config == TsConfig(("web/tsconfig.json", "base.json"), None, ())


def test_diamond_is_read_once_and_listed_once(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "base.json": '{"compilerOptions": {"baseUrl": "."}}',
            "a.json": '{"extends": "./base.json"}',
            "b.json": '{"extends": "./base.json"}',
            "web/tsconfig.json": '{"extends": ["../a.json", "../b.json"]}',
        },
    )
    assert config is not None
    assert config.files == ("web/tsconfig.json", "a.json", "base.json", "b.json")


def test_extends_a_node_modules_package(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "node_modules/@tsconfig/node18/tsconfig.json": '{"compilerOptions": {"baseUrl": "."}}',
            "node_modules/shared-config/tsconfig.json": '{"compilerOptions": {"baseUrl": "src"}}',
            "node_modules/flat/base.json": '{"compilerOptions": {"baseUrl": "flat"}}',
            "web/tsconfig.json": json.dumps(
                {"extends": ["@tsconfig/node18/tsconfig.json", "shared-config", "flat/base"]}
            ),
        },
    )
    assert config == TsConfig(
        (
            "web/tsconfig.json",
            "node_modules/@tsconfig/node18/tsconfig.json",
            "node_modules/shared-config/tsconfig.json",
            "node_modules/flat/base.json",
        ),
        "node_modules/flat/flat",
        (),
    )


def test_nearest_node_modules_wins(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            "node_modules/cfg/tsconfig.json": '{"compilerOptions": {"baseUrl": "outer"}}',
            "web/node_modules/cfg/tsconfig.json": '{"compilerOptions": {"baseUrl": "inner"}}',
            "web/tsconfig.json": '{"extends": "cfg"}',
        },
    )
    assert config is not None and config.base_url == "web/node_modules/cfg/inner"


def test_a_symlinked_package_is_where_its_real_path_is(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "tsconfig.root.json": '{"compilerOptions": {"baseUrl": "."}}',
            "packages/cfg/tsconfig.json": '{"extends": "../../tsconfig.root.json"}',
            "web/tsconfig.json": '{"extends": "@org/cfg"}',
        },
    )
    (tmp_path / "node_modules" / "@org").mkdir(parents=True)
    (tmp_path / "node_modules" / "@org" / "cfg").symlink_to(tmp_path / "packages" / "cfg")
    config = read_tsconfig(tmp_path, "web")
    assert config == TsConfig(
        ("web/tsconfig.json", "packages/cfg/tsconfig.json", "tsconfig.root.json"), ".", ()
    )


def test_a_missing_package_is_ignored(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        {
            # a package name climbing out of node_modules names no package
            "base.json": '{"compilerOptions": {"baseUrl": "base"}}',
            "web/base.json": '{"compilerOptions": {"baseUrl": "base"}}',
            "web/tsconfig.json": json.dumps(
                {
                    "extends": ["@tsconfig/missing", "cfg/../../base.json"],
                    "compilerOptions": {"baseUrl": "."},
                }
            ),
        },
    )
    assert config == TsConfig(("web/tsconfig.json",), "web", ())


def test_a_package_outside_the_workspace_is_ignored(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    workspace = tmp_path / "ws"
    write(outside, {"node_modules/cfg/tsconfig.json": '{"compilerOptions": {"baseUrl": "."}}'})
    write(outside, {"real/tsconfig.json": '{"compilerOptions": {"baseUrl": "."}}'})
    write(workspace, {"web/tsconfig.json": '{"extends": ["cfg", "linked"]}'})
    (workspace / "node_modules").mkdir()
    (workspace / "node_modules" / "linked").symlink_to(outside / "real")
    assert read_tsconfig(workspace, "web") == TsConfig(("web/tsconfig.json",), None, ())


# -- errors --------------------------------------------------------------------------------


def test_invalid_json_position(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        {
            "web/tsconfig.json": '{\n  // "x": 1,\n  "compilerOptions": {\n    "baseUrl" "."\n  }\n}\n'
        },
    )
    assert where(exc) == ("web/tsconfig.json", 4, 15)
    assert exc.message == "invalid JSON: Expecting ':' delimiter"
    assert exc.hint is not None


def test_invalid_json_after_a_block_comment_spanning_lines(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '/* a\nb */ {"a": tru}'})
    assert where(exc) == ("web/tsconfig.json", 2, 12)


def test_invalid_json_columns_count_characters(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"ééé": 1 "x": 2}'})
    assert where(exc) == ("web/tsconfig.json", 1, 11)


def test_unterminated_comment(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{\n  "a": 1 /* open\n}'})
    assert where(exc) == ("web/tsconfig.json", 2, 10)
    assert exc.message == "unterminated comment"


def test_not_utf8(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": b'{\n  "a": "\xff"\n}'})
    assert where(exc) == ("web/tsconfig.json", 2, 9)
    assert exc.message.startswith("not valid UTF-8")


def test_not_an_object(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": "// x\n  [1]"})
    assert where(exc) == ("web/tsconfig.json", 2, 3)
    assert exc.message == "a tsconfig must hold a JSON object"


def test_extends_not_found(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{\n  "extends": "./missing.json"\n}'})
    assert where(exc) == ("web/tsconfig.json", 2, 14)
    assert exc.message == "'extends' names a missing file: './missing.json'"


def test_extends_not_found_in_a_list(tmp_path: Path) -> None:
    files = {
        "web/base.json": "{}",
        "web/tsconfig.json": '{"extends": [\n  "./base.json",\n  "./gone"\n]}',
    }
    exc = error(tmp_path, files)
    assert where(exc) == ("web/tsconfig.json", 3, 3)


def test_extends_not_found_in_an_extended_file(tmp_path: Path) -> None:
    files = {
        "configs/base.json": '{"extends": "./nope"}',
        "web/tsconfig.json": '{"extends": "../configs/base.json"}',
    }
    assert where(error(tmp_path, files)) == ("configs/base.json", 1, 13)


def test_extends_of_a_wrong_type(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"extends": 3}'})
    assert where(exc) == ("web/tsconfig.json", 1, 13)
    exc = error(tmp_path, {"web/tsconfig.json": '{"extends": ["./a.json", 3]}'})
    assert where(exc) == ("web/tsconfig.json", 1, 26)
    exc = error(tmp_path, {"web/tsconfig.json": '{"extends": ""}'})
    assert where(exc) == ("web/tsconfig.json", 1, 13)


def test_extends_outside_the_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write(tmp_path, {"base.json": "{}"})
    exc = error(workspace, {"web/tsconfig.json": '{"extends": "../../base.json"}'})
    assert where(exc) == ("web/tsconfig.json", 1, 13)
    assert "outside the workspace" in exc.message


def test_extends_through_a_symlink_leading_out(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write(tmp_path, {"base.json": "{}"})
    write(workspace, {"web/tsconfig.json": '{"extends": "./base.json"}'})
    (workspace / "web" / "base.json").symlink_to(tmp_path / "base.json")
    exc = error(workspace, {})
    assert where(exc) == ("web/tsconfig.json", 1, 13)
    assert "symlink" in exc.message


def test_project_tsconfig_symlinked_out(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write(tmp_path, {"tsconfig.json": "{}"})
    (workspace / "web").mkdir(parents=True)
    (workspace / "web" / "tsconfig.json").symlink_to(tmp_path / "tsconfig.json")
    exc = error(workspace, {})
    assert where(exc) == ("web/tsconfig.json", 1, 1)


def test_extends_cycle(tmp_path: Path) -> None:
    files = {
        "web/tsconfig.json": '{"extends": "./a.json"}',
        "web/a.json": '{\n  "extends": "./b"\n}',
        "web/b.json": '{"extends": ["./tsconfig.json"]}',
    }
    exc = error(tmp_path, files)
    assert where(exc) == ("web/b.json", 1, 14)
    assert exc.message == (
        "'extends' cycle: web/tsconfig.json -> web/a.json -> web/b.json -> web/tsconfig.json"
    )


def test_extends_itself(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"extends": "./tsconfig"}'})
    assert where(exc) == ("web/tsconfig.json", 1, 13)
    assert exc.message == "'extends' cycle: web/tsconfig.json -> web/tsconfig.json"


def test_compiler_options_not_an_object(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"compilerOptions": []}'})
    assert where(exc) == ("web/tsconfig.json", 1, 21)


def test_base_url_not_a_string(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"compilerOptions": {"baseUrl": 1}}'})
    assert where(exc) == ("web/tsconfig.json", 1, 33)


def test_base_url_outside_the_workspace(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"compilerOptions": {"baseUrl": "../.."}}'})
    assert where(exc) == ("web/tsconfig.json", 1, 33)
    assert "outside the workspace" in exc.message


PATHS_ERRORS = [
    # (compilerOptions text, line, column, message start)
    ('{\n  "paths": []\n}', 2, 12, "'compilerOptions.paths' must be an object"),
    ('{\n  "paths": "x"\n}', 2, 12, "'compilerOptions.paths' must be an object"),
    (
        '{"paths": {\n  "ok": ["a"],\n  "a/*/b/*": ["x"]\n}}',
        3,
        3,
        "'paths' pattern 'a/*/b/*' has more than one '*'",
    ),
    ('{"paths": {\n  "@/*": "src/*"\n}}', 2, 10, "'paths' pattern '@/*' must map to a list"),
    ('{"paths": {\n  "@/*": []\n}}', 2, 10, "'paths' pattern '@/*' maps to an empty list"),
    ('{"paths": {\n  "@/*": ["a", 2]\n}}', 2, 16, "a target of 'paths' pattern '@/*' is not"),
    ('{"paths": {\n  "@/*": [\n    "*/*"]\n}}', 3, 5, "'paths' target '*/*' has more than one"),
    (
        '{"paths": {\n  "@/*": ["./a/*", "../../x/*"]\n}}',
        2,
        20,
        "'paths' target '../../x/*' of '@/*' points outside the workspace root",
    ),
]


@pytest.mark.parametrize(("options", "line", "column", "message"), PATHS_ERRORS)
def test_paths_errors(tmp_path: Path, options: str, line: int, column: int, message: str) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"compilerOptions": ' + options + "}"})
    # the text before the options shifts columns on the first line only
    assert where(exc) == ("web/tsconfig.json", line, column)
    assert exc.message.startswith(message)


def test_paths_target_outside_through_an_inherited_base_url(tmp_path: Path) -> None:
    files = {
        "base.json": '{\n  "compilerOptions": {\n    "paths": {"@/*": ["../*"]}\n  }\n}',
        "web/tsconfig.json": '{"extends": "../base.json", "compilerOptions": {"baseUrl": "."}}',
    }
    # relative to web/ (the baseUrl) the target stays inside; relative to base.json's
    # directory (the workspace root) it would leave it
    config = read(tmp_path, files)
    assert config is not None and config.paths == (("@/*", ("*",)),)
    write(tmp_path, {"web/tsconfig.json": '{"extends": "../base.json"}'})
    exc = error(tmp_path, {})
    assert where(exc) == ("base.json", 3, 23)
    assert exc.hint == "targets are relative to this tsconfig's directory"


def test_error_at_the_last_of_repeated_keys(tmp_path: Path) -> None:
    text = '{"compilerOptions": {"paths": {}},\n "compilerOptions": {"paths": 1}}'
    exc = error(tmp_path, {"web/tsconfig.json": text})
    assert where(exc) == ("web/tsconfig.json", 2, 31)


def test_error_position_past_comments_and_strings(tmp_path: Path) -> None:
    text = """\
{
  "a": "// {\\"paths\\": [",  /* "paths": 1 */
  "compilerOptions": {
    // "paths": {},
    "paths": { "x": ["a"], /* ] */ "y/**": ["b"] },
  },
}
"""
    exc = error(tmp_path, {"web/tsconfig.json": text})
    assert where(exc) == ("web/tsconfig.json", 5, 36)


def test_diagnostic(tmp_path: Path) -> None:
    exc = error(tmp_path, {"web/tsconfig.json": '{"extends": "./gone"}'})
    assert exc.diagnostic() == Diagnostic(
        "TSCONFIG_INVALID",
        "'extends' names a missing file: './gone'",
        "web/tsconfig.json",
        1,
        13,
        "the path is relative to this tsconfig's directory",
    )
    assert "TSCONFIG_INVALID" in CODES
    assert str(exc) == "web/tsconfig.json:1:13: 'extends' names a missing file: './gone'"
