"""The one error a remote cache reports when it stops being used."""

from __future__ import annotations


class RemoteError(Exception):
    """A remote cache failed; the build goes on without it (fail open).

    ``url`` is the server, ``operation`` what was being done (``GetActionResult``,
    ``GET /cas/...``), ``detail`` what went wrong (a gRPC status, an HTTP status, a
    socket error). ``refused`` marks an answer that refuses this client's request
    (``PERMISSION_DENIED``, HTTP 403, a server that takes no action cache updates): met
    while uploading, it stops the uploads only, since reading may still be allowed.
    """

    def __init__(self, url: str, operation: str, detail: str, *, refused: bool = False) -> None:
        super().__init__(url, operation, detail)
        self.url = url
        self.operation = operation
        self.detail = detail
        self.refused = refused

    def __str__(self) -> str:
        return (
            f"remote cache {self.url}: {self.operation} failed: {self.detail}; "
            "continuing without the remote cache"
        )
