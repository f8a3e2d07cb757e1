"""sodabuild: incremental, config-driven code generation for multi-project Python workspaces."""

__version__ = "0.1.0"
