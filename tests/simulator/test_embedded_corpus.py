"""The embedded model's pretraining corpus and cache key."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from iterdeploy.simulator.models._format import name_map, render_prompt
from iterdeploy.simulator.models.compact.blocksworld import FORMAT
from iterdeploy.simulator.models.embedded import (
    EmbeddedModelSpec,
    corpus_sampler,
    pretrain_size_distribution,
    reference_example,
)
from iterdeploy.simulator.planning.blocksworld import generate_task


def test_recipes_keep_the_cache_keys_of_earlier_releases() -> None:
    # caches written before a field existed stay valid for the same recipe: the earlier defaults
    # (no detours; detours, padded, 1,200 steps, tail 5-7) keep their keys
    padded = EmbeddedModelSpec(pretrain_packed=False, pretrain_steps=1200, pretrain_tail_sizes=3,
                               pretrain_tail_mass=0.15, pretrain_tail_decay=0.5,
                               pretrain_new_tower_chance=(0.5, 0.5))
    assert padded.model_copy(update={"pretrain_detour_share": 0.0}).content_hash() == "f306cbfbcb9026ed"
    assert padded.content_hash() == "69dfcb700e68e62c"
    assert padded.model_copy(update={"pretrain_detour_share": 0.5}).content_hash() != "69dfcb700e68e62c"
    # packing trains the same gradients in another floating-point order: other weights, own key;
    # the default since packing (longer tail, 2,000 steps) and its taller-tower successor are
    # pinned so a change is deliberate
    earlier_default = EmbeddedModelSpec(pretrain_new_tower_chance=(0.5, 0.5))
    assert earlier_default.content_hash() == "e7d7ddf5ecdde358"
    assert EmbeddedModelSpec().content_hash() == "a4956a8d22a8ed73"


def test_a_zero_detour_share_draws_nothing_extra() -> None:
    # share 0 spends no random draw: the corpus is the one older releases trained on
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    plain = [reference_example(5, rng_a).prompt for _ in range(5)]
    assert plain == [reference_example(5, rng_b, 0.0).prompt for _ in range(5)]
    rng_c = np.random.default_rng(5)
    assert plain != [reference_example(5, rng_c, 0.5).prompt for _ in range(5)]


def test_a_removed_recipe_option_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="pretrain_direct_share"):
        EmbeddedModelSpec(pretrain_direct_share=0.5)  # type: ignore[call-arg]


def test_tail_sizes_set_how_far_the_corpus_reaches() -> None:
    sizes, probs = pretrain_size_distribution(EmbeddedModelSpec(pretrain_tail_sizes=6))
    assert sizes.tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert abs(probs.sum() - 1) < 1e-12 and abs(probs[3:].sum() - 0.25) < 1e-12
    assert all(probs[k + 1] < probs[k] for k in range(3, 8))  # each tail size rarer than the last
    assert pretrain_size_distribution(EmbeddedModelSpec())[0].tolist() == [2, 3, 4, 5, 6, 7, 8, 9]
    assert EmbeddedModelSpec(pretrain_tail_sizes=6).content_hash() != EmbeddedModelSpec().content_hash()


def test_a_revised_domain_format_changes_the_keys_of_its_bases_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iterdeploy.simulator.models.compact import sokoban

    rovers = EmbeddedModelSpec(pretrain_blocksworld_weight=0, pretrain_domains={"rovers": {}})
    both = EmbeddedModelSpec(pretrain_domains={"rovers": {}, "sokoban": {}})
    before = [spec.content_hash() for spec in (EmbeddedModelSpec(), rovers, both)]
    monkeypatch.setattr(sokoban.SokobanFormat, "version", sokoban.FORMAT.version + 1)
    assert EmbeddedModelSpec().content_hash() == before[0] == "a4956a8d22a8ed73"
    assert rovers.content_hash() == before[1]
    assert both.content_hash() != before[2]


@pytest.mark.parametrize("bad", [
    {"seed": -1}, {"seed": 2**32}, {"pretrain_lr": float("inf")}, {"pretrain_lr": float("nan")},
    {"pretrain_steps": 10**9}, {"pretrain_batch_size": 10**6},
    {"pretrain_blocksworld_weight": float("inf")},
    {"pretrain_domains": {"rovers": {"weight": float("inf")}}},
])
def test_a_recipe_out_of_range_is_refused_when_it_is_read(bad: dict[str, object]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=next(iter(bad))):
        EmbeddedModelSpec(**bad)  # type: ignore[arg-type]


def test_a_domain_with_steps_of_its_own_splits_into_the_recipe_measured_alone() -> None:
    rovers = {"min_size": 2, "max_size": 4, "tail_sizes": 2}
    alone = EmbeddedModelSpec(pretrain_steps=3000, pretrain_blocksworld_weight=0,
                              pretrain_domains={"rovers": rovers})
    mixed = EmbeddedModelSpec(per_domain=True, pretrain_domains={"rovers": {**rovers, "steps": 3000},
                                                                 "sokoban": {}})
    parts = mixed.split()
    assert parts["rovers"].content_hash() == alone.content_hash()
    assert parts["rovers"].pretrain_steps == 3000 and parts["sokoban"].pretrain_steps == 2000
    assert parts["blocksworld"].content_hash() == EmbeddedModelSpec().content_hash()
    # a corpus that names no steps hashes as before the field existed (the base measured in
    # docs/model-card.md keeps its key)
    assert alone.content_hash() == "5ada876de95ed8e8"
    with pytest.raises(ValueError, match="per_domain"):
        EmbeddedModelSpec(pretrain_domains={"rovers": {**rovers, "steps": 3000}})


def test_no_position_encoding_has_its_own_key_and_ignores_where_a_sequence_starts() -> None:
    """``position_encoding: none`` (NoPE): the default key is unchanged, and a model built so
    gives the same logits whatever positions the tokens are said to stand at (here spread ten
    apart), which a RoPE model does not: only the causal mask tells it the order."""
    import torch

    from iterdeploy.simulator.models.embedded import build_base

    nope = EmbeddedModelSpec(position_encoding="none", n_layers=1, hidden_size=32, n_heads=2,
                             intermediate_size=32)
    assert EmbeddedModelSpec(position_encoding="rope").content_hash() == "a4956a8d22a8ed73"
    assert nope.content_hash() != nope.model_copy(update={"position_encoding": "rope"}).content_hash()
    ids = torch.tensor([[5, 9, 7, 11, 6, 8]])
    spread = torch.arange(ids.shape[1])[None] * 10
    rope = nope.model_copy(update={"position_encoding": "rope"})
    for spec, position_blind in ((nope, True), (rope, False)):
        model, _ = build_base(spec)
        with torch.no_grad():
            here = model(input_ids=ids).logits
            there = model(input_ids=ids, position_ids=spread).logits
        assert torch.allclose(here, there, atol=1e-6) is position_blind
    with pytest.raises(ValidationError, match="position_encoding"):
        EmbeddedModelSpec(position_encoding="alibi")


def _tallest_initial_towers(spec: EmbeddedModelSpec, n: int = 400) -> list[int]:
    draw, rng = corpus_sampler(spec), np.random.default_rng(3)
    prompts = [draw(rng).prompt for _ in range(n)]
    return [max(len(t.split()) for t in p.removeprefix("init ").split(" goal ")[0].split("|"))
            for p in prompts]


def test_a_lower_new_tower_chance_shows_taller_towers_in_the_corpus() -> None:
    plain = _tallest_initial_towers(EmbeddedModelSpec(pretrain_new_tower_chance=(0.5, 0.5)))
    tall = _tallest_initial_towers(EmbeddedModelSpec())  # the default since 7 December 2026
    assert np.mean(tall) > np.mean(plain) + 0.3
    assert sum(h >= 5 for h in tall) > 2 * sum(h >= 5 for h in plain)


def test_the_generators_own_new_tower_chance_draws_nothing_extra() -> None:
    # the generator's chance keeps the earlier default base's corpus and key (not spelt out in
    # the hash); the default range gets its own key
    explicit = EmbeddedModelSpec(pretrain_new_tower_chance=(0.5, 0.5))
    assert explicit.content_hash() == "e7d7ddf5ecdde358"
    assert "pretrain_new_tower_chance" in EmbeddedModelSpec().model_dump()
    assert EmbeddedModelSpec().content_hash() == "a4956a8d22a8ed73"
    # the corpus sampler at the generator's chance is the format's plain corpus, draw for draw
    rng_a, rng_b = np.random.default_rng(8), np.random.default_rng(8)
    draw = corpus_sampler(explicit)
    corpus = explicit.corpora()["blocksworld"]
    sizes, probs = corpus.size_distribution()
    plain = [FORMAT.corpus_example(int(rng_b.choice(sizes, p=probs)), rng_b, corpus.detour_share)
             for _ in range(20)]
    assert [draw(rng_a) for _ in range(20)] == plain
    # the format draws the chance first, then the task: a range of one value is that chance
    rng_c, rng_d = np.random.default_rng(9), np.random.default_rng(9)
    one = FORMAT.corpus_example(6, rng_c, 0.0, new_tower_chance=(0.3, 0.3)).prompt
    rng_d.uniform(0.3, 0.3)
    task = generate_task(6, rng_d, new_tower_chance=0.3)
    assert one == render_prompt(task, name_map(task, rng_d))


def test_the_new_tower_chance_moves_no_key_of_a_base_without_blocksworld() -> None:
    # the Rovers and Sokoban bases keep the keys they were pretrained under before the default
    # changed: the option means nothing for their corpora
    rovers = {"pretrain_blocksworld_weight": 0, "pretrain_domains": {"rovers": {}}}
    keys = {EmbeddedModelSpec(**rovers, pretrain_new_tower_chance=chance).content_hash()
            for chance in [(0.5, 0.5), (0.1, 0.5), (0.2, 0.9)]}
    assert len(keys) == 1
    mixed = {"pretrain_domains": {"rovers": {}}}
    assert (EmbeddedModelSpec(**mixed).content_hash()
            != EmbeddedModelSpec(**mixed, pretrain_new_tower_chance=(0.5, 0.5)).content_hash())


@pytest.mark.parametrize("bad", [(0.6, 0.5), (0.0, 0.5), (0.04, 0.5), (0.5, 0.96), (0.5, 1.0)])
def test_a_new_tower_chance_outside_its_range_is_refused_by_name(bad: tuple[float, float]) -> None:
    with pytest.raises(ValidationError, match="pretrain_new_tower_chance"):
        EmbeddedModelSpec(pretrain_new_tower_chance=bad)


@pytest.mark.parametrize("chance", [0.0, 1.0, -0.1, 1.5])
def test_the_generator_refuses_a_new_tower_chance_that_cannot_make_a_task(chance: float) -> None:
    with pytest.raises(ValueError, match="new_tower_chance"):
        generate_task(4, np.random.default_rng(0), new_tower_chance=chance)


ROVERS_RECIPE = {"pretrain_blocksworld_weight": 0, "pretrain_steps": 3000,
                 "pretrain_domains": {"rovers": {"min_size": 2, "max_size": 4, "tail_sizes": 2}}}


def _rovers(params: dict[str, dict[str, int]] | None = None) -> EmbeddedModelSpec:
    corpus = dict(ROVERS_RECIPE["pretrain_domains"]["rovers"])  # type: ignore[index]
    if params is not None:
        corpus["params"] = params
    return EmbeddedModelSpec(**{**ROVERS_RECIPE, "pretrain_domains": {"rovers": corpus}})


def _n_rovers(prompt: str) -> int:
    """Rovers' compact prompt names each rover ``r<k>`` (waypoints ``w``, cameras ``c``,
    objectives ``j``)."""
    return len({w for w in prompt.split() if w[0] == "r" and w[1:].isdigit()})


def test_corpus_parameters_leave_the_base_without_them_as_it_was() -> None:
    """No parameters (or an empty mapping) is the Rovers base the results were run on; any
    parameter gives a base of its own."""
    assert _rovers().content_hash() == _rovers({}).content_hash() == "5ada876de95ed8e8"
    two = _rovers({"n_rovers": {"min": 1, "max": 2}})
    only_two = _rovers({"n_rovers": {"min": 2, "max": 2}})
    assert two.content_hash() not in {"5ada876de95ed8e8", only_two.content_hash()}
    assert two.split()["rovers"].pretrain_domains["rovers"].params == two.pretrain_domains["rovers"].params


def test_a_corpus_parameter_range_shows_every_value_at_every_size() -> None:
    """Without parameters a 2-4 waypoint corpus has one rover per task (two from 6 waypoints
    only); ``n_rovers: {min: 1, max: 2}`` gives small tasks one or two rovers."""
    plain, mixed = corpus_sampler(_rovers()), corpus_sampler(_rovers({"n_rovers": {"min": 1, "max": 2}}))
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    plain_counts = [_n_rovers(plain(rng_a).prompt) for _ in range(200)]
    mixed_counts = [_n_rovers(mixed(rng_b).prompt) for _ in range(200)]
    assert 2 <= plain_counts.count(2) <= 40 and set(plain_counts) == {1, 2}  # the size-6 tail only
    assert 60 <= mixed_counts.count(2) <= 140 and set(mixed_counts) == {1, 2}
    # the same seed draws the same corpus
    again = corpus_sampler(_rovers({"n_rovers": {"min": 1, "max": 2}}))
    rng_c, rng_d = np.random.default_rng(5), np.random.default_rng(5)
    assert [mixed(rng_c) for _ in range(5)] == [again(rng_d) for _ in range(5)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"n_rovers": {"min": 1, "max": 9}},
         "pretrain_domains.rovers.params: rovers: n_rovers=9 is out of range"),
        ({"n_rover": {"min": 1, "max": 2}}, "unknown parameter 'n_rover'; did you mean 'n_rovers'?"),
        ({"n_waypoints": {"min": 3, "max": 4}}, "n_waypoints is the corpus's size"),
        ({"n_rovers": {"min": 2, "max": 1}}, "min 2 > max 1"),
        ({"n_rovers": {"min": 0, "max": 1}},
         "pretrain_domains.rovers.params: rovers: n_rovers=0 is out of range"),
        ({"n_rovers": {"min": -1, "max": 1}}, "pretrain_domains.rovers.params.n_rovers.min"),
    ],
    ids=["out-of-range", "misspelt", "the-size", "reversed", "below-the-generator", "negative"],
)
def test_bad_corpus_parameters_are_refused_by_name(params: dict[str, dict[str, int]], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected.replace("(", r"\(").replace("?", r"\?")):
        _rovers(params)


def test_blocksworld_corpus_tasks_take_no_parameters() -> None:
    with pytest.raises(ValueError, match=r"blocksworld: a corpus task has no parameters besides its size"):
        FORMAT.corpus_example(4, np.random.default_rng(0), params={"n_towers": 2})
