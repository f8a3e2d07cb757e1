"""Fragment names in GraphQL text, found lexically (no parse): definitions and spreads.

Resolving fragments by name needs, for every document of a project, which fragments it
defines and which it spreads. A lexical pass (comments and strings blanked, then two
regular expressions) answers that without graphql-core, so a warm build can decide cache
hits without parsing anything. The parse that follows is authoritative for errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sodabuild.pickling import by_fields

_IGNORED = re.compile(r'"""(?:\\"""|[^"]|"(?!""))*(?:"""|$)|"(?:\\.|[^"\\\n])*"?|#[^\n]*')
_FRAGMENT = re.compile(r"(?<![\w$])fragment\s+([_A-Za-z]\w*)\s+on\b")
_SPREAD = re.compile(r"\.\.\.\s*([_A-Za-z]\w*)")
_OPERATION = re.compile(r"(?<![\w$])(query|mutation|subscription)\b|^\s*\{")


def blank(text: str) -> str:
    """``text`` with comments and string values replaced by spaces (same length)."""
    if '"' not in text and "#" not in text:
        return text
    return _IGNORED.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), text)


@by_fields
@dataclass(frozen=True, slots=True)
class FragmentSite:
    """A fragment definition in a document: its name and [start, end) in the text."""

    name: str
    start: int
    end: int


def fragment_sites(text: str) -> list[FragmentSite]:
    """Every fragment definition of ``text`` with its extent (to its closing brace)."""
    plain = blank(text)
    sites: list[FragmentSite] = []
    for match in _FRAGMENT.finditer(plain):
        depth = 0
        end = len(plain)
        for index in range(plain.find("{", match.end()), len(plain)):
            if index < 0:
                break
            char = plain[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    end = index + 1
                    break
        sites.append(FragmentSite(match.group(1), match.start(), end))
    return sites


def fragment_names(text: str) -> set[str]:
    """Names of the fragments ``text`` defines."""
    return set(_FRAGMENT.findall(blank(text)))


def spread_names(text: str) -> set[str]:
    """Names of the fragments ``text`` spreads (``...on Type`` is an inline fragment)."""
    if "..." not in text:
        return set()
    return {name for name in _SPREAD.findall(blank(text)) if name != "on"}


def main_fragment(text: str) -> str | None:
    """The fragment a document is about (its first definition, with no operation)."""
    plain = blank(text)
    sites = _FRAGMENT.search(plain)
    if sites is None or _OPERATION.search(plain) is not None:
        return None
    if plain[: sites.start()].strip():
        return None
    return sites.group(1)
