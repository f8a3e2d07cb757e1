"""Garbage-collector control for bulk work (stdlib only, so the no-op path may import it).

CPython's cyclic GC traverses every tracked object on full collections. Building hundreds
of thousands of AST nodes with it on costs 2-4x; keeping it off through validation, which
makes a lot of cyclic garbage, costs 5x peak memory. Hence two tools.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC inside (AST building, pickling); back to its previous state after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def gc_frozen() -> Iterator[None]:
    """What exists now is never traversed; new garbage is collected, rarely."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
