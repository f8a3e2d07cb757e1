"""Human rendering of diagnostics: code frames, colour, "did you mean" suggestions.

The exact formats are snapshot-tested (``tests/__snapshots__/test_render.ambr``) over small
files written here, colour off and on; the real CLI is run on the fragment-typo fixture.
docs/guide.md ("Reading diagnostics") documents the same format.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from sodabuild.compose.document import compose, parse_definition
from sodabuild.config.load import load_workspace
from sodabuild.config.model import ProjectFile, WorkspaceFile, keys_at
from sodabuild.diagnostics import Diagnostic, Severity, SodabuildError
from sodabuild.engine.pipeline import select_projects
from sodabuild.engine.summary import render
from sodabuild.render.color import color_enabled, paint
from sodabuild.render.frame import MAX_COLUMNS, Sources, layout, token_length
from sodabuild.render.suggestion import closest, did_you_mean
from sodabuild.rules.load import load_rules
from tests.conftest import FIXTURES, run_cli

WARNING = Severity.WARNING

QUERIES = '''from sodabuild.graphql import gql

RepoFields = gql("fragment RepoFields on Repository { name }")

GetRepo = gql(
    """
    query GetRepo {
      repository {
        ...RepoFieldz
      }
    }
    """,
    RepoFields,
)


def search(fields):
    return gql(build_query(fields))
'''

TABBED = "query Tabbed {\n\trepository {\n\t\tnmae\n\t}\n}\n"

LONG = (
    "QUERY = gql('query Long { repository { "
    + " ".join(f"field{i}" for i in range(30))
    + " nmae "
    + " ".join(f"more{i}" for i in range(10))
    + " } }')\n"
)

WIDE = 'TITLE = gql("query 題名 { repository { 名前 nmae } }")\n'

CONTROL = 'X = gql("query X {\x1b[31m \u202e nmae }")\n'

WORKSPACE_TOML = '[workspace]\nname = "w"\ncache-dir = ".cache"\n\n[[projects]]\nname = "app"\n'


def write_workspace(root: Path) -> Path:
    files: dict[str, bytes] = {
        "sodabuild.toml": WORKSPACE_TOML.encode(),
        "app/queries.py": QUERIES.encode(),
        "app/tabbed.graphql": TABBED.encode(),
        "app/long.py": LONG.encode(),
        "app/wide.py": WIDE.encode(),
        "app/control.py": CONTROL.encode(),
        "app/latin1.py": "TITLE = 'caf\xe9'\n".encode("latin-1"),
        "app/crlf.py": b"A = 1\r\nB = gql('query B { nmae }')\r\n",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


DIAGNOSTICS = [
    # an error with a span (the spread), and its suggestion
    Diagnostic(
        "GQL_UNKNOWN_FRAGMENT",
        "unknown fragment 'RepoFieldz'",
        "app/queries.py",
        9,
        9,
        "did you mean 'RepoFields'?",
    ),
    # a warning at a call (the name is underlined)
    Diagnostic(
        "GQL_DYNAMIC",
        "document not built: `build_query(fields)` is a call",
        "app/queries.py",
        18,
        16,
        "build the document from literals",
        WARNING,
    ),
    # no location at all
    Diagnostic(
        "CACHE_PURGED", "the cache was from another version", hint="nothing to do", severity=WARNING
    ),
    # a file, no line
    Diagnostic("INPUT_TOO_LARGE", "file is larger than max_file_bytes", "app/queries.py"),
    # a tab-indented line: tabs expand to the next multiple of 4, the caret follows
    Diagnostic("GQL_VALIDATION", "Cannot query field 'nmae'", "app/tabbed.graphql", 3, 3),
    # a long line, cut around the column
    Diagnostic(
        "GQL_VALIDATION", "Cannot query field 'nmae'", "app/long.py", 1, LONG.index("nmae") + 1
    ),
    # wide characters before the column take two columns each
    Diagnostic(
        "GQL_VALIDATION", "Cannot query field 'nmae'", "app/wide.py", 1, WIDE.index("nmae") + 1
    ),
    # control and bidi characters never reach the terminal
    Diagnostic(
        "GQL_VALIDATION",
        "Cannot query field 'nmae'",
        "app/control.py",
        1,
        CONTROL.index("nmae") + 1,
    ),
    # CRLF line ends
    Diagnostic("GQL_VALIDATION", "Cannot query field 'nmae'", "app/crlf.py", 2, 20),
    # a TOML key (a bare key may hold '-')
    Diagnostic(
        "CONFIG_INVALID",
        "unknown key 'workspace.cache-dir'",
        "sodabuild.toml",
        3,
        1,
        "did you mean 'cache_dir'?",
    ),
    # no frame: a missing file, a file that is not UTF-8, a line or column the file no
    # longer has, a path outside the workspace
    Diagnostic("PY_SYNTAX", "invalid syntax", "app/gone.py", 3, 1, "fix it"),
    Diagnostic("PY_DECODE", "not UTF-8", "app/latin1.py", 1, 13),
    Diagnostic("PY_SYNTAX", "invalid syntax", "app/queries.py", 400, 1),
    Diagnostic("PY_SYNTAX", "invalid syntax", "app/queries.py", 1, 200),
    Diagnostic("PY_SYNTAX", "invalid syntax", "../outside.py", 1, 1),
]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "outside.py").write_text("SECRET = 1\n")
    return write_workspace(tmp_path / "ws")


# -- exact formats (snapshots) ---------------------------------------------------------------


@pytest.mark.parametrize("color", [False, True], ids=["plain", "color"])
def test_diagnostics(workspace: Path, color: bool, snapshot: SnapshotAssertion) -> None:
    sources = Sources(workspace)
    text = "\n".join(d.render(color=color, sources=sources) for d in DIAGNOSTICS)
    assert text == snapshot


def summary(ok: bool, diagnostics: list[Diagnostic]) -> dict[str, Any]:
    return {
        "ok": ok,
        "workspace": "w",
        "check": False,
        "projects": [
            {
                "name": "app",
                "root": "app",
                "out_dir": "app/__generated__",
                "outputs": {},
                "elements": 2,
                "documents": 2,
                "dynamic_documents": 0,
                "modules": 1,
                "graph_filter": "",
                "ok": ok,
                "failed_definitions": 0,
                "written": ok,
                "files_written": 3 if ok else 0,
                "files_unchanged": 0,
                "files_removed": 0,
                "stale": [],
                "diagnostics": [d.to_json() for d in diagnostics],
            }
        ],
        "cache": {"notes": [], "no_op": False},
        "stats": {
            "mode": "full",
            "timings_ms": {},
            "counts": {"cache_hits": 1, "cache_misses": 3, "cache_skips": 0},
            "cache_hit_ratio": 0.25,
            "wall_ms": 120.0,
        },
    }


@pytest.mark.parametrize("color", [False, True], ids=["plain", "color"])
def test_summary(workspace: Path, color: bool, snapshot: SnapshotAssertion) -> None:
    failed = summary(False, DIAGNOSTICS[:2])
    passed = summary(True, [DIAGNOSTICS[1]])
    text = "\n".join([*render(failed, color, workspace), *render(passed, color, workspace)])
    assert text == snapshot


def test_summary_without_a_root_has_no_frames(workspace: Path) -> None:
    lines = render(summary(False, DIAGNOSTICS[:1]))
    assert lines[0] == (
        "app/queries.py:9:9: error GQL_UNKNOWN_FRAGMENT unknown fragment 'RepoFieldz'\n"
        "  = hint: did you mean 'RepoFields'?"
    )


def test_json_is_unchanged(workspace: Path) -> None:
    """Frames are for humans: the JSON form of a diagnostic has the same keys and values."""
    data = DIAGNOSTICS[0].to_json()
    assert data == {
        "severity": "error",
        "code": "GQL_UNKNOWN_FRAGMENT",
        "message": "unknown fragment 'RepoFieldz'",
        "file": "app/queries.py",
        "line": 9,
        "column": 9,
        "hint": "did you mean 'RepoFields'?",
    }


def test_config_error_renders_with_its_root(workspace: Path) -> None:
    error = SodabuildError([DIAGNOSTICS[9]], root=str(workspace))
    assert error.render() == [
        "sodabuild.toml:3:1: error CONFIG_INVALID unknown key 'workspace.cache-dir'\n"
        "  |\n"
        '3 | cache-dir = ".cache"\n'
        "  | ^^^^^^^^^\n"
        "  = hint: did you mean 'cache_dir'?"
    ]
    assert str(error).startswith("sodabuild.toml:3:1: error CONFIG_INVALID")  # no frame


# -- frames: edge cases ----------------------------------------------------------------------


def test_plain_output_has_no_escape_codes(workspace: Path) -> None:
    sources = Sources(workspace)
    text = "\n".join(d.render(sources=sources) for d in DIAGNOSTICS)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "SECRET" not in text  # nothing outside the workspace is read


def test_every_cut_line_is_80_columns(workspace: Path) -> None:
    line = "x" * 300
    for start in (0, 1, 40, 78, 79, 80, 150, 250, 298, 299, 300):
        text, caret, width = layout(line, start, 1)
        assert len(text) == MAX_COLUMNS, start
        assert text[caret] == "x" if start < len(line) else caret == MAX_COLUMNS, start
        assert caret + width <= MAX_COLUMNS + 1, start
    text, caret, width = layout("y" * MAX_COLUMNS, 79, 1)
    assert text == "y" * MAX_COLUMNS and caret == 79 and width == 1


def test_a_long_underline_is_clipped_to_the_window() -> None:
    line = "a = " + "b" * 200
    text, caret, width = layout(line, 4, token_length(line, 4))
    assert text == "a = " + "b" * 75 + "…"
    assert (caret, width) == (4, 75)


@pytest.mark.parametrize(
    ("line", "column", "length"),
    [
        ("  ...RepoFieldz }", 3, 13),
        ("  ... on User { id }", 3, 1),
        ("  $login: String!", 3, 6),
        ("  @include(if: $x)", 3, 8),
        ("x = f'a{b}c' + d", 5, 8),
        ("x = 'it\\'s' + d", 5, 7),
        ('q = """query', 5, 3),
        ("cache-dir = 1", 1, 9),
        ("  42 + x", 3, 1),
        ("naïve_name = 1", 1, 10),
        ("x", 2, 1),
    ],
)
def test_token_length(line: str, column: int, length: int) -> None:
    assert token_length(line, column - 1, toml="-" in line) == length


