"""``python -m sodabuild`` runs the command line."""

from sodabuild.launch import main

main()
