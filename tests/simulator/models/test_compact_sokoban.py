"""The compact Sokoban format: a plan written as its pushes comes back as a valid plan just as
long, prompts use only the pools' words, and no completion, however broken, crashes extraction or
passes validation by accident."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.models.compact import SHARED_WORDS, CompactDomain, compact_domain
from iterdeploy.simulator.models.compact.sokoban import (
    BOX_POOL,
    COORD_POOL,
    FORMAT,
    draw_names,
    reference_plan,
    with_detour,
)
from iterdeploy.simulator.models.protocol import Example
from iterdeploy.simulator.planning import (
    Atom,
    GeneratedTask,
    GroundTask,
    build_task,
    domain_path,
    generate_sized,
    load_task,
    parse_action_line,
    validate_plan,
)

Steps = list[tuple[str, tuple[str, ...]]]
Cell = tuple[int, int]

HAND_MAP = (
    "#######",
    "#R..#.#",
    "#.B...#",
    "#..G..#",
    "#.....#",
    "#######",
)
"""A 1-box task drawn by hand: R the robot, B the box, G its goal (row i is ``loc_{i+1}_*``)."""


def hand_task(rows: tuple[str, ...] = HAND_MAP, name: str = "hand-1") -> GroundTask:
    """The task of an ASCII map; boxes ``B``/``b`` are box1, box2 ... in reading order, goals
    ``G``/``g`` belong to the boxes in the same order."""
    cells = {(r + 1, c + 1): ch for r, row in enumerate(rows) for c, ch in enumerate(row)}
    free = {cell for cell, ch in cells.items() if ch != "#"}
    boxes = [cell for cell, ch in sorted(cells.items()) if ch in "Bb"]
    goals = [cell for cell, ch in sorted(cells.items()) if ch in "Gg"]
    robot = next(cell for cell, ch in cells.items() if ch == "R")

    def loc(cell: tuple[int, int]) -> str:
        return f"loc_{cell[0]}_{cell[1]}"

    steps = {"down": (1, 0), "up": (-1, 0), "left": (0, -1), "right": (0, 1)}
    init: set[Atom] = {("at-robot", loc(robot))}
    init |= {("at", f"box{i + 1}", loc(cell)) for i, cell in enumerate(boxes)}
    init |= {("clear", loc(cell)) for cell in free if cell not in boxes}
    init |= {("adjacent", loc(cell), loc((cell[0] + dr, cell[1] + dc)), d)
             for cell in free for d, (dr, dc) in steps.items() if (cell[0] + dr, cell[1] + dc) in free}
    goal: set[Atom] = {("at", f"box{i + 1}", loc(cell)) for i, cell in enumerate(goals)}
    objects = [(loc(cell), "location") for cell in sorted(cells)]
    objects += [(f"box{i + 1}", "box") for i in range(len(boxes))]
    return build_task(domain_path("sokoban"), name, objects, init, goal, (("n_boxes", len(boxes)),))


def generated(n_boxes: int, seed: int) -> GeneratedTask:
    return generate_sized("sokoban", n_boxes, np.random.default_rng(seed))


def witness_steps(gen: GeneratedTask) -> Steps:
    steps = []
    for line in gen.witness_plan:
        parsed = parse_action_line(line)
        assert parsed is not None
        steps.append(parsed)
    return steps


def plan_lines(steps: Steps) -> str:
    return "\n".join(" ".join((name, *args)) for name, args in steps)


def is_valid(task: GroundTask, completion: str) -> bool:
    return validate_plan(task, FORMAT.extract(completion, task).plan_text).is_valid


def as_prompted(task: GroundTask, example: Example) -> str:
    """A corpus completion with its boxes renamed as :meth:`FORMAT.prompt` names them: the corpus
    draws names at random, the prompt of a deployed task derives them from its content."""
    _, _, boxes, robot = read_prompt(example.prompt)
    _, _, their_boxes, their_robot = read_prompt(FORMAT.prompt(task))
    shift = (their_robot[0] - robot[0], their_robot[1] - robot[1])
    where = {cell: name for name, cell in their_boxes.items()}
    rename = {name: where[(cell[0] + shift[0], cell[1] + shift[1])] for name, cell in boxes.items()}
    return " ".join(rename.get(w, w) for w in example.completion.split())


# --- the contract -------------------------------------------------------------------------------


def test_registered_and_words() -> None:
    fmt: CompactDomain = compact_domain("sokoban")
    assert fmt is FORMAT and fmt.domain == "sokoban"
    words = FORMAT.words()
    assert tuple(words[: len(SHARED_WORDS)]) == SHARED_WORDS
    assert len(words) == len(set(words)) < 150
    assert words == FORMAT.words()


# --- render → extract round trip ----------------------------------------------------------------


def pushes(steps: Steps) -> list[tuple[str, str]]:
    """(box, direction) of every push of a plan."""
    return [(args[4], args[3]) for name, args in steps if name == "push"]


def extracted_steps(task: GroundTask, completion: str) -> Steps:
    steps = []
    for line in FORMAT.extract(completion, task).plan_text.splitlines():
        parsed = parse_action_line(line)
        assert parsed is not None, line
        steps.append(parsed)
    return steps


@pytest.mark.parametrize("n_boxes", [1, 2, 3])
def test_plans_come_back_from_their_pushes(n_boxes: int) -> None:
    """The same pushes, each after a shortest walk: the reference plan (whose walks are shortest)
    comes back exactly as long, the generator's witness (random walks) no longer."""
    for seed in range(5):
        gen = generated(n_boxes, seed)
        task = gen.task
        reference = reference_plan(task)
        assert reference is not None and len(reference) <= len(gen.witness_plan)
        for steps in (witness_steps(gen), reference):
            back = extracted_steps(task, FORMAT.completion(task, steps))
            assert validate_plan(task, plan_lines(back)).is_valid
            assert pushes(back) == pushes(steps)
            assert len(back) <= len(steps)
        assert len(extracted_steps(task, FORMAT.completion(task, reference))) == len(reference)


