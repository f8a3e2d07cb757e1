"""Pictures of the graphs: Graphviz DOT and Mermaid, deterministic (sorted nodes, edges)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def select(
    edges: Iterable[tuple[str, str]], nodes: Iterable[str], pattern: str | None
) -> tuple[list[str], list[tuple[str, str]]]:
    """Sorted nodes and edges; with ``pattern`` (a glob), only edges touching a match."""
    all_edges = sorted(set(edges))
    all_nodes = set(nodes) | {n for edge in all_edges for n in edge}
    if pattern is None:
        return sorted(all_nodes), all_edges

    def hit(node: str) -> bool:
        return fnmatch.fnmatchcase(node, pattern)

    kept = [(a, b) for a, b in all_edges if hit(a) or hit(b)]
    kept_nodes = {n for edge in kept for n in edge} | {n for n in all_nodes if hit(n)}
    return sorted(kept_nodes), kept


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(nodes: list[str], edges: list[tuple[str, str]], name: str) -> str:
    lines = [f"digraph {_quote(name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    lines += [f"  {_quote(node)};" for node in nodes]
    lines += [f"  {_quote(a)} -> {_quote(b)};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(nodes: list[str], edges: list[tuple[str, str]]) -> str:
    ids = {node: f"n{index}" for index, node in enumerate(nodes)}
    lines = ["graph LR"]
    lines += [f'  {ids[node]}["{node.replace(chr(34), "#quot;")}"]' for node in nodes]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    return "\n".join(lines) + "\n"
