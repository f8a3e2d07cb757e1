"""REAPI v2 over gRPC: ActionCache, ContentAddressableStorage, Capabilities, ByteStream.

One channel (``grpc://`` plaintext, ``grpcs://`` TLS with the default roots) carries every
call; headers go as metadata on each call, beside REAPI's ``RequestMetadata`` naming
sodabuild. Every request names ``instance_name``; ByteStream resources are
``{instance}/blobs/{hash}/{size}`` and ``{instance}/uploads/{uuid}/blobs/{hash}/{size}``.
Blobs travel in ``BatchReadBlobs``/``BatchUpdateBlobs`` requests up to the server's
``max_batch_total_size_bytes`` (from ``GetCapabilities``, asked once; 4 MiB when it says
0), and alone through ByteStream when bigger than that.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import grpc

from sodabuild import __version__
from sodabuild.remote.actions import entry_to_result, from_proto, result_to_entry, to_proto
from sodabuild.remote.cache import RemoteCache
from sodabuild.remote.digest import ActionEntry, Digest
from sodabuild.remote.errors import RemoteError
from sodabuild.remote.proto import bytestream_pb2, bytestream_pb2_grpc, remote_execution_pb2_grpc
from sodabuild.remote.proto import remote_execution_pb2 as re_pb2

# the generated service stubs are untyped
re_grpc: Any = remote_execution_pb2_grpc
bytestream_grpc: Any = bytestream_pb2_grpc

#: Batch limit when the server names none (gRPC's default message size limit).
DEFAULT_BATCH_LIMIT = 4 * 1024 * 1024
#: What one blob adds to a batch message beside its bytes (digest, status, framing).
BLOB_OVERHEAD = 160
#: Blobs per batch at most, so that many small blobs still make several requests.
MAX_BATCH_BLOBS = 500
#: Digests per FindMissingBlobs request.
FIND_MISSING_CHUNK = 4000
#: Bytes per ByteStream WriteRequest.
WRITE_CHUNK = 1024 * 1024
REQUEST_METADATA_KEY = "build.bazel.remote.execution.v2.requestmetadata-bin"

_REFUSALS = ("PERMISSION_DENIED", "UNAUTHENTICATED")


def _code_name(code: int) -> str:
    """The name of a numeric gRPC status code (``google.rpc.Status.code``)."""
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return str(status.name)
    return f"status {code}"


def plan_batches(digests: Sequence[Digest], limit: int) -> tuple[list[list[Digest]], list[Digest]]:
    """Split blobs into batches of at most ``limit`` bytes (with per-blob overhead) and
    the blobs too big for any batch (for ByteStream), biggest first."""
    batches: list[list[Digest]] = []
    singles: list[Digest] = []
    batch: list[Digest] = []
    size = 0
    for digest in sorted(digests, key=lambda d: (-d.size, d.hash)):
        cost = digest.size + BLOB_OVERHEAD
        if cost > limit:
            singles.append(digest)
            continue
        if batch and (size + cost > limit or len(batch) >= MAX_BATCH_BLOBS):
            batches.append(batch)
            batch, size = [], 0
        batch.append(digest)
        size += cost
    if batch:
        batches.append(batch)
    return batches, singles


class GrpcCache(RemoteCache):
    """A REAPI remote cache (BuildGrid, bazel-remote, BuildBuddy, NativeLink, Buildbarn)."""

    protocol = "grpc"

    def _open(self) -> None:
        options = [
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            ("grpc.primary_user_agent", f"sodabuild/{__version__}"),
        ]
        target = self.endpoint.authority
        if self.endpoint.tls:
            credentials = grpc.ssl_channel_credentials()
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        request_metadata = re_pb2.RequestMetadata(
            tool_details=re_pb2.ToolDetails(tool_name="sodabuild", tool_version=__version__),
            tool_invocation_id=str(uuid.uuid4()),
        )
        self._metadata: tuple[tuple[str, str | bytes], ...] = (
            *((name.lower(), value) for name, value in self.headers.items()),
            (REQUEST_METADATA_KEY, request_metadata.SerializeToString()),
        )
        self._action_cache = re_grpc.ActionCacheStub(self._channel)
        self._cas = re_grpc.ContentAddressableStorageStub(self._channel)
        self._capabilities = re_grpc.CapabilitiesStub(self._channel)
        self._bytestream = bytestream_grpc.ByteStreamStub(self._channel)
        self._prefix = f"{self.instance_name}/" if self.instance_name else ""
        self._caps_lock = threading.Lock()
        self._batch_limit: int | None = None
        self._updates_enabled = True

    def _close(self) -> None:
        self._channel.close()

    # -- calls ---------------------------------------------------------------------------

    def _rpc_error(self, operation: str, exc: grpc.RpcError) -> RemoteError:
        code = exc.code() if hasattr(exc, "code") else None
        name = code.name if code is not None else "UNKNOWN"
        details = exc.details() if hasattr(exc, "details") else str(exc)
        detail = f"{name}: {details}" if details else name
        return RemoteError(self.url, operation, detail, refused=name in _REFUSALS)

    def _call(self, operation: str, method: Any, request: Any, nbytes: int = 0) -> Any:
        try:
            return method(request, timeout=self._deadline(nbytes), metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._rpc_error(operation, exc) from None

    def _limits(self) -> int:
        """The batch limit, from the server's capabilities (asked once)."""
        with self._caps_lock:
            if self._batch_limit is None:
                request = re_pb2.GetCapabilitiesRequest(instance_name=self.instance_name)
                limit = DEFAULT_BATCH_LIMIT
                try:
                    caps = self._capabilities.GetCapabilities(
                        request, timeout=self._deadline(), metadata=self._metadata
                    )
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                        raise self._rpc_error("GetCapabilities", exc) from None
                else:
                    cache = caps.cache_capabilities
                    functions = list(cache.digest_functions)
                    if functions and re_pb2.DigestFunction.SHA256 not in functions:
                        raise RemoteError(
                            self.url, "GetCapabilities", "the server offers no SHA-256 digests"
                        )
                    limit = cache.max_batch_total_size_bytes or DEFAULT_BATCH_LIMIT
                    if caps.HasField("cache_capabilities"):
                        updates = cache.action_cache_update_capabilities.update_enabled
                        self._updates_enabled = bool(updates)
                self._batch_limit = int(limit)
            return self._batch_limit

    # -- primitives ----------------------------------------------------------------------

    def _lookup(self, key: Digest) -> ActionEntry | None:
        request = re_pb2.GetActionResultRequest(
            instance_name=self.instance_name, action_digest=to_proto(key)
        )
        try:
            result = self._action_cache.GetActionResult(
                request, timeout=self._deadline(), metadata=self._metadata
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise self._rpc_error("GetActionResult", exc) from None
        return result_to_entry(result)

    def _find_missing(self, digests: Sequence[Digest]) -> set[Digest]:
        wanted = set(digests)
        missing: set[Digest] = set()
        lock = threading.Lock()
        chunks = [
            digests[i : i + FIND_MISSING_CHUNK] for i in range(0, len(digests), FIND_MISSING_CHUNK)
        ]

        def ask(chunk: Sequence[Digest]) -> None:
            request = re_pb2.FindMissingBlobsRequest(
                instance_name=self.instance_name, blob_digests=[to_proto(d) for d in chunk]
            )
            response = self._call("FindMissingBlobs", self._cas.FindMissingBlobs, request)
            found = {from_proto(d) for d in response.missing_blob_digests}
            with lock:
                missing.update(found & wanted)

        self._parallel(ask, chunks)
        return missing

    def _read(self, digests: Sequence[Digest], into: dict[Digest, bytes]) -> None:
        batches, singles = plan_batches(digests, self._limits())

        def fetch(item: Digest | list[Digest]) -> None:
            if isinstance(item, Digest):
                self._stream_read(item, into)
            else:
                self._batch_read(item, into)

        items: list[Digest | list[Digest]] = [*singles, *batches]
        self._parallel(fetch, items)

    def _batch_read(self, batch: list[Digest], into: dict[Digest, bytes]) -> None:
        request = re_pb2.BatchReadBlobsRequest(
            instance_name=self.instance_name, digests=[to_proto(d) for d in batch]
        )
        nbytes = sum(d.size for d in batch)
        response = self._call("BatchReadBlobs", self._cas.BatchReadBlobs, request, nbytes)
        wanted = set(batch)
        for blob in response.responses:
            if blob.status.code != 0:  # NOT_FOUND, or another per-blob error: a miss
                continue
            try:
                digest = from_proto(blob.digest)
            except ValueError:
                continue
            if digest in wanted:
                wanted.discard(digest)
                self._accept(digest, blob.data, into)

    def _stream_read(self, digest: Digest, into: dict[Digest, bytes]) -> None:
        request = bytestream_pb2.ReadRequest(
            resource_name=f"{self._prefix}blobs/{digest.hash}/{digest.size}"
        )
        call = self._bytestream.Read(
            request, timeout=self._deadline(digest.size), metadata=self._metadata
        )
        chunks: list[bytes] = []
        received = 0
        try:
            for response in call:
                chunks.append(response.data)
                received += len(response.data)
                if received > digest.size:  # more than the blob can hold: stop reading
                    call.cancel()
                    break
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise self._rpc_error("ByteStream.Read", exc) from None
        self._accept(digest, b"".join(chunks), into)

    def _store_blobs(self, blobs: Mapping[Digest, bytes]) -> None:
        limit = self._limits()
        if not self._updates_enabled:
            raise RemoteError(
                self.url,
                "upload",
                "the server does not accept action cache updates (update_enabled is false)",
                refused=True,
            )
        missing = self._find_missing(sorted(blobs))
        batches, singles = plan_batches(sorted(missing), limit)

        def put(item: Digest | list[Digest]) -> None:
            if isinstance(item, Digest):
                self._stream_write(item, blobs[item])
            else:
                self._batch_write(item, blobs)

        items: list[Digest | list[Digest]] = [*singles, *batches]
        self._parallel(put, items)

    def _batch_write(self, batch: list[Digest], blobs: Mapping[Digest, bytes]) -> None:
        request = re_pb2.BatchUpdateBlobsRequest(instance_name=self.instance_name)
        for digest in batch:
            request.requests.add(digest=to_proto(digest), data=blobs[digest])
        nbytes = sum(d.size for d in batch)
        response = self._call("BatchUpdateBlobs", self._cas.BatchUpdateBlobs, request, nbytes)
        stored = 0
        for blob in response.responses:
            if blob.status.code != 0:
                code = _code_name(blob.status.code)
                raise RemoteError(
                    self.url,
                    "BatchUpdateBlobs",
                    f"blob {blob.digest.hash}/{blob.digest.size}: {code}: {blob.status.message}",
                    refused=code in _REFUSALS,
                )
            stored += 1
        if stored != len(batch):
            raise RemoteError(
                self.url, "BatchUpdateBlobs", f"{stored} answers for {len(batch)} blobs"
            )
        self.stats.add(blobs_uploaded=stored, bytes_uploaded=nbytes)

    def _stream_write(self, digest: Digest, data: bytes) -> None:
        name = f"{self._prefix}uploads/{uuid.uuid4()}/blobs/{digest.hash}/{digest.size}"

        def requests() -> Iterator[bytestream_pb2.WriteRequest]:
            offset = 0
            while True:
                chunk = data[offset : offset + WRITE_CHUNK]
                last = offset + len(chunk) >= len(data)
                yield bytestream_pb2.WriteRequest(
                    resource_name=name if offset == 0 else "",
                    write_offset=offset,
                    finish_write=last,
                    data=chunk,
                )
                offset += len(chunk)
                if last:
                    return

        response = self._call("ByteStream.Write", self._bytestream.Write, requests(), digest.size)
        if response.committed_size not in (digest.size, -1):
            raise RemoteError(
                self.url,
                "ByteStream.Write",
                f"the server committed {response.committed_size} of {digest.size} bytes",
            )
        self.stats.add(blobs_uploaded=1, bytes_uploaded=digest.size)

    def _store_entry(self, key: Digest, entry: ActionEntry) -> None:
        request = re_pb2.UpdateActionResultRequest(
            instance_name=self.instance_name,
            action_digest=to_proto(key),
            action_result=entry_to_result(entry),
        )
        self._call("UpdateActionResult", self._action_cache.UpdateActionResult, request)
