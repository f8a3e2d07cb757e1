"""Colour for terminal output: whether to use it, and ANSI styles.

The print site decides (:func:`color_enabled` on the stream it writes to); everything that
renders takes a plain ``color: bool``. Following https://no-color.org and
https://force-color.org: ``NO_COLOR`` (set and not empty) turns colour off, else
``FORCE_COLOR`` (set and not empty) turns it on, else colour is used when the stream is a
terminal and ``TERM`` is not ``dumb``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

BOLD = "1"
RED = "31"
GREEN = "32"
YELLOW = "33"
BLUE = "34"
CYAN = "36"

#: The colour of each severity (its word, its code and its carets).
SEVERITY_COLORS = {"error": RED, "warning": YELLOW}


def color_enabled(stream: IO[Any], environ: Mapping[str, str] | None = None) -> bool:
    """Whether text written to ``stream`` should be coloured."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def paint(text: str, *styles: str, color: bool) -> str:
    """``text`` in the given SGR styles when ``color``, else as it is."""
    if not color or not styles or not text:
        return text
    return f"\x1b[{';'.join(styles)}m{text}\x1b[0m"
