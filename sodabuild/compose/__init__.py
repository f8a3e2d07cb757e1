"""Composition: a definition plus its transitive fragments, canonically printed.

Imports graphql-core, so import it lazily from the build (it costs ~90 ms).
"""
