"""``iterdeploy pretrain [SCENARIO]``: pretrain a scenario's embedded base, or check a shipped one.

The default base ships inside the package so a first run does not wait for it; this command is
how anyone rebuilds it from the recipe (the same code a run uses) and checks, bit for bit, that
the shipped weights are what the recipe produces. Bit for bit holds on the kind of CPU a base was
built on, with the same torch thread count: the shipped base (one thread, an Intel Xeon with
AVX-512) rebuilt on one thread on an AMD EPYC with AVX2 differed in its weights, as kernels for
another instruction set round differently (docs/model-card.md); ``--check`` says so when it sees it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from iterdeploy.simulator.cli._common import fail, make_progress
from iterdeploy.simulator.cli.run_cmd import parse_sets
from iterdeploy.simulator.errors import IterdeployError, ScenarioError

if TYPE_CHECKING:  # the recipe's module is light, but torch loads only when a base is built
    from iterdeploy.simulator.models.embedded import EmbeddedModelSpec

DEFAULT_SCENARIO = Path("quickstart")
"""The shipped quickstart, by name (so the default works outside a clone too)."""


def pretrain(
    scenario: Path = typer.Argument(
        DEFAULT_SCENARIO, help="Scenario file or shipped scenario's name whose model.embedded "
        "recipe to pretrain (default: the quickstart, whose recipe is the default base)."),
    sets: list[str] = typer.Option([], "--set", help="Override any setting: KEY.PATH=VALUE "
                                   "(repeatable), e.g. model.embedded.pretrain_steps=500."),
    check: bool = typer.Option(
        False, "--check", help="Pretrain into a temporary directory and compare the weights, "
        "config and tokenizer bit for bit with the shipped (or cached) base of the same recipe "
        "hash; exit 1 if any file differs."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the base here (with its SHA256SUMS) instead of the "
        "model cache; for a recipe split per domain, one embedded-<hash> directory per domain "
        "inside it."),
    threads: int | None = typer.Option(
        None, min=1, max=256, help="Torch threads (default: torch's own, one per core). The "
        "shipped base was pretrained and rebuilt bit for bit on 1 thread (--threads 1) on an "
        "AVX-512 CPU; other thread counts, and CPUs with other instruction sets, may round "
        "differently, and --check names what a base records."),
) -> None:
    """Pretrain the embedded base model of a scenario's recipe (or --check a shipped one)."""
    from iterdeploy.simulator.scenario import load_scenario
    from iterdeploy.simulator.scenario_files import resolve_scenario

    console = Console()
    try:
        spec, _ = load_scenario(resolve_scenario(scenario), parse_sets(sets))
        if spec.model.name != "embedded-tiny-v1":
            raise ScenarioError(f"{scenario}: model {spec.model.name!r} is not the embedded "
                                "model; only embedded bases are pretrained here")
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        recipe = spec.model.embedded
        parts = recipe.split() if recipe.per_domain else {"": recipe}
        results = [_one(console, part, out, check) for part in parts.values()]
    except IterdeployError as exc:
        raise fail(exc) from None
    if check and not all(results):
        raise typer.Exit(code=1)


def _one(console: Console, recipe: EmbeddedModelSpec, out: Path | None, check: bool) -> bool:
    """Pretrain one recipe; with ``check``, compare it with the shipped or cached base."""
    from iterdeploy.simulator.models.embedded import base_directory, cache_root

    name = f"embedded-{recipe.content_hash()}"
    if not check:
        target = (out or cache_root()) / name
        if (target / "config.json").is_file():
            console.print(f"{name}: already at {target} (delete it to pretrain again)")
            return True
        built = _pretrain(console, recipe, target)
        console.print(f"{name}: pretrained into {built}")
        return True
    reference = base_directory(name)
    if reference is None:
        raise ScenarioError(f"{name}: neither shipped nor cached, so there is nothing to check "
                            "against; run `iterdeploy pretrain` without --check to build it")
    with tempfile.TemporaryDirectory(prefix="iterdeploy-pretrain-") as tmp:
        built = _pretrain(console, recipe, Path(tmp) / name)
        return _compare(console, name, reference, built)


def _pretrain(console: Console, recipe: EmbeddedModelSpec, target: Path) -> Path:
    """:func:`~iterdeploy.simulator.models.embedded.pretrain_into` with a progress bar over its steps."""
    from iterdeploy.simulator.models.embedded import pretrain_into

    progress, phase = make_progress(console)
    with progress:
        advance = phase(f"pretraining {target.name}", recipe.pretrain_steps)
        return pretrain_into(recipe, target, lambda step, loss: advance(1))


def _compare(console: Console, name: str, reference: Path, built: Path) -> bool:
    """Print each reproduced file's digest in both directories; True when all agree."""
    from iterdeploy.simulator.models.embedded import REPRODUCED_FILES, file_digest

    table = Table(title=f"{name}: rebuilt against {reference}")
    for column in ("file", "reference sha256", "rebuilt sha256", "same"):
        table.add_column(column)
    same = True
    for file in REPRODUCED_FILES:
        ref, new = file_digest(reference / file), file_digest(built / file)
        same &= ref == new
        table.add_row(file, ref[:16], new[:16], "yes" if ref == new else "[bold red]NO[/]")
    console.print(table)
    console.print(f"{name}: {'reproduced bit for bit' if same else 'NOT reproduced'}")
    if not same:
        hint = _thread_hint(reference, built) or _cpu_hint(reference, built)
        if hint:
            console.print(hint)
    return same


def _thread_hint(reference: Path, built: Path) -> str | None:
    """Why a rebuild may differ: the two bases' torch thread counts, when they differ.

    Floating-point reductions follow the thread count, so the same recipe pretrained on another
    count rounds differently from the first step on; the bases record theirs
    (``pretrained_with`` in ``iterdeploy_spec.json``)."""
    from iterdeploy.simulator.models.embedded import recorded_threads

    was, now = recorded_threads(reference), recorded_threads(built)
    if was is None or now is None or was == now:
        return None
    return (f"the reference was pretrained on {was} torch thread{'s' * (was != 1)}, this rebuild "
            f"on {now}: rerun with --threads {was} (thread counts change floating-point rounding)")


def _cpu_hint(reference: Path, built: Path) -> str | None:
    """Why a rebuild on the same thread count may still differ: torch's CPU kernels for
    another instruction set (AVX2 against AVX-512) sum in another order. Measured: the shipped
    base, rebuilt on one thread on an AVX2 machine, differed in its weights (docs/model-card.md).
    No hint where both bases record the same instruction set: then the cause is elsewhere."""
    from iterdeploy.simulator.models.embedded import recorded_cpu

    was, now = recorded_cpu(reference), recorded_cpu(built)
    if now is None or was == now:
        return None
    return (f"the reference was pretrained with torch's CPU kernels for "
            f"{was or 'an instruction set it does not record'}, this rebuild with those for {now}: "
            "kernels for different instruction sets round differently, so a base is rebuilt bit "
            "for bit only on the kind of CPU it was built on")


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("pretrain")(pretrain)
