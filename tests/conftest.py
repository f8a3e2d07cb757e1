"""Shared fixtures: the repository paths and a helper that runs the real CLI."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# the remote-cache servers: reapi_server, http_cache_server, fresh_* (tests/remote_servers.py)
pytest_plugins = ["tests.remote_servers"]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, cwd: Path | None = None) -> CliRun:
    """Run ``python -m sodabuild ARGS`` as a real subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "sodabuild", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The per-user cache key in a temp file, never the real home's (CLI subprocesses
    inherit the variable)."""
    name = "SODABUILD_CACHE_KEY_FILE"
    previous = os.environ.get(name)
    os.environ[name] = str(tmp_path_factory.mktemp("cache-key") / "cache.key")
    yield
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


@pytest.fixture
def cli() -> Callable[..., CliRun]:
    return run_cli


@pytest.fixture
def example_workspace(tmp_path: Path) -> Path:
    """A private copy of the bundled example workspace (fixtures + workspace file)."""
    return copy_example_workspace(tmp_path / "ws")


def copy_example_workspace(target: Path) -> Path:
    """Copy the bundled example workspace (fixtures + workspace file) to ``target``."""
    (target / "fixtures").mkdir(parents=True)
    for name in ("small-app", "shared-lib", "gql-app", "web-client"):
        shutil.copytree(
            FIXTURES / name,
            target / "fixtures" / name,
            ignore=shutil.ignore_patterns("__generated__", "__pycache__"),
        )
    shutil.copy(REPO / "workspace.example.toml", target / "sodabuild.toml")
    return target


@functools.cache
def generator() -> ModuleType:
    """``fixtures/generate.py`` as a module (it is a script, not part of the package)."""
    name = "sodabuild_fixtures_generate"
    spec = importlib.util.spec_from_file_location(name, FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by POSIX relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