def test_reference_plan_is_optimal_on_the_hand_task() -> None:
    task = hand_task()
    steps = reference_plan(task)
    assert steps is not None
    # two plans of five steps; ties go to the first of up, down, left, right, so the robot
    # steps down first (pushing right, then down) rather than right (pushing down, then right)
    assert [(name, args[-1] if name == "move" else args[3]) for name, args in steps] == [
        ("move", "down"), ("push", "right"), ("move", "up"), ("move", "right"), ("push", "down"),
    ]


@pytest.mark.parametrize("n_boxes", [1, 2, 3])
def test_corpus_examples_with_detours_are_valid(n_boxes: int) -> None:
    rng = np.random.default_rng(n_boxes)
    longer = 0
    for _ in range(8):
        gen, example = FORMAT.corpus_task_and_example(n_boxes, rng, detour_share=1.0)
        assert example.prompt.endswith(" plan")
        assert is_valid(gen.task, as_prompted(gen.task, example))
        reference = reference_plan(gen.task)
        assert reference is not None
        # one round trip of two pushes on top of the reference's, where the task has room for it
        n_pushes = example.completion.count(";") + 1
        assert n_pushes in (len(pushes(reference)), len(pushes(reference)) + 2)
        if n_pushes > len(pushes(reference)):
            longer += 1
            assert len(extracted_steps(gen.task, as_prompted(gen.task, example))) > len(reference)
    assert longer >= 4  # 1-box tasks on a 5 x 5 floor sometimes leave no room


@pytest.mark.parametrize(("n_boxes", "seed"), [(1, 0), (2, 4), (3, 1)])
def test_detour_is_a_push_and_its_way_back_before_a_push(n_boxes: int, seed: int) -> None:
    task = generated(n_boxes, seed).task
    steps = reference_plan(task)
    assert steps is not None
    before = pushes(steps)
    places = set()
    for draw in range(20):
        longer = with_detour(task, steps, np.random.default_rng(draw))
        assert validate_plan(task, plan_lines(longer)).is_valid
        assert len(longer) > len(steps) and longer[-1] == steps[-1]
        after = pushes(longer)
        opposite = {"up": "down", "down": "up", "left": "right", "right": "left"}
        pairs = [(i, *after[i]) for i in range(len(before)) if after[:i] + after[i + 2:] == before
                 and after[i + 1] == (after[i][0], opposite[after[i][1]])]
        assert pairs  # the plan's own pushes, with a push and its way back before one of them
        i, box, d = pairs[0]
        places.add((i, box, d))
    assert len(places) > 1  # the draw chooses among several


def test_detour_of_a_task_with_no_room_is_the_plan() -> None:
    corridor = hand_task(("#####", "#RBG#", "#####"), name="corridor-1")
    steps = reference_plan(corridor)
    assert steps is not None and pushes(steps) == [("box1", "right")]
    assert with_detour(corridor, steps, np.random.default_rng(0)) == steps


