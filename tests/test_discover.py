"""File discovery: glob semantics and the walk of a project tree."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.discover import files as files_module
from sodabuild.discover.files import Matcher, discover_files, glob_regex


def matches(pattern: str, path: str) -> bool:
    return glob_regex(pattern).match(path) is not None


# -- glob semantics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.py", "a.py", True),
        ("**/*.py", "a/b.py", True),
        ("**/*.py", "a/b/c.py", True),
        ("**/*.py", "a/b/c.pyi", False),
        ("**/*.py", "a/b/c.py/d", False),
        ("app/**/*.py", "app/x.py", True),
        ("app/**/*.py", "app/a/b/x.py", True),
        ("app/**/*.py", "x.py", False),
        ("app/**/*.py", "lib/app/x.py", False),
        ("app/**/*.py", "application/x.py", False),
        ("*.py", "a.py", True),
        ("*.py", ".py", True),
        ("*.py", "a/b.py", False),
        ("*/*.py", "a/b.py", True),
        ("*/*.py", "a/b/c.py", False),
        ("a?.py", "ab.py", True),
        ("a?.py", "a.py", False),
        ("a?.py", "abc.py", False),
        ("a?b", "a/b", False),
        ("[ab].py", "a.py", True),
        ("[ab].py", "b.py", True),
        ("[ab].py", "c.py", False),
        ("[!a].py", "b.py", True),
        ("[!a].py", "a.py", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("**/__generated__/**", "__generated__/x.py", True),
        ("**/__generated__/**", "a/__generated__/b/c.py", True),
        ("**/__generated__/**", "a/__generated__", False),
        ("**/__generated__/**", "a/not__generated__/x.py", False),
        ("**", "a/b/c", True),
        ("a/**", "a/b/c", True),
        ("a/**", "ab/c", False),
        ("a+b(c).py", "a+b(c).py", True),
        ("a+b(c).py", "aab(c).py", False),
        ("a.py", "aXpy", False),
        ("[a", "[a", True),
        ("tests/**", "tests", False),
    ],
)
def test_glob_regex(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_glob_regex_is_anchored_and_cached() -> None:
    assert not matches("a.py", "a.py.bak")
    assert not matches("a.py", "xa.py")
    assert glob_regex("**/*.py") is glob_regex("**/*.py")


def test_close_bracket_first_in_a_class_is_literal() -> None:
    assert matches("[]a].py", "].py")
    assert matches("[]a].py", "a.py")
    assert not matches("[]a].py", "b.py")


def test_negated_class_does_not_match_a_slash() -> None:
    assert not matches("a[!x]b", "a/b")


_LITERAL = st.sampled_from(list("abcXY01._-+()"))
_CLASS = st.builds(
    lambda negate, chars, ranged: (
        ("[!" if negate else "[") + chars + ("a-c" if ranged else "") + "]"
    ),
    st.booleans(),
    st.text(alphabet="abcXY0._", min_size=1, max_size=3),
    st.booleans(),
)
_TOKEN = st.one_of(_LITERAL, _LITERAL, st.just("?"), st.just("*"), _CLASS)
# Classes (negated ones too) never match '/', so segment-wise matching holds for them as well.
_SEGMENT_TOKEN = st.one_of(_LITERAL, st.just("?"), st.just("*"), _CLASS)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    tokens=st.lists(_TOKEN, max_size=6),
    name=st.text(alphabet="abcXY01._-+()[]!?*", max_size=8),
)
def test_single_segment_globs_agree_with_fnmatch(tokens: list[str], name: str) -> None:
    pattern = "".join(tokens)
    assert matches(pattern, name) == fnmatch.fnmatchcase(name, pattern)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    segments=st.lists(st.lists(_SEGMENT_TOKEN, min_size=1, max_size=4), min_size=1, max_size=3),
    names=st.lists(st.text(alphabet="abcXY01._", min_size=1, max_size=5), min_size=1, max_size=3),
)
def test_multi_segment_globs_match_segment_by_segment(
    segments: list[list[str]], names: list[str]
) -> None:
    """Without '**', a glob matches a path iff every segment matches its fnmatch counterpart."""
    # runs of "*" would form "**", which may cross "/"; one "*" stays inside a segment
    patterns = [re.sub(r"\*+", "*", "".join(tokens)) for tokens in segments]
    expected = len(patterns) == len(names) and all(
        fnmatch.fnmatchcase(n, p) for n, p in zip(names, patterns, strict=False)
    )
    assert matches("/".join(patterns), "/".join(names)) == expected


# -- the Matcher ----------------------------------------------------------------------------


def test_matcher_include_and_exclude() -> None:
    matcher = Matcher(("app/**/*.py", "*.py"), ("app/tests/**", "**/conftest.py"))
    assert matcher.included("app/x.py")
    assert matcher.included("top.py")
    assert not matcher.included("lib/x.py")
    assert not matcher.included("app/tests/test_x.py")
    assert not matcher.included("app/conftest.py")
    assert matcher.excluded("conftest.py")
    assert not Matcher((), ()).included("a.py")


def test_matcher_prune_dir() -> None:
    matcher = Matcher(("**/*.py",), ("**/__generated__/**", "build/**"))
    assert matcher.prune_dir("__generated__")
    assert matcher.prune_dir("a/b/__generated__")
    assert matcher.prune_dir("build")
    assert not matcher.prune_dir("a/build")
    assert not matcher.prune_dir("generated")
    assert not matcher.prune_dir("a")


# -- discover_files -------------------------------------------------------------------------

TREE = [
    "proj/top.py",
    "proj/top.txt",
    "proj/a/x.py",
    "proj/a/b/y.py",
    "proj/a/b/z.pyi",
    "proj/__generated__/g.py",
    "proj/__generated__/x/h.py",
    "proj/sub/__generated__/i.py",
    "proj/sub/j.py",
    "proj/.git/k.py",
    "proj/sub/.git/objects/k2.py",
    "proj/__pycache__/l.py",
    "proj/a/__pycache__/m.py",
    "proj/.mypy_cache/n.py",
    "proj/real/r.py",
    "proj/tests/t.py",
    "proj/out/o.py",
    "other/elsewhere.py",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in TREE:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "proj/link").symlink_to(tmp_path / "proj/real", target_is_directory=True)
    (tmp_path / "proj/outside").symlink_to(tmp_path / "other", target_is_directory=True)
    return tmp_path


ALL_PY = Matcher(("**/*.py",), ())
NO_GENERATED = Matcher(("**/*.py",), ("**/__generated__/**",))


def test_discover_sorted_workspace_relative(tree: Path) -> None:
    assert discover_files(str(tree), "proj", ALL_PY, [".py"]) == [
        "proj/__generated__/g.py",
        "proj/__generated__/x/h.py",
        "proj/a/b/y.py",
        "proj/a/x.py",
        "proj/out/o.py",
        "proj/real/r.py",
        "proj/sub/__generated__/i.py",
        "proj/sub/j.py",
        "proj/tests/t.py",
        "proj/top.py",
    ]


def test_discover_project_at_the_workspace_root(tree: Path) -> None:
    found = discover_files(str(tree / "proj"), ".", Matcher(("*.py", "a/**/*.py"), ()), [".py"])
    assert found == ["a/b/y.py", "a/x.py", "top.py"]
    assert discover_files(str(tree / "proj"), "", Matcher(("*.py",), ()), [".py"]) == ["top.py"]


def test_discover_filters_by_extension(tree: Path) -> None:
    everything = Matcher(("**",), ())
    assert discover_files(str(tree), "proj/a", everything, [".pyi"]) == ["proj/a/b/z.pyi"]
    assert discover_files(str(tree), "proj/a", everything, [".py", ".pyi"]) == [
        "proj/a/b/y.py",
        "proj/a/b/z.pyi",
        "proj/a/x.py",
    ]
    assert discover_files(str(tree), "proj", everything, [".txt"]) == ["proj/top.txt"]
    assert discover_files(str(tree), "proj", everything, []) == []


def test_discover_include_and_exclude(tree: Path) -> None:
    matcher = Matcher(("a/**/*.py", "tests/*.py", "*.py"), ("a/b/**", "top.py"))
    assert discover_files(str(tree), "proj", matcher, [".py"]) == [
        "proj/a/x.py",
        "proj/tests/t.py",
    ]


def test_discover_excluded_generated_dirs(tree: Path) -> None:
    assert discover_files(str(tree), "proj", NO_GENERATED, [".py"]) == [
        "proj/a/b/y.py",
        "proj/a/x.py",
        "proj/out/o.py",
        "proj/real/r.py",
        "proj/sub/j.py",
        "proj/tests/t.py",
        "proj/top.py",
    ]


def test_discover_skip_dirs(tree: Path) -> None:
    found = discover_files(
        str(tree), "proj", NO_GENERATED, [".py"], skip_dirs=["proj/out", "proj/a/b/"]
    )
    assert found == [
        "proj/a/x.py",
        "proj/real/r.py",
        "proj/sub/j.py",
        "proj/tests/t.py",
        "proj/top.py",
    ]


def test_discover_prunes_excluded_and_always_skipped_dirs(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    visited: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str) -> object:
        visited.append(Path(path).relative_to(tree).as_posix())
        return real_scandir(path)

    monkeypatch.setattr(files_module.os, "scandir", recording_scandir)
    discover_files(str(tree), "proj", NO_GENERATED, [".py"], skip_dirs=["proj/out"])
    assert sorted(visited) == [
        "proj",
        "proj/a",
        "proj/a/b",
        "proj/real",
        "proj/sub",
        "proj/tests",
    ]


def test_discover_does_not_follow_symlinked_directories(tree: Path) -> None:
    found = discover_files(str(tree), "proj", ALL_PY, [".py"])
    assert not [p for p in found if p.startswith(("proj/link/", "proj/outside/"))]
    assert "proj/real/r.py" in found


def test_discover_missing_project_root(tree: Path) -> None:
    assert discover_files(str(tree), "nope", ALL_PY, [".py"]) == []


def test_discover_is_independent_of_listing_order(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = discover_files(str(tree), "proj", NO_GENERATED, [".py"])
    real_scandir = os.scandir

    def reversed_scandir(path: str) -> object:
        with real_scandir(path) as entries:
            return iter(sorted(entries, key=lambda e: e.name, reverse=True))

    monkeypatch.setattr(files_module.os, "scandir", reversed_scandir)
    assert discover_files(str(tree), "proj", NO_GENERATED, [".py"]) == expected


def test_pruning_never_drops_an_included_file(tmp_path: Path) -> None:
    for rel in ("p/d/m.py", "p/d/sub/n.py", "p/e.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    matcher = Matcher(("**/*.py",), ("d/*",))
    assert matcher.included("d/sub/n.py")
    assert not matcher.included("d/m.py")
    assert discover_files(str(tmp_path), "p", matcher, [".py"]) == ["p/d/sub/n.py", "p/e.py"]
