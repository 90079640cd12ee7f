"""How docs/results.md reads its runs: each domain's sizes in its own unit (blocks, waypoints and
boxes are different things, so a multi-domain run is never summed or maximised across them), and
the seeds run after the recipe was chosen apart from those it was chosen on."""

from __future__ import annotations

import sys
from pathlib import Path

from iterdeploy.simulator.store import GenerationSummary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from paper_results import ARMS, Arm, ArmRun, _above_floor, _largest_solved, _paired, _seed_check

QUICKSTART = next(a for a in ARMS if a.name == "quickstart")
TOWERS = next(a for a in ARMS if a.name == "generator-towers")
CHAINED = next(a for a in ARMS if a.name == "chained")


def _run(by_size: dict[tuple[int, str, int], tuple[int, int]], arm: Arm = QUICKSTART,
         seed: int = 0) -> ArmRun:
    generations = sorted({g for (g, _, _) in by_size})
    rows = [GenerationSummary(
        generation=g, evaluated=10, solved=1, mean_plan_length=None, longest_plan_length=None,
        train_size=0, deploy_tasks=sum(n for (gg, _, _), (_, n) in by_size.items() if gg == g),
        deploy_solved=sum(s for (gg, _, _), (s, _) in by_size.items() if gg == g), published=0,
        largest_solved_size=None, deploy_longest_plan_length=None,
    ) for g in generations]
    return ArmRun(arm=arm, seed=seed, rows=rows, fixed_pool=True, planned=generations[-1],
                  by_size=by_size, valid_samples={g: (0, 0) for g in generations})


THREE_DOMAINS = _run({
    (0, "blocksworld", 7): (5, 10), (0, "blocksworld", 12): (0, 10),
    (0, "rovers", 5): (8, 10), (0, "rovers", 10): (1, 10),
    (0, "sokoban", 2): (6, 10), (0, "sokoban", 4): (0, 10),
    (1, "blocksworld", 7): (9, 10), (1, "blocksworld", 12): (2, 10),
    (1, "rovers", 5): (9, 10), (1, "rovers", 10): (1, 10),
    (1, "sokoban", 2): (7, 10), (1, "sokoban", 4): (3, 10),
})


def test_a_multi_domain_run_gives_each_domain_its_largest_size() -> None:
    # one maximum over the domains would read "12 → 12": blocks, whatever the other two did
    assert _largest_solved(THREE_DOMAINS) == "blocksworld 7 → 12, rovers 10 → 10, sokoban 2 → 4"


def test_a_one_domain_run_gives_its_largest_size_alone() -> None:
    run = _run({(0, "rovers", 5): (3, 4), (0, "rovers", 6): (0, 4),
                (1, "rovers", 5): (4, 4), (1, "rovers", 6): (0, 4),
                (2, "rovers", 5): (4, 4), (2, "rovers", 6): (1, 4)})
    assert _largest_solved(run) == "5 → 6"


def test_a_size_nothing_solves_is_a_dash() -> None:
    run = _run({(0, "sokoban", 4): (0, 4), (1, "sokoban", 4): (0, 4)})
    assert _largest_solved(run) == "– → –"


def test_above_the_floor_leaves_out_each_domains_own_lowest_size() -> None:
    # floors: blocksworld 7, rovers 5, sokoban 2; what is left is 12 blocks, 10 waypoints and
    # 4 boxes: 0 + 1 + 0 solved at generation 0, 2 + 1 + 3 at the last
    assert _above_floor([THREE_DOMAINS], "quickstart") == "1 → 6 (6.00x)"
    one_floor_for_all = sum(s for (g, _, size), (s, _) in THREE_DOMAINS.by_size.items()
                            if g == 0 and size > 2)
    assert one_floor_for_all == 14  # 7 blocks and 5 waypoints would have counted as above it


def _pool(first: int, last: int, arm: Arm = QUICKSTART, seed: int = 0) -> ArmRun:
    return _run({(0, "blocksworld", 7): (first, 160), (5, "blocksworld", 7): (last, 160)}, arm, seed)


def test_the_seeds_after_the_choice_are_read_apart_and_counted_with_the_rest() -> None:
    runs = [_pool(41, 89, seed=0), _pool(35, 72, seed=1), _pool(41, 87, seed=2),
            _pool(47, 80, seed=3), _pool(37, 73, seed=4),
            _pool(50, 85, TOWERS, 0), _pool(40, 90, TOWERS, 3)]
    text = " ".join(line.strip() for line in _seed_check(runs))
    assert "the pool went 2.17x, 2.06x, 2.12x. Seeds 3, 4, run after the choice" in text
    assert ("give 1.70x, 1.97x (1.84x on average): over all 5 seeds the pool goes 1.7-2.2x "
            "(2.00x on average)") in text
    assert "2x is met in 3 of 5" in text
    assert "(`generator-towers`) gives 2.25x on the same later seeds, against 1.70x on seeds 0-2" in text


def test_without_later_seeds_there_is_nothing_to_say() -> None:
    assert _seed_check([_pool(41, 89, seed=0), _pool(35, 72, seed=1)]) == []
    later_without_towers = " ".join(_seed_check([_pool(41, 89, seed=0), _pool(47, 80, seed=3)]))
    assert "(`generator-towers`) is not run on them" in later_without_towers


def test_a_training_variant_is_read_against_the_recipe_on_the_same_seeds() -> None:
    runs = [_pool(41, 89, seed=0), _pool(47, 80, seed=3), _pool(37, 73, seed=4),
            _pool(41, 96, CHAINED, 0), _pool(47, 80, CHAINED, 3)]
    # seed 4 has no chained run: it is left out rather than compared with nothing
    assert _paired(runs, "chained") == (
        "2.34x, 1.70x (seeds 0, 3) against 2.17x, 1.70x for the recipe, ahead on 1 of 2")
    assert _paired(runs, "replay") == "not run"
