"""Rovers in the compact format: round trips to valid plans, names, extraction, garbage.

Every reference completion (witness plans of sizes 2-8, corpus examples with detours) must come
back from extraction as a plan the validator accepts; whatever else a model writes must never make
extraction raise and must not pass for a valid plan.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.models.compact import SHARED_WORDS, compact_domain
from iterdeploy.simulator.models.compact.rovers import (
    FORMAT,
    MODES,
    corpus_task_and_example,
    extract_completion,
    name_map,
    plan_steps,
    render_completion,
    render_prompt,
)
from iterdeploy.simulator.planning import GroundTask, generate_sized, validate_plan


def _generated(size: int, seed: int):
    return generate_sized("rovers", size, np.random.default_rng(seed))


def _verdict(completion: str, task: GroundTask):
    return validate_plan(task, FORMAT.extract(completion, task).plan_text)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(2, 9))
def test_witness_plans_come_back_valid(size: int) -> None:
    for seed in range(8):
        generated = _generated(size, seed)
        task = generated.task
        completion = FORMAT.completion(task, plan_steps(generated.witness_plan))
        extracted = FORMAT.extract(completion, task)
        verdict = validate_plan(task, extracted.plan_text)
        assert verdict.is_valid, (size, seed, verdict.message)
        assert verdict.plan_length == len(generated.witness_plan)
        assert extracted.plan_text.splitlines() == [a[1:-1] for a in generated.witness_plan]
        assert extracted.n_reasoning_tokens == sum(
            len(chunk.partition(">")[2].split()) for chunk in completion.split(";"))


@pytest.mark.parametrize("size", range(2, 9))
def test_corpus_examples_with_detours_are_valid_for_their_task(size: int) -> None:
    rng = np.random.default_rng(size)
    longer = 0
    for _ in range(12):
        state = rng.bit_generator.state
        task, example = corpus_task_and_example(size, rng, detour_share=1.0)
        # the same draws again: the task, then its names
        replay = np.random.default_rng()
        replay.bit_generator.state = state
        generated = generate_sized("rovers", size, replay)
        names = name_map(generated.task, replay)
        assert generated.task == task
        assert example.prompt == render_prompt(task, names)  # rendered as prompt() renders
        verdict = validate_plan(task, extract_completion(example.completion, task, names).plan_text)
        assert verdict.is_valid, verdict.message
        longer += verdict.plan_length > len(generated.witness_plan)
        assert verdict.plan_length in (len(generated.witness_plan), len(generated.witness_plan) + 2)
    assert longer >= 6  # detours are inserted (unless the acting rover has no way back)


def _navigates(completion: str) -> int:
    return sum(chunk.split()[:1] == ["navigate"] for chunk in completion.split(";"))


def test_a_route_is_written_as_its_destination_and_comes_back_move_by_move() -> None:
    multi = 0
    for size in (5, 6, 7, 8):
        for seed in range(8):
            generated = _generated(size, seed)
            steps = plan_steps(generated.witness_plan)
            completion = FORMAT.completion(generated.task, steps)
            moves = sum(name == "navigate" for name, _ in steps)
            assert _navigates(completion) <= moves
            multi += _navigates(completion) < moves
            # every written destination is a step the model chose; the moves between come back
            lines = FORMAT.extract(completion, generated.task).plan_text.splitlines()
            assert lines == [a[1:-1] for a in generated.witness_plan]
    assert multi >= 8  # routes of several moves are common at these sizes


def test_a_move_there_and_back_is_written_as_two_destinations() -> None:
    generated = _generated(4, 22)
    task, steps = generated.task, plan_steps(generated.witness_plan)
    n = name_map(task).forward
    there_and_back = [("navigate", ("rover1", "waypoint2", "waypoint4")),
                      ("navigate", ("rover1", "waypoint4", "waypoint2"))]
    completion = FORMAT.completion(task, [*there_and_back, *steps])
    assert completion.split(" ; ")[1:3] == [f"navigate {n['rover1']} {n['waypoint4']}",
                                            f"navigate {n['rover1']} {n['waypoint2']}"]
    verdict = _verdict(completion, task)
    assert verdict.is_valid and verdict.plan_length == len(steps) + 2


def test_a_destination_with_no_route_is_one_move_the_validator_rejects() -> None:
    generated = _generated(6, 0)
    task = generated.task
    n = name_map(task).forward
    rover = next(iter(sorted(r for r in task.objects if r.startswith("rover"))))
    here = next(a[2] for a in task.init if a[0] == "at" and a[1] == rover)
    reachable = {a[3] for a in task.init if a[0] == "can_traverse" and a[1] == rover} | {here}
    unreachable = sorted(w for w in task.objects if w.startswith("waypoint") and w not in reachable)
    target = unreachable[0] if unreachable else here  # to where it stands: no route either
    lines = FORMAT.extract(f"navigate {n[rover]} {n[target]}", task).plan_text.splitlines()
    assert lines == [f"navigate {rover} {here} {target}"]
    assert not validate_plan(task, "\n".join(lines)).is_valid


def test_corpus_example_matches_the_task_and_names_it_was_drawn_with() -> None:
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    task, example = corpus_task_and_example(5, rng_a)
    generated = generate_sized("rovers", 5, rng_b)
    names = name_map(generated.task, rng_b)
    assert example.prompt == render_prompt(task, names)
    assert example.completion == render_completion(task, plan_steps(generated.witness_plan), names)
    # without detours nothing more is drawn: the two generators are still in step
    assert rng_a.random() == rng_b.random()
    assert FORMAT.corpus_example(5, np.random.default_rng(7)) == example


def test_the_format_is_registered_and_pinned() -> None:
    assert compact_domain("rovers") is FORMAT
    generated = _generated(4, 22)
    task = generated.task
    assert FORMAT.prompt(task) == (
        "init uplink w4 r5 w4 soil rock imaging , w2 w4 , w4 w2 w6 w13 , w6 w4 , w13 w4 "
        "c4 on r5 target j2 colour j2 from w4 w6 goal soil w2 rock w4 image j2 colour plan"
    )
    assert FORMAT.completion(task, plan_steps(generated.witness_plan)) == (
        "> next soil w2 ; navigate r5 w2 ; sample_soil r5 > w2 next soil w2 ; navigate r5 w4 ; "
        "communicate_soil_data r5 w2 > r5 w4 full left rock w4 image j2 colour next rock w4 ; "
        "drop r5 > w4 next rock w4 ; sample_rock r5 > w4 next rock w4 ; "
        "communicate_rock_data r5 w4 > r5 w4 full left image j2 colour next image j2 colour ; "
        "calibrate r5 c4 > w4 next image j2 colour ; take_image r5 j2 c4 colour > w4 next image j2 colour ; "
        "communicate_image_data r5 j2 colour > done"
    )


def test_prompt_of_a_small_task_is_short() -> None:
    lengths = [len(FORMAT.prompt(_generated(4, seed).task).split()) for seed in range(30)]
    assert max(lengths) < 100


# -- names -----------------------------------------------------------------------------------


def test_names_are_stable_injective_and_hide_the_task_names() -> None:
    words = FORMAT.words()
    assert words[: len(SHARED_WORDS)] == list(SHARED_WORDS)
    assert len(words) == len(set(words)) < 120
    assert FORMAT.words() == words
    vocabulary = set(words)
    seen_pool: set[str] = set()
    for size in range(2, 11):
        for seed in range(4):
            generated = _generated(size, seed)
            task = generated.task
            names = name_map(task)
            again = generate_sized("rovers", size, np.random.default_rng(seed)).task
            assert name_map(again) == names and FORMAT.prompt(again) == FORMAT.prompt(task)
            assert len(set(names.forward.values())) == len(names.forward)
            prompt = FORMAT.prompt(task)
            completion = FORMAT.completion(task, plan_steps(generated.witness_plan))
            prompt_words = prompt.split()
            hidden = set(task.objects) - set(MODES)
            assert hidden.isdisjoint(prompt_words), size
            assert hidden.isdisjoint(completion.split()), size
            assert set(prompt_words) <= vocabulary and set(completion.split()) <= vocabulary
            assert prompt_words[0] == "init" and prompt_words[-1] == "plan"
            seen_pool |= set(names.forward.values())
    # names are drawn at random, not in order: small tasks use the far end of the pools too
    assert {"w15", "r5", "c6", "j8"} <= seen_pool


def test_a_task_with_more_objects_than_a_pool_is_refused_by_name() -> None:
    task = _generated(15, 0).task
    extra = tuple(f"waypoint{i}" for i in range(16, 18))
    big = dataclasses.replace(
        task, name="rover-too-big", objects=(*task.objects, *extra),
        object_types=(*task.object_types, *((w, "waypoint") for w in extra)),
    )
    with pytest.raises(ValueError, match=r"rover-too-big has 17 waypoints"):
        FORMAT.prompt(big)
    with pytest.raises(ValueError, match="rover-too-big"):
        name_map(big, np.random.default_rng(0))
    # extraction still never raises: unmapped words pass through for the validator to name
    assert not validate_plan(big, FORMAT.extract("navigate r1 w2 ; drop r1", big).plan_text).is_valid


# -- extraction ------------------------------------------------------------------------------


def test_a_handwritten_completion_gives_the_expected_pddl_lines() -> None:
    task = _generated(4, 22).task
    n = name_map(task).forward
    r, c, j = n["rover1"], n["camera1"], n["objective1"]
    site, home = n["waypoint4"], n["waypoint2"]  # the soil sample (and lander); the rover's start
    completion = (
        f"> next soil {site} ; navigate {r} {site} ; sample_soil {r} > {site} ; navigate {r} {home} ; "
        f"communicate_soil_data {r} {site} > done ; calibrate {r} {c} ; "
        f"take_image {r} {j} {c} colour ; communicate_image_data {r} {j} colour"
    )
    extracted = FORMAT.extract(completion, task)
    assert extracted.plan_text.splitlines() == [
        "navigate rover1 waypoint2 waypoint4",
        "sample_soil rover1 rover1store waypoint4",
        "navigate rover1 waypoint4 waypoint2",
        "communicate_soil_data rover1 general waypoint4 waypoint2 waypoint4",
        "calibrate rover1 camera1 objective1 waypoint2",
        "take_image rover1 waypoint2 objective1 camera1 colour",
        "communicate_image_data rover1 general objective1 colour waypoint2 waypoint4",
    ]
    assert extracted.n_reasoning_tokens == 5
    verdict = validate_plan(task, extracted.plan_text)
    assert verdict.status == "goal_not_reached"  # the rock goal is left out
    assert verdict.unmet_goals == ("(communicated_rock_data waypoint2)",)


def test_missing_and_unknown_arguments_reach_the_validator() -> None:
    task = _generated(4, 22).task
    r = name_map(task).forward["rover1"]
    cases = {
        f"navigate {r}": "wrong_arity",
        f"sample_soil {r} w4": "wrong_arity",
        "drop": "wrong_arity",
        f"navigate {r} w99": "unknown_object",
        "navigate r9 w2": "wrong_arity",  # no position to restore for a rover the task lacks
        f"take_image {r} j7 c1 colour": "unknown_object",
        f"communicate_rock_data {r} w1": "unknown_object",  # a pool name this task does not use
        f"fly {r} w4": "unknown_action",
        f"sample_soil {r}": "invalid_step",  # no soil sample where the rover stands
        "": "empty",
        "> next soil w2 ;": "empty",
    }
    for completion, status in cases.items():
        assert _verdict(completion, task).status == status, completion


def test_truncated_completions_are_valid_only_when_the_whole_plan_survives() -> None:
    for size, seed in ((3, 1), (5, 2), (7, 3)):
        generated = _generated(size, seed)
        task = generated.task
        completion = FORMAT.completion(task, plan_steps(generated.witness_plan))
        full = FORMAT.extract(completion, task).plan_text
        for cut in range(0, len(completion), 3):
            extracted = FORMAT.extract(completion[:cut], task)
            if validate_plan(task, extracted.plan_text).is_valid:
                assert extracted.plan_text == full, cut


def test_a_long_nonsense_completion_of_vocabulary_words_is_not_valid() -> None:
    task = _generated(6, 2).task
    rng = np.random.default_rng(0)
    words = FORMAT.words()
    nonsense = " ".join(words[int(i)] for i in rng.integers(len(words), size=10_000))
    extracted = FORMAT.extract(nonsense, task)
    assert not validate_plan(task, extracted.plan_text).is_valid
    assert extracted.n_reasoning_tokens > 0


_TASK = _generated(6, 2).task


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_any_text_is_extracted_without_raising(text: str) -> None:
    extracted = FORMAT.extract(text, _TASK)
    assert isinstance(extracted.plan_text, str) and extracted.n_reasoning_tokens >= 0
    assert not validate_plan(_TASK, extracted.plan_text).is_valid


@settings(max_examples=100, deadline=None)
@given(st.binary())
def test_any_bytes_are_extracted_without_raising(data: bytes) -> None:
    extracted = FORMAT.extract(data, _TASK)  # type: ignore[arg-type]
    assert not validate_plan(_TASK, extracted.plan_text).is_valid
    assert not validate_plan(_TASK, FORMAT.extract(data.decode("latin-1"), _TASK).plan_text).is_valid


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*FORMAT.words(), "w99", "r9", "x", "(", "general"]), max_size=200))
def test_vocabulary_sequences_are_extracted_without_raising(words: list[str]) -> None:
    extracted = FORMAT.extract(" ".join(words), _TASK)
    assert not validate_plan(_TASK, extracted.plan_text).is_valid
