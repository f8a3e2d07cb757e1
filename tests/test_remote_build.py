"""The remote cache in real builds: the real CLI on copies of the example workspace against
real servers (BuildGrid over gRPC, nginx over bazel-remote's HTTP protocol; see
tests/remote_servers.py), every test for both protocols.

- a warm remote cache makes a fresh checkout (no local cache, no outputs, another
  directory) reuse what a CI build uploaded, with outputs byte-identical to a local clean
  build;
- a server that is down (nothing listening, or a port that takes connections and never
  answers), or that dies while a build talks to it (after answering its lookups), costs
  one ``REMOTE_CACHE`` warning and a bounded wait, never the build or its outputs;
- a corrupted blob is reported and ignored;
- a read-only client leaves the server empty;
- two projects sharing fragments both get hits, and an edit of the shared fragment is
  never answered from the stale remote entries;
- headers come from environment variables and reach the server; a required one unset is
  one warning;
- a no-op build with a remote cache configured never imports grpc;
- a bad ``[workspace.remote_cache]`` is a located ``CONFIG_INVALID``.

The servers a test writes to are private (``fresh_*``) or cleared first, so no test sees
another's entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun, copy_example_workspace, read_tree
from tests.remote_servers import BuildGridServer, NginxServer, Server, free_port

PROTOCOLS = ("grpc", "http")
#: per protocol: the private server of one test, the session's server
FRESH = {"grpc": "fresh_reapi_server", "http": "fresh_http_cache_server"}
SESSION = {"grpc": "reapi_server", "http": "http_cache_server"}
#: seconds a remote cache call may take in the tests that make the server fail
TIMEOUT = 1.0
#: what a build may spend on a dead server beyond that one deadline
SLACK = 1.5
SHARED_FRAGMENT = "fixtures/shared-lib/shared/graphql/user.py"


# -- running builds --------------------------------------------------------------------------


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliRun:
    """``python -m sodabuild ARGS`` in a subprocess (never through a daemon)."""
    proc = subprocess.run(
        [sys.executable, "-m", "sodabuild", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SODABUILD_NO_DAEMON": "1", **(env or {})},
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def build(ws: Path, *args: str, code: int = 0) -> dict[str, Any]:
    """A ``--json`` build of ``ws`` that exits with ``code``: its summary."""
    result = run("build", "--json", *args, cwd=ws)
    assert result.code == code, f"exit {result.code}\n{result.stdout[-4000:]}\n{result.stderr}"
    summary: dict[str, Any] = result.json()
    return summary


def checkout(where: Path) -> Path:
    """A fresh copy of the example workspace: no cache, no outputs, new inodes and mtimes."""
    return copy_example_workspace(where)


def outputs(ws: Path) -> dict[str, bytes]:
    return {k: v for k, v in read_tree(ws / "fixtures").items() if "__generated__" in k}


def remote(summary: dict[str, Any]) -> dict[str, Any]:
    found = summary["cache"].get("remote")
    assert isinstance(found, dict), f"no cache.remote in the summary: {summary['cache']}"
    return found


def remote_notes(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in summary["cache"]["notes"] if n["code"] == "REMOTE_CACHE"]


def parsed(summary: dict[str, Any]) -> int:
    return int(summary["stats"]["counts"]["files_parsed"])


def configure(ws: Path, url: str | None = None, **settings: Any) -> None:
    """Add a ``[workspace.remote_cache]`` table to the workspace file."""
    lines = ["", "[workspace.remote_cache]"]
    if url is not None:
        lines.append(f"url = {json.dumps(url)}")
    for key, value in settings.items():
        text = json.dumps(value)  # true/false, numbers and plain strings are TOML too
        lines.append(f"{key} = {text}")
    path = ws / "sodabuild.toml"
    path.write_text(path.read_text() + "\n".join(lines) + "\n")


def edit_shared_fragment(ws: Path) -> None:
    """Select one more field in ``UserCore``, the shared-lib fragment small-app spreads."""
    path = ws / SHARED_FRAGMENT
    text = path.read_text()
    old = "fragment UserCore on User {\n      id\n"
    assert old in text
    path.write_text(text.replace(old, old + "      __typename\n", 1))


def assert_fail_open(summary: dict[str, Any], reference: Reference) -> None:
    """One REMOTE_CACHE warning, a bounded wait, a local build's outputs (checked by the
    caller) and nothing else gone wrong."""
    assert summary["ok"], summary
    notes = remote_notes(summary)
    assert len(notes) == 1, summary["cache"]["notes"]
    assert notes[0]["severity"] == "warning"
    stats = remote(summary)
    assert stats["error"], stats
    assert stats["seconds"] < TIMEOUT + SLACK, stats
    assert stats["entries_used"] == 0, stats
    assert stats["uploaded_entries"] == 0, stats
    assert [d for p in summary["projects"] for d in p["diagnostics"]] == reference.diagnostics


# -- what the servers hold ---------------------------------------------------------------------


def stored_files(server: Server) -> list[Path]:
    """Every file the server keeps its blobs and entries in."""
    if isinstance(server, NginxServer):
        root = server.data
    else:
        assert isinstance(server, BuildGridServer)
        root = server.storage_dir()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def cas_blobs(server: Server) -> dict[str, bytes]:
    """The CAS blobs the server holds, by SHA-256 (BuildGrid's also hold the ActionResult
    messages of its ActionCache)."""
    if isinstance(server, NginxServer):
        found = {p.name: p for p in stored_files(server) if p.parent.name == "cas"}
    else:
        assert isinstance(server, BuildGridServer)
        objects = server.storage_dir() / "cas" / "objects"
        found = {p.parent.name + p.name: p for p in objects.glob("*/*") if p.is_file()}
    return {digest: path.read_bytes() for digest, path in found.items()}


def shard_blobs(server: Server) -> dict[str, bytes]:
    """The uploaded blobs that hold a package directory's scans and compositions (pickles
    whose first item is ``"shard"``, see sodabuild/remote/share.py)."""
    return {
        digest: data
        for digest, data in cas_blobs(server).items()
        if data[:2] == b"\x80\x05" and b"\x8c\x05shard" in data[:64]
    }


# -- servers that fail ---------------------------------------------------------------------------


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=128) as listener:
        yield int(listener.getsockname()[1])


class CuttingProxy:
    """A TCP proxy in front of the server on ``port`` that, as soon as the client sends a
    request holding one of ``trigger`` (not forwarded), dies as a SIGKILLed server does
    to its clients: every connection reset, new ones refused. What came before was
    answered: the server dies in the middle of a build's session with it. (The server
    itself keeps running, so a warm session server can stand behind it.) With no
    trigger it passes everything through, recording the requests."""

    def __init__(self, port: int, trigger: tuple[bytes, ...]) -> None:
        self.upstream_port = port
        self.trigger = trigger
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut = threading.Event()
        self.answered = 0  # bytes of answers relayed before the cut
        self.requests = b""  # what the client sent before the cut (for failure messages)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self.cut.is_set():
                    _reset(client)
                    _reset(upstream)
                    return
                self._sockets += [client, upstream]
            for args in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(
                    target=self._pump, args=args, name="proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket, answers: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                break
            if not data:
                break
            if not answers:
                with self._lock:
                    if not self.cut.is_set():
                        self.requests += data
                        tail = self.requests[-(len(data) + 64) :]
                        if any(marker in tail for marker in self.trigger):
                            self._cut()
                if self.cut.is_set():
                    break
            try:
                target.sendall(data)
            except OSError:
                break
            if answers:
                with self._lock:
                    self.answered += len(data)
        _reset(target)

    def _cut(self) -> None:
        """(With the lock held.)"""
        self.cut.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        with contextlib.suppress(OSError):
            self.listener.close()  # refused from now on
        for sock in self._sockets:
            _reset(sock)

    def close(self) -> None:
        """Cut, and wait for the proxy's threads: a test after this one may fork (the
        validation workers are forked only from a single-threaded process)."""
        with self._lock:
            self._cut()
        self._thread.join(timeout=10)
        for thread in [t for t in threading.enumerate() if t.name.startswith("proxy-pump")]:
            thread.join(timeout=10)


def _reset(sock: socket.socket) -> None:
    """Close with an RST, as a dead peer's kernel would answer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)  # wakes a thread blocked reading it (sends nothing)
    with contextlib.suppress(OSError):
        sock.close()


