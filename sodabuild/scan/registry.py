"""The scanners, by the name rules declare and ``[extensions]`` maps suffixes to.

A scanner is a pure function of (workspace-relative path, bytes, options) returning a
:class:`~sodabuild.scan.python.ModuleScan`; its result is cached per file fingerprint and
options. ``options`` is what the scanner reads of the project's config (the Python scanner:
the gql modules). Adding a scanner means one entry here, its name in
``config.model.SCANNERS`` and ``rules.model.ScannerName``, and suffixes in the default
extension map. ``typescript`` and ``javascript`` are one tree-sitter scanner
(``scan/typescript.py``) whose grammar follows the file's suffix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sodabuild.scan.python import ModuleScan, scan_python


def _scan_graphql(path: str, data: bytes, options: tuple[str, ...]) -> ModuleScan:
    from sodabuild.scan.graphql_file import scan_graphql  # imports graphql-core

    return scan_graphql(path, data)


def _scan_typescript(path: str, data: bytes, options: tuple[str, ...]) -> ModuleScan:
    from sodabuild.scan.typescript import scan_typescript  # imports tree-sitter

    return scan_typescript(path, data, options)


@dataclass(frozen=True)
class Scanner:
    """One scanner: how to scan a file, and whether the rule's byte pre-filter applies."""

    scan: Callable[[str, bytes, tuple[str, ...]], ModuleScan]
    #: Whether a file must contain the rule's pre-filter bytes to be scanned as an entry
    #: (a .graphql file is all documents; a Python file mostly is not).
    prefiltered: bool
    #: Words that let a file through besides the rule's pre-filter (a TypeScript file
    #: may spell only `graphql` where the rule looks for `gql`).
    markers: tuple[bytes, ...] = ()


SCANNERS: dict[str, Scanner] = {
    "python": Scanner(scan_python, prefiltered=True),
    "graphql": Scanner(_scan_graphql, prefiltered=False),
    "typescript": Scanner(_scan_typescript, prefiltered=True, markers=(b"gql", b"graphql")),
    "javascript": Scanner(_scan_typescript, prefiltered=True, markers=(b"gql", b"graphql")),
}
