"""Conversions between our values and REAPI messages (imports protobuf: clients only).

An :class:`ActionEntry` is stored as a real ``ActionResult``: one ``OutputFile`` (path and
digest) per file, sorted by path, and ``execution_metadata.worker = "sodabuild"`` so the
serialized message is never empty (REAPI's advice, a basic sanity check for servers).
"""

from __future__ import annotations

from sodabuild.remote.digest import ActionEntry, Digest
from sodabuild.remote.proto import remote_execution_pb2 as re_pb2

WORKER = "sodabuild"


def to_proto(digest: Digest) -> re_pb2.Digest:
    return re_pb2.Digest(hash=digest.hash, size_bytes=digest.size)


def from_proto(message: re_pb2.Digest) -> Digest:
    """Our digest of a message's; ``ValueError`` if it is not a SHA-256 digest."""
    return Digest(message.hash, message.size_bytes)


def entry_to_result(entry: ActionEntry) -> re_pb2.ActionResult:
    result = re_pb2.ActionResult(exit_code=entry.exit_code)
    result.execution_metadata.worker = WORKER
    for path in sorted(entry.files):
        result.output_files.add(path=path, digest=to_proto(entry.files[path]))
    return result


def result_to_entry(result: re_pb2.ActionResult) -> ActionEntry:
    """The entry an ``ActionResult`` holds; ``ValueError`` if it cannot be one of ours
    (a digest that is not SHA-256, a path twice, outputs other than files)."""
    if result.output_directories or result.output_symlinks or result.output_file_symlinks:
        raise ValueError("the action result has outputs other than files")
    files: dict[str, Digest] = {}
    for output in result.output_files:
        if output.path in files:
            raise ValueError(f"the action result names {output.path!r} twice")
        files[output.path] = from_proto(output.digest)
    return ActionEntry(files=files, exit_code=result.exit_code)


def decode_result(data: bytes) -> ActionEntry:
    """Parse a serialized ``ActionResult`` (the body of bazel-remote's ``/ac/``)."""
    from google.protobuf.message import DecodeError

    result = re_pb2.ActionResult()
    try:
        result.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(f"not an ActionResult: {exc}") from None
    return result_to_entry(result)
