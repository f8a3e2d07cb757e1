"""Hostile inputs (issue 9): rule files, Python sources and GraphQL that used to hang, crash
or raise become located diagnostics.

Rule evaluation is bounded (static nesting check, step budget, deadline; memory and CPU
limits in a forked child), the scanner survives deep nesting, NUL bytes, lone surrogates and
megabyte lines, and GraphQL documents and schema files have an explicit nesting limit.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest
from graphql import Source

from sodabuild.compose.document import MAX_GRAPHQL_DEPTH, nesting_error, parse_bounded
from sodabuild.diagnostics import Diagnostic, SodabuildError
from sodabuild.graphql import GraphQLCompositionError, gql
from sodabuild.rules import load as rules_load
from sodabuild.rules.load import load_rules, nesting_problem
from sodabuild.scan.python import _ByteColumns, _char_column, scan_python
from sodabuild.scan.static import Lit, evaluate, joined, local_lookup, locate
from sodabuild.validate.schema import load_schema

from .conftest import FIXTURES
from .test_fuzz_inputs import build_in_process, make_workspace

GQL_MODULES = ("sodabuild.graphql",)


def rule_errors(root: Path, files: dict[str, str]) -> list[Diagnostic]:
    for name, text in files.items():
        path = root / "rules" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with pytest.raises(SodabuildError) as info:
        load_rules(root, ["rules"])
    return info.value.diagnostics


def where(diagnostic: Diagnostic) -> tuple[str, str | None, int | None, int | None]:
    return (diagnostic.code, diagnostic.file, diagnostic.line, diagnostic.column)


@pytest.fixture(params=["forked", "in-process"])
def evaluation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both evaluation modes: a forked, resource-limited child, and in-process."""
    value = "1" if request.param == "in-process" else ""
    monkeypatch.setenv("SODABUILD_RULES_IN_PROCESS", value)
    return str(request.param)


# -- Starlark limits -----------------------------------------------------------------------


def test_endless_loop_is_a_located_rule_error(tmp_path: Path, evaluation: str) -> None:
    started = time.monotonic()
    [error] = rule_errors(
        tmp_path,
        {"loop.star": "def spin():\n    for i in range(2000000000):\n        pass\n\nspin()\n"},
    )
    assert time.monotonic() - started < 30
    assert error.code == "RULE_ERROR"
    assert error.file == "rules/loop.star"
    assert error.line in (2, 5)
    assert "limit" in error.message


def test_step_budget_is_shared_by_loaded_files(tmp_path: Path, evaluation: str) -> None:
    errors = rule_errors(
        tmp_path,
        {
            "lib.star": "def spin():\n    for i in range(2000000000):\n        pass\n\nspin()\n",
            "main.star": 'load("lib.star", "spin")\n',
        },
    )
    assert {(e.code, e.file, e.line) for e in errors} <= {
        ("RULE_ERROR", "rules/lib.star", 2),
        ("RULE_ERROR", "rules/lib.star", 5),
    }


@pytest.mark.parametrize(
    "source",
    [
        "X = " + "[" * 3000 + "1" + "]" * 3000 + "\n",
        "X = 1" + " + 1" * 20000 + "\n",
        'X = "a"' + ".upper()" * 3000 + "\n",
        "X = " + "lambda: " * 3000 + "1\n",
        "X = " + "-" * 30000 + "1\n",
    ],
    ids=["brackets", "binop-chain", "method-chain", "lambdas", "unary"],
)
def test_deep_nesting_is_a_located_rule_error(tmp_path: Path, evaluation: str, source: str) -> None:
    [error] = rule_errors(tmp_path, {"deep.star": "# deep\n" + source})
    assert where(error)[:3] == ("RULE_ERROR", "rules/deep.star", 2)
    assert "nested too deeply" in error.message


def test_nesting_check_accepts_real_rule_files() -> None:
    builtin = rules_load.builtin_rules_dir() / "graphql.star"
    assert nesting_problem(builtin.read_text(encoding="utf-8")) is None
    wide = "X = [" + ", ".join(f"-{i}" for i in range(20000)) + "]\n"
    assert nesting_problem(wide) is None  # long, flat data is fine
    assert nesting_problem('X = "' + "(" * 5000 + '"  # ' + "[" * 5000 + "\n") is None


