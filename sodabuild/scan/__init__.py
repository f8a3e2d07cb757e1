"""Scanning: turn one source file's bytes into imports, bindings and gql() definitions."""

from sodabuild.scan.python import (
    FragmentArg,
    GqlDefinition,
    ImportBinding,
    ModuleScan,
    StringPosition,
    prefilter,
    scan_python,
)

__all__ = [
    "FragmentArg",
    "GqlDefinition",
    "ImportBinding",
    "ModuleScan",
    "StringPosition",
    "prefilter",
    "scan_python",
]