def test_no_frame_for_special_files_or_links_out(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret.py").write_text("SECRET = 1\n")
    (root / "link.py").symlink_to(tmp_path / "secret.py")
    os.mkfifo(root / "fifo.py")
    (root / "dir.py").mkdir()
    sources = Sources(root)
    for name in ("link.py", "fifo.py", "dir.py", "nul\x00.py", "/etc/passwd", "<builtin>/x"):
        assert sources.line(name, 1) is None, name
    assert Sources(None).line("link.py", 1) is None


def test_a_link_inside_the_workspace_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.py").write_text("A = 1\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "real.py")
    assert Sources(tmp_path).line("link.py", 1) == "A = 1"


def test_a_frame_without_a_column_shows_the_line(workspace: Path) -> None:
    diagnostic = Diagnostic("GQL_VALIDATION", "bad", "app/crlf.py", 2)
    assert diagnostic.render(workspace) == (
        "app/crlf.py:2:1: error GQL_VALIDATION bad\n  |\n2 | B = gql('query B { nmae }')"
    )


def test_multi_line_hints_stay_aligned(workspace: Path) -> None:
    diagnostic = Diagnostic("PY_SYNTAX", "bad", "app/crlf.py", 1, 1, "one\ntwo")
    assert diagnostic.render(workspace).splitlines()[-2:] == ["  = hint: one", "          two"]


