"""``python -m iterdeploy.simulator.cli`` runs the ``iterdeploy`` command."""

from iterdeploy.simulator.cli import main

main()