# -- fixtures ------------------------------------------------------------------------------------


@dataclass
class Reference:
    """A local clean build of the example workspace, with no remote cache."""

    outputs: dict[str, bytes]
    summary: dict[str, Any]

    @property
    def diagnostics(self) -> list[dict[str, Any]]:
        return [d for p in self.summary["projects"] for d in p["diagnostics"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    ws = checkout(tmp_path_factory.mktemp("reference") / "ws")
    summary = build(ws)
    assert "remote" not in summary["cache"]  # absent when no remote cache is configured
    assert parsed(summary) > 0
    return Reference(outputs(ws), summary)


@dataclass
class Warm:
    """A server a CI-like build uploaded the example workspace's results to."""

    protocol: str
    server: Server
    upload: dict[str, Any]  # the uploading build's summary
    outputs: dict[str, bytes]  # and its outputs

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module", params=PROTOCOLS)
def warm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Warm:
    """The session's server of a protocol, emptied, then filled by one build whose config
    says ``upload = true`` (the tests that use it only read)."""
    server: Server = request.getfixturevalue(SESSION[request.param])
    if stored_files(server):
        server.clear()
    ws = checkout(tmp_path_factory.mktemp(f"upload-{request.param}") / "ws")
    configure(ws, server.url, upload=True)  # a CI job's config (the flag: in other tests)
    summary = build(ws)
    return Warm(request.param, server, summary, outputs(ws))


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fresh_server(request: pytest.FixtureRequest, protocol: str) -> Server:
    server: Server = request.getfixturevalue(FRESH[protocol])
    return server


# -- a) warm remote, fresh checkout -------------------------------------------------------------


def test_upload_from_a_full_build(warm: Warm, reference: Reference) -> None:
    stats = remote(warm.upload)
    assert stats["url"] == warm.url
    assert stats["protocol"] == warm.protocol
    assert stats["error"] is None, stats
    assert remote_notes(warm.upload) == []
    # one entry per project and per package directory: the example has 3 projects
    assert stats["uploaded_entries"] >= 3, stats
    assert stats["bytes_uploaded"] > 0, stats
    assert stats["verification_failures"] == 0
    assert warm.outputs == reference.outputs
    assert parsed(warm.upload) == parsed(reference.summary)  # the server was empty


def test_fresh_checkout_reuses_the_remote_cache(
    warm: Warm, reference: Reference, tmp_path: Path
) -> None:
    ws = checkout(tmp_path / "fresh")
    summary = build(ws, "--remote-cache", warm.url)
    stats = remote(summary)
    assert stats["error"] is None, stats
    assert remote_notes(summary) == []
    assert stats["url"] == warm.url and stats["protocol"] == warm.protocol
    assert stats["hits"] >= 3, stats  # one project entry per project
    assert stats["lookups"] == stats["hits"] + stats["misses"], stats
    assert stats["entries_used"] >= 3, stats
    assert stats["bytes_downloaded"] > 0, stats
    assert stats["verification_failures"] == 0, stats
    # read-only by default: nothing sent
    assert stats["bytes_uploaded"] == 0 and stats["uploaded_entries"] == 0, stats
    assert stats["seconds"] >= 0
    counts, cold = summary["stats"]["counts"], reference.summary["stats"]["counts"]
    assert counts["files_parsed"] < cold["files_parsed"], (counts, cold)
    assert counts["files_parsed"] == 0, counts  # every scan came from the remote cache
    assert counts["cache_misses"] < cold["cache_misses"], (counts, cold)
    assert outputs(ws) == reference.outputs
    assert (
        summary["ok"]
        and [d for p in summary["projects"] for d in p["diagnostics"]] == reference.diagnostics
    )
    # the next build of that checkout is a plain local no-op
    again = build(ws, "--remote-cache", warm.url)
    assert again["cache"]["no_op"] and again["stats"]["mode"] == "no-op", again["stats"]


# -- b) a server that is down ---------------------------------------------------------------------


@pytest.mark.parametrize("down", ["closed_port", "silent"])
def test_server_down_fails_open(
    protocol: str, down: str, reference: Reference, tmp_path: Path
) -> None:
    """Nothing listening (a server that died before the build), or a server that takes
    connections and never answers: one warning, the wait bounded by the timeout."""
    with contextlib.ExitStack() as stack:
        port = free_port() if down == "closed_port" else stack.enter_context(silent_port())
        url = f"{protocol}://127.0.0.1:{port}"
        ws = checkout(tmp_path / "fresh")
        configure(ws, url, timeout=TIMEOUT)
        summary = build(ws, "--remote-upload")  # neither the lookups nor the upload wait long
        assert_fail_open(summary, reference)
        assert remote(summary)["hits"] == 0
        assert f"127.0.0.1:{port}" in remote_notes(summary)[0]["message"]
        assert outputs(ws) == reference.outputs
        assert parsed(summary) == parsed(reference.summary)
        if down == "closed_port":  # the human output: the same single warning, and ok
            human_ws = checkout(tmp_path / "human")
            configure(human_ws, url, timeout=TIMEOUT)
            human = run("build", cwd=human_ws)
            assert human.code == 0, human.stdout + human.stderr
            assert (human.stdout + human.stderr).count("REMOTE_CACHE") == 1, human.stdout
            assert outputs(human_ws) == reference.outputs


# -- c) a server killed while a build talks to it ---------------------------------------------


#: what the client sends to read blobs (after its lookups were answered)
BLOB_READS = {
    "grpc": (b"BatchReadBlobs", b"google.bytestream.ByteStream/Read"),
    "http": (b"GET /cas/",),
}


def test_server_killed_mid_build(warm: Warm, reference: Reference, tmp_path: Path) -> None:
    """The server answers the lookups (hits), then dies as the build reads the blobs."""
    proxy = CuttingProxy(warm.server.port, BLOB_READS[warm.protocol])
    try:
        ws = checkout(tmp_path / "fresh")
        configure(ws, f"{warm.protocol}://127.0.0.1:{proxy.port}", timeout=TIMEOUT)
        summary = build(ws)
        cut = proxy.cut.is_set()
    finally:
        proxy.close()
    assert cut, f"the build never read a blob; it sent {proxy.requests[:2000]!r}"
    assert proxy.answered > 0  # the server had answered before it died
    assert_fail_open(summary, reference)
    assert remote(summary)["hits"] >= 1, remote(summary)
    assert outputs(ws) == reference.outputs
    assert parsed(summary) == parsed(reference.summary)


# -- d) a corrupted blob ----------------------------------------------------------------------------


def test_corrupted_blob_is_reported_and_ignored(
    protocol: str, reference: Reference, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server = fresh_server(request, protocol)
    upload = build(checkout(tmp_path / "ci"), "--remote-cache", server.url, "--remote-upload")
    assert remote(upload)["uploaded_entries"] >= 3, remote(upload)
    shards = shard_blobs(server)
    assert len(shards) >= 3, sorted(cas_blobs(server))
    # the biggest shard: a package whose modules hold documents
    victim = max(sorted(shards), key=lambda digest: len(shards[digest]))
    server.corrupt(victim)
    ws = checkout(tmp_path / "fresh")
    summary = build(ws, "--remote-cache", server.url)
    stats = remote(summary)
    assert stats["verification_failures"] >= 1, stats
    assert stats["error"] is None, stats  # the server works: only that blob is bad
    notes = remote_notes(summary)
    assert len(notes) == 1, summary["cache"]["notes"]
    assert notes[0]["severity"] == "warning"
    assert "digest" in notes[0]["message"], notes
    assert stats["hits"] >= 3, stats
    assert stats["entries_used"] >= 1, stats  # the other projects' entries verified
    assert 0 < parsed(summary) < parsed(reference.summary), summary["stats"]["counts"]
    assert outputs(ws) == reference.outputs
    assert summary["ok"]


# -- e) a read-only client ----------------------------------------------------------------------------


def test_read_only_client_leaves_the_server_empty(
    protocol: str, reference: Reference, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Reading is the default; ``--no-remote-upload`` overrides the config's ``upload``
    (the config's ``upload = true`` alone uploads: the ``warm`` fixture's build)."""
    server = fresh_server(request, protocol)
    assert stored_files(server) == []
    plain = checkout(tmp_path / "plain")
    summary = build(plain, "--remote-cache", server.url)
    stats = remote(summary)
    assert stats["error"] is None, stats
    assert stats["lookups"] >= 3 and stats["hits"] == 0, stats
    assert stats["bytes_uploaded"] == 0 and stats["uploaded_entries"] == 0, stats
    assert stored_files(server) == []
    assert outputs(plain) == reference.outputs
    overridden = checkout(tmp_path / "overridden")
    configure(overridden, server.url, upload=True)
    summary = build(overridden, "--no-remote-upload")
    assert remote(summary)["bytes_uploaded"] == 0, remote(summary)
    assert remote(summary)["uploaded_entries"] == 0, remote(summary)
    assert stored_files(server) == []


def test_uploading_again_stores_no_new_blobs(
    fresh_http_cache_server: NginxServer, tmp_path: Path
) -> None:
    """A second CI job uploading the same results from another checkout adds nothing to
    the CAS: the same inputs give the same blobs (content addressing dedupes them), so a
    warm remote does not grow, nor a CI job re-send megabytes, at every run. (One
    protocol: what is uploaded does not depend on it.)"""
    server = fresh_http_cache_server
    first = build(checkout(tmp_path / "one"), "--remote-cache", server.url, "--remote-upload")
    assert remote(first)["uploaded_entries"] >= 3, remote(first)
    stored = cas_blobs(server)
    again = build(checkout(tmp_path / "two"), "--remote-cache", server.url, "--remote-upload")
    assert remote(again)["entries_used"] >= 3, remote(again)
    added = sorted(set(cas_blobs(server)) - set(stored))
    assert added == [], (
        f"{len(added)} new blobs for the same inputs (of {len(stored)}); "
        f"the second build uploaded {remote(again)['bytes_uploaded']} bytes"
    )


# -- f) two projects sharing fragments ------------------------------------------------------------


def _gql_modules(ws: Path, project: str) -> list[Path]:
    return [p for p in (ws / "fixtures" / project).rglob("*.py") if "gql(" in p.read_text()]


def test_projects_sharing_fragments_both_hit(
    warm: Warm, reference: Reference, tmp_path: Path
) -> None:
    """small-app spreads shared-lib's fragments (through the `shared` alias): each project
    built on its own from a fresh checkout finds its entries."""
    for project in ("shared-lib", "small-app"):
        ws = checkout(tmp_path / project)
        summary = build(ws, "-p", project, "--remote-cache", warm.url)
        stats = remote(summary)
        assert stats["error"] is None and remote_notes(summary) == [], stats
        assert stats["hits"] >= 1 and stats["entries_used"] >= 1, (project, stats)
        assert [p["name"] for p in summary["projects"]] == [project]
        # small-app alone reads shared-lib's modules, which its own entries do not hold
        at_most = 0 if project == "shared-lib" else len(_gql_modules(ws, "shared-lib"))
        assert parsed(summary) <= at_most, (project, summary["stats"]["counts"])
        produced = outputs(ws)
        prefix = f"{project}/"
        assert produced == {k: v for k, v in reference.outputs.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def edited_reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """A local clean build of the example with the shared fragment edited."""
    ws = checkout(tmp_path_factory.mktemp("edited") / "ws")
    edit_shared_fragment(ws)
    summary = build(ws)
    return Reference(outputs(ws), summary)


def test_edited_shared_fragment_is_not_answered_from_stale_entries(
    warm: Warm, reference: Reference, edited_reference: Reference, tmp_path: Path
) -> None:
    """A checkout whose shared fragment differs from what CI built: what the remote holds
    for the other modules is reused, the documents that spread the fragment are rebuilt."""
    assert edited_reference.outputs != reference.outputs
    ws = checkout(tmp_path / "fresh")
    edit_shared_fragment(ws)
    summary = build(ws, "--remote-cache", warm.url)
    stats = remote(summary)
    assert stats["error"] is None and remote_notes(summary) == [], stats
    assert stats["hits"] >= 1 and stats["entries_used"] >= 1, stats
    assert 0 < parsed(summary) < parsed(reference.summary), summary["stats"]["counts"]
    assert outputs(ws) == edited_reference.outputs
    small_app = "small-app/__generated__/artifact.json"
    assert outputs(ws)[small_app] != reference.outputs[small_app]


# -- headers from the environment -------------------------------------------------------------------


def test_headers_from_the_environment_reach_the_server(
    warm: Warm, reference: Reference, tmp_path: Path
) -> None:
    """``Name = { env = "VAR", prefix = "Bearer " }``: sent with every request (HTTP
    headers, gRPC metadata), seen here by a proxy that passes everything through."""
    proxy = CuttingProxy(warm.server.port, trigger=())
    try:
        ws = checkout(tmp_path / "fresh")
        configure(ws, f"{warm.protocol}://127.0.0.1:{proxy.port}")
        path = ws / "sodabuild.toml"
        path.write_text(
            path.read_text() + "\n[workspace.remote_cache.headers]\n"
            'Authorization = { env = "SODABUILD_TEST_CACHE_TOKEN", prefix = "Bearer " }\n'
        )
        result = run("build", "--json", cwd=ws, env={"SODABUILD_TEST_CACHE_TOKEN": "t0ken"})
    finally:
        proxy.close()
    assert result.code == 0, result.stdout + result.stderr
    summary = result.json()
    assert remote(summary)["hits"] >= 3 and remote_notes(summary) == [], remote(summary)
    assert b"Bearer t0ken" in proxy.requests
    assert outputs(ws) == reference.outputs


def test_required_header_unset_is_one_warning(reference: Reference, tmp_path: Path) -> None:
    ws = checkout(tmp_path / "ws")
    configure(ws, f"http://127.0.0.1:{free_port()}")
    path = ws / "sodabuild.toml"
    path.write_text(
        path.read_text() + "\n[workspace.remote_cache.headers]\n"
        'x-api-key = { env = "SODABUILD_TEST_UNSET_TOKEN", required = true }\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "SODABUILD_TEST_UNSET_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "sodabuild", "build", "--json"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "SODABUILD_NO_DAEMON": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    [note] = remote_notes(summary)
    assert "SODABUILD_TEST_UNSET_TOKEN" in note["message"], note
    assert outputs(ws) == reference.outputs


# -- g) the no-op path never imports grpc -------------------------------------------------------


NO_OP_PROBE = """
import os, runpy, sys

def report():
    sys.stderr.write("MODULES " + " ".join(sorted(sys.modules)) + "\\n")
    sys.stderr.flush()

_exit = os._exit
os._exit = lambda code: (report(), _exit(code))
sys.argv = ["sodabuild", *sys.argv[1:]]
try:
    runpy.run_module("sodabuild", run_name="__main__", alter_sys=True)
finally:
    report()
"""


def _modules_of_a_run(ws: Path, *args: str) -> tuple[dict[str, Any], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", NO_OP_PROBE, *args],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SODABUILD_NO_DAEMON": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("MODULES ")]
    assert lines, proc.stderr
    return json.loads(proc.stdout), set(lines[0].split()[1:])


def _remote_modules(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] == "grpc" or m.startswith("google.protobuf")}


def test_no_op_never_imports_grpc(warm: Warm, tmp_path: Path) -> None:
    ws = checkout(tmp_path / "ws")
    configure(ws, warm.url)
    first, modules = _modules_of_a_run(ws, "build", "--json")
    assert remote(first)["hits"] >= 3, remote(first)
    if warm.protocol == "grpc":  # the probe sees the imports (the full build did use grpc)
        assert "grpc" in modules
    for args in (["build", "--json"], ["build", "--json", "--remote-cache", warm.url]):
        summary, modules = _modules_of_a_run(ws, *args)
        assert summary["cache"]["no_op"], (args, summary["stats"])
        assert "remote" not in summary["cache"] or not remote(summary)["lookups"], summary
        assert _remote_modules(modules) == set(), (args, sorted(_remote_modules(modules)))


# -- h) config errors ------------------------------------------------------------------------------


def _line_of(ws: Path, needle: str) -> int:
    lines = (ws / "sodabuild.toml").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if needle in line)


def test_bad_url_scheme_is_located(tmp_path: Path) -> None:
    ws = checkout(tmp_path / "ws")
    configure(ws, "ftp://cache.example.com:21")
    summary = build(ws, code=2)
    [diagnostic] = summary["diagnostics"]
    assert diagnostic["code"] == "CONFIG_INVALID", diagnostic
    assert diagnostic["file"] == "sodabuild.toml"
    assert diagnostic["line"] == _line_of(ws, "ftp://"), diagnostic
    assert "ftp" in diagnostic["message"] and "grpc://" in diagnostic["message"], diagnostic
    human = run("build", cwd=ws)
    assert human.code == 2
    assert f"sodabuild.toml:{_line_of(ws, 'ftp://')}:" in human.stdout + human.stderr
    assert not (ws / "fixtures" / "small-app" / "__generated__").exists()


def test_literal_header_value_is_rejected_with_a_hint(tmp_path: Path) -> None:
    ws = checkout(tmp_path / "ws")
    configure(ws, "grpc://127.0.0.1:1")
    path = ws / "sodabuild.toml"
    path.write_text(
        path.read_text() + '\n[workspace.remote_cache.headers]\nAuthorization = "Bearer s3cret"\n'
    )
    summary = build(ws, code=2)
    [diagnostic] = summary["diagnostics"]
    assert diagnostic["code"] == "CONFIG_INVALID", diagnostic
    assert diagnostic["file"] == "sodabuild.toml"
    allowed = {_line_of(ws, "Authorization ="), _line_of(ws, "[workspace.remote_cache.headers]")}
    assert diagnostic["line"] in allowed, diagnostic
    advice = f"{diagnostic['message']} {diagnostic.get('hint') or ''}"
    assert "env" in advice and "Authorization" in advice, diagnostic
    assert "s3cret" not in advice, diagnostic  # a secret written by mistake is not repeated


def test_remote_cache_absent_from_summary_without_one(reference: Reference) -> None:
    assert "remote" not in reference.summary["cache"]
    assert remote_notes(reference.summary) == []
