"""The real remote-cache servers of tests/remote_servers.py answer as the remote cache
clients expect: nginx speaks bazel-remote's HTTP protocol, BuildGrid the REAPI over gRPC.

BuildGrid is driven by a REAPI client independent of sodabuild's: a script run with
BuildGrid's own interpreter, on grpcio and the REAPI modules BuildGrid ships
(``buildgrid._protos``), so these tests check the servers, not sodabuild's client.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.remote_servers import (
    BuildGridServer,
    NginxServer,
    Server,
    start_http_cache_server,
    start_reapi_server,
)

# -- nginx: bazel-remote's HTTP protocol ---------------------------------------------------


def request(server: Server, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("prefix", ["", "/team-a", "/some/path/team-b"])
def test_http_put_then_get(http_cache_server: NginxServer, prefix: str) -> None:
    assert http_cache_server.url == f"http://127.0.0.1:{http_cache_server.port}"
    assert http_cache_server.instance_name == ""
    blob = f"a blob below {prefix!r}".encode() * 1000
    entry = b"an ActionResult's bytes " + prefix.encode()
    cas, ac = f"{prefix}/cas/{sha256(blob)}", f"{prefix}/ac/{sha256(b'action' + blob)}"
    for path, data in ((cas, blob), (ac, entry)):
        assert request(http_cache_server, "GET", path) == (
            404,
            request(http_cache_server, "GET", path)[1],
        )
        assert request(http_cache_server, "HEAD", path)[0] == 404
        assert request(http_cache_server, "PUT", path, data)[0] in (200, 201, 204)
        assert request(http_cache_server, "GET", path) == (200, data)
        assert request(http_cache_server, "HEAD", path)[0] == 200
        assert request(http_cache_server, "PUT", path, data)[0] in (200, 201, 204)  # again
    # one namespace per prefix
    other = "/elsewhere" if prefix else "/team-z"
    assert request(http_cache_server, "GET", other + cas)[0] == 404


def test_http_big_blob_and_bad_paths(http_cache_server: NginxServer) -> None:
    big = bytes(range(256)) * (5 * 4096)  # 5 MiB: past nginx's default body limit of 1 MiB
    path = f"/cas/{sha256(big)}"
    assert request(http_cache_server, "PUT", path, big)[0] in (200, 201, 204)
    assert request(http_cache_server, "GET", path) == (200, big)
    for bad in ("/cas/abc", "/cas/" + "G" * 64, "/blobs/" + "a" * 64, "/", "/cas/"):
        assert request(http_cache_server, "PUT", bad, b"x")[0] >= 400
        assert request(http_cache_server, "GET", bad)[0] == 404


def test_http_corrupt_clear_kill_restart(fresh_http_cache_server: NginxServer) -> None:
    server = fresh_http_cache_server
    blob = b"to be corrupted"
    path = f"/cas/{sha256(blob)}"
    assert request(server, "PUT", path, blob)[0] == 201
    server.corrupt(sha256(blob))
    status, body = request(server, "GET", path)
    assert status == 200 and len(body) == len(blob) and body != blob
    server.corrupt(sha256(blob), data=b"other bytes")
    assert request(server, "GET", path) == (200, b"other bytes")
    with pytest.raises(FileNotFoundError):
        server.corrupt(sha256(b"never stored"))
    # restart keeps the files; clear removes them
    server.restart()
    assert request(server, "GET", path) == (200, b"other bytes")
    server.clear()
    assert request(server, "GET", path)[0] == 404
    # SIGKILL: refused at once, and nothing of it is left serving
    url = server.url
    server.kill()
    assert not server.alive()
    with pytest.raises(ConnectionRefusedError):
        request(server, "GET", path)
    server.start()
    assert server.url == url and request(server, "GET", path)[0] == 404


def test_a_killed_session_server_is_back_for_the_next_test(
    http_cache_server: NginxServer,
) -> None:
    http_cache_server.kill()  # the autouse fixture starts it again after this test


def test_the_killed_session_server_is_back(http_cache_server: NginxServer) -> None:
    assert http_cache_server.alive()
    assert request(http_cache_server, "GET", "/cas/" + "1" * 64)[0] == 404


def test_the_session_fixtures_are_one_server_each(
    request: pytest.FixtureRequest, http_cache_server: NginxServer
) -> None:
    from tests import remote_servers

    same = remote_servers._session["http_cache_server"]
    assert same is http_cache_server and request.getfixturevalue("http_cache_server") is same


# -- BuildGrid: REAPI over gRPC ------------------------------------------------------------

# A REAPI client run with BuildGrid's interpreter, kept running for the module: it reads
# one JSON request a line ([mode, host:port, instance name, [mode's arguments]]) and
# answers one JSON line ({"out": ...} or {"error": traceback}).
REAPI_CLIENT = r"""
import hashlib, json, sys, threading, time, traceback, uuid
import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid._protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc


