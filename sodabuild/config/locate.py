"""Find the line and column of a key path in TOML text, for located config errors.

tomllib keeps no positions, so this does a light line-based pass over the text: it tracks
table headers (``[a.b]``, ``[[projects]]`` with their index) and ``key = value`` lines, and
records where each key path is first written. Good enough for the way people write config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sodabuild.config.model import ResolvedProject, ResolvedWorkspace

_HEADER = re.compile(r"^\s*(\[\[|\[)\s*(.+?)\s*(\]\]|\])\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*="""
)
_PART = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*""")

Path_ = tuple[str | int, ...]


def _split_key(text: str) -> list[str]:
    parts: list[str] = []
    for match in _PART.finditer(text):
        token = match.group(1)
        if token[:1] in {'"', "'"}:
            token = token[1:-1]
        parts.append(token)
    return parts


def key_positions(text: str) -> dict[Path_, tuple[int, int]]:
    """Map every key path written in ``text`` to its 1-based (line, column)."""
    positions: dict[Path_, tuple[int, int]] = {}
    array_counts: dict[tuple[str, ...], int] = {}
    table: list[str | int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header and "=" not in raw.split("]")[0]:
            names = _split_key(header.group(2))
            column = raw.index(header.group(1)) + 1
            if header.group(1) == "[[":
                key = tuple(names)
                index = array_counts.get(key, 0)
                array_counts[key] = index + 1
                table = [*names, index]
                positions.setdefault(tuple(names), (number, column))
            else:
                # [projects.extra] after [[projects]] belongs to the last projects entry
                table = []
                for depth, name in enumerate(names):
                    table.append(name)
                    count = array_counts.get(tuple(names[: depth + 1]))
                    if count and depth < len(names) - 1:
                        table.append(count - 1)
            positions.setdefault(tuple(table), (number, column))
            continue
        key_match = _KEY.match(raw)
        if key_match:
            parts = _split_key(key_match.group(1))
            column = len(raw) - len(raw.lstrip()) + 1
            positions.setdefault((*table, *parts), (number, column))
    return positions


def locate(text: str, path: Path_) -> tuple[int, int] | None:
    """Position of the longest prefix of ``path`` that is written in ``text``."""
    positions = key_positions(text)
    for end in range(len(path), 0, -1):
        found = positions.get(tuple(path[:end]))
        if found is not None:
            return found
    return None


def config_location(
    workspace: ResolvedWorkspace, project: ResolvedProject, key: str
) -> tuple[str, int | None, int | None]:
    """Where ``key`` of a project is written (project file first, then inline)."""
    root = Path(workspace.root)
    index = [p.name for p in workspace.projects].index(project.name)
    for file in reversed(project.config_files):
        try:
            text = (root / file).read_text(encoding="utf-8")
        except OSError:
            continue
        path: tuple[str | int, ...] = (
            ("projects", index, key) if file == workspace.file else ("project", key)
        )
        found = locate(text, path)
        if found is not None:
            return file, found[0], found[1]
    return project.config_files[-1], None, None
