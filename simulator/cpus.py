"""How many CPUs this process may use: one answer for every part that sizes a pool of workers
(the sampling workers, a local Ray instance, the reference planner's parallel searches)."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask where the platform has one, else the
    machine's count (a container limited by affinity gets its own share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
