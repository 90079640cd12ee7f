"""``python -m simulator.cli`` runs the ``iterdeploy`` command."""

from simulator.cli import main

main()