# -- colour ----------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "tty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # set but empty: ignored (no-color.org)
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": ""}, False, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, False, True),
    ],
)
def test_color_enabled(environ: dict[str, str], tty: bool, expected: bool) -> None:
    stream = _Tty() if tty else io.StringIO()
    assert color_enabled(stream, environ) is expected


def test_color_enabled_on_a_closed_stream() -> None:
    stream = io.StringIO()
    stream.close()
    assert color_enabled(stream, {}) is False


def test_paint() -> None:
    assert paint("x", "1", "31", color=True) == "\x1b[1;31mx\x1b[0m"
    assert paint("x", "1", color=False) == "x"


# -- suggestions -----------------------------------------------------------------------------


def test_closest() -> None:
    assert closest("cache-dir", ["name", "cache_dir", "rule_dirs"]) == "cache_dir"
    assert closest("RepoFieldz", ["RepoFields", "UserFields"]) == "RepoFields"
    assert closest("small_app", ["small-app", "shared-lib"]) == "small-app"
    assert closest("zzz", ["cache_dir"]) is None
    assert closest("same", ["same"]) is None
    # ties go to the name that sorts first, whatever the order given
    assert closest("abcd", ["abcy", "abcx"]) == closest("abcd", ["abcx", "abcy"]) == "abcx"
    assert did_you_mean("graphgl", ["graphql"]) == "did you mean 'graphql'?"
    assert did_you_mean("x", []) is None


