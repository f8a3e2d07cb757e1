"""Remote caches: REAPI over gRPC and bazel-remote's HTTP protocol (issue 13).

Importing this package imports neither grpc nor protobuf (nor pydantic): the protocol
clients are imported by :func:`open_remote_cache` only when a cache is configured.

- :mod:`~sodabuild.remote.digest`: ``Digest``, ``ActionEntry`` (what callers handle)
- :mod:`~sodabuild.remote.cache`: ``RemoteCache``, the interface, fail-open and batching
- :mod:`~sodabuild.remote.grpc_cache`, :mod:`~sodabuild.remote.http_cache`: the protocols
- :mod:`~sodabuild.remote.actions`: ``ActionEntry`` <-> ``ActionResult`` messages
- :mod:`~sodabuild.remote.settings`: the ``[workspace.remote_cache]`` model (pydantic)
- :mod:`~sodabuild.remote.endpoint`, :mod:`~sodabuild.remote.errors`,
  :mod:`~sodabuild.remote.stats`: URLs, the one error, counters
- ``proto/``: vendored generated REAPI modules (``scripts/gen_reapi_protos.py``)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sodabuild.remote.cache import RemoteCache
from sodabuild.remote.digest import EMPTY, ActionEntry, Digest
from sodabuild.remote.endpoint import Endpoint, parse_endpoint
from sodabuild.remote.errors import RemoteError
from sodabuild.remote.stats import RemoteStats

if TYPE_CHECKING:
    from sodabuild.remote.settings import RemoteCacheSettings

__all__ = [
    "EMPTY",
    "ActionEntry",
    "Digest",
    "Endpoint",
    "RemoteCache",
    "RemoteError",
    "RemoteStats",
    "open_remote_cache",
    "parse_endpoint",
]


def open_remote_cache(
    settings: RemoteCacheSettings,
    *,
    environ: Mapping[str, str] | None = None,
    upload: bool | None = None,
    on_error: Callable[[RemoteError], None] | None = None,
) -> RemoteCache:
    """The client for ``settings`` (``upload`` overrides ``settings.upload``, as the
    command line's ``--remote-upload/--no-remote-upload`` would). Raises
    :class:`~sodabuild.remote.settings.MissingHeaders` when a required header's
    variable is unset; connects lazily, so a dead server shows at the first call."""
    from sodabuild.remote.settings import resolve_headers

    endpoint = settings.endpoint
    cls: type[RemoteCache]
    if endpoint.protocol == "grpc":
        from sodabuild.remote.grpc_cache import GrpcCache

        cls = GrpcCache
    else:
        from sodabuild.remote.http_cache import HttpCache

        cls = HttpCache
    return cls(
        endpoint,
        instance_name=settings.instance_name,
        timeout=settings.timeout,
        headers=resolve_headers(settings, environ),
        upload=settings.upload if upload is None else upload,
        concurrency=settings.concurrency,
        on_error=on_error,
    )
