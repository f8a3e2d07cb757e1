""" "Did you mean" suggestions: the closest known name to a misspelt one.

Closeness is difflib's ratio (``get_close_matches``, cutoff 0.6), as graphql-core's own
``suggestion_list`` and most compilers judge it: ``cache-dir`` finds ``cache_dir``,
``RepoFieldz`` finds ``RepoFields``, ``small_app`` finds ``small-app``.
"""

from __future__ import annotations

from collections.abc import Iterable

#: How close a name must be to be suggested (difflib's ratio, 0..1).
CUTOFF = 0.6


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (not ``word`` itself), or None when none is close.

    Scored as ``difflib.get_close_matches`` scores; of equally close candidates the one
    that sorts first wins, so the answer never depends on the order they come in.
    """
    from difflib import SequenceMatcher

    matcher = SequenceMatcher()
    matcher.set_seq2(word)
    best, best_score = None, CUTOFF
    for name in sorted(set(candidates)):
        if name == word:
            continue
        matcher.set_seq1(name)
        if matcher.real_quick_ratio() < best_score or matcher.quick_ratio() < best_score:
            continue
        score = matcher.ratio()
        if score > best_score or (best is None and score >= best_score):
            best, best_score = name, score
    return best


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """``did you mean 'X'?`` for the closest candidate, or None when none is close."""
    found = closest(word, candidates)
    return None if found is None else suggestion(found)


def suggestion(name: str) -> str:
    """The hint text that suggests ``name``."""
    return f"did you mean '{name}'?"


def is_suggestion(hint: str | None) -> bool:
    """Whether ``hint`` already suggests a name (a more specific suggestion made earlier
    is kept)."""
    return hint is not None and hint.startswith("did you mean '")