def test_no_detour_draw_when_the_share_is_zero() -> None:
    rng, replay = np.random.default_rng(7), np.random.default_rng(7)
    example = FORMAT.corpus_task_and_example(2, rng, detour_share=0.0)[1]
    again = generate_sized("sokoban", 2, replay)
    draw_names(again.task, replay)
    assert rng.bit_generator.state == replay.bit_generator.state
    same = FORMAT.corpus_task_and_example(2, np.random.default_rng(7), detour_share=1e-12)[1]
    assert same == example


def read_prompt(prompt: str) -> tuple[dict[str, Cell], list[Cell], dict[str, Cell], Cell]:
    """(goal per box name, free cells, cell per box name, robot) of a prompt, in its order."""
    words = prompt.split()
    assert words[0] == "goal" and words[-4] == "robot" and words[-1] == "plan"
    init = words.index("init")

    def cells(part: list[str]) -> list[Cell]:
        assert all(r[0] == "r" and c[0] == "c" for r, c in zip(part[::2], part[1::2], strict=True))
        return [(int(r[1:]), int(c[1:])) for r, c in zip(part[::2], part[1::2], strict=True)]

    def boxes(part: list[str]) -> dict[str, Cell]:
        names = part[::3]
        assert names == sorted(names, key=lambda b: int(b[1:]))  # listed by pool name
        return dict(zip(names, cells([w for i, w in enumerate(part) if i % 3]), strict=True))

    goals = boxes(words[1:init])
    state = words[init + 1:-4]
    n_free = len(state) - 3 * len(goals)
    return goals, cells(state[:n_free]), boxes(state[n_free:]), cells(words[-3:-1])[0]


def test_corpus_prompt_is_rendered_as_prompt_up_to_names() -> None:
    rng = np.random.default_rng(3)
    for n_boxes in (1, 2, 3):
        gen, example = FORMAT.corpus_task_and_example(n_boxes, rng)
        goals, free, boxes, robot = read_prompt(example.prompt)
        their_goals, their_free, their_boxes, their_robot = read_prompt(FORMAT.prompt(gen.task))
        shift = (their_robot[0] - robot[0], their_robot[1] - robot[1])

        def moved(cell: Cell, shift: Cell = shift) -> Cell:
            return cell[0] + shift[0], cell[1] + shift[1]

        assert [moved(c) for c in free] == their_free
        where = {cell: name for name, cell in their_boxes.items()}
        rename = {name: where[moved(cell)] for name, cell in boxes.items()}
        assert len(set(rename.values())) == len(boxes) == n_boxes
        assert {rename[b]: moved(c) for b, c in goals.items()} == their_goals


# --- names ---------------------------------------------------------------------------------------


def test_prompt_is_stable_and_survives_a_pddl_round_trip(tmp_path: Path) -> None:
    gen = generated(3, 1)
    path = tmp_path / "p.pddl"
    path.write_text(gen.problem_pddl)
    reread = load_task(domain_path("sokoban"), path)
    assert FORMAT.prompt(gen.task) == FORMAT.prompt(gen.task) == FORMAT.prompt(reread)
    assert draw_names(gen.task) == draw_names(reread)


def test_names_are_injective_and_hide_the_task_names() -> None:
    for seed in range(10):
        task = generated(3, seed).task
        names = draw_names(task)
        assert len(set(names.boxes.values())) == len(names.boxes) == 3
        prompt = FORMAT.prompt(task).split()
        assert not set(task.objects) & set(prompt)
        assert prompt.count("robot") == 1 and prompt[0] == "goal" and prompt[-1] == "plan"


def test_every_word_is_in_the_vocabulary() -> None:
    vocab = set(FORMAT.words())
    rng = np.random.default_rng(0)
    for n_boxes in (1, 2, 3, 4):
        for _ in range(10):
            gen, example = FORMAT.corpus_task_and_example(n_boxes, rng, detour_share=0.5)
            assert set(example.prompt.split()) <= vocab
            assert set(example.completion.split()) <= vocab
            assert set(FORMAT.prompt(gen.task).split()) <= vocab


def test_small_tasks_use_every_row_and_column_word() -> None:
    seen: set[str] = set()
    for seed in range(200):
        seen |= set(FORMAT.prompt(generated(1, seed).task).split())
    assert {f"r{i + 1}" for i in range(COORD_POOL)} <= seen
    assert {f"c{i + 1}" for i in range(COORD_POOL)} <= seen
    assert {f"b{i + 1}" for i in range(BOX_POOL)} <= seen


