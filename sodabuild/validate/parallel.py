"""Validation work on several processes; only small answers cross the boundary.

Workers are forked after the schema (and, for the combined documents, their ASTs) exist,
so they inherit them and graphql-core for free. Two kinds of work:

- ``passing``: each worker re-parses a composed document's canonical text without
  locations, validates it and answers True/False. Failures are rare and are validated again
  in the main process on the located ASTs, which is where diagnostics come from. Parsing
  canonical printed text is equivalent for validation: ``parse(print_ast(doc))`` is the
  same document.
- ``fork_map``: any function over a list of work items prepared before the fork (the
  combined documents of validate/combined.py), results pickled back in order.

A pool is used only when it pays (enough work, two or more CPUs, ``fork`` available) and
only from a single-threaded process: forking a process whose other threads may hold locks
(watch mode's file observer) is not safe, so there the work stays in-process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from graphql import GraphQLSchema, parse

from sodabuild.validate.documents import FRAGMENT_RULES, OPERATION_RULES
from sodabuild.validate.engine import validate_document

#: Below this many documents a process pool costs more than it saves.
PARALLEL_THRESHOLD = 400

R = TypeVar("R")

_schema: GraphQLSchema | None = None
_function: Callable[[int], object] | None = None


def _worker_init() -> None:
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _check(item: tuple[str, bool]) -> bool:
    text, is_fragment = item
    assert _schema is not None
    rules = FRAGMENT_RULES if is_fragment else OPERATION_RULES
    return not validate_document(_schema, parse(text, no_location=True), rules)


def _call(index: int) -> object:
    assert _function is not None
    return _function(index)


def worker_count() -> int:
    configured = os.environ.get("SODABUILD_JOBS")
    if configured:
        return max(1, int(configured))
    return max(1, min(os.cpu_count() or 1, 8))


def can_fork(work: int) -> bool:
    """Whether ``work`` documents are worth a pool here (and a pool is safe here)."""
    return (
        worker_count() >= 2
        and work >= PARALLEL_THRESHOLD
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def fork_map(function: Callable[[int], R], count: int) -> list[R]:
    """``[function(i) for i in range(count)]`` on forked workers (``function`` and what it
    reads are inherited, not pickled; only the results are)."""
    global _function
    _function = function
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(min(count, worker_count()), initializer=_worker_init) as pool:
            return cast(list[R], pool.map(_call, range(count), chunksize=1))
    finally:
        _function = None


def passing(schema: GraphQLSchema, documents: Sequence[tuple[str, bool]]) -> list[bool] | None:
    """Pass/fail per ``(text, is_fragment)``, or None when a pool is not worth it."""
    global _schema
    if not can_fork(len(documents)):
        return None
    _schema = schema
    try:
        context = multiprocessing.get_context("fork")
        workers = worker_count()
        with context.Pool(workers, initializer=_worker_init) as pool:
            chunk = max(8, min(128, len(documents) // (workers * 8)))
            return list(pool.imap(_check, documents, chunksize=chunk))
    finally:
        _schema = None
