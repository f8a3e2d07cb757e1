"""Send what the build persisted: a ``gql`` transport that posts persisted-document ids.

The manifests the build writes (``manifest_output``: ``apollo``, ``relay``,
``persisted-documents``) list each operation under the sha256 of its canonical text. A
client that posts its own string posts something else; this transport posts the id (or
the canonical text) of the request's document instead::

    from gql import Client
    from sodabuild.transport import persisted_transport

    transport = persisted_transport(
        "https://api.example.com/graphql",
        format="apollo",                                   # or "document-id", "document"
        manifest="app/__generated__/persisted-queries.json",  # optional: refuse others
    )
    client = Client(transport=transport)
    request = GetUser.to_gql()
    request.variable_values = {"id": "u1"}
    data = client.execute(request)

Wire formats (one HTTP POST of JSON per request, with the standard library):

- ``"apollo"``: Apollo automatic persisted queries, ``{"extensions": {"persistedQuery":
  {"version": 1, "sha256Hash": <hex>}}, "variables", "operationName"}`` without
  ``query``. A ``PersistedQueryNotFound`` answer fails (the server accepts the manifest
  only), or with ``retry_with_document=True`` is retried once with ``query`` included
  (the server registers it);
- ``"document-id"``: GraphQL-over-HTTP persisted documents, ``{"documentId":
  "sha256:<hex>", "variables", "operationName"}``; an unknown id fails;
- ``"document"``: the canonical text as ``query`` (no id).

The id is the sha256 of :func:`canonical_document` of the request's document: its
operation, then its fragments sorted by name, each printed by sodabuild's printer (what
graphql-core 3.3's ``print_ast`` writes), joined by a blank line. That is exactly the
text the build writes for the operation, so ``GraphQLDocument.to_gql()`` requests and the
gql library's own ``gql(...)`` of the same string (whatever its layout and fragment order)
get the manifest's id. With ``manifest`` (a path to a manifest in any of the three
formats) a document whose id the manifest does not list is refused before anything is
sent (:class:`PersistedDocumentError`): the client never sends an id the server cannot
know.

gql is imported only when a transport is made (:func:`persisted_transport`, or the
``PersistedTransport`` attribute of this module); sodabuild does not depend on it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sodabuild.compose.printer import print_document
from sodabuild.graphql import GraphQLDocument

if TYPE_CHECKING:
    from gql.transport.transport import Transport

__all__ = [
    "FORMATS",
    "PersistedDocumentError",
    "canonical_document",
    "document_id",
    "load_manifest",
    "persisted_transport",
]

Format = Literal["apollo", "document-id", "document"]
#: The wire formats of :func:`persisted_transport`.
FORMATS: tuple[str, ...] = ("apollo", "document-id", "document")

_HEX_ID = re.compile(r"[0-9a-f]{64}")
#: Errors by which servers say they do not know an id (Apollo; GraphQL-over-HTTP servers).
_NOT_FOUND = frozenset(
    {
        "PersistedQueryNotFound",
        "PERSISTED_QUERY_NOT_FOUND",
        "PersistedDocumentNotFound",
        "PERSISTED_DOCUMENT_NOT_FOUND",
    }
)
_NOT_SUPPORTED = frozenset({"PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED"})


class PersistedDocumentError(ValueError):
    """A document that cannot be sent as a persisted document: not one named operation
    with its fragments, or not in the transport's manifest."""


# -- canonical documents and their ids ------------------------------------------------------


def canonical_document(document: Any) -> str:
    """The canonical text of an operation document (a graphql-core ``DocumentNode``, a
    string, or a :class:`~sodabuild.graphql.GraphQLDocument`): the operation, then its
    fragments sorted by name, each printed by sodabuild's printer, joined by a blank line:
    the text the build writes for that operation, whose sha256 is its persisted id."""
    return _canonical(document)[0]


def _canonical(document: Any) -> tuple[str, str]:
    """:func:`canonical_document` and the operation's name."""
    if isinstance(document, GraphQLDocument):
        if document.kind != "operation":
            raise PersistedDocumentError(
                f"{document.name} is a fragment: only operations are persisted documents"
            )
        return document.document, document.name
    from graphql import (
        DocumentNode,
        FragmentDefinitionNode,
        GraphQLError,
        OperationDefinitionNode,
        parse,
    )

    if isinstance(document, str):
        try:
            document = parse(document)
        except GraphQLError as exc:
            raise PersistedDocumentError(str(exc)) from None
    if not isinstance(document, DocumentNode):
        raise TypeError(f"not a GraphQL document: {document!r}")
    operations: list[OperationDefinitionNode] = []
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
        elif isinstance(definition, FragmentDefinitionNode):
            name = definition.name.value
            if name in fragments:
                raise PersistedDocumentError(f"fragment '{name}' is defined twice")
            fragments[name] = definition
        else:
            raise PersistedDocumentError(
                "a persisted document holds an operation and fragments, not "
                f"{definition.kind} definitions"
            )
    if len(operations) != 1:
        raise PersistedDocumentError(
            f"a persisted document holds one operation; this one has {len(operations)}"
        )
    (operation,) = operations
    if operation.name is None:
        raise PersistedDocumentError(
            "persisted operations are named (the build requires names; write `query Name`)"
        )
    from sodabuild.compose.document import with_typename

    texts = [
        print_document(with_typename(operation)),
        *(print_document(with_typename(fragments[n])) for n in sorted(fragments)),
    ]
    return "\n\n".join(texts), operation.name.value