def test_prompt_shows_the_map() -> None:
    task = hand_task()
    words = FORMAT.prompt(task).split()

    def cell(row: str, col: str) -> tuple[int, int]:
        return int(row[1:]), int(col[1:])

    # goal NAME r c init (r c)* NAME r c robot r c plan
    assert words[0] == "goal" and words[4] == "init" and words[-4] == "robot" and words[-1] == "plan"
    assert words[1] == words[-7]  # the same box name in the goal and in the state
    free_words = words[5:-7]
    free = {cell(free_words[i], free_words[i + 1]) for i in range(0, len(free_words), 2)}
    goal, box, robot = cell(words[2], words[3]), cell(words[-6], words[-5]), cell(words[-3], words[-2])
    offset = (robot[0] - 2, robot[1] - 2)  # R is at loc_2_2

    def shifted(r: int, c: int) -> tuple[int, int]:
        return r + offset[0], c + offset[1]

    assert box == shifted(3, 3) and goal == shifted(4, 4)
    expected = {shifted(r + 1, c + 1) for r, row in enumerate(HAND_MAP) for c, ch in enumerate(row)
                if ch != "#"}
    assert free == expected and len(free_words) == 2 * len(expected)


# --- plan extraction -----------------------------------------------------------------------------


def hand_box() -> str:
    """The hand task's box as its prompt names it."""
    return draw_names(hand_task()).boxes["box1"]


def test_handwritten_completion_gives_the_pddl_lines() -> None:
    task = hand_task()
    b = hand_box()
    # down, then right: the robot walks round the box (up first on a tie) to push it down
    completion = f"push {b} down > {b} r9 c9 ; push {b} right"
    extracted = FORMAT.extract(completion, task)
    assert extracted.plan_text == "\n".join([
        "move loc_2_2 loc_2_3 right",
        "push loc_2_3 loc_3_3 loc_4_3 down box1",
        "move loc_3_3 loc_3_2 left",
        "move loc_3_2 loc_4_2 down",
        "push loc_4_2 loc_4_3 loc_4_4 right box1",
    ])
    assert extracted.n_reasoning_tokens == 3  # the scratchpad is read, never trusted
    assert validate_plan(task, extracted.plan_text).is_valid


def test_completion_of_the_hand_plan_reads_back() -> None:
    task = hand_task()
    b = hand_box()
    steps = reference_plan(task)
    assert steps is not None
    text = FORMAT.completion(task, steps)
    assert [s.split(">")[0].strip() for s in text.split(";")] == [f"push {b} right", f"push {b} down"]
    goal, box = read_prompt(FORMAT.prompt(task))[0][b], read_prompt(FORMAT.prompt(task))[2][b]
    assert text.split(";")[0].split(">")[1].split() == [b, f"r{box[0]}", f"c{box[1] + 1}"]
    assert text.split(";")[1].split(">")[1].split() == [b, f"r{goal[0]}", f"c{goal[1]}"]
    assert FORMAT.extract(text, task).plan_text == plan_lines(steps)


# --- broken completions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "status", "step"),
    [
        # up, then up into the wall: three moves to get below the box, the push, the failed push
        ("push B up > B r1 c1 ; push B up", "invalid_step", 4),
        # right to the last free cell, then left: the robot cannot get behind it (a wall)
        ("push B right ; push B right ; push B right ; push B left", "invalid_step", 4),
        ("push b99 right", "wrong_arity", 0),  # not a box of the task: the words pass through
        ("push B north", "wrong_arity", 0),
        ("move up > r1 c1", "wrong_arity", 0),  # moves are the extractor's to write
        ("jump up", "unknown_action", 0),
        ("push B right", "goal_not_reached", None),
        ("> r1 c1 ; ; >", "empty", None),
    ],
)
def test_broken_completion_gets_the_right_verdict(completion: str, status: str, step: int | None) -> None:
    task = hand_task()
    completion = completion.replace("B", hand_box())
    verdict = validate_plan(task, FORMAT.extract(completion, task).plan_text)
    assert verdict.status == status
    assert verdict.failed_step == step


