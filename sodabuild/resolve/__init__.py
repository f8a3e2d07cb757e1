"""Resolution: import specs to workspace files, names to gql() definitions."""

from sodabuild.resolve.modules import DefRef, ModRef, ModuleResolver, NameResolver, Unresolved

__all__ = ["DefRef", "ModRef", "ModuleResolver", "NameResolver", "Unresolved"]
