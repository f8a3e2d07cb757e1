"""The ``[workspace.remote_cache]`` settings, as a pydantic model the workspace config embeds.

```toml
[workspace.remote_cache]
url = "grpcs://cache.example.com"   # grpc://host:port, grpcs://, http://, https://
instance_name = "main"              # default ""
upload = false                      # default: read only (a trusted CI job writes)
timeout = 5.0                       # seconds per call, default 5
concurrency = 8                     # requests in flight, default 8

[workspace.remote_cache.headers]
Authorization = { env = "CI_CACHE_TOKEN", prefix = "Bearer " }
x-buildbuddy-api-key = { env = "BUILDBUDDY_API_KEY", required = true }
```

A header's value is never written in the file: it is read from the environment variable
``env`` when the cache is opened, after ``prefix``. An unset (or empty) variable leaves
the header out, unless ``required``, which disables the remote cache with a warning
(:func:`resolve_headers` says which).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sodabuild.remote.endpoint import Endpoint, parse_endpoint

_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Headers the protocols set themselves.
_RESERVED = {
    "host", "content-length", "content-type", "transfer-encoding", "connection", "te",
    "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
}  # fmt: skip


class HeaderFromEnv(BaseModel):
    """One header whose value comes from an environment variable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    env: str = Field(description="the environment variable holding the value")
    prefix: str = Field("", description='put before the value, e.g. "Bearer "')
    required: bool = Field(
        False, description="disable the remote cache (with a warning) when the variable is unset"
    )

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(f"not an environment variable name: {value!r}")
        return value

    @field_validator("prefix")
    @classmethod
    def _no_line_breaks(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("a header prefix cannot hold a line break")
        return value


class RemoteCacheSettings(BaseModel):
    """Where the shared cache is and how to talk to it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    url: str = Field(
        description="grpc://host:port, grpcs://host[:port], http(s)://host[:port][/path]"
    )
    instance_name: str = Field("", description="the REAPI instance (HTTP: a path prefix)")
    upload: bool = Field(False, description="write results to the cache (trusted CI jobs)")
    timeout: float = Field(5.0, gt=0, le=600, description="seconds each call may take")
    concurrency: int = Field(8, ge=1, le=64, description="requests in flight")
    headers: dict[str, HeaderFromEnv] = Field(
        default_factory=dict, description="headers (gRPC metadata) from environment variables"
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parse_endpoint(value)  # ValueError says what is wrong
        return value.strip()

    @field_validator("timeout", mode="before")
    @classmethod
    def _int_timeout(cls, value: Any) -> Any:
        return float(value) if type(value) is int else value  # `timeout = 5` is fine

    @field_validator("instance_name")
    @classmethod
    def _valid_instance(cls, value: str) -> str:
        if value != value.strip("/") or "//" in value or any(c.isspace() for c in value):
            raise ValueError(f"not an instance name: {value!r} (segments joined by '/')")
        reserved = {"blobs", "uploads", "actions", "actionResults", "operations",
                    "capabilities", "compressed-blobs", "ac", "cas"}  # fmt: skip
        if reserved & set(value.split("/")):
            raise ValueError(f"instance name {value!r} uses a reserved path segment")
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _no_literals(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for name, spec in value.items():
                if isinstance(spec, str):
                    raise ValueError(
                        f"header {name!r}: values come from environment variables, never "
                        f'from the file: write {name} = {{ env = "VARIABLE" }}'
                    )
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, HeaderFromEnv]) -> dict[str, HeaderFromEnv]:
        seen: set[str] = set()
        for name in value:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"not a header name: {name!r}")
            if name.lower() in _RESERVED:
                raise ValueError(f"header {name!r} is set by the protocol itself")
            if name.lower() in seen:
                raise ValueError(f"header {name!r} is given twice")
            seen.add(name.lower())
        return value

    @property
    def endpoint(self) -> Endpoint:
        return parse_endpoint(self.url)


class MissingHeaders(Exception):
    """Required headers whose environment variables are unset."""

    def __init__(self, variables: list[str]) -> None:
        super().__init__(variables)
        self.variables = variables

    def __str__(self) -> str:
        names = ", ".join(f"${v}" for v in self.variables)
        return f"the remote cache needs {names}, which is not set; continuing without it"


def resolve_headers(
    settings: RemoteCacheSettings, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The header values from the environment: unset optional ones are left out;
    :class:`MissingHeaders` names the required ones that are unset. A value with a line
    break is treated as unset (it cannot be sent)."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    missing: list[str] = []
    for name, spec in settings.headers.items():
        raw = env.get(spec.env, "")
        if not raw or "\r" in raw or "\n" in raw:
            if spec.required:
                missing.append(spec.env)
            continue
        values[name] = spec.prefix + raw
    if missing:
        raise MissingHeaders(missing)
    return values