def test_a_push_the_robot_cannot_make_is_written_from_where_it_stands() -> None:
    task = hand_task()
    b = hand_box()
    lines = FORMAT.extract(f"push {b} right ; push {b} right ; push {b} right ; push {b} left",
                           task).plan_text.splitlines()
    assert lines[-1] == "push loc_3_5 loc_3_4 loc_3_3 left box1"  # no box in front of the robot
    verdict = validate_plan(task, "\n".join(lines))
    assert "(at box1 loc_3_4)" in verdict.unmet_preconditions


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400) | st.binary(max_size=400).map(lambda b: b.decode("utf-8", "replace")))
def test_garbage_never_crashes_and_never_passes(text: str) -> None:
    task = generated(2, 5).task
    extracted = FORMAT.extract(text, task)
    assert extracted.n_reasoning_tokens >= 0
    assert not validate_plan(task, extracted.plan_text).is_valid


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([*FORMAT.words(), "zz", "(", "loc_2_2", "\n"]), max_size=60))
def test_vocabulary_sentences_never_crash(words: list[str]) -> None:
    task = hand_task()
    verdict = validate_plan(task, FORMAT.extract(" ".join(words), task).plan_text)
    assert verdict.status in {
        "valid", "invalid_step", "goal_not_reached", "unknown_action", "wrong_arity",
        "unknown_object", "unparseable", "empty",
    }


def test_ten_thousand_words_of_nonsense() -> None:
    task = generated(1, 2).task
    vocab = [*FORMAT.words(), "zz", "(", "loc_2_2", "<unk>"]
    words = np.random.default_rng(0).choice(vocab, 10_000)
    extracted = FORMAT.extract(" ".join(words), task)
    assert not validate_plan(task, extracted.plan_text).is_valid


@pytest.mark.parametrize(("n_boxes", "seed"), [(1, 0), (1, 1), (2, 2)])
def test_truncated_completions(n_boxes: int, seed: int) -> None:
    task = generated(n_boxes, seed).task
    steps = reference_plan(task)
    assert steps is not None
    text = FORMAT.completion(task, steps)
    full = FORMAT.extract(text, task).plan_text
    for cut in range(len(text) + 1):
        extracted = FORMAT.extract(text[:cut], task)
        # only a prefix that still holds every action is a plan; cut words never resolve
        assert validate_plan(task, extracted.plan_text).is_valid == (extracted.plan_text == full)


def test_task_the_format_cannot_read_still_gets_a_verdict() -> None:
    task = hand_task()
    renamed = dataclasses.replace(task, init=task.init - {("at-robot", "loc_2_2")})
    extracted = FORMAT.extract("move right ; push down", renamed)
    assert extracted.plan_text == "move right\npush down"
    assert not validate_plan(renamed, extracted.plan_text).is_valid


# --- limits --------------------------------------------------------------------------------------


def test_too_wide_a_task_is_refused_by_name() -> None:
    task = hand_task(name="wide-1")
    wide = dataclasses.replace(
        task, objects=(*task.objects, "loc_2_30"), init=task.init | {("clear", "loc_2_30")}
    )
    calls: list[Callable[[GroundTask], object]] = [
        FORMAT.prompt, lambda t: FORMAT.completion(t, []), draw_names, reference_plan,
    ]
    for call in calls:
        with pytest.raises(ValueError, match="wide-1"):
            call(wide)


def test_too_many_boxes_are_refused_by_name() -> None:
    rows = ("#" * 12, "#R" + "B" * 9 + "#", "#." + "G" * 9 + "#", "#" * 12)
    task = hand_task(rows, name="crowded-9")
    with pytest.raises(ValueError, match="crowded-9"):
        FORMAT.prompt(task)


def test_the_scratchpad_restates_every_box_after_each_push() -> None:
    task = generated(2, 4).task
    steps = reference_plan(task)
    assert steps is not None
    goals, _, boxes, _ = read_prompt(FORMAT.prompt(task))
    for chunk in FORMAT.completion(task, steps).split(";"):
        action, pad = chunk.split(">")
        _, name, d = action.split()
        words = pad.split()
        listed = dict(zip(words[::3], ((int(r[1:]), int(c[1:])) for r, c in
                                       zip(words[1::3], words[2::3], strict=True)), strict=True))
        assert list(listed) == list(boxes)  # every box, in the prompt's order
        dr, dc = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}[d]
        assert listed[name] == (boxes[name][0] + dr, boxes[name][1] + dc)
        assert {b: c for b, c in listed.items() if b != name} == {
            b: c for b, c in boxes.items() if b != name}
        boxes = listed
    assert boxes == goals
