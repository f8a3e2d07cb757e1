"""Pruning: the graph-filter stage (``--graph-filter`` and rules' ``pruning_filter``)."""

from sodabuild.prune.filter import (
    FilterSyntaxError,
    definition_kind,
    describe,
    effective_filter,
    is_everything,
    matches,
    parse_graph_filters,
    select,
    usage_error,
)

__all__ = [
    "FilterSyntaxError",
    "definition_kind",
    "describe",
    "effective_filter",
    "is_everything",
    "matches",
    "parse_graph_filters",
    "select",
    "usage_error",
]
