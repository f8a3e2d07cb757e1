"""The values callers hand the remote cache and get back: no protobuf in sight.

A :class:`Digest` names a blob by the SHA-256 of its bytes and its size (REAPI's
``Digest``); an :class:`ActionEntry` is what sodabuild stores under an action key: the
digests of the blobs a result consists of, by path (REAPI's ``ActionResult`` with its
``output_files``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A blob's lowercase hex SHA-256 and its size in bytes."""

    hash: str
    size: int

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.hash):
            raise ValueError(f"not a lowercase hex SHA-256: {self.hash!r}")
        if self.size < 0:
            raise ValueError(f"negative blob size: {self.size}")

    @classmethod
    def of(cls, data: bytes) -> Digest:
        """The digest of ``data``."""
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is the blob this digest names (size first: it is free)."""
        return len(data) == self.size and hashlib.sha256(data).hexdigest() == self.hash

    def __str__(self) -> str:
        return f"{self.hash}/{self.size}"


#: The empty blob: servers must behave as if they always hold it, so it is never sent.
EMPTY = Digest.of(b"")


@dataclass(frozen=True, slots=True)
class ActionEntry:
    """An action cache entry: output paths and the digests of their blobs.

    Stored as a real ``ActionResult`` whose ``output_files`` are ``(path, digest)``; the
    blobs themselves live in the CAS and are uploaded before the entry.
    """

    files: Mapping[str, Digest] = field(default_factory=dict)
    exit_code: int = 0

    def blobs(self) -> set[Digest]:
        """The digests this entry refers to."""
        return set(self.files.values())
