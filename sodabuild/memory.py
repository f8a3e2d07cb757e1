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


_frozen = 0  # gc_frozen blocks entered and not left


@contextmanager
def gc_frozen() -> Iterator[None]:
    """What exists now is never traversed; new garbage is collected, rarely."""
    global _frozen
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        gc.set_threshold(*threshold)
        gc.unfreeze()


def freeze_more() -> None:
    """Inside gc_frozen: what exists now is never traversed either (until gc_frozen's end
    unfreezes it all), for a stage that made many long-lived objects and no garbage
    (the first collection after it would traverse them all). Elsewhere nothing."""
    if _frozen:
        gc.freeze()
