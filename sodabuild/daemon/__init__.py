"""The build daemon: a background process that keeps a ``BuilderSession`` warm for the
command line (``sodabuild daemon start``; ``sodabuild build`` then asks it).

``protocol`` (framing, identity, files and locations) and ``client`` (what ``sodabuild
build`` runs before handing a build over) import the standard library only, so a build
answered by the daemon pays for no heavy import; ``server`` is the daemon itself.
"""

#: The daemon's record in the cache directory; ``sodabuild build`` looks no further
#: (imports nothing more) when it is absent.
INFO_FILE = "daemon.json"