def test_memory_bomb_is_a_rule_error_of_its_file(tmp_path: Path) -> None:
    if not rules_load._can_fork():
        pytest.skip("memory limits need a forked child")
    started = time.monotonic()
    [error] = rule_errors(
        tmp_path,
        {
            "a_ok.star": "A = 1\n",
            "bomb.star": 'X = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" * 100000000\n',
        },
    )
    assert time.monotonic() - started < 60
    assert (error.code, error.file, error.line) == ("RULE_ERROR", "rules/bomb.star", 1)
    assert "memory" in error.message


def test_engine_crash_in_child_is_attributed_to_the_file(tmp_path: Path) -> None:
    # Deep values built at run time slip past the static check; converting them crashes
    # or fails in the engine: either way a RULE_ERROR of the file, never a dead build.
    if not rules_load._can_fork():
        pytest.skip("needs a forked child")
    source = "def deep():\n    x = []\n    for i in range(100000):\n        x = [x]\n    return x\n\nrule(name = 'deep', outputs = deep())\n"
    errors = rule_errors(tmp_path, {"deep.star": source})
    assert [(e.code, e.file) for e in errors] == [("RULE_ERROR", "rules/deep.star")] or [
        e.code for e in errors
    ] == ["RULE_INVALID"]


def test_symlinked_rule_file_leaving_the_workspace_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.star"
    outside.write_text('rule(name = "evil")\n', encoding="utf-8")
    root = tmp_path / "ws"
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "evil.star").symlink_to(outside)
    with pytest.raises(SodabuildError) as info:
        load_rules(root, ["rules"])
    [error] = info.value.diagnostics
    assert (error.code, error.file, error.line) == ("RULE_ERROR", "rules/evil.star", 1)
    assert "leaves the rule directories" in error.message


def test_symlink_loop_in_rule_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "loop.star").symlink_to("loop.star")
    (tmp_path / "rules" / "up").symlink_to("..")  # a directory loop: not followed forever
    with pytest.raises(SodabuildError) as info:
        load_rules(tmp_path, ["rules"])
    [error] = info.value.diagnostics
    assert (error.code, error.file, error.line) == ("RULE_ERROR", "rules/loop.star", 1)
    assert str(tmp_path) not in error.message


def test_symlink_inside_the_rule_directories_is_fine(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "real.star").write_text('rule(name = "real")\n', encoding="utf-8")
    (tmp_path / "rules" / "sub").mkdir()
    (tmp_path / "rules" / "sub" / "alias.star").symlink_to(tmp_path / "rules" / "real.star")
    assert "real" in load_rules(tmp_path, ["rules"]).rules


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_rule_file_is_refused_without_blocking(tmp_path: Path, evaluation: str) -> None:
    (tmp_path / "rules").mkdir()
    os.mkfifo(tmp_path / "rules" / "pipe.star")
    started = time.monotonic()
    with pytest.raises(SodabuildError) as info:
        load_rules(tmp_path, ["rules"])
    assert time.monotonic() - started < 30
    [error] = info.value.diagnostics
    assert (error.code, error.file) == ("RULE_ERROR", "rules/pipe.star")
    assert "not a regular file" in error.message


def test_oversized_and_undecodable_rule_files(tmp_path: Path, evaluation: str) -> None:
    (tmp_path / "rules").mkdir()
    big = "# " + "x" * rules_load.MAX_RULE_BYTES + "\n"
    (tmp_path / "rules" / "big.star").write_text(big, encoding="utf-8")
    (tmp_path / "rules" / "bad.star").write_bytes(b"A = 1\nB = '\xff'\n")
    with pytest.raises(SodabuildError) as info:
        load_rules(tmp_path, ["rules"])
    found = sorted(where(d) for d in info.value.diagnostics)
    assert found == [
        ("RULE_ERROR", "rules/bad.star", 2, 6),
        ("RULE_ERROR", "rules/big.star", 1, 1),
    ]


def test_valid_workspace_rules_still_load_forked(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.star").write_text(
        'rule(name = "mine", outputs = [artifact_output(path = "a.json")])\n', encoding="utf-8"
    )
    rules = load_rules(tmp_path, ["rules"])
    assert set(rules.rules) == {"graphql", "graphql-typed", "mine"}
    assert rules.files == ["<builtin>/graphql.star", "rules/mine.star"]


