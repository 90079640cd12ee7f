"""Shared fixtures: a small real embedded model, pretrained once per test session."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from iterdeploy.simulator.models.embedded import EmbeddedModelSpec

TINY_OVERRIDES: dict[str, object] = {
    "generations": 1,
    "deploy.tasks_per_generation": 6,
    "deploy.samples_per_task": 4,
    "deploy.sizes.min": 2,
    "deploy.sizes.max": 4,
    "deploy.max_new_tokens": 64,
    "evaluation.n_tasks": 6,
    "evaluation.samples_per_task": 2,
    "evaluation.sizes.min": 2,
    "evaluation.sizes.max": 4,
    "model.embedded.n_layers": 2,
    "model.embedded.hidden_size": 64,
    "model.embedded.intermediate_size": 128,
    "model.embedded.pretrain_steps": 300,
    "model.embedded.pretrain_max_blocks": 3,
    "model.embedded.pretrain_detour_share": 0.0,
    "model.embedded.pretrain_tail_sizes": 3,
    "model.embedded.pretrain_tail_mass": 0.15,
    "model.embedded.pretrain_tail_decay": 0.5,
    "training.n_epochs": 2,
}
"""A scenario small enough for a test: a real model and real training, seconds not minutes.
The model is pretrained just long enough to solve some 2-3 block tasks, so that curation has
valid plans to choose from."""


# The suite's own processes (and pytest-xdist's workers) already share the cores: sampling stays
# in each test's process unless a test asks for worker processes (tests of the sampling pool).
os.environ.setdefault("ITERDEPLOY_SAMPLE_WORKERS", "1")


def scheduling_group(nodeid: str) -> str:
    """The unit of scheduling under pytest-xdist: a test's file, or for every dashboard test the
    dashboards folder (they share the session's real run, the Streamlit servers and the browser,
    and two browsers at once on two cores are slow)."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return "/".join(parts[: parts.index("dashboards") + 1]) if "dashboards" in parts[:-1] else path


LONGEST_FIRST = (
    "tests/dashboards",
    "tests/test_types.py",
    "tests/simulator/test_loop_three_domain_embedded.py",
    "tests/simulator/test_kill_resume.py",
    "tests/auditors/test_drift.py",
    "tests/simulator/test_sweep.py",
)
"""The groups that take longest, handed out first (docs/benchmarks.md, "The suite's groups had
stopped working"): a long group started last leaves the other worker idle at the end (mypy, one
test of about a minute, came last when the groups went out largest first by number of tests)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under ``loadgroup``, order the tests by group as the scheduler hands the
    groups out: :data:`LONGEST_FIRST`, then the others by number of tests, largest first (what
    xdist does by default)."""
    if not (os.environ.get("PYTEST_XDIST_WORKER") and getattr(config.option, "loadgroup", False)):
        return
    group = {item.nodeid: scheduling_group(item.nodeid) for item in items}
    sizes = Counter(group.values())

    def rank(item: pytest.Item) -> tuple[int, int]:
        own = group[item.nodeid]
        if own in LONGEST_FIRST:
            return LONGEST_FIRST.index(own), 0
        return len(LONGEST_FIRST), -sizes[own]

    items.sort(key=rank)  # stable: a group's tests keep their order, and groups stay together


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under ``-n auto --dist loadgroup`` (``scripts/test.sh``) schedule by :func:`scheduling_group`, so
    that a module's fixture (often a real run) is built once, on one worker.

    Why a scheduler of our own rather than ``xdist_group`` marks: with pytest 9.2, pytest-xdist
    3.8 can no longer append the group to a test's node id, so ``loadgroup`` silently schedules
    every test on its own (pytest-dev/pytest-xdist#1386): both workers built the same real runs
    and ran two browsers at once. The scope hook of xdist's own per-file scheduler reads no node
    id suffix (tests/test_xdist_groups.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # hand the groups out in the workers' collection order

    class ByTestGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_group(nodeid)

    return ByTestGroup(config, log)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep pretrained test models in one cache for the session (or ITERDEPLOY_TEST_CACHE).

    Under pytest-xdist every worker uses the same cache (beside the workers' own temporary
    folders), so a model the tests need is pretrained once: the first worker pretrains it, the
    others wait on the cache's lock and load it. Each worker then runs torch on one thread, as
    the workers are the parallelism."""
    cache = os.environ.get("ITERDEPLOY_TEST_CACHE")
    if cache:
        path = Path(cache)
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.getbasetemp().parent / "model-cache"
        path.mkdir(exist_ok=True)
        import torch

        torch.set_num_threads(1)
    else:
        path = tmp_path_factory.mktemp("model-cache")
    os.environ["ITERDEPLOY_CACHE"] = str(path)


@pytest.fixture
def tiny_overrides() -> dict[str, object]:
    """A fresh copy of the tiny-scenario overrides."""
    return dict(TINY_OVERRIDES)


@pytest.fixture
def tiny_embedded_spec() -> EmbeddedModelSpec:
    """The tiny scenario's embedded model recipe, for tests that load the model directly (the
    same recipe, so the same cached weights, as the loop tests use)."""
    prefix = "model.embedded."
    recipe = {k[len(prefix):]: v for k, v in TINY_OVERRIDES.items() if k.startswith(prefix)}
    return EmbeddedModelSpec(**recipe)


@contextmanager
def killed_in_generation(monkeypatch: pytest.MonkeyPatch, generation: int) -> Iterator[None]:
    """A run started inside the block dies in ``generation``, before that generation commits
    (``RuntimeError: killed in generation N``, which the block must raise): the crash every
    resume test recovers from."""
    from iterdeploy.simulator.loop import DeploymentLoop

    original = DeploymentLoop._one_generation

    def crash(self, writer, planner, g, *args, **kwargs):  # type: ignore[no-untyped-def]
        if g == generation:
            raise RuntimeError(f"killed in generation {generation}")
        return original(self, writer, planner, g, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(DeploymentLoop, "_one_generation", crash)
        with pytest.raises(RuntimeError, match=f"killed in generation {generation}"):
            yield
