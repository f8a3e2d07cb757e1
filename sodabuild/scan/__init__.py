"""Scanning: one source file's bytes to its imports, bindings, documents and constants.

Scanners are chosen per file by the extension map: ``python`` (``scan/python.py``) and
``graphql`` (``scan/graphql_file.py``); both return a :class:`ModuleScan`.
"""

from sodabuild.scan.python import (
    FragmentArg,
    GqlDefinition,
    ImportBinding,
    ModuleScan,
    prefilter,
    scan_python,
)

__all__ = [
    "FragmentArg",
    "GqlDefinition",
    "ImportBinding",
    "ModuleScan",
    "prefilter",
    "scan_python",
]