# -- the Python scanner --------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "x = 1" + " + 1" * 100_000,
        "x = " + "-" * 100_000 + "1",
        "x = a" + ".b" * 100_000,
        "x = f" + "()" * 100_000,
        "x = " + "(" * 10_000 + "1" + ")" * 10_000,
    ],
    ids=["binop", "unary", "attribute", "call", "parens"],
)
def test_deep_python_is_py_syntax(source: str) -> None:
    scan = scan_python("m.py", ("import os\n" + source + "\n").encode(), GQL_MODULES)
    assert not scan.parsed
    [error] = scan.diagnostics
    assert (error.code, error.file) == ("PY_SYNTAX", "m.py")
    assert error.line in (1, 2) and error.column is not None


def test_nul_byte_is_located_py_syntax() -> None:
    scan = scan_python("m.py", b"x = 1\ny = 2\x00\n", GQL_MODULES)
    [error] = scan.diagnostics
    assert (error.code, error.line) == ("PY_SYNTAX", 2)


def test_lone_surrogate_in_gql_string_is_located() -> None:
    data = (
        b"from sodabuild.graphql import gql\n\n"
        b'Q = gql("query Q { user(id: \\"\\ud800\\") { id } }")\n'
    )
    scan = scan_python("m.py", data, GQL_MODULES)
    assert scan.diagnostics == ()  # the build reports it (GQL_SYNTAX), once per document
    [definition] = scan.definitions
    text = evaluate(definition.expr, "m.py", local_lookup)
    # escapes in the literal: the character is located at the string's start
    assert locate(text, joined(text).index("\ud800")) == ("m.py", 3, 10)


def test_lone_surrogate_build_exits_with_source_errors(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    queries = root / "app" / "app" / "queries.py"
    text = queries.read_text(encoding="utf-8").replace("user(id: $id)", 'user(id: "\\udfff")')
    queries.write_text(text.replace("($id: ID!)", ""), encoding="utf-8")
    diagnostics = build_in_process(root)
    assert [(d.code, d.file, d.line) for d in diagnostics] == [
        ("GQL_SYNTAX", "app/app/queries.py", 5)
    ]


def test_megabyte_line_scans_whole() -> None:
    """5,000 gql() calls on one line padded past 1 MB (minutes when the source was re-split
    per string; ~1 s now: measured in the issue note, not asserted here) are all found and
    located."""
    pad = "x" * 200
    calls = [
        f"Q{i} = gql('query Q{i} {{ user(id: \"1\") {{ id }} }}'); P{i} = '{pad}'"
        for i in range(5_000)
    ]
    data = ("from sodabuild.graphql import gql\n" + "; ".join(calls) + "\n").encode()
    assert len(data) > 1_000_000
    scan = scan_python("big.py", data, GQL_MODULES)
    assert len(scan.definitions) == 5_000
    last = scan.definitions[-1]
    assert isinstance(last.expr, Lit)
    assert (last.line, last.expr.line) == (2, 2)
    line = data.decode().splitlines()[1]
    assert last.expr.column == line.index("query Q4999") + 1


def test_byte_columns_match_decoding() -> None:
    rng = random.Random(7)
    alphabet = ["a", " ", "é", "€", "😀", "\t", "ü"]
    for _ in range(200):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))).encode()
        columns = _ByteColumns([line])
        boundaries = [i for i in range(len(line) + 1) if i == len(line) or line[i] & 0xC0 != 0x80]
        for offset in boundaries:
            assert columns.offset(0, offset) + 1 == _char_column(line, offset)


def test_non_ascii_positions_still_exact() -> None:
    data = (
        "from sodabuild.graphql import gql\n"
        'Q = gql("query Q { a }"); R = gql("""query R { é }"""); S = gql("query S { b }")\n'
    ).encode()
    scan = scan_python("m.py", data, GQL_MODULES)
    positions = {
        d.name: (d.expr.line, d.expr.column, d.expr.exact)
        for d in scan.definitions
        if isinstance(d.expr, Lit)
    }
    assert positions == {"Q": (2, 10, True), "R": (2, 38, True), "S": (2, 66, True)}


# -- GraphQL nesting -------------------------------------------------------------------------