def test_keys_at() -> None:
    assert "cache_dir" in keys_at(WorkspaceFile, ("workspace",))
    assert "schema" in keys_at(WorkspaceFile, ("projects", 0))  # the alias, as written
    assert "root" in keys_at(WorkspaceFile, ("projects", 0))
    assert "include" in keys_at(ProjectFile, ("project",))
    assert keys_at(WorkspaceFile, ("aliases",)) == []
    assert keys_at(WorkspaceFile, ("nothing", 3)) == []


# -- suggestions in diagnostics --------------------------------------------------------------


def load_error(root: Path, workspace: str, project: str | None = None) -> SodabuildError:
    (root / "a").mkdir(parents=True, exist_ok=True)
    (root / "sodabuild.toml").write_text(workspace)
    if project is not None:
        (root / "a" / "sodabuild.toml").write_text(project)
    with pytest.raises(SodabuildError) as info:
        load_workspace(root / "sodabuild.toml")
    return info.value


MINIMAL = '[workspace]\nname = "w"\n\n[[projects]]\nname = "a"\nroot = "a"\n'


@pytest.mark.parametrize(
    ("workspace", "project", "hint"),
    [
        (MINIMAL.replace('"w"\n', '"w"\ncache-dir = "c"\n'), None, "did you mean 'cache_dir'?"),
        (MINIMAL + 'shema = "s.graphql"\n', None, "did you mean 'schema'?"),
        (MINIMAL, '[project]\nincludes = ["**/*.py"]\n', "did you mean 'include'?"),
        ("[workspac]\n" + MINIMAL.removeprefix("[workspace]\n"), None, "did you mean 'workspace'?"),
        (MINIMAL + "\n[plugins.graphql]\ngql_module = []\n", None, "did you mean 'gql_modules'?"),
        (
            MINIMAL.replace('"w"\n', '"w"\ncompletely_else = 1\n'),
            None,
            "remove it, or check its spelling against `sodabuild config schema`",
        ),
        (
            MINIMAL + "\n[plugins.graphgl]\n",
            None,
            "did you mean 'graphql'? (known plugins: graphql)",
        ),
    ],
)
def test_unknown_config_key_suggests_the_close_one(
    tmp_path: Path, workspace: str, project: str | None, hint: str
) -> None:
    error = load_error(tmp_path, workspace, project)
    assert [d.hint for d in error.diagnostics if d.message.startswith("unknown")] == [hint]
    assert error.root == str(tmp_path.resolve())
    assert "\n  |\n" in error.render()[0]  # a frame: the root came with the error


def test_unknown_project_suggests_the_close_one(tmp_path: Path) -> None:
    workspace = load_workspace(
        make_projects(tmp_path, ["small-app", "shared-lib"]) / "sodabuild.toml"
    )
    with pytest.raises(SodabuildError) as info:
        select_projects(workspace, ["small_app", "zzz"])
    hints = [d.hint for d in info.value.diagnostics]
    assert hints == [
        "did you mean 'small-app'? (projects of this workspace: shared-lib, small-app)",
        "projects of this workspace: shared-lib, small-app",
    ]


def make_projects(root: Path, names: list[str]) -> Path:
    text = '[workspace]\nname = "w"\n'
    for name in names:
        (root / name).mkdir(parents=True)
        text += f'\n[[projects]]\nname = "{name}"\nroot = "{name}"\n'
    (root / "sodabuild.toml").write_text(text)
    return root


def test_unknown_rule_hint_suggests_the_close_one(tmp_path: Path) -> None:
    rules = load_rules(tmp_path, [])
    assert rules.unknown_hint("grapql") == (
        "did you mean 'graphql'? (known rules: graphql, graphql-typed; see `sodabuild rules list`)"
    )
    assert rules.unknown_hint("zzz") == (
        "known rules: graphql, graphql-typed (see `sodabuild rules list`)"
    )


def compose_problems(text: str, *fragments: str) -> list[tuple[str, str, str | None]]:
    """Problems of composing ``text`` with the given fragment documents passed."""
    args = []
    for index, fragment in enumerate(fragments):
        parsed, problems = parse_definition(fragment, "f", index)
        assert parsed is not None and not problems
        composed, problems = compose(parsed, index, [], [])
        assert composed is not None and not problems
        args.append(composed)
    parsed, problems = parse_definition(text, "q", "q")
    assert parsed is not None and not problems
    _, problems = compose(parsed, "q", args, list(range(len(args))))
    return [(p.code, p.message, p.hint) for p in problems]


REPO = "fragment RepoFields on Repository { name }"
USER = "fragment UserFields on User { id }"


def test_a_misspelt_spread_of_a_passed_fragment_is_one_report() -> None:
    assert compose_problems("query Q { repository { ...RepoFieldz } }", REPO) == [
        ("GQL_UNKNOWN_FRAGMENT", "unknown fragment 'RepoFieldz'", "did you mean 'RepoFields'?")
    ]


