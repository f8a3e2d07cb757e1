"""Fast pickling for the frozen, slotted dataclasses the persistent cache holds.

A slotted dataclass pickles through ``dataclasses``' generic ``__getstate__`` and
``__setstate__``, which call ``dataclasses.fields()`` for every object: on a 10k-module
app's state (~100k such objects) that is most of loading and saving it. :func:`by_fields`
gives a class a ``__reduce__`` that reads the fields with one C-level getter and rebuilds
the object with its slot descriptors, without running ``__init__`` (as before).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")

_SETTERS: dict[type, tuple[Callable[[Any, Any], None], ...]] = {}


def _rebuild(cls: type[T], values: tuple[Any, ...]) -> T:
    setters = _SETTERS.get(cls)
    if setters is None:  # a class decorated after the pickle was made: register it
        setters = _register(cls)
    obj = object.__new__(cls)
    for setter, value in zip(setters, values, strict=True):
        setter(obj, value)
    return obj


def _register(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    names = [field.name for field in dataclasses.fields(cls)]
    setters = tuple(cls.__dict__[name].__set__ for name in names)
    _SETTERS[cls] = setters
    return setters


def by_fields(cls: type[T]) -> type[T]:
    """Decorate a ``@dataclass(slots=True)`` class to pickle as (class, field values)."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    _register(cls)
    getter: Callable[[Any], Any] = attrgetter(*names)
    single = len(names) == 1  # attrgetter of one name returns the value, not a tuple

    def __reduce__(self: Any) -> tuple[Any, ...]:
        found = getter(self)
        return (_rebuild, (cls, (found,) if single else found))

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls
