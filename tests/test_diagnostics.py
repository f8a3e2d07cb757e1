"""Diagnostics suite: every stable code, produced by the real CLI on small broken workspaces.

Each directory ``fixtures/invalid/<case>/`` is a self-contained workspace plus an
``expected.json``::

    {"exit_code": 1,
     "args": ["-p", "app"],                       # optional extra CLI arguments
     "diagnostics": [{"code": "GQL_SYNTAX", "file": "app/app/q.py", "line": 4, "column": 12,
                      "severity": "warning"}]}   # severity optional, default "error"

The expected positions were computed by hand from the fixture text (1-based, columns in
characters). Every case is copied into ``tmp_path`` before it is built, so no output ever
lands in the repository, and the CLI runs as a subprocess (``python -m sodabuild``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sodabuild.diagnostics import CODES, CONFIG_CODES

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = REPO / "fixtures" / "invalid"
CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "expected.json").is_file())
VALID = CASES_DIR / "valid"
#: Codes that no fixture case has to produce (OUTPUT_WRITE needs an unwritable disk,
#: USAGE is tested with ``-p nonexistent`` on the valid case below).
#: CACHE_PURGED is about the cache, not the sources: tests/test_session.py covers it.
#: INPUT_SKIPPED needs a FIFO or a symlink, which a copied case cannot hold:
#: tests/test_path_safety.py covers it.
#: CACHE_UNUSABLE (a cache dir that is a file, read-only...): tests/test_cache_safety.py.
#: REMOTE_CACHE needs a server (or a dead one): tests/test_remote_build.py covers it.
NOT_COVERED_BY_CASES = {
    "OUTPUT_WRITE",
    "USAGE",
    "CACHE_PURGED",
    "INPUT_SKIPPED",
    "CACHE_UNUSABLE",
    "REMOTE_CACHE",
}

Key = tuple[str, str | None, int | None, int | None]


# -- helpers ---------------------------------------------------------------------------------


def load_expected(case: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    return data


def copy_case(case: Path, tmp_path: Path) -> Path:
    """A private copy of the case workspace (never any outputs a stray run left behind)."""
    target = tmp_path / case.name
    shutil.copytree(
        case,
        target,
        ignore=shutil.ignore_patterns("expected.json", "__generated__", ".cache", "__pycache__"),
    )
    return target


def run_build(
    workspace: Path, *args: str, as_json: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SODABUILD_DEBUG"}
    command = [sys.executable, "-m", "sodabuild", "build", "-w", str(workspace)]
    if as_json:
        command.append("--json")
    command.extend(args)
    return subprocess.run(
        command,
        cwd=workspace.parent,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=180,
    )


def parse_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"stdout is not one JSON object (exit {proc.returncode})\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return data


def all_diagnostics(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Config-level diagnostics and every project's diagnostics, in one list."""
    found = list(data.get("diagnostics", []))
    for project in data.get("projects", []):
        found.extend(project["diagnostics"])
    return found


def key(diagnostic: dict[str, Any]) -> Key:
    return (diagnostic["code"], diagnostic["file"], diagnostic["line"], diagnostic["column"])


