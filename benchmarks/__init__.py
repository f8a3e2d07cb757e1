"""The benchmark harness: scenarios over generated workspaces, peers side by side."""
