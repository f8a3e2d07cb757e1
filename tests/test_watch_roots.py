"""Watch mode places no watch inside an out_dir (commits swap its directories) and still
sees every source: directories above an out_dir are watched shallowly, new directories
made in them get a watch of their own."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from sodabuild.session.watch import watch_roots


def test_watch_roots_cover_everything_but_the_ignored_subtrees(tmp_path: Path) -> None:
    for directory in (
        "proj/app/users",
        "proj/__generated__/chunks",
        "proj/.git/objects",
        "lib/shared",
        ".cache/sodabuild",
    ):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "proj" / ".__generated__.sodabuild-spare").mkdir()
    ignored = [tmp_path / ".cache/sodabuild", tmp_path / "proj/__generated__"]
    roots = {(str(Path(p).relative_to(tmp_path)), rec) for p, rec in watch_roots(tmp_path, ignored)}
    assert roots == {
        (".", False),
        (".cache", False),
        ("lib", True),
        ("proj", False),
        ("proj/app", True),
    }


def test_a_directory_made_beside_an_out_dir_is_watched(example_workspace: Path) -> None:
    from sodabuild.session.watch import watch_workspace

    project = example_workspace / "fixtures/small-app"
    config = project / "sodabuild.toml"
    config.write_text(config.read_text().replace('["app/**/*.py"]', '["**/*.py"]'))
    artifact = project / "__generated__/artifact.json"
    done: list[int] = []
    thread = threading.Thread(
        target=lambda: done.append(watch_workspace(example_workspace, None, stop_after=1)),
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not artifact.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    extra = project / "extra"  # beside __generated__: its parent is watched shallowly
    extra.mkdir()
    (extra / "ping.py").write_text(
        'from sodabuild.graphql import gql\n\nPing = gql("query Ping { viewer { login } }")\n'
    )
    thread.join(timeout=30)
    assert done == [0]
    elements = json.loads(artifact.read_text())["elements"]
    assert "extra/ping.py::Ping" in elements
