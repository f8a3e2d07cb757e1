"""Validate many documents on several processes; only pass/fail crosses the boundary.

Workers are forked after the schema is built, so they inherit it (and graphql-core) for
free; each re-parses a composed document's canonical text without locations, validates it
and answers True/False. Failures are rare and are validated again in the main process on
the located ASTs, which is where diagnostics come from. Parsing canonical printed text is
equivalent for validation: ``parse(print_ast(doc))`` is the same document.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Sequence

from graphql import GraphQLSchema, parse, validate

from sodabuild.validate.documents import FRAGMENT_RULES, OPERATION_RULES

#: Below this many documents a process pool costs more than it saves.
PARALLEL_THRESHOLD = 400

_schema: GraphQLSchema | None = None


def _worker_init() -> None:
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _check(item: tuple[str, bool]) -> bool:
    text, is_fragment = item
    assert _schema is not None
    rules = FRAGMENT_RULES if is_fragment else OPERATION_RULES
    return not validate(_schema, parse(text, no_location=True), rules)


def worker_count() -> int:
    configured = os.environ.get("SODABUILD_JOBS")
    if configured:
        return max(1, int(configured))
    return max(1, min(os.cpu_count() or 1, 8))


def passing(schema: GraphQLSchema, documents: Sequence[tuple[str, bool]]) -> list[bool] | None:
    """Pass/fail per ``(text, is_fragment)``, or None when a pool is not worth it."""
    global _schema
    workers = worker_count()
    if workers < 2 or len(documents) < PARALLEL_THRESHOLD:
        return None
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    _schema = schema
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_worker_init) as pool:
            chunk = max(8, min(128, len(documents) // (workers * 8)))
            return list(pool.imap(_check, documents, chunksize=chunk))
    finally:
        _schema = None
