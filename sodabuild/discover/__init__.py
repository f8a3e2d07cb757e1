"""Discovery: which files of a project a build reads."""

from sodabuild.discover.files import Matcher, discover_files, glob_regex

__all__ = ["Matcher", "discover_files", "glob_regex"]
