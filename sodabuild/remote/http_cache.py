"""bazel-remote's HTTP protocol: ``/ac/<sha256>`` and ``/cas/<sha256>`` over GET/PUT/HEAD.

``/ac/<key>`` holds a serialized ``ActionResult``, ``/cas/<hash>`` a blob's raw bytes; a
404 is a miss. Paths sit below the URL's path and, when ``instance_name`` is set, below
that name: ``/<instance>/ac/<sha256>`` (bazel-remote accepts a prefix before ``/ac/`` and
``/cas/``; a plain WebDAV store such as nginx keeps instances apart by it). Requests go
through ``http.client`` over a small pool of keep-alive connections (one per thread in
flight); a connection the server closed while idle is replaced and the request, always
idempotent, sent once more. Headers go with every request. Blobs are checked for with
HEAD only when big; small ones are just PUT.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence

from sodabuild import __version__
from sodabuild.remote.actions import decode_result, entry_to_result
from sodabuild.remote.cache import RemoteCache
from sodabuild.remote.digest import ActionEntry, Digest
from sodabuild.remote.errors import RemoteError

#: Blobs bigger than this are checked for with HEAD before they are PUT.
HEAD_BEFORE_PUT = 64 * 1024
_REFUSED = (401, 403, 405)
#: Errors of a reused keep-alive connection that the server closed meanwhile.
_STALE = (http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError,
          ConnectionResetError, ConnectionAbortedError)  # fmt: skip


class HttpCache(RemoteCache):
    """A bazel-remote-style HTTP cache (bazel-remote, nginx WebDAV, any GET/PUT store)."""

    protocol = "http"

    def _open(self) -> None:
        prefix = self.endpoint.path
        if self.instance_name:
            prefix += "/" + urllib.parse.quote(self.instance_name.strip("/"), safe="/")
        self._prefix = prefix
        self._ssl = ssl.create_default_context() if self.endpoint.tls else None
        self._idle: list[http.client.HTTPConnection] = []
        self._request_headers = {"User-Agent": f"sodabuild/{__version__}", **self.headers}

    def _close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- requests ------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self.endpoint.host, self.endpoint.port
        if self._ssl is not None:
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._ssl)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; its status and body. :class:`RemoteError` when no answer
        came (refused, reset, timed out) or the answer is neither success nor 404."""
        operation = f"{method} {path}"
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        reused = connection is not None
        headers = dict(self._request_headers)
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        while True:
            if connection is None:
                connection = self._connect()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except _STALE as exc:
                connection.close()
                connection = None
                if reused:
                    reused = False
                    continue
                raise RemoteError(self.url, operation, _describe(exc)) from None
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise RemoteError(self.url, operation, _describe(exc)) from None
            break
        if response.will_close:
            connection.close()
        else:
            with self._lock:
                if self._closed:
                    connection.close()
                else:
                    self._idle.append(connection)
        status = response.status
        if status == 404 or 200 <= status < 300:
            return status, data
        detail = f"HTTP {status} {response.reason}".rstrip()
        raise RemoteError(self.url, operation, detail, refused=status in _REFUSED)

    def _path(self, kind: str, digest: Digest) -> str:
        return f"{self._prefix}/{kind}/{digest.hash}"

    # -- primitives ----------------------------------------------------------------------

    def _lookup(self, key: Digest) -> ActionEntry | None:
        status, data = self._request("GET", self._path("ac", key))
        return None if status == 404 else decode_result(data)

    def _find_missing(self, digests: Sequence[Digest]) -> set[Digest]:
        missing: set[Digest] = set()

        def head(digest: Digest) -> None:
            status, _ = self._request("HEAD", self._path("cas", digest))
            if status == 404:
                with self._lock:
                    missing.add(digest)

        self._parallel(head, digests)
        return missing

    def _read(self, digests: Sequence[Digest], into: dict[Digest, bytes]) -> None:
        def get(digest: Digest) -> None:
            status, data = self._request("GET", self._path("cas", digest))
            if status != 404:
                self._accept(digest, data, into)

        self._parallel(get, sorted(digests, key=lambda d: -d.size))

    def _store_blobs(self, blobs: Mapping[Digest, bytes]) -> None:
        def put(digest: Digest) -> None:
            path = self._path("cas", digest)
            if digest.size > HEAD_BEFORE_PUT and self._request("HEAD", path)[0] != 404:
                return
            status, _ = self._request("PUT", path, blobs[digest])
            if status == 404:
                raise RemoteError(self.url, f"PUT {path}", "HTTP 404 Not Found", refused=True)
            self.stats.add(blobs_uploaded=1, bytes_uploaded=digest.size)

        self._parallel(put, sorted(blobs, key=lambda d: -d.size))

    def _store_entry(self, key: Digest, entry: ActionEntry) -> None:
        path = self._path("ac", key)
        status, _ = self._request("PUT", path, entry_to_result(entry).SerializeToString())
        if status == 404:
            raise RemoteError(self.url, f"PUT {path}", "HTTP 404 Not Found", refused=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