def document_id(document: Any) -> str:
    """``sha256:<hex>`` of :func:`canonical_document` (``GraphQLDocument.hash``; the
    manifests' ids are the hex)."""
    return "sha256:" + _digest(canonical_document(document))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_manifest(path: str | os.PathLike[str]) -> dict[str, str]:
    """The documents of a manifest by id (sha256 hex), in any format the build writes:
    Apollo's ``{"format": "apollo-persisted-query-manifest", "operations": [{"id",
    "body"}]}``, Relay's ``{<hex>: text}`` or ``{"sha256:<hex>": text}``. Every text must
    hash to its id."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise PersistedDocumentError(f"{path}: cannot read the manifest: {exc}") from None
    entries: list[tuple[object, object]]
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        entries = [
            (op.get("id"), op.get("body")) if isinstance(op, dict) else (None, None)
            for op in data["operations"]
        ]
    elif isinstance(data, dict) and "operations" not in data:
        entries = [
            (key.removeprefix("sha256:") if isinstance(key, str) else key, text)
            for key, text in data.items()
        ]
    else:
        raise PersistedDocumentError(
            f"{path}: not a persisted-document manifest (apollo, relay or persisted-documents)"
        )
    documents: dict[str, str] = {}
    for key, text in entries:
        if not (isinstance(key, str) and _HEX_ID.fullmatch(key) and isinstance(text, str)):
            raise PersistedDocumentError(f"{path}: malformed entry {key!r}")
        if _digest(text) != key:
            raise PersistedDocumentError(f"{path}: the document of {key} does not hash to it")
        documents[key] = text
    return documents


# -- the transport --------------------------------------------------------------------------


def persisted_transport(
    url: str,
    *,
    format: Format = "apollo",
    manifest: str | os.PathLike[str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = 30.0,
    retry_with_document: bool = False,
) -> Transport:
    """A sync gql 4.x transport posting the requests' persisted ids (or canonical texts) to
    ``url`` in the wire ``format`` (:data:`FORMATS`): for ``gql.Client(transport=...)``.

    ``manifest``: refuse, with :class:`PersistedDocumentError` and before sending, a
    document the manifest does not list. ``headers``: added to each request (e.g.
    ``Authorization``). ``timeout``: seconds per HTTP request (``execute(...,
    timeout=...)`` overrides it). ``retry_with_document`` (``"apollo"`` only): on
    ``PersistedQueryNotFound`` send the request again with its document (automatic
    persisted queries); without it the answer raises ``TransportQueryError``.
    """
    try:
        transport_class = _transport_class()
    except ImportError as exc:
        raise ImportError(
            "persisted_transport() needs the gql client library, 4.x (pip install 'gql>=4')"
        ) from exc
    return transport_class(
        url,
        format=format,
        manifest=manifest,
        headers=headers,
        timeout=timeout,
        retry_with_document=retry_with_document,
    )


def __getattr__(name: str) -> Any:
    """``PersistedTransport``: the transport class (imports gql)."""
    if name == "PersistedTransport":
        return _transport_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _transport_class() -> Callable[..., Transport]:
    from gql import GraphQLRequest  # gql 4.x (3.x has none: ImportError, see above)
    from gql.transport.exceptions import (
        TransportConnectionFailed,
        TransportProtocolError,
        TransportQueryError,
        TransportServerError,
    )
    from gql.transport.transport import Transport
    from graphql import ExecutionResult

    class PersistedTransport(Transport):
        """Posts each request's persisted id (or canonical text): see :mod:`sodabuild.transport`."""

        def __init__(
            self,
            url: str,
            *,
            format: Format = "apollo",
            manifest: str | os.PathLike[str] | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float | None = 30.0,
            retry_with_document: bool = False,
        ) -> None:
            if format not in FORMATS:
                raise ValueError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
            if retry_with_document and format != "apollo":
                raise ValueError("retry_with_document is for the 'apollo' format only")
            self.url = url
            self.format = format
            self.headers = dict(headers or {})
            self.timeout = timeout
            self.retry_with_document = retry_with_document
            self.manifest_path = None if manifest is None else Path(manifest)
            #: The manifest's documents by sha256 hex (None: any document is sent).
            self.manifest = None if manifest is None else load_manifest(manifest)
            #: Headers of the last answer (as gql's HTTP transports keep them).
            self.response_headers: dict[str, str] | None = None

        def connect(self) -> None:
            """Nothing to open: each request is one HTTP POST."""

        def close(self) -> None:
            """Nothing to close."""

        def payload(
            self, request: GraphQLRequest, *, with_document: bool = False
        ) -> dict[str, Any]:
            """The JSON body posted for ``request`` (``with_document``: the Apollo retry,
            id and document both); refuses a document outside the manifest."""
            text, name = _canonical(request.document)
            digest = _digest(text)
            if self.manifest is not None and digest not in self.manifest:
                raise PersistedDocumentError(
                    f"operation {name} (sha256:{digest}) is not in the manifest "
                    f"{self.manifest_path}, so the server cannot know it: build the project "
                    "(sodabuild build) or send a document the build wrote"
                )
            body: dict[str, Any] = {}
            extensions = dict(request.extensions or {})
            if self.format == "apollo":
                extensions["persistedQuery"] = {"version": 1, "sha256Hash": digest}
                if with_document:
                    body["query"] = text
            elif self.format == "document-id":
                body["documentId"] = f"sha256:{digest}"
            else:
                body["query"] = text
            body["operationName"] = request.operation_name or name
            if request.variable_values:
                body["variables"] = request.variable_values
            if extensions:
                body["extensions"] = extensions
            return body

        def execute(self, request: GraphQLRequest, *args: Any, **kwargs: Any) -> ExecutionResult:
            """Post ``request``; ``timeout=`` (seconds) overrides the transport's."""
            timeout = kwargs.pop("timeout", self.timeout)
            if args or kwargs:
                raise TypeError(f"execute() takes no other arguments: {args!r}, {sorted(kwargs)}")
            answer = self._post(self.payload(request), timeout)
            missing = _missing(answer) if self.format != "document" else None
            if missing is not None:
                if self.retry_with_document:
                    answer = self._post(self.payload(request, with_document=True), timeout)
                else:
                    text, name = _canonical(request.document)
                    raise TransportQueryError(
                        f"{missing}: the server at {self.url} does not know operation "
                        f"{name} (sha256:{_digest(text)}): give the server "
                        "the build's manifest"
                        + (
                            ", or pass retry_with_document=True to send the document then"
                            if self.format == "apollo"
                            else ""
                        ),
                        errors=answer.get("errors"),
                        data=answer.get("data"),
                        extensions=answer.get("extensions"),
                    )
            return ExecutionResult(
                data=answer.get("data"),
                errors=answer.get("errors"),
                extensions=answer.get("extensions"),
            )

        def _post(self, body: Any, timeout: float | None) -> dict[str, Any]:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json",
                "Accept": "application/graphql-response+json, application/json",
                **self.headers,
            }
            http_request = urllib.request.Request(self.url, data, headers, method="POST")
            try:
                with urllib.request.urlopen(http_request, timeout=timeout) as response:
                    status, answered, raw = response.status, response.headers, response.read()
            except urllib.error.HTTPError as error:  # 4xx/5xx: the body may be GraphQL
                status, answered = error.code, error.headers
                try:
                    raw = error.read()
                except OSError:
                    raw = b""
                finally:
                    error.close()
            except OSError as exc:  # URLError, timeouts, refused connections
                raise TransportConnectionFailed(f"POST {self.url}: {exc}") from exc
            self.response_headers = dict(answered.items())
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and ("data" in answer or "errors" in answer):
                return answer
            shown = raw[:200].decode("utf-8", "replace")
            if status >= 400:
                raise TransportServerError(f"{status} from {self.url}: {shown}", status)
            raise TransportProtocolError(
                f"Server did not return a GraphQL result: {status} from {self.url}: {shown}"
            )

    PersistedTransport.__qualname__ = "PersistedTransport"
    return PersistedTransport


def _missing(answer: Mapping[str, Any]) -> str | None:
    """``PersistedQueryNotFound`` / ``PersistedQueryNotSupported`` when the server
    answered that it does not know (or take) the id, else None."""
    if answer.get("data") is not None:
        return None
    for error in answer.get("errors") or ():
        if not isinstance(error, dict):
            continue
        extensions = error.get("extensions")
        code = extensions.get("code") if isinstance(extensions, dict) else None
        said = {error.get("message"), code}
        if said & _NOT_FOUND:
            return "PersistedQueryNotFound"
        if said & _NOT_SUPPORTED:
            return "PersistedQueryNotSupported"
    return None
