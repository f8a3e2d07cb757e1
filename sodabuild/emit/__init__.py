"""Emit: deterministic bytes of every output a rule declares."""
