"""The documented ranges of the numbers a user gives: scenario fields, ``--set`` values and flags.

One module, importing nothing, so the scenario schema (pydantic ``Field`` bounds) and the CLI
(typer ``min``/``max`` and the ``--seeds`` parser) state the same ranges without the CLI importing
the schema at start-up. ``docs/reliability.md`` lists them with the tests that hold them.
"""

from __future__ import annotations

MAX_SEED = 2**32 - 1
"""Largest seed (``seed``, ``--seed``, ``--seeds``, ``iterdeploy tasks --seed``). numpy's
``SeedSequence`` takes any non-negative integer, but a run's seed is also stored in SQLite (at
most 2**63 - 1), names the run directory and is shown by the dashboard (JavaScript numbers are
exact to 2**53); 32 bits is the range of every seed the loop derives from it
(:func:`iterdeploy.simulator.loop.derive_seed`), so every tool that sees a seed represents it exactly. A
negative seed is refused by numpy, so the range starts at 0."""

MAX_SWEEP_SEEDS = 1000
"""Most seeds one ``--seeds`` sweep may name (``0-999``): each is a whole run, and the sweep
validates every seed's scenario before the first run starts."""

MAX_TASKS = 10_000
"""Most tasks per generation (``deploy.tasks_per_generation``), in the evaluation pool
(``evaluation.n_tasks``) and written by one ``iterdeploy tasks --n``: far above any study so far
(160 and 96 in the paper's set-up), far below what exhausts memory before a generation commits."""

MAX_SAMPLES = 256
"""Most completions per task (``deploy.samples_per_task``, ``evaluation.samples_per_task``)."""

MAX_GENERATIONS = 50
"""Most fine-tuned generations (``generations``, ``--generations``)."""

MAX_WEIGHT = 1e6
"""Largest weight of a user group, a domain or a scheduled change: weights are normalised by their
sum, and a sum that overflows to infinity would turn every share into 0 or NaN (1e6 keeps a ratio
of a million to one expressible, far beyond any population worth simulating)."""

MAX_PLANNER_SECONDS = 3600.0
"""Longest ``--time-limit`` of ``iterdeploy plan`` and ``iterdeploy tasks --optimal``: an hour per
task (an infinite limit would let one hard task hold the command forever)."""

MAX_PLANNER_MEMORY_MB = 1_048_576
"""Largest ``--memory-limit`` of ``iterdeploy plan``, in MiB (1 TiB)."""
