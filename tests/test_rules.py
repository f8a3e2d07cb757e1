"""Starlark rules: the built-in rule, workspace rules, hermetic evaluation, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sodabuild.diagnostics import Diagnostic, SodabuildError
from sodabuild.rules.load import builtin_rules_dir, load_rules
from sodabuild.rules.model import Output, Rule

from .conftest import REPO, run_cli

BUILTIN_FILE = "<builtin>/graphql.star"


#: The built-in rule's TypeScript and JavaScript globs, after the Python and GraphQL ones.
TS_JS_GLOBS = tuple(
    f"**/*{suffix}" for suffix in (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
)


def builtin_line(name: str = "graphql") -> int:
    """The line of ``name = "<name>"`` in the built-in rule file."""
    lines = (builtin_rules_dir() / "graphql.star").read_text(encoding="utf-8").splitlines()
    [number] = [i for i, line in enumerate(lines, 1) if line.strip() == f'name = "{name}",']
    return number


def write_rules(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / "rules" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def rule_errors(root: Path, files: dict[str, str]) -> list[Diagnostic]:
    write_rules(root, files)
    with pytest.raises(SodabuildError) as info:
        load_rules(root, ["rules"])
    return info.value.diagnostics


def where(diagnostic: Diagnostic) -> tuple[str, str | None, int | None, int | None]:
    return (diagnostic.code, diagnostic.file, diagnostic.line, diagnostic.column)


CUSTOM = {
    "common.star": 'OUTS = [artifact_output(path = "out.json")]\n',
    "lib/helpers.star": 'load("../common.star", "OUTS")\nBOTH = OUTS + [chunk_output(path = "c")]\n',
    "custom.star": (
        "# a workspace rule\n"
        'load("common.star", "OUTS")\n'
        'load("lib/helpers.star", "BOTH")\n'
        'load("@builtin//graphql.star", "PYTHON_SOURCES")\n'
        "\n"
        "rule(\n"
        '    name = "custom",\n'
        '    description = "mine",\n'
        "    discovery = PYTHON_SOURCES,\n"
        '    pruning = pruning_filter(kinds = ["operation"], depth = 2),\n'
        "    outputs = OUTS,\n"
        ")\n"
        "\n"
        "rule(\n"
        '    name = "both",\n'
        "    outputs = BOTH,\n"
        ")\n"
    ),
}

WORKSPACE = (
    '[workspace]\nname = "w"\nrule_dirs = ["rules"]\n\n[[projects]]\nname = "a"\nroot = "."\n'
)


# -- the built-in rule ---------------------------------------------------------------------


def test_builtin_rules_dir_is_the_checkout_rules_dir() -> None:
    assert builtin_rules_dir() == REPO / "rules"


def test_builtin_rule_loads(tmp_path: Path) -> None:
    rules = load_rules(tmp_path, [])
    assert list(rules.rules) == ["graphql", "graphql-typed"]
    assert rules.files == [BUILTIN_FILE]
    rule = rules.get("graphql")
    assert rule is not None
    assert rule.name == "graphql"
    assert rule.pipeline == "graphql"
    assert rule.file == BUILTIN_FILE
    assert rule.line == builtin_line()
    assert [(o.kind, o.path, o.format) for o in rule.outputs] == [
        ("chunks", "chunks", None),
        ("artifact", "artifact.json", None),
        ("manifest", "persisted-queries.json", "apollo"),
        ("runtime", "runtime", None),
    ]
    assert rule.output("artifact") == Output(kind="artifact", path="artifact.json")
    assert rule.discovery.include == ("**/*.py", "**/*.graphql", "**/*.gql", *TS_JS_GLOBS)
    assert "**/__generated__/**" in rule.discovery.exclude
    assert "**/*.d.ts" in rule.discovery.exclude
    assert rule.discovery.scanners == ("python", "graphql", "typescript", "javascript")
    assert rule.discovery.prefilter == "gql"
    assert rule.pruning.kinds == ()
    assert rule.pruning.depth is None
    assert rules.get("nope") is None


# -- workspace rules ------------------------------------------------------------------------


def test_workspace_rule_loads_sibling_and_builtin(tmp_path: Path) -> None:
    write_rules(tmp_path, CUSTOM)
    rules = load_rules(tmp_path, ["rules"])
    assert list(rules.rules) == ["both", "custom", "graphql", "graphql-typed"]
    assert rules.files == [
        BUILTIN_FILE,
        "rules/common.star",
        "rules/custom.star",
        "rules/lib/helpers.star",
    ]
    builtin = rules.rules["graphql"]
    custom = rules.rules["custom"]
    assert custom.file == "rules/custom.star"
    assert custom.line == 7
    assert custom.description == "mine"
    assert custom.discovery == builtin.discovery
    assert custom.pruning.kinds == ("operation",)
    assert custom.pruning.depth == 2
    assert custom.outputs == (Output(kind="artifact", path="out.json"),)
    both = rules.rules["both"]
    assert both.line == 15
    assert [(o.kind, o.path) for o in both.outputs] == [("artifact", "out.json"), ("chunks", "c")]
    assert both.discovery.include == ("**/*.py",)  # the model default


def test_a_file_loaded_twice_is_evaluated_once(tmp_path: Path) -> None:
    files = {
        "shared.star": 'rule(name = "shared")\nX = 1\n',
        "a.star": 'load("shared.star", "X")\nrule(name = "a")\n',
        "b.star": 'load("shared.star", "X")\nrule(name = "b")\n',
    }
    write_rules(tmp_path, files)
    rules = load_rules(tmp_path, ["rules"])
    assert list(rules.rules) == ["a", "b", "graphql", "graphql-typed", "shared"]
    assert rules.rules["shared"].file == "rules/shared.star"


def test_missing_rule_dir(tmp_path: Path) -> None:
    with pytest.raises(SodabuildError) as info:
        load_rules(tmp_path, ["rules"])
    [error] = info.value.diagnostics
    assert error.code == "CONFIG_INVALID"
    assert error.message == "rule directory 'rules' does not exist"


# -- hermetic evaluation ---------------------------------------------------------------------


def test_open_is_not_available(tmp_path: Path) -> None:
    [error] = rule_errors(tmp_path, {"a.star": 'x = 1\ny = open("/etc/passwd")\n'})
    assert where(error) == ("RULE_ERROR", "rules/a.star", 2, 5)
    assert error.message.startswith("Variable `open` not found")


@pytest.mark.parametrize(
    "target",
    ["../outside.star", "sub/../../outside.star", "/etc/passwd", "@builtin//../pyproject.toml"],
)
def test_load_outside_the_rule_dirs_fails(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside.star").write_text('X = 1\nrule(name = "outside")\n', encoding="utf-8")
    [error] = rule_errors(tmp_path, {"a.star": f'\nload("{target}", "X")\n'})
    assert where(error) == ("RULE_ERROR", "rules/a.star", 2, 1)
    assert error.message == f"load({target!r}) leaves the rule directories"


def test_load_of_a_missing_file(tmp_path: Path) -> None:
    [error] = rule_errors(tmp_path, {"a.star": 'load("nope.star", "X")\n'})
    assert where(error) == ("RULE_ERROR", "rules/a.star", 1, 1)
    assert error.message == "load('nope.star'): no such rule file"


def test_load_cycle(tmp_path: Path) -> None:
    files = {"a.star": 'load("b.star", "B")\nA = 1\n', "b.star": 'load("a.star", "A")\nB = 1\n'}
    errors = rule_errors(tmp_path, files)
    assert errors
    assert all(e.code == "RULE_ERROR" and e.message.startswith("load cycle: ") for e in errors)
    assert "rules/a.star -> rules/b.star -> rules/a.star" in {
        e.message.removeprefix("load cycle: ") for e in errors
    }


# -- located errors -------------------------------------------------------------------------


def test_syntax_error(tmp_path: Path) -> None:
    [error] = rule_errors(tmp_path, {"a.star": "x = 1\ny = )\n"})
    assert where(error) == ("RULE_ERROR", "rules/a.star", 2, 5)
    assert error.message.startswith("Parse error: unexpected symbol ')'")
    assert error.hint == "fix the Starlark code at this location"


def test_undefined_variable(tmp_path: Path) -> None:
    [error] = rule_errors(tmp_path, {"a.star": "x = 1\n\ny = 2 + zzz_undefined\n"})
    assert where(error) == ("RULE_ERROR", "rules/a.star", 3, 9)
    assert error.message.startswith("Variable `zzz_undefined` not found")


def test_error_in_loaded_file_points_at_the_loaded_file(tmp_path: Path) -> None:
    files = {
        "a.star": 'load("lib/b.star", "B")\n',
        "lib/b.star": "# helper\n\nB = undefined_name\n",
    }
    errors = rule_errors(tmp_path, files)
    assert {where(e) for e in errors} == {("RULE_ERROR", "rules/lib/b.star", 3, 5)}
    assert errors[0].message.startswith("Variable `undefined_name` not found")


def test_invalid_call_inside_a_loaded_function_points_at_the_loaded_file(tmp_path: Path) -> None:
    files = {
        "a.star": 'load("b.star", "make")\nx = make()\n',
        "b.star": 'def make():\n    return artifact_output(path = "/abs")\n',
    }
    [error] = rule_errors(tmp_path, files)
    assert where(error) == ("RULE_INVALID", "rules/b.star", 2, 12)
    assert error.message == "Value error, output path '/abs' must be relative and stay in out_dir"


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        pytest.param(
            'x = 1\nartifact_output(path = "../up.json")\n',
            2,
            "Value error, output path '../up.json' must be relative and stay in out_dir",
            id="output-path",
        ),
        pytest.param(
            'manifest_output(path = "m.json", format = "graphql-codegen")\n',
            1,
            "Value error, unknown manifest format 'graphql-codegen' (known: apollo, relay,"
            " persisted-documents)",
            id="manifest-format",
        ),
        pytest.param(
            'rule(\n    name = "x",\n    outputs = [artifact_output(path = "a"), artifact_output(path = "b")],\n)\n',
            1,
            "Value error, more than one artifact output",
            id="duplicate-output-kind",
        ),
        pytest.param(
            '\n\ndiscovery(scanner = "ruby")\n',
            3,
            "Value error, unknown scanner 'ruby'; the scanners are 'python', 'graphql',"
            " 'typescript', 'javascript'",
            id="scanner",
        ),
        pytest.param(
            'rule(name = "x", discovery = {"include": []})\n',
            1,
            "'discovery' must be made by discovery(...)",
            id="untagged-discovery",
        ),
        pytest.param(
            'rule(name = "x", outputs = artifact_output(path = "a"))\n',
            1,
            "'outputs' must be a list of *_output(...) values",
            id="outputs-not-a-list",
        ),
        pytest.param(
            'rule(name = "x", nope = 1)\n',
            1,
            "nope: Extra inputs are not permitted",
            id="unknown-argument",
        ),
        pytest.param(
            "pruning_filter(depth = -1)\n",
            1,
            "depth: Input should be greater than or equal to 0",
            id="negative-depth",
        ),
    ],
)
def test_invalid_constructor_arguments(
    tmp_path: Path, source: str, line: int, message: str
) -> None:
    [error] = rule_errors(tmp_path, {"a.star": source})
    assert where(error) == ("RULE_INVALID", "rules/a.star", line, 1)
    assert error.message == message
    assert error.hint is not None


def test_invalid_rule_name(tmp_path: Path) -> None:
    [error] = rule_errors(tmp_path, {"a.star": 'rule(name = "1x")\n'})
    assert where(error) == ("RULE_INVALID", "rules/a.star", 1, 1)
    assert error.message.startswith("name: String should match pattern")


def test_duplicate_of_the_builtin_rule(tmp_path: Path) -> None:
    [error] = rule_errors(tmp_path, {"a.star": '# mine\nrule(name = "graphql")\n'})
    assert where(error) == ("RULE_DUPLICATE", "rules/a.star", 2, 1)
    assert error.message == (
        f"rule 'graphql' is already defined at {BUILTIN_FILE}:{builtin_line()}"
    )
    assert error.hint == "rename one of the rules"


def test_duplicate_across_workspace_files(tmp_path: Path) -> None:
    files = {"a.star": '\nrule(name = "x")\n', "b.star": '\n\nrule(\n    name = "x",\n)\n'}
    [error] = rule_errors(tmp_path, files)
    assert where(error) == ("RULE_DUPLICATE", "rules/b.star", 3, 1)
    assert error.message == "rule 'x' is already defined at rules/a.star:2"


def test_errors_of_several_files_are_all_reported(tmp_path: Path) -> None:
    files = {"a.star": "x = )\n", "b.star": "y = undefined\n"}
    errors = rule_errors(tmp_path, files)
    assert [(e.code, e.file, e.line) for e in errors] == [
        ("RULE_ERROR", "rules/a.star", 1),
        ("RULE_ERROR", "rules/b.star", 1),
    ]


# -- content hash ---------------------------------------------------------------------------


def test_content_hash_ignores_location_but_not_outputs(tmp_path: Path) -> None:
    rule = load_rules(tmp_path, []).rules["graphql"]
    moved = rule.model_copy(update={"file": "rules/elsewhere.star", "line": 99})
    assert moved.content_hash() == rule.content_hash()
    fewer = rule.model_copy(update={"outputs": rule.outputs[:2]})
    assert fewer.content_hash() != rule.content_hash()
    renamed = rule.model_copy(
        update={"outputs": (*rule.outputs[:2], Output(kind="manifest", path="pq.json"))}
    )
    assert renamed.content_hash() != rule.content_hash()
    assert rule.content_hash() == rule.content_hash()
    assert len(rule.content_hash()) == 16


def test_content_hash_of_equal_declarations_in_different_files() -> None:
    one = Rule(name="r", outputs=(Output(kind="artifact", path="a.json"),), file="a.star", line=1)
    two = Rule(name="r", outputs=(Output(kind="artifact", path="a.json"),), file="b.star", line=7)
    other = Rule(name="r", outputs=(Output(kind="artifact", path="b.json"),), file="a.star", line=1)
    assert one.content_hash() == two.content_hash()
    assert one.content_hash() != other.content_hash()


# -- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def rule_workspace(tmp_path: Path) -> Path:
    (tmp_path / "sodabuild.toml").write_text(WORKSPACE, encoding="utf-8")
    write_rules(tmp_path, CUSTOM)
    return tmp_path


def test_cli_rules_list(rule_workspace: Path) -> None:
    result = run_cli("rules", "list", cwd=rule_workspace / "rules")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    headers = [line for line in lines if not line.startswith(" ")]
    assert headers == [
        "both  (rules/custom.star:15)",
        "custom  (rules/custom.star:7)",
        f"graphql  ({BUILTIN_FILE}:{builtin_line()})",
        f"graphql-typed  ({BUILTIN_FILE}:{builtin_line('graphql-typed')})",
    ]
    assert "    mine" in lines
    globs = ", ".join(("**/*.py", "**/*.graphql", "**/*.gql", *TS_JS_GLOBS))
    assert f"    include: {globs}  outputs: artifact:out.json" in lines
    assert (
        f"    include: {globs}  outputs: chunks:chunks, "
        "artifact:artifact.json, manifest:persisted-queries.json, runtime:runtime"
    ) in lines


def test_cli_rules_list_json(rule_workspace: Path) -> None:
    result = run_cli("rules", "list", "--json", "-w", str(rule_workspace / "sodabuild.toml"))
    assert result.code == 0, result.stderr
    data = result.json()
    assert list(data) == ["both", "custom", "graphql", "graphql-typed"]
    assert data["custom"]["file"] == "rules/custom.star"
    assert data["custom"]["outputs"] == [{"kind": "artifact", "path": "out.json", "format": None}]
    assert data["graphql"]["file"] == BUILTIN_FILE
    assert [o["kind"] for o in data["graphql"]["outputs"]] == [
        "chunks",
        "artifact",
        "manifest",
        "runtime",
    ]
    loaded = load_rules(rule_workspace, ["rules"])
    assert data == {name: rule.model_dump(mode="json") for name, rule in loaded.rules.items()}


def test_cli_rules_list_without_a_workspace_shows_builtin(tmp_path: Path) -> None:
    if any((p / "sodabuild.toml").is_file() for p in tmp_path.resolve().parents):
        pytest.skip("a parent of the temporary directory holds a sodabuild.toml")
    result = run_cli("rules", "list", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert list(result.json()) == ["graphql", "graphql-typed"]


def test_cli_rules_list_bad_rule_exits_2(rule_workspace: Path) -> None:
    write_rules(rule_workspace, {"broken.star": "x = 1\ny = undefined_thing\n"})
    result = run_cli("rules", "list", cwd=rule_workspace)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("rules/broken.star:2:5: error RULE_ERROR Variable ")
    assert "Traceback" not in result.stderr
