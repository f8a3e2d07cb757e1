"""Write: each project's outputs committed as a whole, atomic single files, ``--check``."""

from sodabuild.write.atomic import atomic_write
from sodabuild.write.commit import CommitReport, check_committed, commit_outputs

__all__ = ["CommitReport", "atomic_write", "check_committed", "commit_outputs"]
