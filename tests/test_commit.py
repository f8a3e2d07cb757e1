"""Unit and CLI tests of the out_dir commit (sodabuild/write/commit.py): whole-directory
swaps, what is kept, what is removed, symlinks never followed, the umask honoured."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sodabuild.session.fingerprint import Stamp, content_hash
from sodabuild.write import atomic
from sodabuild.write.commit import (
    OutputPathError,
    check_committed,
    commit_outputs,
)
from tests.conftest import read_tree, run_cli

FILES = {
    "artifact.json": b'{"a": 1}\n',
    "persisted-queries.json": b"{}\n",
    "chunks/app/a.py.json": b'{"m": "a"}\n',
    "chunks/app/b.py.json": b'{"m": "b"}\n',
}


def _commit(root: Path, files: dict[str, bytes], **kwargs: object) -> object:
    return commit_outputs(root, root / "out", files, ["chunks/*.json"], **kwargs)  # type: ignore[arg-type]


def test_first_commit_creates_the_directory_whole(tmp_path: Path) -> None:
    report = _commit(tmp_path, FILES)
    assert read_tree(tmp_path / "out") == FILES
    assert sorted(report.written) == sorted(FILES)  # type: ignore[attr-defined]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging left


def test_unchanged_outputs_commit_nothing(tmp_path: Path) -> None:
    _commit(tmp_path, FILES)
    inode = os.stat(tmp_path / "out").st_ino
    report = _commit(tmp_path, FILES)
    assert not report.committed and sorted(report.unchanged) == sorted(FILES)  # type: ignore[attr-defined]
    assert os.stat(tmp_path / "out").st_ino == inode


def test_a_change_keeps_unchanged_files_and_foreign_ones(tmp_path: Path) -> None:
    _commit(tmp_path, FILES)
    out = tmp_path / "out"
    (out / "README.md").write_text("mine\n")
    (out / "chunks" / "app" / "notes.txt").write_text("mine too\n")
    (out / "chunks" / "app" / "gone.py.json").write_text("{}")  # a chunk no build produces
    (out / ".artifact.json.abcd1234.tmp").write_text("x")  # an old writer's leftover
    inode = os.stat(out / "chunks/app/b.py.json").st_ino
    changed = {**FILES, "chunks/app/a.py.json": b'{"m": "A"}\n'}
    report = _commit(tmp_path, changed)
    assert report.written == ["chunks/app/a.py.json"]  # type: ignore[attr-defined]
    assert report.removed == [".artifact.json.abcd1234.tmp", "chunks/app/gone.py.json"]  # type: ignore[attr-defined]
    assert read_tree(out) == {
        **changed,
        "README.md": b"mine\n",
        "chunks/app/notes.txt": b"mine too\n",
    }
    assert os.stat(out / "chunks/app/b.py.json").st_ino == inode  # linked, not rewritten


def test_outputs_no_longer_produced_are_removed(tmp_path: Path) -> None:
    report = _commit(tmp_path, {**FILES, "other.json": b"1"})
    stamps = report.stamps  # type: ignore[attr-defined]
    assert stamps["other.json"] == Stamp(
        1, stamps["other.json"].mtime_ns, stamps["other.json"].inode, content_hash(b"1")
    )
    report = _commit(tmp_path, FILES, previous=stamps, recorded_ns=0)
    assert report.removed == ["other.json"]  # type: ignore[attr-defined]
    assert read_tree(tmp_path / "out") == FILES


def test_a_symlinked_out_dir_or_parent_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.json").write_text("{}")
    root = tmp_path / "ws"
    root.mkdir()
    (root / "out").symlink_to(elsewhere)
    with pytest.raises(OutputPathError):
        _commit(root, FILES)
    (root / "out").unlink()
    (root / "deep").symlink_to(elsewhere)
    with pytest.raises(OutputPathError):
        commit_outputs(root, root / "deep" / "out", FILES, ["chunks/*.json"])
    assert read_tree(elsewhere) == {"keep.json": b"{}"}


def test_a_symlinked_chunks_dir_inside_is_replaced_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "app").mkdir(parents=True)
    (elsewhere / "app" / "precious.json").write_text("{}")
    root = tmp_path / "ws"
    (root / "out").mkdir(parents=True)
    (root / "out" / "chunks").symlink_to(elsewhere)
    _commit(root, FILES)
    assert read_tree(root / "out") == FILES
    assert not (root / "out" / "chunks").is_symlink()
    assert read_tree(elsewhere) == {"app/precious.json": b"{}"}


def test_check_reports_missing_different_and_stale(tmp_path: Path) -> None:
    _commit(tmp_path, FILES)
    out = tmp_path / "out"
    (out / "chunks" / "app" / "stale.py.json").write_text("{}")
    (out / "artifact.json").write_text("changed")
    wanted = {**FILES, "chunks/app/new.py.json": b"{}"}
    assert check_committed(out, wanted, ["chunks/*.json"]) == [
        "artifact.json",
        "chunks/app/new.py.json",
        "chunks/app/stale.py.json",
    ]


def test_files_honour_the_umask(tmp_path: Path) -> None:
    before = os.umask(0o027)
    atomic._umask = None
    try:
        _commit(tmp_path, FILES)
        atomic.atomic_write(tmp_path / "single.bin", b"x")
    finally:
        os.umask(before)
        atomic._umask = None
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "artifact.json").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "single.bin").st_mode) == 0o640


def test_a_checkout_with_symlinked_outputs_cannot_write_or_delete_outside(
    example_workspace: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "victim"
    (elsewhere / "app").mkdir(parents=True)
    (elsewhere / "app" / "precious.json").write_text("{}")
    generated = example_workspace / "fixtures" / "small-app" / "__generated__"
    generated.mkdir()
    (generated / "chunks").symlink_to(elsewhere)
    lib_generated = example_workspace / "fixtures" / "shared-lib" / "__generated__"
    lib_generated.symlink_to(elsewhere)
    result = run_cli("build", "-w", str(example_workspace))
    assert result.code != 0 and "Traceback" not in result.stderr
    assert "symlink" in result.stdout + result.stderr
    assert read_tree(elsewhere) == {"app/precious.json": b"{}"}
    lib_generated.unlink()
    result = run_cli("build", "-w", str(example_workspace))
    assert result.code == 0, result.stderr
    assert not (generated / "chunks").is_symlink()
    assert read_tree(elsewhere) == {"app/precious.json": b"{}"}


def test_check_and_no_op_notice_outputs_no_build_wrote(example_workspace: Path) -> None:
    """A chunk no recorded build wrote (say, by a killed build of a module since deleted)
    makes the no-op check fail: --check reports it, the next build removes it."""
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    chunks = example_workspace / "fixtures/small-app/__generated__/chunks/app"
    stray = chunks / "users" / "deleted_module.py.json"
    stray.write_text("{}")
    check = run_cli("build", "-w", str(example_workspace), "--check")
    assert check.code == 1
    assert "chunks/app/users/deleted_module.py.json" in check.stdout + check.stderr
    assert stray.exists()  # --check writes nothing
    assert run_cli("build", "-w", str(example_workspace)).code == 0
    assert not stray.exists()
    assert run_cli("build", "-w", str(example_workspace), "--check").code == 0


def test_a_failed_write_is_retried_not_replayed(example_workspace: Path) -> None:
    generated = example_workspace / "fixtures/small-app/__generated__"
    generated.write_text("a file where the out_dir should be\n")
    first = run_cli("build", "-w", str(example_workspace))
    assert first.code == 1 and "OUTPUT_WRITE" in first.stdout + first.stderr
    generated.unlink()
    second = run_cli("build", "-w", str(example_workspace))
    assert second.code == 0, second.stdout + second.stderr
    assert (generated / "artifact.json").is_file()


def test_without_an_atomic_exchange_the_fallback_swaps_by_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where renameat2's exchange is missing (macOS, some file systems), three renames do
    the swap: the same outputs, the old version kept as the spare, nothing left over."""
    from sodabuild.write import commit

    monkeypatch.setattr(commit, "_exchange", lambda a, b: False)
    _commit(tmp_path, FILES)
    changed = {**FILES, "artifact.json": b'{"a": 2}\n'}
    for version in (changed, FILES, changed):
        report = _commit(tmp_path, version)
        assert report.committed  # type: ignore[attr-defined]
        assert read_tree(tmp_path / "out") == version
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.sodabuild-spare", "out"]
    assert read_tree(tmp_path / ".out.sodabuild-spare") == FILES
