"""sodabuild test suite."""