def fmt(diagnostic: dict[str, Any]) -> str:
    severity = diagnostic.get("severity", "error")
    where = f"{diagnostic['file']}:{diagnostic['line']}:{diagnostic['column']}"
    message = diagnostic.get("message")
    return f"{severity} {diagnostic['code']} at {where}" + (f"  ({message})" if message else "")


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` (hidden ones too) with its bytes."""
    if not directory.exists():
        return {}
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# -- the fixture cases themselves ------------------------------------------------------------


def test_there_are_cases() -> None:
    assert len(CASES) >= 30, [c.name for c in CASES]
    assert VALID in CASES


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_expected_file_is_well_formed(case: Path) -> None:
    expected = load_expected(case)
    assert set(expected) <= {"exit_code", "args", "diagnostics"}
    assert expected["exit_code"] in (0, 1, 2)
    assert all(isinstance(a, str) for a in expected.get("args", []))
    keys = [key(d) for d in expected["diagnostics"]]
    assert len(keys) == len(set(keys)), "an expected diagnostic is listed twice"
    for diagnostic in expected["diagnostics"]:
        assert set(diagnostic) <= {"code", "file", "line", "column", "severity"}, diagnostic
        assert diagnostic["code"] in CODES, diagnostic
        assert diagnostic.get("severity", "error") in ("error", "warning"), diagnostic
        if diagnostic["file"] is None:  # only a missing workspace file has no location
            assert diagnostic["code"] == "CONFIG_NOT_FOUND", diagnostic
            assert diagnostic["line"] is None and diagnostic["column"] is None, diagnostic
            continue
        assert isinstance(diagnostic["line"], int) and diagnostic["line"] >= 1, diagnostic
        assert isinstance(diagnostic["column"], int) and diagnostic["column"] >= 1, diagnostic
        if not diagnostic["file"].startswith("<builtin>/"):
            assert (case / diagnostic["file"]).is_file(), f"{diagnostic['file']} is not in {case}"
    # the exit code follows from the codes: config problems 2, source errors 1, warnings 0
    codes = {d["code"] for d in expected["diagnostics"]}
    errors = [d for d in expected["diagnostics"] if d.get("severity", "error") == "error"]
    if codes & CONFIG_CODES:
        assert expected["exit_code"] == 2
    elif errors:
        assert expected["exit_code"] == 1
    else:
        assert expected["exit_code"] == 0


def test_every_code_is_covered_by_a_case() -> None:
    covered = {d["code"] for case in CASES for d in load_expected(case)["diagnostics"]}
    missing = sorted(set(CODES) - NOT_COVERED_BY_CASES - covered)
    assert not missing, f"no fixtures/invalid case produces: {', '.join(missing)}"


# -- the build reports exactly what each case expects ----------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_diagnostics(case: Path, tmp_path: Path) -> None:
    expected = load_expected(case)
    workspace = copy_case(case, tmp_path)
    proc = run_build(workspace, *expected.get("args", []))

    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    data = parse_json(proc)
    assert "internal_error" not in data, data.get("internal_error")
    actual = all_diagnostics(data)

    problems: list[str] = []
    if proc.returncode != expected["exit_code"]:
        problems.append(f"exit code {proc.returncode}, expected {expected['exit_code']}")
    if data.get("ok") is not (expected["exit_code"] == 0):
        problems.append(f"ok is {data.get('ok')!r} with exit code {expected['exit_code']}")
    for diagnostic in actual:
        if set(diagnostic) != {"severity", "code", "message", "file", "line", "column", "hint"}:
            problems.append(f"malformed diagnostic {diagnostic}")
        elif diagnostic["code"] not in CODES or diagnostic["severity"] not in ("error", "warning"):
            problems.append(f"unknown code or severity: {fmt(diagnostic)}")
    for want in expected["diagnostics"]:
        matches = [d for d in actual if key(d) == key(want)]
        if not matches:
            problems.append(f"missing: {fmt(want)}")
        elif len(matches) > 1:
            problems.append(f"reported {len(matches)} times: {fmt(want)}")
        elif matches[0]["severity"] != want.get("severity", "error"):
            problems.append(f"severity {matches[0]['severity']}, expected {fmt(want)}")
    wanted = {key(d) for d in expected["diagnostics"]}
    for diagnostic in actual:
        if diagnostic["severity"] == "error" and key(diagnostic) not in wanted:
            problems.append(f"unexpected: {fmt(diagnostic)}")

    listing = [f"  {fmt(d)}" for d in actual] or ["  (none)"]
    assert not problems, "\n".join([*problems, "actual diagnostics:", *listing])


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_human_output(case: Path, tmp_path: Path) -> None:
    """Without --json every diagnostic prints as ``path:line:col: severity CODE message``."""
    expected = load_expected(case)
    workspace = copy_case(case, tmp_path)
    proc = run_build(workspace, *expected.get("args", []), as_json=False)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == expected["exit_code"], output
    lines = output.splitlines()
    for want in expected["diagnostics"]:
        if want["file"] is None:
            where = "<workspace>"
        elif want["line"] is None:
            where = want["file"]
        else:
            where = f"{want['file']}:{want['line']}:{want['column']}"
        prefix = f"{where}: {want.get('severity', 'error')} {want['code']} "
        hits = [line for line in lines if line.startswith(prefix)]
        assert len(hits) == 1, f"expected one line starting {prefix!r} in:\n{output}"
        assert hits[0][len(prefix) :].strip(), f"no message after {prefix!r}"


def test_human_output_format_for_a_source_error(tmp_path: Path) -> None:
    workspace = copy_case(CASES_DIR / "gql_syntax", tmp_path)
    proc = run_build(workspace, as_json=False)
    assert proc.returncode == 1
    assert "app/app/queries.py:3:41: error GQL_SYNTAX " in proc.stdout
    assert "app/app/queries.py:10:7: error GQL_SYNTAX " in proc.stdout
    assert "\n  = hint: " in proc.stdout
    assert "failed" in proc.stdout.splitlines()[-1]


def test_human_output_format_for_a_config_error(tmp_path: Path) -> None:
    workspace = copy_case(CASES_DIR / "config_toml_workspace", tmp_path)
    proc = run_build(workspace, as_json=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sodabuild.toml:2:6: error CONFIG_TOML "), proc.stderr


# -- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "human"])
def test_unknown_project_is_a_usage_error(tmp_path: Path, as_json: bool) -> None:
    workspace = copy_case(VALID, tmp_path)
    proc = run_build(workspace, "-p", "nonexistent", as_json=as_json)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    if as_json:
        data = parse_json(proc)
        assert data["ok"] is False
        assert data["projects"] == []
        codes = [d["code"] for d in all_diagnostics(data)]
        assert codes == ["USAGE"]
        assert "nonexistent" in all_diagnostics(data)[0]["message"]
    else:
        assert "error USAGE " in proc.stderr and "nonexistent" in proc.stderr
    assert snapshot(workspace / "app" / "__generated__") == {}


# -- several errors in one run ---------------------------------------------------------------


def test_errors_in_different_files_are_reported_in_one_run(tmp_path: Path) -> None:
    workspace = copy_case(CASES_DIR / "multi_file_errors", tmp_path)
    proc = run_build(workspace)
    assert proc.returncode == 1
    errors = [d for d in all_diagnostics(parse_json(proc)) if d["severity"] == "error"]
    assert {(d["file"], d["code"]) for d in errors} == {
        ("app/app/fragments.py", "GQL_SYNTAX"),
        ("app/app/b.py", "GQL_VALIDATION"),
        ("app/app/c.py", "PY_SYNTAX"),
    }
    # the broken fragment is imported by a.py and b.py: still reported once
    assert len(errors) == 3, [fmt(d) for d in errors]


# -- a failing build keeps the previous outputs ----------------------------------------------

BREAKAGES = {
    # unknown field in an operation (fails at validation, after composition)
    "gql_validation": (
        "app/app/queries.py",
        "        friend {\n",
        "        email\n        friend {\n",
    ),
    # Python syntax error in the fragment module (fails at scanning)
    "py_syntax": ("app/app/fragments.py", 'UserFields = gql("""', 'UserFields = gql(("""'),
    # GraphQL syntax error in the fragment (fails at parsing)
    "gql_syntax": ("app/app/fragments.py", "      name\n", "      name(\n"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_failed_rebuild_leaves_previous_outputs_untouched(tmp_path: Path, breakage: str) -> None:
    workspace = copy_case(VALID, tmp_path)
    out_dir = workspace / "app" / "__generated__"
    first = run_build(workspace)
    assert first.returncode == 0, first.stdout + first.stderr
    before = snapshot(out_dir)
    assert "artifact.json" in before and "persisted-queries.json" in before
    assert any(name.startswith("chunks/") for name in before)

    # Changes that WOULD alter every output if anything were written: a new module with a
    # new operation (new chunk, new artifact and manifest entries), an extra field in the
    # fragment ... and one breakage that makes the build fail.
    (workspace / "app" / "app" / "extra.py").write_text(
        "from sodabuild.graphql import gql\n\n"
        'ListUsers = gql("query ListUsers { users(first: 3) { id name } }")\n',
        encoding="utf-8",
    )
    fragments = workspace / "app" / "app" / "fragments.py"
    fragments.write_text(
        fragments.read_text(encoding="utf-8").replace(
            "      id\n", "      id\n      friend { id }\n"
        ),
        encoding="utf-8",
    )
    relative, old, new = BREAKAGES[breakage]
    target = workspace / relative
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")

    second = run_build(workspace)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "Traceback" not in second.stderr
    data = parse_json(second)
    assert data["ok"] is False
    assert [p["written"] for p in data["projects"]] == [False]
    errors = [d for d in all_diagnostics(data) if d["severity"] == "error"]
    assert errors and all(d["file"] == relative for d in errors), [fmt(d) for d in errors]
    after = snapshot(out_dir)
    assert sorted(after) == sorted(before), "output files were added or removed"
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"outputs changed by a failed build: {changed}"
