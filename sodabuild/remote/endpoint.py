"""Remote cache URLs: ``grpc://``, ``grpcs://``, ``http://`` and ``https://``."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

SCHEMES = ("grpc", "grpcs", "http", "https")
_DEFAULT_PORTS = {"grpcs": 443, "http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed remote cache URL: ``scheme://host[:port][/path]``."""

    scheme: str
    host: str
    port: int
    path: str  # "" or "/prefix" without a trailing slash (HTTP only)

    @property
    def protocol(self) -> str:
        """``grpc`` (REAPI) or ``http`` (bazel-remote's HTTP protocol)."""
        return "grpc" if self.scheme in ("grpc", "grpcs") else "http"

    @property
    def tls(self) -> bool:
        return self.scheme in ("grpcs", "https")

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path}"


def parse_endpoint(url: str) -> Endpoint:
    """Parse and check a remote cache URL; ``ValueError`` says what is wrong with it."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"unsupported scheme {parts.scheme + '://' if parts.scheme else 'none'} "
            f"(use one of {', '.join(s + '://' for s in SCHEMES)})"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "credentials in the URL are not allowed: put them in a header whose value "
            "comes from an environment variable"
        )
    if parts.query or parts.fragment:
        raise ValueError("a remote cache URL takes no query or fragment")
    host = parts.hostname
    if not host:
        raise ValueError("the URL names no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from None
    if port is None:
        if scheme not in _DEFAULT_PORTS:
            raise ValueError("a grpc:// URL needs a port (grpc://host:port)")
        port = _DEFAULT_PORTS[scheme]
    path = parts.path.rstrip("/")
    if path and scheme in ("grpc", "grpcs"):
        raise ValueError("a gRPC URL takes no path (set instance_name instead)")
    return Endpoint(scheme, host, port, path)