def test_an_unused_argument_the_typo_was_not_meant_for_is_still_reported() -> None:
    problems = compose_problems("query Q { repository { ...RepoFieldz } }", REPO, USER)
    assert [code for code, _, _ in problems] == [
        "GQL_UNKNOWN_FRAGMENT",
        "GQL_UNUSED_FRAGMENT_ARG",
    ]
    assert problems[1][1] == "fragment 'UserFields' is passed to gql() but never spread"


def test_a_suggested_fragment_that_is_also_spread_is_not_unused() -> None:
    problems = compose_problems("query Q { repository { ...RepoFields ...RepoFieldz } }", REPO)
    assert problems == [
        ("GQL_UNKNOWN_FRAGMENT", "unknown fragment 'RepoFieldz'", "did you mean 'RepoFields'?")
    ]


def test_an_unknown_spread_with_nothing_close_keeps_both_reports() -> None:
    problems = compose_problems("query Q { repository { ...Other } }", REPO)
    assert [code for code, _, _ in problems] == ["GQL_UNKNOWN_FRAGMENT", "GQL_UNUSED_FRAGMENT_ARG"]
    assert "pass it to gql" in (problems[0][2] or "")


def test_a_local_fragment_is_suggested() -> None:
    text = "query Q { repository { ...RepoFieldz } } " + REPO
    assert compose_problems(text)[0][2] == "did you mean 'RepoFields'?"


# -- the real CLI ----------------------------------------------------------------------------


@pytest.fixture
def typo(tmp_path: Path) -> Path:
    target = tmp_path / "typo"
    shutil.copytree(
        FIXTURES / "invalid" / "gql_fragment_typo",
        target,
        ignore=shutil.ignore_patterns("expected.json", "__generated__", ".cache"),
    )
    return target


FRAME = """\
app/app/queries.py:9:9: error GQL_UNKNOWN_FRAGMENT unknown fragment 'RepoFieldz'
  |
9 |         ...RepoFieldz
  |         ^^^^^^^^^^^^^
  = hint: did you mean 'RepoFields'?
"""


def test_cli_reports_a_fragment_typo_once_with_a_suggestion(typo: Path) -> None:
    run = run_cli("build", "-w", str(typo), cwd=typo.parent)
    assert run.code == 1, run.stdout + run.stderr
    assert "app/app/queries.py:9:9: error GQL_UNKNOWN_FRAGMENT " in run.stdout
    assert "= hint: did you mean 'RepoFields'?" in run.stdout
    assert "GQL_UNUSED_FRAGMENT_ARG" not in run.stdout + run.stderr  # one report per cause
    assert "\x1b" not in run.stdout + run.stderr  # stdout is a pipe: no colour
    assert "[1 error]" in run.stdout


def test_cli_shows_the_code_frame(typo: Path) -> None:
    run = run_cli("build", "-w", str(typo), cwd=typo.parent)
    assert FRAME in run.stdout, run.stdout


def test_cli_json_has_the_suggestion_and_no_frame(typo: Path) -> None:
    run = run_cli("build", "-w", str(typo), "--json", cwd=typo.parent)
    assert run.code == 1, run.stdout + run.stderr
    data = run.json()
    [diagnostic] = data["projects"][0]["diagnostics"]
    assert diagnostic == {
        "severity": "error",
        "code": "GQL_UNKNOWN_FRAGMENT",
        "message": "unknown fragment 'RepoFieldz'",
        "file": "app/app/queries.py",
        "line": 9,
        "column": 9,
        "hint": "did you mean 'RepoFields'?",
    }
    # the human rendering of that very summary, with the root, is the frame
    assert "\n".join(render(data, root=typo)).startswith(FRAME)
    assert "|" not in json.dumps(data)


def test_cli_suggests_a_project_fragment_that_is_not_passed(typo: Path) -> None:
    """Without the argument, the suggestion comes from the project's fragments by name."""
    queries = typo / "app" / "app" / "queries.py"
    queries.write_text(queries.read_text().replace("    RepoFields,\n", ""))
    run = run_cli("build", "-w", str(typo), "--json", cwd=typo.parent)
    assert run.code == 1, run.stdout + run.stderr
    [diagnostic] = run.json()["projects"][0]["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == (
        "GQL_UNKNOWN_FRAGMENT",
        9,
        9,
    )
    assert diagnostic["hint"] == "did you mean 'RepoFields'?"
