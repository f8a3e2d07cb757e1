"""The remembered commit (``CommitMemo``): a live session's next commit trusts what its last
one left instead of walking the out_dir and its spare, and must give exactly what a full
commit gives, whatever happened to the trees in between (hand edits, stray files, a
commit by another process, a damaged spare)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sodabuild.session.fingerprint import Stamp
from sodabuild.write.commit import CommitMemo, CommitReport, commit_outputs, sibling
from tests.conftest import read_tree

OWNED = ("chunks/*.json",)
NAMES = [
    "artifact.json",
    "manifest.json",
    "chunks/a.json",
    "chunks/b.json",
    "chunks/x/c.json",
    "chunks/x/y/d.json",
    "typed/m.py",
    "typed/n/o.py",
]


class Committer:
    """Commits like a session: previous stamps and the memo carried from commit to commit."""

    def __init__(self, root: Path, remember: bool) -> None:
        self.root = root
        self.out = root / "out"
        self.remember = remember
        self.stamps: dict[str, Stamp] = {}
        self.recorded_ns = 0
        self.memo: CommitMemo | None = None
        self.fast = 0

    def commit(self, files: dict[str, bytes]) -> CommitReport:
        memo = self.memo if self.remember else None
        report = commit_outputs(
            self.root, self.out, files, OWNED, self.stamps, self.recorded_ns, memo
        )
        if memo is not None and report.memo is not None and report.memo is not memo:
            self.fast += report.memo.spare is memo.live
        self.memo = report.memo
        self.stamps = dict(report.stamps)
        self.recorded_ns = report.memo.recorded_ns if report.memo else 0
        return report


def _files(names: list[str], version: int) -> dict[str, bytes]:
    return {name: f"{name} v{version}\n".encode() for name in names}


def _meddle(root: Path, action: str, name: str) -> None:
    out = root / "out"
    target = out / name
    if action == "edit" and target.is_file():
        with open(target, "ab") as handle:  # in place: the inode is kept
            handle.write(b"hand edit\n")
    elif action == "delete" and target.is_file():
        target.unlink()
    elif action == "stray":
        stray = out / "chunks" / "stray.json"
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"stray\n")
    elif action == "user":
        (out / "README.user").write_bytes(b"kept\n")
    elif action == "spare":
        shutil.rmtree(sibling(out, ".sodabuild-spare"), ignore_errors=True)
    elif action == "spare-file":
        spare = sibling(out, ".sodabuild-spare")
        if spare.is_dir():
            (spare / name.replace("/", "_")).write_bytes(b"junk\n")


steps = st.lists(
    st.tuples(
        st.lists(st.sampled_from(NAMES), min_size=1, unique=True),
        st.integers(0, 2),
        st.sampled_from(["none", "none", "edit", "delete", "stray", "user", "spare", "spare-file"]),
        st.sampled_from(NAMES),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_remembered_commits_equal_full_commits(tmp_path_factory: object, steps: list) -> None:
    base = Path(tmp_path_factory.mktemp("memo"))  # type: ignore[attr-defined]
    fast, full = Committer(base / "fast", True), Committer(base / "full", False)
    for committer in (fast, full):
        committer.root.mkdir()
    for names, version, action, name in steps:
        files = _files(names, version)
        for committer in (fast, full):
            report = committer.commit(files)
            tree = read_tree(committer.out)
            # what was produced is there, byte for byte
            assert {rel: tree.get(rel) for rel in files} == files
            assert not (set(tree) - set(files)) & {n for n in NAMES}
            assert report.dirs
        assert read_tree(fast.out) == read_tree(full.out)
        for committer in (fast, full):
            _meddle(committer.root, action, name)


def test_a_quiet_session_takes_the_remembered_path(tmp_path: Path) -> None:
    committer = Committer(tmp_path, True)
    for version in range(5):
        names = NAMES if version % 2 == 0 else NAMES[:-2]
        committer.commit(_files(names, version))
    # the first commit makes the out_dir (no spare yet), the second one the spare
    assert committer.fast == 3
    assert read_tree(committer.out) == _files(NAMES, 4)


def test_another_commit_in_between_is_noticed(tmp_path: Path) -> None:
    ours = Committer(tmp_path, True)
    ours.commit(_files(NAMES, 0))
    ours.commit(_files(NAMES, 1))
    ours.commit(_files(NAMES, 5))
    # another process (no memo of ours) commits twice: both trees swapped back and forth
    other = Committer(tmp_path, False)
    other.commit(_files(NAMES, 2))
    other.commit(_files(NAMES[:3], 3))
    report = ours.commit(_files(NAMES, 4))
    assert read_tree(tmp_path / "out") == _files(NAMES, 4)
    assert report.memo is not None
    assert ours.fast == 1  # only the third commit of ours trusted its memo


def test_a_hand_edited_output_is_rewritten(tmp_path: Path) -> None:
    committer = Committer(tmp_path, True)
    files = _files(NAMES, 0)
    committer.commit(files)
    committer.commit(_files(NAMES, 1))
    edited = tmp_path / "out" / "chunks" / "a.json"
    with open(edited, "ab") as handle:
        handle.write(b"!")
    os.utime(edited, ns=(0, 0))
    report = committer.commit(_files(NAMES, 1))
    assert "chunks/a.json" in report.written
    assert read_tree(tmp_path / "out") == _files(NAMES, 1)
