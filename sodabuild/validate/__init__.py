"""Validation: the project schema, and composed documents checked against it."""
