"""The remote cache clients (sodabuild/remote/) against real servers: BuildGrid over gRPC
(REAPI) and nginx WebDAV speaking bazel-remote's HTTP protocol (tests/remote_servers.py).
"""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from typing import Any

import pytest

from sodabuild.remote import EMPTY, ActionEntry, Digest, RemoteCache, RemoteError
from sodabuild.remote.endpoint import parse_endpoint
from sodabuild.remote.settings import (
    MissingHeaders,
    RemoteCacheSettings,
    resolve_headers,
)
from tests import remote_servers

# the servers (started once per session, started again after a test that kills one)
reapi_server = remote_servers.reapi_server
http_cache_server = remote_servers.http_cache_server
_revive_remote_servers = remote_servers._revive_remote_servers


def blob(n: int, size: int = 100) -> bytes:
    """A distinct blob per test run (servers keep blobs between tests)."""
    return (f"{n}:{os.getpid()}:{time.time_ns()}:".encode() * (size // 20 + 1))[:size]


def blobs(count: int, size: int = 100) -> dict[Digest, bytes]:
    return {Digest.of(data): data for data in (blob(i, size) for i in range(count))}


def key(name: str) -> Digest:
    return Digest.of(f"action {name} {os.getpid()} {time.time_ns()}".encode())


@pytest.fixture(params=["grpc", "http"])
def server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(
        "reapi_server" if request.param == "grpc" else "http_cache_server"
    )


def client(server: Any, **kwargs: Any) -> RemoteCache:
    from sodabuild.remote.grpc_cache import GrpcCache
    from sodabuild.remote.http_cache import HttpCache

    kwargs.setdefault("instance_name", server.instance_name)
    kwargs.setdefault("timeout", 5.0)
    url = kwargs.pop("url", server.url)
    cls = GrpcCache if url.startswith("grpc") else HttpCache
    return cls(url, **kwargs)


@pytest.fixture
def errors() -> list[RemoteError]:
    return []


# -- round trips -------------------------------------------------------------------------


def test_round_trip(server: Any, errors: list[RemoteError]) -> None:
    data = blobs(40)
    data.update({Digest.of(b): b for b in (blob(99, 300_000), b"")})
    entries = {
        key("a"): ActionEntry(files={f"m{i}.json": d for i, d in enumerate(sorted(data))}),
        key("b"): ActionEntry(files={"only.json": min(data)}, exit_code=0),
    }
    with client(server, upload=True, on_error=errors.append) as cache:
        assert cache.find_missing(data) == set(data) - {EMPTY}
        assert cache.get_action_results(list(entries)) == {}
        assert cache.upload(data, entries)
        assert cache.find_missing(data) == set()
        missing_key = key("never stored")
        found = cache.get_action_results([*entries, missing_key])
        assert found == entries
        assert cache.read_blobs(data) == data
        stats = cache.stats.as_dict()
    assert errors == []
    assert stats["lookups"] == 5 and stats["hits"] == 2 and stats["misses"] == 3
    assert stats["blobs_uploaded"] == 41  # the empty blob is never sent
    assert stats["blobs_downloaded"] == 41
    assert stats["bytes_downloaded"] == sum(len(b) for b in data.values())
    assert stats["action_results_uploaded"] == 2
    assert stats["verification_failures"] == 0 and stats["errors"] == 0
    assert stats["wait_seconds"] > 0


def test_a_second_client_reads_what_the_first_wrote(server: Any) -> None:
    data = blobs(5)
    entry_key = key("shared")
    with client(server, upload=True) as writer:
        assert writer.upload(
            data, {entry_key: ActionEntry(files={f"{i}.json": d for i, d in enumerate(data)})}
        )
    with client(server) as reader:
        entry = reader.get_action_results([entry_key])[entry_key]
        assert reader.read_blobs(entry.files.values()) == {d: data[d] for d in entry.files.values()}
        assert reader.error is None


def test_entries_are_real_action_results(reapi_server: Any, http_cache_server: Any) -> None:
    """What other REAPI tools see: an ActionResult whose output_files are (path, digest)."""
    from sodabuild.remote.proto import remote_execution_pb2 as re_pb2

    data = blobs(2)
    (first, second) = sorted(data)
    entry = ActionEntry(files={"b/2.json": second, "a/1.json": first})
    for server in (reapi_server, http_cache_server):
        entry_key = key("real")
        with client(server, upload=True) as cache:
            assert cache.upload(data, {entry_key: entry})
            if server is reapi_server:
                from sodabuild.remote.actions import to_proto

                request = re_pb2.GetActionResultRequest(
                    instance_name=server.instance_name, action_digest=to_proto(entry_key)
                )
                result = cache._action_cache.GetActionResult(request, timeout=5)  # type: ignore[attr-defined]
            else:
                status, body = raw_http(server, "GET", f"/ac/{entry_key.hash}")
                assert status == 200
                result = re_pb2.ActionResult.FromString(body)
        assert [(f.path, f.digest.hash, f.digest.size_bytes) for f in result.output_files] == [
            ("a/1.json", first.hash, first.size),
            ("b/2.json", second.hash, second.size),
        ]
        assert result.execution_metadata.worker == "sodabuild"


_BUILDGRID_CLIENT = """
import hashlib, json, sys
import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as rg

target, ours, theirs, data = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
channel = grpc.insecure_channel(target)
ac, cas = rg.ActionCacheStub(channel), rg.ContentAddressableStorageStub(channel)
digest = lambda text: re.Digest(hash=hashlib.sha256(text.encode()).hexdigest(), size_bytes=len(text))
# read what sodabuild stored
result = ac.GetActionResult(re.GetActionResultRequest(action_digest=digest(ours)), timeout=10)
read = cas.BatchReadBlobs(
    re.BatchReadBlobsRequest(digests=[f.digest for f in result.output_files]), timeout=10
)
# store an entry for sodabuild to read
blob = re.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
request = re.BatchUpdateBlobsRequest()
request.requests.add(digest=blob, data=data)
cas.BatchUpdateBlobs(request, timeout=10)
entry = re.ActionResult(output_files=[re.OutputFile(path="from/buildgrid.json", digest=blob)])
ac.UpdateActionResult(
    re.UpdateActionResultRequest(action_digest=digest(theirs), action_result=entry), timeout=10
)
print(json.dumps({
    "files": {f.path: f.digest.hash for f in result.output_files},
    "blobs": {r.digest.hash: r.data.decode() for r in read.responses if r.status.code == 0},
}))
"""


def test_another_reapi_client_reads_and_writes_the_same_entries(reapi_server: Any) -> None:
    """BuildGrid's own generated REAPI modules (in its venv), not ours, on the other end."""
    import json

    data = {Digest.of(b): b for b in (blob(1), blob(2))}
    ours, theirs = f"ours {time.time_ns()}", f"theirs {time.time_ns()}"
    ours_key, theirs_key = Digest.of(ours.encode()), Digest.of(theirs.encode())
    entry = ActionEntry(files={f"{i}.json": d for i, d in enumerate(sorted(data))})
    with client(reapi_server, upload=True) as cache:
        assert cache.upload(data, {ours_key: entry})
        target = reapi_server.url.removeprefix("grpc://")
        their_blob = blob(3).decode()
        run = subprocess.run(
            [
                str(remote_servers.buildgrid_python()),
                "-c",
                _BUILDGRID_CLIENT,
                target,
                ours,
                theirs,
                their_blob,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout)
        assert seen["files"] == {path: d.hash for path, d in entry.files.items()}
        assert seen["blobs"] == {d.hash: b.decode() for d, b in data.items()}
        found = cache.get_action_results([theirs_key])
        their_digest = Digest.of(their_blob.encode())
        assert found == {theirs_key: ActionEntry(files={"from/buildgrid.json": their_digest})}
        assert cache.read_blobs([their_digest]) == {their_digest: their_blob.encode()}


def raw_http(server: Any, method: str, path: str) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(server.url)
    prefix = parts.path.rstrip("/") + (f"/{server.instance_name}" if server.instance_name else "")
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request(method, prefix + path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# -- ByteStream --------------------------------------------------------------------------


def test_blobs_over_the_batch_limit_go_through_bytestream(reapi_server: Any) -> None:
    from sodabuild.remote import grpc_cache
    from sodabuild.remote.proto import bytestream_pb2

    big = blob(1, 5 * 1024 * 1024)  # over BuildGrid's 4 MiB - 1 KiB batch limit
    data = {Digest.of(big): big, **blobs(3)}
    calls: list[str] = []
    with client(reapi_server, upload=True) as cache:
        assert isinstance(cache, grpc_cache.GrpcCache)
        for name in ("_stream_read", "_stream_write", "_batch_read", "_batch_write"):
            original = getattr(cache, name)

            def spy(*args: Any, _original: Any = original, _name: str = name) -> Any:
                calls.append(_name)
                return _original(*args)

            setattr(cache, name, spy)
        assert cache.upload(data, {})
        assert cache._limits() < len(big)
        assert cache.read_blobs(data) == data
        assert sorted(calls) == ["_batch_read", "_batch_write", "_stream_read", "_stream_write"]
        # the resource name REAPI specifies: {instance}/blobs/{hash}/{size}
        prefix = f"{reapi_server.instance_name}/" if reapi_server.instance_name else ""
        digest = Digest.of(big)
        name = f"{prefix}blobs/{digest.hash}/{digest.size}"
        stream = cache._bytestream.Read(bytestream_pb2.ReadRequest(resource_name=name), timeout=5)
        assert b"".join(r.data for r in stream) == big


def test_a_small_batch_limit_splits_batches_and_streams(reapi_server: Any) -> None:
    from sodabuild.remote import grpc_cache

    data = blobs(30, 700)
    with client(reapi_server, upload=True) as cache:
        assert isinstance(cache, grpc_cache.GrpcCache)
        cache._limits()
        cache._batch_limit = 2000  # as if the server said so: two 700-byte blobs a batch
        assert cache.upload(data, {})
    with client(reapi_server) as cache:
        assert isinstance(cache, grpc_cache.GrpcCache)
        cache._limits()
        cache._batch_limit = 600  # every blob over the limit: ByteStream for all
        assert cache.read_blobs(data) == data
        assert cache.error is None


def test_plan_batches() -> None:
    from sodabuild.remote.grpc_cache import BLOB_OVERHEAD, MAX_BATCH_BLOBS, plan_batches

    sizes = [10, 5000, 900, 900, 900, 100]
    digests = [Digest.of(blob(i, s)) for i, s in enumerate(sizes)]
    batches, singles = plan_batches(digests, 2000 + 2 * BLOB_OVERHEAD)
    assert [d.size for d in singles] == [5000]
    assert sorted(d.size for b in batches for d in b) == [10, 100, 900, 900, 900]
    for batch in batches:
        assert sum(d.size + BLOB_OVERHEAD for d in batch) <= 2000 + 2 * BLOB_OVERHEAD
    many = [Digest.of(blob(i, 40)) for i in range(MAX_BATCH_BLOBS + 1)]
    assert len(set(many)) == len(many)
    batches, singles = plan_batches(many, 10**9)
    assert [len(b) for b in batches] == [MAX_BATCH_BLOBS, 1] and singles == []


# -- verification ------------------------------------------------------------------------


def test_a_corrupted_blob_is_a_miss_and_reported(server: Any, errors: list[RemoteError]) -> None:
    data = blobs(3)
    bad = sorted(data)[1]
    with client(server, upload=True) as writer:
        assert writer.upload(data, {})
    server.corrupt(bad.hash)
    with client(server, on_error=errors.append) as reader:
        got = reader.read_blobs(data)
        assert got == {d: b for d, b in data.items() if d != bad}
        assert reader.corrupt == [bad]
        assert reader.stats.verification_failures == 1
        assert reader.available and errors == []  # not a server failure: the rest is used


def test_an_entry_that_is_not_ours_is_a_miss(http_cache_server: Any) -> None:
    entry_key = key("garbage")
    with client(http_cache_server, upload=True) as cache:
        status, _ = raw_put(http_cache_server, f"/ac/{entry_key.hash}", b"\xff\xff not a proto")
        assert status in (200, 201, 204)
        assert cache.get_action_results([entry_key]) == {}
        assert cache.corrupt == [entry_key]
        assert cache.stats.verification_failures == 1 and cache.error is None


def raw_put(server: Any, path: str, body: bytes) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(server.url)
    prefix = parts.path.rstrip("/") + (f"/{server.instance_name}" if server.instance_name else "")
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("PUT", prefix + path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_blob_that_does_not_match_its_digest_is_never_sent(server: Any) -> None:
    digest = Digest.of(b"right")
    with client(server, upload=True) as cache, pytest.raises(ValueError, match="does not match"):
        cache.upload({digest: b"wrong"}, {})


# -- fail open ---------------------------------------------------------------------------


def test_a_killed_server_costs_one_error(server: Any, errors: list[RemoteError]) -> None:
    data = blobs(3)
    entry_key = key("before the kill")
    with client(server, upload=True, timeout=2.0, on_error=errors.append) as cache:
        assert cache.upload(data, {entry_key: ActionEntry(files={"f": min(data)})})
        assert entry_key in cache.get_action_results([entry_key])  # connections are open
        server.kill()
        start = time.perf_counter()
        assert cache.get_action_results([entry_key, key("x"), key("y")]) == {}
        first = time.perf_counter() - start
        assert len(errors) == 1 and cache.error is errors[0]
        assert server.url.split("://")[1] in str(errors[0])
        assert "failed" in str(errors[0]) and not cache.available
        start = time.perf_counter()
        for _ in range(20):
            assert cache.get_action_results([entry_key]) == {}
            assert cache.read_blobs(data) == {}
            assert cache.find_missing(data) == set(data)
            assert cache.upload(data, {key("z"): ActionEntry()}) is False
        later = time.perf_counter() - start
    assert first < 2.5  # refused: at once; at most one deadline
    assert later < 0.05
    assert len(errors) == 1 and cache.stats.errors == 1
    assert cache.stats.misses == 3 + 20


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_server_that_never_answers_costs_one_deadline(protocol: str) -> None:
    from sodabuild.remote.grpc_cache import GrpcCache
    from sodabuild.remote.http_cache import HttpCache

    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        cls = GrpcCache if protocol == "grpc" else HttpCache
        errors: list[RemoteError] = []
        with cls(f"{protocol}://127.0.0.1:{port}", timeout=0.5, on_error=errors.append) as cache:
            keys = [key(str(i)) for i in range(50)]
            start = time.perf_counter()
            assert cache.get_action_results(keys) == {}
            first = time.perf_counter() - start
            start = time.perf_counter()
            assert cache.read_blobs(keys) == {}
            assert cache.get_action_results(keys) == {}
            later = time.perf_counter() - start
    assert 0.45 < first < 1.5, first
    assert later < 0.01
    assert len(errors) == 1
    assert "timed out" in str(errors[0]) or "DEADLINE_EXCEEDED" in str(errors[0])


def test_idle_keep_alive_connections_closed_by_a_restart_are_replaced(
    http_cache_server: Any,
) -> None:
    data = blobs(8)
    with client(http_cache_server, upload=True, concurrency=4) as cache:
        assert cache.upload(data, {})
        http_cache_server.restart()  # the pool's connections are now dead
        assert cache.read_blobs(data) == data
        assert cache.error is None


class _ReadOnlyHandler(http.server.BaseHTTPRequestHandler):
    """A cache that lets clients read (nothing is there) and refuses writes."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_refused_upload_stops_uploads_only() -> None:
    from sodabuild.remote.http_cache import HttpCache

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ReadOnlyHandler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    errors: list[RemoteError] = []
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with HttpCache(url, upload=True, on_error=errors.append) as cache:
            data = blobs(2)
            assert cache.upload(data, {key("k"): ActionEntry(files={"f": min(data)})}) is False
            assert [e.detail for e in errors] == ["HTTP 403 Forbidden"] and errors[0].refused
            assert cache.available  # reading goes on
            assert cache.get_action_results([key("a")]) == {}
            assert cache.upload(data, {}) is False  # at once: uploads are off
            assert len(errors) == 1 and cache.stats.lookups == 1
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_headers_are_sent_as_headers_and_metadata() -> None:
    """Both protocols send the configured headers with every request (captured by
    in-process servers: the real ones do not show what they received)."""
    from concurrent import futures

    import grpc

    from sodabuild.remote.grpc_cache import REQUEST_METADATA_KEY, GrpcCache
    from sodabuild.remote.http_cache import HttpCache
    from sodabuild.remote.proto import remote_execution_pb2 as re_pb2
    from sodabuild.remote.proto import remote_execution_pb2_grpc as re_grpc

    seen: list[dict[str, Any]] = []

    class ActionCache(re_grpc.ActionCacheServicer):  # type: ignore[misc]
        def GetActionResult(self, request: Any, context: Any) -> Any:
            seen.append({"instance": request.instance_name, **dict(context.invocation_metadata())})
            context.abort(grpc.StatusCode.NOT_FOUND, "no")

    server = grpc.server(futures.ThreadPoolExecutor(2))
    re_grpc.add_ActionCacheServicer_to_server(ActionCache(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    headers = {"Authorization": "Bearer s3cret", "X-Team": "web"}
    try:
        url = f"grpc://127.0.0.1:{port}"
        with GrpcCache(url, instance_name="ci", headers=headers) as cache:
            assert cache.get_action_results([key("a")]) == {}
            assert cache.error is None
    finally:
        server.stop(None)
    (got,) = seen
    assert got["instance"] == "ci"
    assert got["authorization"] == "Bearer s3cret" and got["x-team"] == "web"
    metadata = re_pb2.RequestMetadata.FromString(got[REQUEST_METADATA_KEY])
    assert metadata.tool_details.tool_name == "sodabuild"

    received: list[dict[str, str]] = []

    class Handler(_ReadOnlyHandler):
        def do_GET(self) -> None:
            received.append(dict(self.headers))
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/base"
        with HttpCache(url, instance_name="ci", headers=headers) as http_cache:
            entry_key = key("b")
            assert http_cache.get_action_results([entry_key]) == {}
    finally:
        httpd.shutdown()
        httpd.server_close()
    (got_http,) = received
    assert got_http["Authorization"] == "Bearer s3cret" and got_http["X-Team"] == "web"
    assert got_http["User-Agent"].startswith("sodabuild/")


def test_tls_to_a_plaintext_server_is_one_error(server: Any) -> None:
    tls_url = server.url.replace("grpc://", "grpcs://").replace("http://", "https://")
    errors: list[RemoteError] = []
    with client(server, url=tls_url, on_error=errors.append) as cache:
        assert cache.url.startswith(("grpcs://", "https://"))
        assert cache.get_action_results([key("tls")]) == {}
        assert cache.read_blobs([Digest.of(b"x")]) == {}
    assert len(errors) == 1


# -- read only, instances, ordering ------------------------------------------------------


def test_read_only_client_writes_nothing(server: Any) -> None:
    data = blobs(3)
    entry_key = key("read only")
    with client(server) as reader:  # upload defaults to False
        assert reader.upload(data, {entry_key: ActionEntry(files={"f": min(data)})}) is False
        assert reader.stats.blobs_uploaded == 0 and reader.error is None
    with client(server, upload=True) as checker:
        assert checker.find_missing(data) == set(data)
        assert checker.get_action_results([entry_key]) == {}


def test_instance_name_is_honoured_grpc() -> None:
    data = blobs(2)
    entry_key = key("instance")
    entry = ActionEntry(files={"f": min(data)})
    with remote_servers.start_reapi_server(instance_names=("main", "other")) as server:
        with client(server, instance_name="main", upload=True) as main:
            assert main.upload(data, {entry_key: entry})
            assert main.get_action_results([entry_key]) == {entry_key: entry}
        with client(server, instance_name="other") as other:
            assert other.get_action_results([entry_key]) == {}
            assert other.find_missing(data) == set(data)
            assert other.error is None
        # the blobs went to the instance's own CAS only
        stored = [path for d in data for path in server.blob_paths(d.hash)]
        assert len(stored) == 2
        assert all(path.is_relative_to(server.storage_dir("main")) for path in stored)
        with client(server, instance_name="unserved") as unserved:
            assert unserved.get_action_results([entry_key]) == {}
            assert unserved.error is not None  # BuildGrid refuses an instance it lacks


def test_instance_name_is_honoured_http(http_cache_server: Any) -> None:
    data = blobs(2)
    entry_key = key("instance")
    entry = ActionEntry(files={"f": min(data)})
    with client(http_cache_server, instance_name="team-a", upload=True) as team_a:
        assert team_a.upload(data, {entry_key: entry})
        assert team_a.get_action_results([entry_key]) == {entry_key: entry}
    for other in ("", "team-b"):
        with client(http_cache_server, instance_name=other) as elsewhere:
            assert elsewhere.get_action_results([entry_key]) == {}
            assert elsewhere.find_missing(data) == set(data)
            assert elsewhere.error is None
    paths = http_cache_server.blob_paths(entry_key.hash, "ac")
    assert [p.relative_to(http_cache_server.data).as_posix() for p in paths] == [
        f"team-a/ac/{entry_key.hash}"
    ]


def test_blobs_are_stored_before_entries(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = blobs(20)
    entries = {key(str(i)): ActionEntry(files={"f": d}) for i, d in enumerate(data)}
    events: list[str] = []
    with client(server, upload=True) as cache:
        store_blobs, store_entry = cache._store_blobs, cache._store_entry

        def blobs_spy(arg: Any) -> None:
            store_blobs(arg)
            events.append("blobs done")

        def entry_spy(*args: Any) -> None:
            events.append("entry")
            store_entry(*args)

        monkeypatch.setattr(cache, "_store_blobs", blobs_spy)
        monkeypatch.setattr(cache, "_store_entry", entry_spy)
        assert cache.upload(data, entries)
    assert events == ["blobs done"] + ["entry"] * len(entries)


def test_no_entry_is_stored_when_its_blobs_fail(
    server: Any, errors: list[RemoteError], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = blobs(2)
    entry_key = key("blob upload fails")
    with client(server, upload=True, on_error=errors.append) as cache:

        def failing(_: Any) -> None:
            raise RemoteError(server.url, "BatchUpdateBlobs", "RESOURCE_EXHAUSTED: full")

        monkeypatch.setattr(cache, "_store_blobs", failing)
        assert cache.upload(data, {entry_key: ActionEntry(files={"f": min(data)})}) is False
        assert [e.detail for e in errors] == ["RESOURCE_EXHAUSTED: full"]
    with client(server) as reader:
        assert reader.get_action_results([entry_key]) == {}


def test_an_entry_naming_an_absent_blob_is_not_stored(server: Any) -> None:
    present = blobs(1)
    absent = Digest.of(blob(7, 50))
    good, bad = key("good"), key("bad")
    entries = {
        good: ActionEntry(files={"f": min(present)}),
        bad: ActionEntry(files={"f": min(present), "g": absent}),
    }
    with client(server, upload=True) as cache:
        assert cache.upload(present, entries) is False  # not everything was stored
        assert cache.error is None
        assert cache.get_action_results([good, bad]) == {good: entries[good]}


# -- without servers ---------------------------------------------------------------------


def test_no_grpc_or_protobuf_without_a_remote_cache() -> None:
    code = """
import sys
heavy = lambda: [m for m in sys.modules if m.split(".")[0] in ("grpc", "pydantic")
                 or m.startswith("google.protobuf")]
import sodabuild.remote
assert not heavy(), heavy()
import sodabuild.remote.settings
settings = sodabuild.remote.settings.RemoteCacheSettings(url="http://127.0.0.1:1")
assert not [m for m in heavy() if not m.startswith("pydantic")], heavy()
cache = sodabuild.remote.open_remote_cache(settings)
assert "grpc" not in sys.modules, "http imports grpc"
assert "google.protobuf" in sys.modules
grpc_settings = settings.model_copy(update={"url": "grpc://127.0.0.1:1"})
sodabuild.remote.open_remote_cache(grpc_settings).close()
assert "grpc" in sys.modules
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_settings_shape() -> None:
    settings = RemoteCacheSettings.model_validate(
        {
            "url": "grpcs://cache.example.com",
            "instance_name": "main/ci",
            "upload": True,
            "timeout": 3,
            "headers": {
                "Authorization": {"env": "CI_CACHE_TOKEN", "prefix": "Bearer "},
                "x-buildbuddy-api-key": {"env": "BB_KEY", "required": True},
            },
        }
    )
    assert settings.endpoint.authority == "cache.example.com:443"
    assert settings.timeout == 3.0 and settings.concurrency == 8
    env = {"CI_CACHE_TOKEN": "t0ken", "BB_KEY": "k"}
    assert resolve_headers(settings, env) == {
        "Authorization": "Bearer t0ken",
        "x-buildbuddy-api-key": "k",
    }
    assert resolve_headers(settings, {"BB_KEY": "k"}) == {"x-buildbuddy-api-key": "k"}
    with pytest.raises(MissingHeaders, match=r"\$BB_KEY"):
        resolve_headers(settings, {"CI_CACHE_TOKEN": "t0ken"})
    defaults = RemoteCacheSettings(url="http://127.0.0.1:8080/cache")
    assert (defaults.instance_name, defaults.upload, defaults.headers) == ("", False, {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "ftp://x"}, "unsupported scheme"),
        ({"url": "grpc://host"}, "needs a port"),
        ({"url": "https://user:pw@host"}, "credentials in the URL"),
        ({"url": "grpc://h:1/path"}, "takes no path"),
        ({"url": "http://h", "headers": {"Authorization": "Bearer x"}}, "never from the file"),
        ({"url": "http://h", "headers": {"Host": {"env": "H"}}}, "set by the protocol"),
        ({"url": "http://h", "headers": {"A": {"env": "1BAD"}}}, "not an environment variable"),
        ({"url": "http://h", "instance_name": "/lead"}, "not an instance name"),
        ({"url": "http://h", "instance_name": "x/blobs"}, "reserved"),
        ({"url": "http://h", "timeout": 0}, "greater than 0"),
        ({"url": "http://h", "uplaod": True}, "Extra inputs"),
    ],
)
def test_bad_settings(data: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        RemoteCacheSettings.model_validate(data)


def test_endpoints() -> None:
    assert str(parse_endpoint("grpc://127.0.0.1:9092")) == "grpc://127.0.0.1:9092"
    assert parse_endpoint("https://cache.example.com/team/").path == "/team"
    assert parse_endpoint("http://[::1]:8080").authority == "[::1]:8080"
    assert parse_endpoint("GRPCS://h").protocol == "grpc"


def test_digests_and_entries() -> None:
    from sodabuild.remote.actions import decode_result, entry_to_result

    assert Digest("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0) == EMPTY
    assert Digest.of(b"x").matches(b"x") and not Digest.of(b"x").matches(b"y")
    with pytest.raises(ValueError):
        Digest("ABC", 1)
    entry = ActionEntry(files={"z": Digest.of(b"z"), "a": Digest.of(b"a")})
    assert decode_result(entry_to_result(entry).SerializeToString()) == entry
    with pytest.raises(ValueError):
        decode_result(b"\xff")