def digest(data):
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def missing(blobs):
    reply = cas.FindMissingBlobs(re_pb2.FindMissingBlobsRequest(
        instance_name=instance, blob_digests=[digest(b) for b in blobs]), timeout=10)
    return sorted(d.hash for d in reply.missing_blob_digests)


def upload(blobs):
    reply = cas.BatchUpdateBlobs(re_pb2.BatchUpdateBlobsRequest(
        instance_name=instance,
        requests=[re_pb2.BatchUpdateBlobsRequest.Request(digest=digest(b), data=b) for b in blobs]),
        timeout=10)
    return [r.status.code for r in reply.responses]


def read(digests):
    reply = cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(
        instance_name=instance, digests=digests), timeout=10)
    return {r.digest.hash: (r.status.code, r.data.hex()) for r in reply.responses}


def result_for(blob):
    result = re_pb2.ActionResult(exit_code=0)
    result.output_files.add(path="out/" + digest(blob).hash[:8], digest=digest(blob))
    return result


def update_result(action, result):
    ac.UpdateActionResult(re_pb2.UpdateActionResultRequest(
        instance_name=instance, action_digest=action, action_result=result), timeout=10)


def get_result(action):
    try:
        return ac.GetActionResult(re_pb2.GetActionResultRequest(
            instance_name=instance, action_digest=action), timeout=10)
    except grpc.RpcError as error:
        return error.code().name


