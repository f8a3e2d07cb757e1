"""Write: atomic, change-only output writing and the ``--check`` comparison."""

from sodabuild.write.atomic import WriteReport, atomic_write, check_outputs, write_outputs

__all__ = ["WriteReport", "atomic_write", "check_outputs", "write_outputs"]
