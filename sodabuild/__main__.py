"""``python -m sodabuild`` runs the command line."""

from sodabuild.cli import main

main()
