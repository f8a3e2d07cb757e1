"""The progress line of a long build: ``sodabuild: compose 4,210/8,568 definitions (2.1s)``.

The pipeline reports where it is through one object, :func:`active` progress, at phase
boundaries and every few hundred definitions or files. By default that object is
:data:`NO_PROGRESS`, whose methods do nothing: a build that shows no progress (``--json``,
output piped, watch mode, the daemon, every library use) pays one no-op call per report
and nothing else. ``sodabuild build`` on a terminal installs a :class:`TerminalProgress`
around its build (:func:`showing`), which draws on stderr once the build has run for
about a second, redraws the line in place (``\\r`` and erase-line) at most ten times a
second, and erases it when the build is over, before the summary is printed.

When the command line shows it (see :func:`wanted`): stderr is a terminal, ``TERM`` is
not ``dumb``, and neither ``--json`` nor ``--no-progress`` is given.
``SODABUILD_PROGRESS=1`` forces the line on (terminal or not, drawn at every report from
the first: for tests and for logs that render ``\\r``), ``SODABUILD_PROGRESS=0`` forces it
off.
``NO_COLOR`` only turns colour off: the line has none anyway. Standard library only.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

#: The environment variable that forces the line on ("1") or off ("0").
PROGRESS_ENV = "SODABUILD_PROGRESS"
#: Carriage return, then erase to the end of the line (VT100; every terminal in use).
ERASE = "\r\x1b[K"


class Progress:
    """Where a build is. This base class is the disabled progress: it does nothing."""

    __slots__ = ()

    def update(self, phase: str, done: int, total: int | None = None, unit: str = "") -> None:
        """The build is in ``phase``, ``done`` of ``total`` ``unit`` (total None: unknown)."""

    def clear(self) -> None:
        """Erase what was drawn (the build is over, or something else must print)."""


#: The progress of every build nobody watches.
NO_PROGRESS = Progress()

_ACTIVE: ContextVar[Progress] = ContextVar("sodabuild_progress", default=NO_PROGRESS)


def active() -> Progress:
    """The progress the build starting now reports to (``NO_PROGRESS`` by default)."""
    return _ACTIVE.get()


@contextmanager
def showing(progress: Progress) -> Iterator[Progress]:
    """Builds run inside report to ``progress``; the line is erased on the way out."""
    token = _ACTIVE.set(progress)
    try:
        yield progress
    finally:
        _ACTIVE.reset(token)
        progress.clear()


def forced(environ: Mapping[str, str] | None = None) -> bool | None:
    """``SODABUILD_PROGRESS``: True (``1``), False (``0``), None (unset, empty or other)."""
    value = (os.environ if environ is None else environ).get(PROGRESS_ENV, "")
    return {"1": True, "0": False}.get(value.strip())


def wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a build writing its summary elsewhere should draw on ``stream``: a terminal
    that is not ``TERM=dumb``, unless ``SODABUILD_PROGRESS`` says otherwise."""
    env = os.environ if environ is None else environ
    force = forced(env)
    if force is not None:
        return force
    if env.get("TERM", "") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class TerminalProgress(Progress):
    """One line on ``stream``, redrawn in place.

    Nothing is drawn before ``delay`` seconds have passed since the object was made (a
    quick build shows nothing), and the line is redrawn at most every ``interval``
    seconds unless the phase changes. ``width`` is the terminal's (default: asked once);
    the line is cut to one column less, so it never wraps.
    """

    __slots__ = (
        "clock",
        "delay",
        "drawn",
        "interval",
        "last",
        "phase",
        "started",
        "stream",
        "width",
    )

    def __init__(
        self,
        stream: TextIO,
        *,
        delay: float = 1.0,
        interval: float = 0.1,
        width: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last = -1.0
        self.phase = ""
        self.drawn = False
        self.width = width if width is not None else _columns(stream)

    def update(self, phase: str, done: int, total: int | None = None, unit: str = "") -> None:
        now = self.clock()
        elapsed = now - self.started
        if elapsed < self.delay:
            return
        if phase == self.phase and now - self.last < self.interval:
            return
        self.phase, self.last = phase, now
        self.draw(line(phase, done, total, unit, elapsed))

    def draw(self, text: str) -> None:
        room = max(self.width - 1, 10)
        if len(text) > room:
            text = text[: room - 1] + "…"
        try:
            self.stream.write(ERASE + text)
            self.stream.flush()
        except (OSError, ValueError):
            return
        self.drawn = True

    def clear(self) -> None:
        if not self.drawn:
            return
        self.drawn = False
        try:
            self.stream.write(ERASE)
            self.stream.flush()
        except (OSError, ValueError):
            return


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to (``COLUMNS`` wins; 80 if unknown)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return shutil.get_terminal_size((80, 24)).columns


def line(phase: str, done: int, total: int | None, unit: str, elapsed: float) -> str:
    """The text of the line: ``sodabuild: compose 4,210/8,568 definitions (2.1s)``."""
    count = f"{done:,}/{total:,}" if total is not None else f"{done:,}"
    what = f" {unit}" if unit else ""
    return f"sodabuild: {phase} {count}{what} ({elapsed:.1f}s)"
