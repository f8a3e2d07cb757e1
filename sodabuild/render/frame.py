"""Code frames: the source line a diagnostic points at, with carets under its column.

::

    app/app/queries.py:8:9: error GQL_UNKNOWN_FRAGMENT unknown fragment 'RepoFieldz'
      |
    8 |         ...RepoFieldz
      |         ^^^^^^^^^^^^^
      = hint: did you mean 'RepoFields'?

Source lines are read when the diagnostic is rendered, from the file the diagnostic names
(workspace-relative) below the workspace root. A frame is left out, never guessed, when the
file cannot be shown: no root, a path outside the workspace, not a regular file, larger than
:data:`MAX_SOURCE_BYTES`, not UTF-8, or a line or column that the file no longer has.

Layout: tabs advance to the next multiple of :data:`TAB_WIDTH` columns (the caret is placed
with the same rule); wide characters take two columns; control and bidirectional-override
characters show as U+FFFD; trailing whitespace is dropped; a line wider than
:data:`MAX_COLUMNS` is cut around the caret, each cut end marked with ``…`` (the source text
then takes exactly :data:`MAX_COLUMNS` columns, the marks included). The carets underline
the token at the column (a name, a TOML bare key, a ``...Spread``, ``$var``, ``@directive``
or a one-line string literal), else one character.
"""

from __future__ import annotations

import os
import re
import stat

from sodabuild.render.color import BLUE, BOLD, paint

TAB_WIDTH = 4
MAX_COLUMNS = 80
#: Largest file a frame is read from (the default ``max_file_bytes``).
MAX_SOURCE_BYTES = 16 * 1024 * 1024

# Patterns are compiled on first use (``re`` caches them): importing this module for a
# no-op build that prints no frame costs nothing.
_LINE_BREAK = r"\r\n|\r|\n"
#: Shown as U+FFFD: C0/C1 controls (a tab is expanded instead) and bidi overrides.
_UNSAFE = "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
_STRING_START = r"""(?i:[rbuf]{0,2})(\"\"\"|'''|"|')"""
_SPREAD = r"\.\.\.[ \t]*(?!on\b)[_A-Za-z]\w*"
_PREFIXED = r"[$@][_A-Za-z]\w*"
_NAME = r"[^\W\d]\w*"
_BARE_KEY = r"[A-Za-z0-9_-]+"


