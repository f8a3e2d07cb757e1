"""Human rendering of diagnostics: code frames (``frame``), colour (``color``) and
"did you mean" suggestions (``suggestion``).

Stdlib only and cheap to import: the no-op path of ``sodabuild build`` prints through it
without loading pydantic, graphql-core or Starlark.
"""