def run(mode, target, args):
    out = {}
    if mode == "smoke":
        caps = capabilities.GetCapabilities(re_pb2.GetCapabilitiesRequest(instance_name=instance), timeout=10)
        out["max_batch"] = caps.cache_capabilities.max_batch_total_size_bytes
        out["digest_functions"] = [re_pb2.DigestFunction.Value.Name(f) for f in caps.cache_capabilities.digest_functions]
        out["ac_updates"] = caps.cache_capabilities.action_cache_update_capabilities.update_enabled
        blobs = [f"{args[0]} blob {i}".encode() * (i + 1) for i in range(5)]
        out["missing_before"] = missing(blobs) == sorted(digest(b).hash for b in blobs)
        out["update"] = upload(blobs)
        out["missing_after"] = missing(blobs)
        got = read([digest(b) for b in blobs] + [digest(b"never stored " + args[0].encode())])
        out["read_back"] = all(got[digest(b).hash] == (0, b.hex()) for b in blobs)
        out["read_missing"] = got[digest(b"never stored " + args[0].encode()).hash][0]
        bad = cas.BatchUpdateBlobs(re_pb2.BatchUpdateBlobsRequest(instance_name=instance, requests=[
            re_pb2.BatchUpdateBlobsRequest.Request(digest=digest(b"right" + args[0].encode()), data=b"wrong")]), timeout=10)
        out["bad_upload"] = bad.responses[0].status.code
        action = digest(b"action " + args[0].encode())
        out["ac_before"] = get_result(action)
        update_result(action, result_for(blobs[0]))
        out["ac_after"] = get_result(action) == result_for(blobs[0])
        # an entry whose output blob is not in the CAS: BuildGrid answers a miss
        dangling = digest(b"dangling " + args[0].encode())
        update_result(dangling, result_for(b"not uploaded " + args[0].encode()))
        out["ac_dangling"] = get_result(dangling)
        # ByteStream: a blob over the batch limit, written and read in chunks
        big = (args[0].encode() + bytes(range(256))) * (5 * 4096)
        d = digest(big)
        name = f"{instance}/uploads/{uuid.uuid4()}/blobs/{d.hash}/{d.size_bytes}".lstrip("/")
        chunk = 1 << 20

        def writes():
            for offset in range(0, len(big), chunk):
                yield bytestream_pb2.WriteRequest(
                    resource_name=name if offset == 0 else "", write_offset=offset,
                    data=big[offset:offset + chunk], finish_write=offset + chunk >= len(big))

        out["bytestream_written"] = bytestream.Write(writes(), timeout=30).committed_size == len(big)
        read_name = f"{instance}/blobs/{d.hash}/{d.size_bytes}".lstrip("/")
        data = b"".join(r.data for r in bytestream.Read(bytestream_pb2.ReadRequest(resource_name=read_name), timeout=30))
        out["bytestream_read"] = data == big
    elif mode == "put":  # args: hex of a blob; uploads it with an entry that names it
        blob = bytes.fromhex(args[0])
        out["update"] = upload([blob])
        update_result(digest(b"action for " + blob), result_for(blob))
    elif mode == "get":  # args: hex of a blob: what the server now has for it and its entry
        blob = bytes.fromhex(args[0])
        out["read"] = read([digest(blob)])[digest(blob).hash]
        out["missing"] = missing([blob])
        result = get_result(digest(b"action for " + blob))
        out["entry"] = result if isinstance(result, str) else "found"
    elif mode == "rate":  # args: clients, seconds: GetActionResult hits per second
        clients, seconds = int(args[0]), float(args[1])
        blobs = [f"rate {i} {uuid.uuid4()}".encode() for i in range(256)]
        upload(blobs)
        actions = [digest(b"action " + b) for b in blobs]
        for action, blob in zip(actions, blobs):
            update_result(action, result_for(blob))
        counts, errors = [0] * clients, []
        start = threading.Barrier(clients + 1)

        def lookups(n):
            own = grpc.insecure_channel(target)  # a connection per client, as separate processes have
            stub = re_grpc.ActionCacheStub(own)
            start.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                try:
                    stub.GetActionResult(re_pb2.GetActionResultRequest(
                        instance_name=instance, action_digest=actions[counts[n] % len(actions)]), timeout=10)
                    counts[n] += 1
                except grpc.RpcError as error:
                    errors.append(error.code().name)
                    return

        threads = [threading.Thread(target=lookups, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        start.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        out["rate"] = sum(counts) / (time.perf_counter() - began)
        out["per_client"] = counts
        out["errors"] = errors[:5]
    return out


for line in sys.stdin:  # one request a line: [mode, host:port, instance name, [args]]
    mode, target, instance, args = json.loads(line)
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
    cas = re_grpc.ContentAddressableStorageStub(channel)
    ac = re_grpc.ActionCacheStub(channel)
    capabilities = re_grpc.CapabilitiesStub(channel)
    bytestream = bytestream_pb2_grpc.ByteStreamStub(channel)
    try:
        reply = {"out": run(mode, target, args)}
    except Exception:
        reply = {"error": traceback.format_exc()}
    finally:
        channel.close()
    print(json.dumps(reply), flush=True)
"""


class ReapiClient:
    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def __call__(
        self, server: BuildGridServer, mode: str, *args: str, instance: str | None = None
    ) -> Any:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [str(server.python), "-P", "-c", REAPI_CLIENT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert self.process.stdin and self.process.stdout
        name = server.instance_name if instance is None else instance
        target = f"127.0.0.1:{server.port}"
        self.process.stdin.write(json.dumps([mode, target, name, list(args)]) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the REAPI client died\n---- server logs:\n{server.logs()[-3000:]}"
        reply = json.loads(line)
        assert "error" not in reply, f"{reply['error']}\n---- server logs:\n{server.logs()[-3000:]}"
        return reply["out"]

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def reapi_client() -> Iterator[ReapiClient]:
    client = ReapiClient()
    yield client
    client.close()


def test_reapi_round_trip(reapi_server: BuildGridServer, reapi_client: ReapiClient) -> None:
    assert reapi_server.url == f"grpc://127.0.0.1:{reapi_server.port}"
    assert reapi_server.instance_name == ""
    out = reapi_client(reapi_server, "smoke", "round trip")
    assert out == {
        "max_batch": 4 * 1024 * 1024 - 1024,
        "digest_functions": ["SHA256"],
        "ac_updates": True,
        "missing_before": True,
        "update": [0] * 5,
        "missing_after": [],
        "read_back": True,
        "read_missing": 5,  # NOT_FOUND
        "bad_upload": 3,  # INVALID_ARGUMENT: BuildGrid checks what it is sent
        "ac_before": "NOT_FOUND",
        "ac_after": True,
        "ac_dangling": "NOT_FOUND",
        "bytestream_written": True,
        "bytestream_read": True,
    }


def test_reapi_corrupt_is_served_as_is(
    reapi_server: BuildGridServer, reapi_client: ReapiClient
) -> None:
    """What a corrupted blob looks like to a client: the entry is still a hit, the blob
    is read back with the right size and the wrong bytes (BuildGrid does not re-hash)."""
    blob = b"a blob to corrupt " + reapi_server.url.encode()
    assert reapi_client(reapi_server, "put", blob.hex()) == {"update": [0]}
    [path] = reapi_server.blob_paths(sha256(blob))
    assert path.read_bytes() == blob
    reapi_server.corrupt(sha256(blob))
    out = reapi_client(reapi_server, "get", blob.hex())
    code, data = out["read"]
    assert code == 0 and len(bytes.fromhex(data)) == len(blob)
    assert bytes.fromhex(data) != blob and out["missing"] == [] and out["entry"] == "found"
    with pytest.raises(FileNotFoundError):
        reapi_server.corrupt(sha256(b"never stored"))


def test_reapi_several_instances_kill_restart_clear(reapi_client: ReapiClient) -> None:
    with start_reapi_server(instance_names=("", "team-b")) as server:
        assert server.instance_names == ("", "team-b") and server.instance_name == ""
        blob = b"kept by the first instance"
        assert reapi_client(server, "put", blob.hex()) == {"update": [0]}
        assert reapi_client(server, "get", blob.hex())["entry"] == "found"
        other = reapi_client(server, "get", blob.hex(), instance="team-b")
        assert other["missing"] == [sha256(blob)] and other["entry"] == "NOT_FOUND"
        assert server.blob_paths(sha256(blob)) == [
            server.storage_dir("") / "cas" / "objects" / sha256(blob)[:2] / sha256(blob)[2:]
        ]
        # killed: the CAS is on disk, the ActionCache was in the process's memory
        url = server.url
        server.kill()
        assert not server.alive()
        server.start()
        assert server.url == url
        after = reapi_client(server, "get", blob.hex())
        assert after["missing"] == [] and after["entry"] == "NOT_FOUND"
        server.clear()
        cleared = reapi_client(server, "get", blob.hex())
        assert cleared["missing"] == [sha256(blob)] and cleared["entry"] == "NOT_FOUND"
        assert "Starting BuildGrid server" in server.logs()


def test_reapi_in_memory_storage(reapi_client: ReapiClient) -> None:
    with start_reapi_server(storage="memory") as server:
        blob = b"kept in memory"
        assert reapi_client(server, "put", blob.hex()) == {"update": [0]}
        assert reapi_client(server, "get", blob.hex())["entry"] == "found"
        with pytest.raises(NotImplementedError):
            server.corrupt(sha256(blob))
        assert not list(server.workdir.glob("cas-*"))


def test_reapi_config_passes_buildgrid_lint(reapi_server: BuildGridServer) -> None:
    """The launcher skips BuildGrid's schema validation (seconds of each start): the
    config it writes must pass it, in BuildGrid's strict mode."""
    bgd = reapi_server.python.parent / "bgd"
    proc = subprocess.run(
        [str(bgd), "server", "lint", str(reapi_server.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "passed validation" in proc.stdout, proc.stdout + proc.stderr


def test_reapi_eight_concurrent_clients(
    reapi_server: BuildGridServer, reapi_client: ReapiClient
) -> None:
    """8 clients at once are all served (BuildGrid's default limit, 5 RPCs per CPU, would
    refuse some with RESOURCE_EXHAUSTED); prints the lookup rate."""
    out = reapi_client(reapi_server, "rate", "8", "1.0")
    print(f"BuildGrid GetActionResult: {out['rate']:.0f}/s with 8 clients ({out['per_client']})")
    assert out["errors"] == []
    assert all(count > 0 for count in out["per_client"])
    assert out["rate"] > 100  # about 1,000-2,000 on 2 cores


def test_a_server_that_is_not_installed_fails_naming_the_script(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import remote_servers

    monkeypatch.setenv("SODABUILD_BUILDGRID_VENV", str(tmp_path / "no-venv"))
    monkeypatch.setenv("SODABUILD_NGINX", str(tmp_path / "no-nginx"))
    for starter in (start_reapi_server, start_http_cache_server):
        with (
            pytest.raises(remote_servers.ServerError, match=r"scripts/remote-servers"),
            starter(tmp_path),
        ):
            pass