class Sources:
    """Source lines of a workspace's files for frames, each file read at most once."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = os.path.realpath(root) if root is not None else None
        self._files: dict[str, list[str] | None] = {}

    def line(self, file: str, number: int) -> str | None:
        """Line ``number`` (1-based) of ``file``, or None when it cannot be shown."""
        if file not in self._files:
            self._files[file] = self._read(file)
        lines = self._files[file]
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1]

    def _read(self, file: str) -> list[str] | None:
        root = self.root
        if root is None or not file or file.startswith("<") or os.path.isabs(file):
            return None
        try:
            real = os.path.realpath(os.path.join(root, file))
            if not real.startswith(root.rstrip(os.sep) + os.sep):
                return None  # nothing outside the workspace is read
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except (OSError, ValueError):
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SOURCE_BYTES:
                return None  # a FIFO, a device, a huge file: no frame
            chunks = []
            left = MAX_SOURCE_BYTES + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            if left <= 0:
                return None
            text = b"".join(chunks).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        finally:
            os.close(fd)
        return re.split(_LINE_BREAK, text.removeprefix("\ufeff"))


def token_length(line: str, start: int, toml: bool = False) -> int:
    """How many characters of ``line`` from ``start`` the carets underline (at least 1)."""
    quote = re.compile(_STRING_START).match(line, start)
    if quote is not None:
        mark = quote.group(1)
        body = quote.end()
        if len(mark) == 3:
            close = line.find(mark, body)
            end = close + 3 if close >= 0 else body
        else:
            closing = re.compile(r"(?:\\.|[^\\" + mark + r"])*" + mark)
            found = closing.match(line, body)
            end = found.end() if found else body
        return end - start
    if toml:
        found = re.compile(_BARE_KEY).match(line, start)
    else:
        found = re.compile(_SPREAD).match(line, start) or re.compile(_PREFIXED).match(line, start)
        found = found or re.compile(_NAME).match(line, start)
    return found.end() - start if found else 1


def _width(char: str) -> int:
    if char < "\u0300":
        return 1
    import unicodedata

    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _cells(line: str) -> list[tuple[str, int]]:
    """Each character of ``line`` as it is shown and the columns it takes."""
    unsafe = re.compile(_UNSAFE)
    cells = []
    column = 0
    for char in line:
        if char == "\t":
            width = TAB_WIDTH - column % TAB_WIDTH
            cells.append((" " * width, width))
        elif unsafe.match(char):
            width = 1
            cells.append(("\ufffd", 1))
        else:
            width = _width(char)
            cells.append((char, width))
        column += width
    return cells


def layout(line: str, start: int, length: int) -> tuple[str, int, int]:
    """``line`` as shown, and the column and width of the carets under characters
    ``[start, start + length)``, cut to :data:`MAX_COLUMNS` columns around them."""
    cells = _cells(line)
    positions = [0]
    for _, width in cells:
        positions.append(positions[-1] + width)
    total = positions[-1]
    low = positions[min(start, len(cells))] + max(0, start - len(cells))
    high = max(positions[min(start + length, len(cells))], low + 1)
    if total <= MAX_COLUMNS:
        return "".join(text for text, _ in cells).rstrip(), low, high - low
    room = MAX_COLUMNS - 2  # between two marks
    if high <= MAX_COLUMNS - 1 or low < MAX_COLUMNS // 2:
        left = 0  # the line's start stays (a long underline is clipped)
    else:  # the underline centred in the window, or after some context when it is long
        context = max((room - (high - low)) // 2, 8)
        left = max(0, min(low - context, total - (MAX_COLUMNS - 1)))
    lead = left > 0
    available = MAX_COLUMNS - lead
    trail = left + available < total
    right = left + available - trail
    shown = [
        index
        for index in range(len(cells))
        if positions[index] >= left and positions[index + 1] <= right
    ]
    first = positions[shown[0]] if shown else left
    last = positions[shown[-1] + 1] if shown else left
    text = "".join(cells[index][0] for index in shown)
    text = ("…" if lead else "") + (text + "…" if trail else text.rstrip())
    caret = lead + max(low, first) - first
    width = max(1, min(high, last) - max(low, first))
    return text, caret, width


def code_frame(
    sources: Sources,
    file: str | None,
    line: int | None,
    column: int | None,
    tone: str,
    color: bool,
) -> list[str]:
    """The frame lines of a diagnostic at ``file:line:column`` ([] when none can be shown);
    the carets are painted in ``tone``."""
    if file is None or line is None:
        return []
    source = sources.line(file, line)
    if source is None:
        return []
    gutter = " " * len(str(line))
    bar = paint("|", BOLD, BLUE, color=color)
    frame = [f"{gutter} {bar}"]
    if not column:  # no column known (the location says 1): the line, no carets
        text = layout(source, 0, 1)[0]
        return [*frame, f"{paint(f'{line} |', BOLD, BLUE, color=color)} {text}".rstrip()]
    start = column - 1
    if start < 0 or start > len(source):
        return []  # the file changed since: no frame rather than a wrong one
    length = token_length(source, start, toml=file.endswith(".toml"))
    text, caret, width = layout(source, start, length)
    number = paint(f"{line} |", BOLD, BLUE, color=color)
    carets = paint("^" * width, BOLD, tone, color=color)
    return [
        *frame,
        f"{number} {text}".rstrip(),
        f"{gutter} {bar} {' ' * caret}{carets}",
    ]


def hint_lines(hint: str, frame: list[str], line: int | None, color: bool) -> list[str]:
    """``= hint: ...`` aligned with the frame's bar (or indented by two without one)."""
    gutter = " " * (len(str(line)) if frame and line is not None else 1)
    label = f"{paint('=', BOLD, BLUE, color=color)} {paint('hint:', BOLD, color=color)}"
    first, *rest = hint.split("\n")
    indent = gutter + " " * 9
    return [f"{gutter} {label} {first}", *(f"{indent}{more}" for more in rest)]
