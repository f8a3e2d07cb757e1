"""Graph: module-level and definition-level adjacency (forward and reverse)."""

from sodabuild.graph.graph import DefinitionGraph, ModuleGraph

__all__ = ["DefinitionGraph", "ModuleGraph"]