def test_graphql_nesting_limit_is_explicit_and_located() -> None:
    ok = "query Q " + "{ a " * MAX_GRAPHQL_DEPTH + "}" * MAX_GRAPHQL_DEPTH
    assert nesting_error(Source(ok)) is None
    parse_bounded(Source(ok))
    deep = "query Q " + "{ a " * (MAX_GRAPHQL_DEPTH + 1) + "}" * (MAX_GRAPHQL_DEPTH + 1)
    error = nesting_error(Source(deep, "s"))
    assert error is not None and error.locations
    assert (error.locations[0].line, error.locations[0].column) == (1, 9 + 4 * MAX_GRAPHQL_DEPTH)
    # brackets in strings, block strings and comments do not nest
    quiet = '# {{{{\nquery Q { a(x: "' + "{" * 100 + '", y: """' + "[" * 100 + '""") }'
    assert nesting_error(Source(quiet * 1)) is None


def test_deep_graphql_document_is_gql_syntax(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    deep = 'query Deep { user(id: "1") ' + "{ friend " * 5000 + "{ id }" + " }" * 5000 + " }"
    (root / "app" / "app" / "deep.py").write_text(
        f'from sodabuild.graphql import gql\n\nDeep = gql("""\n{deep}\n""")\n', encoding="utf-8"
    )
    diagnostics = build_in_process(root)
    [error] = diagnostics
    assert (error.code, error.file, error.line) == ("GQL_SYNTAX", "app/app/deep.py", 4)
    assert "nesting is too deep" in error.message


def test_deep_fragment_chain_is_a_located_diagnostic_or_valid(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    lines = ["from sodabuild.graphql import gql", ""]
    for i in reversed(range(40)):
        inner = f"...F{i + 1}" if i + 1 < 40 else "id"
        body = "friend { " * 60 + inner + " }" * 60
        arg = f", F{i + 1}" if i + 1 < 40 else ""
        lines.append(f'F{i} = gql("""fragment F{i} on User {{ {body} }}"""{arg})')
    (root / "app" / "app" / "chain.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for diagnostic in build_in_process(root):  # graphql-core 3.3 aborts deep validation
        assert (diagnostic.code, diagnostic.file) == ("GQL_VALIDATION", "app/app/chain.py")
        assert "nested too deeply" in diagnostic.message


def test_deep_schema_is_schema_syntax() -> None:
    sdl = b"type Query { a: Int }\ntype Deep { f: " + b"[" * 5000 + b"Int" + b"]" * 5000 + b" }\n"
    loaded = load_schema([("schema.graphql", sdl)])
    [error] = loaded.diagnostics
    assert (error.code, error.file, error.line) == ("SCHEMA_SYNTAX", "schema.graphql", 2)


def test_schema_decode_error_is_located() -> None:
    loaded = load_schema([("schema.graphql", b"type Query {\n  a: Int \xff\n}\n")])
    [error] = loaded.diagnostics
    assert (error.code, error.line, error.column) == ("SCHEMA_SYNTAX", 2, 10)


def test_run_time_gql_rejects_what_the_build_rejects() -> None:
    with pytest.raises(GraphQLCompositionError, match="U\\+D800"):
        gql('query Q { a(x: "\ud800") }')
    with pytest.raises(GraphQLCompositionError, match="nesting is too deep"):
        gql("query Q " + "{ a " * 1000 + "}" * 1000)


def test_fixture_small_app_is_within_the_limits() -> None:
    for path in sorted((FIXTURES / "small-app").rglob("*.py")):
        scan = scan_python(path.name, path.read_bytes(), GQL_MODULES)
        for definition in scan.definitions:
            text = joined(evaluate(definition.expr, path.name, local_lookup))
            assert nesting_error(Source(text)) is None
    assert sys.getrecursionlimit() >= 100


def test_refusal_in_a_loaded_file_is_reported_once_at_that_file(tmp_path: Path) -> None:
    errors = rule_errors(
        tmp_path,
        {
            "lib.star": "# deep\nX = " + "[" * 3000 + "]" * 3000 + "\n",
            "main.star": 'load("lib.star", "X")\n',
        },
    )
    assert [where(e) for e in errors] == [("RULE_ERROR", "rules/lib.star", 2, 204)]
    assert errors[0].message == "rule file is nested too deeply"
