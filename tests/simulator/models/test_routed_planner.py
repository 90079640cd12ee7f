"""One embedded model per domain behind one planner: routing, splitting the recipe, bookkeeping.

The routing is checked on real prompts of every compact format; the bookkeeping (which model
samples, trains, saves what) with recording stand-ins, since the real models' behaviour is the
end-to-end test's business (tests/simulator/test_loop_three_domain_embedded.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models.compact import compact_domain
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec
from iterdeploy.simulator.models.hf_planner import Completion, TrainConfig
from iterdeploy.simulator.models.routed import DomainRoutedPlanner
from iterdeploy.simulator.models.training import Example, TrainStats
from iterdeploy.simulator.planning import generate_sized

DOMAINS = ("blocksworld", "rovers", "sokoban")
SIZES = {"blocksworld": (2, 9), "rovers": (2, 8), "sokoban": (1, 3)}


class Recorder:
    """Stands in for one domain's HfPlanner and records what it was asked."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.sampled: list[str] = []
        self.trained: list[Example] = []
        self.resets = 0
        self.saved: list[Path] = []
        self.loaded: list[Path] = []
        self.closed = 0

    def sample(self, prompts: Sequence[str], *, n: int, **_: Any) -> list[list[Completion]]:
        self.sampled += prompts
        return [[Completion(f"{self.domain}:{p[:12]}:{k}", 3, False) for k in range(n)] for p in prompts]

    def train(self, examples: Sequence[Example], config: TrainConfig, *, seed: int, **_: Any) -> TrainStats:
        self.trained += examples
        return TrainStats(len(examples), len(examples), float(len(self.domain)), 1.0)

    def reset_to_base(self) -> None:
        self.resets += 1

    def save(self, out_dir: Path) -> None:
        Path(out_dir).mkdir(parents=True)
        self.saved.append(Path(out_dir))

    def load_adapter(self, adapter_dir: Path) -> None:
        self.loaded.append(Path(adapter_dir))

    def close(self) -> None:
        self.closed += 1


def _prompt(domain: str, size: int, seed: int) -> str:
    return compact_domain(domain).prompt(generate_sized(domain, size, np.random.default_rng(seed)).task)


def _router(domains: Sequence[str] = DOMAINS) -> tuple[DomainRoutedPlanner, dict[str, Recorder]]:
    parts = {d: Recorder(d) for d in domains}
    return DomainRoutedPlanner(parts, name="embedded-tiny-v1"), parts  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(DOMAINS), st.integers(0, 10_000), st.data())
def test_every_prompt_is_routed_to_its_own_domain(domain: str, seed: int, data: st.DataObject) -> None:
    size = data.draw(st.integers(*SIZES[domain]))
    router, _ = _router()
    assert router.domain_of(_prompt(domain, size, seed)) == domain


@pytest.mark.parametrize("prompt", ["", "hello world", "init o1 goal b1 plan"])
def test_a_prompt_no_format_reads_alone_is_refused_with_the_prompt(prompt: str) -> None:
    router, _ = _router()
    with pytest.raises(ModelError, match="vocabulary reads it"):
        router.domain_of(prompt)


def test_samples_come_back_in_the_callers_order_each_from_its_domains_model() -> None:
    router, parts = _router()
    prompts = [_prompt(d, SIZES[d][0], k) for k, d in enumerate(["sokoban", "blocksworld", "rovers",
                                                               "blocksworld", "sokoban"])]
    out = router.sample(prompts, n=2, temperature=1.0, max_new_tokens=10, seed=0)
    assert [c[0].text.split(":")[0] for c in out] == ["sokoban", "blocksworld", "rovers", "blocksworld",
                                                      "sokoban"]
    assert [len(c) for c in out] == [2] * 5
    assert parts["blocksworld"].sampled == [prompts[1], prompts[3]]


def test_training_sends_each_example_to_its_domain_and_resets_the_idle_ones_when_fresh() -> None:
    router, parts = _router()
    examples = [Example(_prompt("rovers", 2, 1), "a"), Example(_prompt("blocksworld", 3, 2), "b"),
                Example(_prompt("rovers", 3, 3), "c")]
    stats = router.train(examples, TrainConfig(mode="fresh"), seed=0)
    assert [e.completion for e in parts["rovers"].trained] == ["a", "c"]
    assert [e.completion for e in parts["blocksworld"].trained] == ["b"]
    assert (parts["sokoban"].trained, parts["sokoban"].resets) == ([], 1)
    assert (stats.n_examples, stats.n_steps) == (3, 3)
    # the loss is the examples' mean over the domains that trained
    assert stats.final_loss == pytest.approx((len("rovers") * 2 + len("blocksworld")) / 3)
    router.train(examples[:1], TrainConfig(mode="chained"), seed=0)
    assert parts["sokoban"].resets == 1  # chained training keeps an idle model as it is


def test_save_and_load_write_and_read_one_part_per_domain(tmp_path: Path) -> None:
    router, parts = _router(("blocksworld", "sokoban"))
    router.save(tmp_path / "gen-1")
    assert sorted(p.name for p in (tmp_path / "gen-1").iterdir()) == ["blocksworld", "sokoban"]
    router.load_adapter(tmp_path / "gen-1")
    assert parts["sokoban"].loaded == [tmp_path / "gen-1" / "sokoban"]
    (tmp_path / "gen-1" / "sokoban").rmdir()
    with pytest.raises(ModelError, match="no sokoban part"):
        router.load_adapter(tmp_path / "gen-1")
    router.close()
    assert all(p.closed == 1 for p in parts.values())


def test_a_router_needs_a_domain() -> None:
    with pytest.raises(ModelError, match="at least one"):
        DomainRoutedPlanner({}, name="x")


def test_split_gives_single_domain_recipes_and_leaves_the_default_base_alone() -> None:
    default = EmbeddedModelSpec()
    spec = EmbeddedModelSpec(per_domain=True, pretrain_steps=77, pretrain_domains={
        "rovers": {"min_size": 2, "max_size": 4, "weight": 3.0}, "sokoban": {"min_size": 1, "max_size": 1}})
    parts = spec.split()
    assert list(parts) == ["blocksworld", "rovers", "sokoban"]
    for name, part in parts.items():
        assert part.domains() == (name,) and not part.per_domain and part.pretrain_steps == 77
    assert parts["rovers"].pretrain_domains["rovers"].max_size == 4
    assert parts["rovers"].pretrain_domains["rovers"].weight == 1.0
    # the Blocksworld part of a default-sized recipe is the default base (one cache entry)
    same = EmbeddedModelSpec(per_domain=True, pretrain_domains={"rovers": {}}).split()["blocksworld"]
    assert same.content_hash() == default.content_hash() == "a4956a8d22a8ed73"
    # the option itself moves no hash of a recipe that does not use it
    assert EmbeddedModelSpec(per_domain=False).content_hash() == default.content_hash()
