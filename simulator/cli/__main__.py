"""``python -m iterdeploy.simulator.cli`` runs the ``iterdeploy`` command (its console entry point)."""

from iterdeploy.simulator.console import main

main()
