"""``sodabuild init``: adopt sodabuild on an existing repository.

``survey`` finds the schemas, the documents and how they are written, and plans the
projects; ``config`` writes the commented workspace file for them (never over an
existing file); ``first_build`` runs the build that file describes without writing
anything, to show what ``sodabuild build`` will find.
"""
