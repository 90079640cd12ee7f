"""What the speed benchmarks share: the machine line, timing, threads and the table printer.

Why a module of its own: ``sampling_throughput.py``, ``training_throughput.py`` and
``generation_cost.py`` must describe the machine the same way (CPU, cores, torch threads, load
average at start and end: the development machine is shared, and a reader needs the load to judge
a wall-clock number) and print their tables the same way (rich for a terminal, ``--markdown`` for
``docs/benchmarks.md``). The scripts import it as ``_common`` because Python puts the script's own
folder first on ``sys.path``.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (default: ``OMP_NUM_THREADS``, else 1); returns the count.

    Why explicit: torch otherwise takes every core, and on the shared 2-core machine the
    benchmarks must say how many they used.
    """
    import torch

    count = threads if threads is not None else int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(count)
    return torch.get_num_threads()


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform`` says only ``x86_64``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, e.g. ``0.52, 0.61, 0.70``."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def versions(packages: Sequence[str]) -> str:
    """``name version`` for each package (``missing`` when not installed)."""
    out = []
    for package in packages:
        try:
            out.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{package} missing")
    return ", ".join(out)


def machine_line(threads: int, packages: Sequence[str] = ("torch", "transformers", "peft")) -> str:
    """One line for the report: CPU, cores, torch threads, load average now, versions."""
    return (
        f"{cpu_name()}, {os.cpu_count()} cores, torch threads {threads}, load average "
        f"{load_average()} (1/5/15 min) at start; Python {platform.python_version()}; "
        f"{versions(packages)}"
    )


@dataclass
class Timing:
    """Wall and CPU seconds of one timed call. CPU time counts every thread of this process, so
    on two threads it can exceed wall time; on a loaded machine wall time grows, CPU time less."""

    wall: float
    cpu: float


def timed(fn: Callable[[], Any]) -> tuple[Any, Timing]:
    """Run ``fn`` after a garbage collection; its result and its :class:`Timing`."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def progress(message: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown table as lines: the header, the rule, one line per row."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def print_table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    markdown: bool,
    notes: Sequence[str] = (),
) -> None:
    """The table as Markdown (for the docs) or with rich (for a terminal), then its notes."""
    if markdown:
        print(f"**{title}**\n")
        print("\n".join(markdown_table(header, rows)))
        print()
        for note in notes:
            print(f"- {note}")
        if notes:
            print()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*row)
    console = Console(width=200)
    console.print(table)
    for note in notes:
        console.print(f"- {note}")
