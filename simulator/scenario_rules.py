"""The rules a scenario's values must follow that are more than a type: a name that is safe as a
directory name, domains and sizes the generators accept, and enough distinct tasks for what a run
asks. :mod:`iterdeploy.simulator.scenario` calls them from its validators; they live apart so the
schema reads as the list of fields it is.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.users.spec import DomainTasks, TaskDistributionSpec

if TYPE_CHECKING:
    from iterdeploy.simulator.scenario import ScenarioSpec

MAX_NAME_BYTES = 200
"""Longest scenario name, in UTF-8 bytes: with ``-seed<seed>`` it must fit one directory name
(255 bytes on common file systems)."""

_PATH_SEPARATORS = ("/", "\\")
_UNPRINTABLE = frozenset({"Cc", "Cs", "Zl", "Zp"})
"""Unicode categories refused in a name: control characters, lone surrogates (which no file
system name can encode) and line breaks (which would split a one-line message)."""


def check_scenario_name(name: str) -> str:
    """``name`` if it is safe as one directory name, which is what the run directory makes of it.

    Refusing here, at validation, means no command ever builds a path from a name such as
    ``../../x`` or ``/etc``: every run directory stays inside the parent it was meant for.

    Raises:
        ValueError: Saying what is wrong with the name and what a good one looks like.
    """
    hint = "use a plain name such as 'my_scenario'"
    if not name.strip():
        raise ValueError(f"must not be empty; {hint}")
    if any(sep in name for sep in _PATH_SEPARATORS):
        raise ValueError(f"must not contain a path separator ('/' or '\\'): it names the run "
                         f"directory; {hint}")
    if ".." in name or name == ".":
        raise ValueError(f"must not contain '..' or be '.': it names the run directory; {hint}")
    bad = next((c for c in name if unicodedata.category(c) in _UNPRINTABLE), None)
    if bad is not None:
        raise ValueError(f"must not contain control characters, line breaks or lone surrogates "
                         f"(found U+{ord(bad):04X}); {hint}")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"is longer than {MAX_NAME_BYTES} bytes (UTF-8); it must fit one "
                         "directory name")
    return name


def split_by_weight(n: int, weights: Sequence[float]) -> list[int]:
    """``n`` split in proportion to ``weights``, largest remainder first (sums to ``n``): how the
    evaluation pool's ``n_tasks`` is shared among its domains."""
    w = np.asarray(weights, dtype=float)
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


def sizes_of(*distributions: TaskDistributionSpec | None) -> dict[str, set[int]]:
    """Domain → every main size the distributions can draw."""
    out: dict[str, set[int]] = {}
    for dist in distributions:
        for name, sizes in (dist.domains.items() if dist is not None else ()):
            out.setdefault(name, set()).update(range(sizes.min, sizes.max + 1))
    return out


def distinct_tasks(sizes: dict[str, set[int]]) -> int | None:
    """How many distinct tasks ``sizes`` hold, or None where a domain's tasks are not counted
    (only Blocksworld's are; see :func:`iterdeploy.simulator.planning.count_distinct_tasks`)."""
    from iterdeploy.simulator.planning import GeneratorParamError, count_distinct_tasks

    total = 0
    for name, domain_sizes in sizes.items():
        for size in domain_sizes:
            try:
                count = count_distinct_tasks(name, size)
            except GeneratorParamError:  # reported by the size check, naming the key
                return None
            if count is None:
                return None
            total += count
    return total


def describe_sizes(sizes: dict[str, set[int]]) -> str:
    """``blocksworld sizes 2-3, 5`` (or ``blocksworld size 2``) for a domain → sizes mapping."""
    parts = []
    for name, domain_sizes in sizes.items():
        runs: list[list[int]] = []
        for size in sorted(domain_sizes):
            if runs and size == runs[-1][-1] + 1:
                runs[-1].append(size)
            else:
                runs.append([size])
        spans = ", ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
        parts.append(f"{name} size{'s' if len(domain_sizes) > 1 else ''} {spans}")
    return "; ".join(parts)


def check_domain(domain: str) -> str:
    from iterdeploy.simulator.planning import GeneratorParamError, domain_spec

    try:
        domain_spec(domain)
    except GeneratorParamError as exc:
        raise ValueError(str(exc)) from None
    return domain


def check_sizes(where: str, domain: str, sizes: DomainTasks) -> None:
    """Both ends of a size range must be sizes the domain's generator accepts (an unknown domain
    is reported by the same call, naming ``where``)."""
    from iterdeploy.simulator.planning import GeneratorParamError, main_param, resolve_params

    for end in (sizes.min, sizes.max):
        try:
            resolve_params(domain, {main_param(domain): end})
        except GeneratorParamError as exc:
            raise ValueError(f"{where}: {exc}") from None


def default_run_dir(parent: Path, spec: ScenarioSpec) -> Path:
    """``parent/<name>-seed<seed>``, checked to lie directly inside ``parent``.

    The scenario's name is validated as a plain file name already; this check is the second
    lock on the same door, so a name can never make a run write outside ``parent``.

    Raises:
        ScenarioError: When the directory would not be a child of ``parent``.
    """
    dirname = f"{spec.name}-seed{spec.seed}"
    one_component = Path(dirname).name == dirname and "\\" not in dirname
    if not one_component or dirname in (".", ".."):
        raise ScenarioError(f"name {spec.name!r}: the run directory would lie outside {parent}; "
                            "use a plain name such as 'my_scenario'")
    return parent / dirname
