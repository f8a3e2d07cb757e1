"""Vendored generated REAPI modules (see README.md; regenerate, never edit)."""
