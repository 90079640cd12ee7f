"""Rovers in the compact format: a task as the facts that matter under per-task names, a plan as
short actions with a scratchpad that carries the goal being served.

A 4-waypoint task and its witness plan (``generate_sized("rovers", 4, default_rng(22))``)::

    init uplink w4 r5 w4 soil rock imaging , w2 w4 , w4 w2 w6 w13 , w6 w4 , w13 w4
    c4 on r5 target j2 colour j2 from w4 w6 goal soil w2 rock w4 image j2 colour plan

    > next soil w2 ; navigate r5 w2 ; sample_soil r5 > w2 next soil w2 ; navigate r5 w4 ;
    communicate_soil_data r5 w2 > r5 w4 full left rock w4 image j2 colour next rock w4 ;
    drop r5 > w4 next rock w4 ; sample_rock r5 > w4 next rock w4 ;
    communicate_rock_data r5 w4 > r5 w4 full left image j2 colour next image j2 colour ;
    calibrate r5 c4 > w4 next image j2 colour ; take_image r5 j2 c4 colour > w4 next image j2 colour ;
    communicate_image_data r5 j2 colour > done

Prompt. ``uplink`` lists the waypoints that see the lander's waypoint (``visible``), the only
places data can be sent from: that is all a plan needs of the lander, and of ``visible`` besides
moving, so neither is written otherwise. Each rover reads ``rK wP [full] [soil] [rock]
[imaging]``: its position, its store if full (data held or cameras calibrated at the start would
follow, as in the scratchpad), the equipment the goals need, then its moves as adjacency lists,
``, wA wB wC`` (from wA it can go to wB and wC: ``can_traverse`` and ``visible`` both hold), so
"where can r1 go from w3" is a lookup by name; each rover has its own graph, so its own lists.
Cameras read ``cK on rX target jY`` and the goal modes they support, objectives ``jK from`` the
waypoints they are visible from. ``goal`` lists the soil, rock and image data to send, grouped by
kind. Left out because no plan needs them: sample sites (every goal's site has its sample; other
samples are never worth taking), stores (a rover has one), the lander (there is one), equipment,
cameras, modes and objectives no goal can use, and rovers that can serve no goal. Facts are
ordered by pool name, so the order says nothing about the task's own names.

Names come from fixed pools per type (``w1..w15``, ``r1..r5``, ``c1..c6``, ``j1..j8``: every
size the generator allows), drawn at random per task (seeded by its content, or by the corpus
rng), so every name's embedding is trained on small tasks. Modes keep their fixed names.

Completion. Actions carry only the arguments a plan chooses; the extractor restores the rest
from the task and the positions the plan itself has reached: ``navigate r w`` (where the rover
goes: the extractor writes a shortest route there over the rover's own moves, one ``navigate`` a
move, neighbours tried in name order), ``sample_soil r`` (its store, its position), ``drop r``,
``calibrate r c`` (the camera's target), ``take_image r j c m``, ``communicate_soil_data r w``
and ``communicate_image_data r j m`` (the lander, its waypoint and the rover's position).

Scratchpad. The next action needs the rover's position, the goal being served and, when a goal
is chosen, what is left and where every rover stands. So:

- before the first action: ``> next <goal>``, the goal the plan serves first;
- after each ``communicate_*``: ``> <rovers> left <goals> next <goal>``: every rover's position,
  store (``full``), data it holds but has not sent (``has``) and calibrated cameras, then the
  goals still to send (as the prompt writes them: copying with one deletion) and the goal served
  next; ``> done`` once no goal is left;
- after sampling, dropping, calibrating and imaging: ``> wP next <goal>``, the acting rover's
  position and the goal it serves (bounded: four or five words);
- after ``navigate`` nothing: the action itself says where the rover is now, and moves make up
  about 40% of a plan.

Why a route is written as its destination (version 2 of this format, since 6 December 2026;
version 1 wrote every move): the next move of a shortest route is a search over the rover's
graph, which a 4-layer model cannot run in one forward pass, while where to go next (the goal's
site, then a waypoint the lander is visible from) is a lookup. Rendering a plan splits each run of
one rover's moves into the fewest pieces that are each a shortest route from where the piece
starts (every run of the generator's witness plans is one piece, 1,007 of 1,007 measured; a
wasted move there and back is two), so a plan comes back from its completion just as long.

"The goal served" is the data the plan sends next (read off the plan when it is rendered), so
choosing a goal is written down once and copied until it is sent; the step between reads the
last scratchpad and the prompt, never the whole history. The goal list after a send grows with
the goals left, so it is written only when a goal is done.

Why one module of about 630 lines: the first 70 are this specification, and the rest is its one
concern, the format both ways (render, extract, routes, corpus); split, the renderer and the
extractor would lose sight of the specification they must both keep.
"""

from __future__ import annotations

import functools
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from iterdeploy.simulator.models._format import ExtractedPlan, NameMap
from iterdeploy.simulator.models.compact import SHARED_WORDS, PlanSteps
from iterdeploy.simulator.models.protocol import Example
from iterdeploy.simulator.planning import TYPE_PREFIX, Atom, GeneratedTask, GroundTask, parse_action_line
from iterdeploy.simulator.planning.generators import generate_sized

WAYPOINTS = tuple(f"w{i}" for i in range(1, 16))
ROVERS = tuple(f"r{i}" for i in range(1, 6))
CAMERAS = tuple(f"c{i}" for i in range(1, 7))
OBJECTIVES = tuple(f"j{i}" for i in range(1, 9))
MODES = ("colour", "high_res", "low_res")
POOLS: dict[str, tuple[str, ...]] = {
    "waypoint": WAYPOINTS, "rover": ROVERS, "camera": CAMERAS, "objective": OBJECTIVES,
}
"""Pool names per object type (drawn in this order); each covers the generator's whole range."""

ACTIONS = (
    "navigate", "sample_soil", "sample_rock", "drop", "calibrate", "take_image",
    "communicate_soil_data", "communicate_rock_data", "communicate_image_data",
)
KEYWORDS = (
    "uplink", ",", "on", "target", "from", "soil", "rock", "imaging", "image", "full", "has",
    "left", "next", "done",
)
_EQUIPMENT = {
    "equipped_for_soil_analysis": "soil", "equipped_for_rock_analysis": "rock",
    "equipped_for_imaging": "imaging",
}
_SENT = {"soil": "communicated_soil_data", "rock": "communicated_rock_data",
         "image": "communicated_image_data"}
_HELD = {"have_soil_analysis": "soil", "have_rock_analysis": "rock", "have_image": "image"}
_WORDS = [*SHARED_WORDS, *KEYWORDS, *ACTIONS, *MODES, *WAYPOINTS, *ROVERS, *CAMERAS, *OBJECTIVES]
_RANK = {w: i for i, w in enumerate(_WORDS)}

Item = tuple[str, ...]
"""Data to send, as the format writes it: ``("soil", w)``, ``("rock", w)``, ``("image", o, m)``."""


@dataclass
class _Facts:
    """What the format reads of a Rovers task, in the task's own names."""

    name: str
    by_type: dict[str, list[str]] = field(default_factory=dict)
    position: dict[str, str] = field(default_factory=dict)
    store: dict[str, str] = field(default_factory=dict)
    full: set[str] = field(default_factory=set)
    equipped: dict[str, set[str]] = field(default_factory=dict)
    moves: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    on_board: dict[str, list[str]] = field(default_factory=dict)
    supports: dict[str, set[str]] = field(default_factory=dict)
    targets: dict[str, list[str]] = field(default_factory=dict)
    seen_from: dict[str, set[str]] = field(default_factory=dict)
    lander: str | None = None
    lander_at: str | None = None
    uplinks: list[str] = field(default_factory=list)
    held: set[Atom] = field(default_factory=set)
    calibrated: set[tuple[str, str]] = field(default_factory=set)
    sent: set[Atom] = field(default_factory=set)
    goals: list[Atom] = field(default_factory=list)


def _facts(task: GroundTask) -> _Facts:
    f = _Facts(task.name)
    typed = task.object_types or tuple(
        (a[1], a[0][len(TYPE_PREFIX):]) for a in task.init if a[0].startswith(TYPE_PREFIX) and len(a) == 2
    )
    for obj, typ in sorted(typed):
        f.by_type.setdefault(typ, []).append(obj)
    visible: set[tuple[str, str]] = set()
    traverse: list[Atom] = []
    for atom in task.init:
        pred = atom[0]
        if pred == "at" and len(atom) == 3:
            f.position[atom[1]] = atom[2]
        elif pred == "can_traverse" and len(atom) == 4:
            traverse.append(atom)
        elif pred == "visible" and len(atom) == 3:
            visible.add((atom[1], atom[2]))
        elif pred == "store_of" and len(atom) == 3:
            if atom[2] not in f.store or atom[1] < f.store[atom[2]]:
                f.store[atom[2]] = atom[1]
        elif pred == "full" and len(atom) == 2:
            f.full.add(atom[1])
        elif pred in _EQUIPMENT and len(atom) == 2:
            f.equipped.setdefault(_EQUIPMENT[pred], set()).add(atom[1])
        elif pred == "on_board" and len(atom) == 3:
            f.on_board.setdefault(atom[1], []).append(atom[2])
        elif pred == "supports" and len(atom) == 3:
            f.supports.setdefault(atom[1], set()).add(atom[2])
        elif pred == "calibration_target" and len(atom) == 3:
            f.targets.setdefault(atom[1], []).append(atom[2])
        elif pred == "visible_from" and len(atom) == 3:
            f.seen_from.setdefault(atom[1], set()).add(atom[2])
        elif pred == "at_lander" and len(atom) == 3:
            if f.lander is None or atom[1] < f.lander:
                f.lander, f.lander_at = atom[1], atom[2]
        elif pred in _HELD:
            f.held.add(atom)
        elif pred == "calibrated" and len(atom) == 3:
            f.calibrated.add((atom[1], atom[2]))
        elif pred in _SENT.values():
            f.sent.add(atom)
    for _, rover, a, b in traverse:
        if (a, b) in visible:
            f.moves.setdefault(rover, {}).setdefault(a, []).append(b)
    f.uplinks = sorted(a for a, b in visible if b == f.lander_at)
    for lists in (f.on_board, f.targets, *f.moves.values()):
        for values in lists.values():
            values.sort()  # set order varies between processes; draws from these lists must not
    f.goals = sorted(g for g in task.goal if g[0] in _SENT.values() and g not in f.sent)
    return f


def _names(f: _Facts, rng: np.random.Generator) -> NameMap:
    """Random pool names per type; modes keep theirs (or take the fixed ones in order)."""
    counts = {typ: len(f.by_type.get(typ, [])) for typ in (*POOLS, "mode", "lander")}
    limits = {**{typ: len(pool) for typ, pool in POOLS.items()}, "mode": len(MODES), "lander": 1}
    for typ, n in counts.items():
        if n > limits[typ]:
            raise ValueError(
                f"task {f.name} has {n} {typ}s; the compact rovers format names at most "
                f"{limits[typ]}"
            )
    forward: dict[str, str] = {}
    for typ, pool in POOLS.items():
        objects = f.by_type.get(typ, [])
        chosen = rng.choice(len(pool), size=len(objects), replace=False)
        forward.update({obj: pool[int(i)] for obj, i in zip(objects, chosen, strict=True)})
    modes = f.by_type.get("mode", [])
    if set(modes) <= set(MODES):
        forward.update({m: m for m in modes})
    else:
        forward.update(dict(zip(modes, MODES, strict=False)))
    return NameMap(forward)


def name_map(task: GroundTask, rng: np.random.Generator | None = None) -> NameMap:
    """A random injective map of the task's rovers, waypoints, cameras and objectives into their
    pools (modes keep fixed names; stores and the lander get none). Without ``rng`` it is seeded
    by the task's content, so the same task always gets the same names.

    Raises:
        ValueError: when the task has more objects of a type than that type's pool (naming it).
    """
    if rng is None:
        return _prepared(task)[1]
    return _names(_facts(task), rng)


@functools.lru_cache(maxsize=64)
def _prepared(task: GroundTask) -> tuple[_Facts, NameMap]:
    f = _facts(task)
    key = repr((task.domain, sorted(task.init), sorted(task.goal))).encode()
    return f, _names(f, np.random.default_rng(zlib.crc32(key)))


def _order(words: Iterable[str]) -> list[str]:
    return sorted(words, key=lambda w: (_RANK.get(w, len(_RANK)), w))


def _by_pool(objects: Iterable[str], n: dict[str, str]) -> list[str]:
    """``objects`` (task names) in the order of their pool names."""

    def key(obj: str) -> tuple[int, str]:
        name = n.get(obj, obj)
        return _RANK.get(name, len(_RANK)), name

    return sorted(objects, key=key)


def _item_rank(item: Item) -> tuple[int, ...]:
    return (("soil", "rock", "image").index(item[0]), *(_RANK.get(w, len(_RANK)) for w in item[1:]))


def _item_of_sent(atom: Atom) -> Item:
    kind = next(k for k, pred in _SENT.items() if pred == atom[0])
    return (kind, *atom[1:])


def _render_items(items: Iterable[Item]) -> list[str]:
    """Goals grouped by kind as the prompt writes them: ``soil w3 w5 rock w1 image j1 colour``."""
    out: list[str] = []
    by_kind: dict[str, list[Item]] = {}
    for item in items:
        by_kind.setdefault(item[0], []).append(item)
    for kind in ("soil", "rock"):
        if by_kind.get(kind):
            out += [kind, *_order(i[1] for i in by_kind[kind] if len(i) == 2)]
    images: dict[str, list[str]] = {}
    for item in by_kind.get("image", []):
        if len(item) == 3:
            images.setdefault(item[1], []).append(item[2])
    if images:
        out.append("image")
        for obj in _order(images):
            out += [obj, *_order(images[obj])]
    return out


def _relevant(f: _Facts) -> tuple[set[str], dict[str, list[str]], set[str], set[str]]:
    """(goal modes, equipment words per rover that serve a goal, cameras, objectives) that matter."""
    goals = set(f.goals)
    kinds = {g[0] for g in goals}
    modes = {g[2] for g in f.goals if g[0] == _SENT["image"]}
    imaging = f.equipped.get("imaging", set())
    cameras = {
        c for c, rovers in f.on_board.items()
        if f.supports.get(c, set()) & modes and any(r in imaging for r in rovers)
    }
    with_camera = {r for c in cameras for r in f.on_board[c]}
    equipment: dict[str, list[str]] = {}
    for rover in f.by_type.get("rover", []):
        words = [k for k in ("soil", "rock") if _SENT[k] in kinds and rover in f.equipped.get(k, set())]
        if modes and rover in imaging and rover in with_camera:
            words.append("imaging")
        holds = any((_SENT[_HELD[h[0]]], *h[2:]) in goals for h in f.held if len(h) > 1 and h[1] == rover)
        if words or holds:
            equipment[rover] = words
    objectives = {g[1] for g in f.goals if g[0] == _SENT["image"]}
    objectives |= {t for c in cameras for t in f.targets.get(c, [])}
    return modes, equipment, cameras, objectives


def _rover_state(
    rover: str, pos: dict[str, str], full: set[str], held: set[Atom], sent: set[Atom],
    calibrated: set[tuple[str, str]], f: _Facts, n: dict[str, str],
) -> list[str]:
    """``rK wP [full] [has <items>] [cameras calibrated]`` in pool names."""
    out = [n.get(rover, rover)]
    if rover in pos:
        out.append(n.get(pos[rover], pos[rover]))
    if f.store.get(rover) in full:
        out.append("full")
    items = []
    for h in held:
        if len(h) > 1 and h[1] == rover:
            kind = _HELD[h[0]]
            if (_SENT[kind], *h[2:]) not in sent:
                items.append((kind, *(n.get(a, a) for a in h[2:])))
    if items:
        out.append("has")
        for item in sorted(items, key=_item_rank):
            out += item
    out += _order(n.get(c, c) for c, r in calibrated if r == rover)
    return out


def render_prompt(task: GroundTask, names: NameMap) -> str:
    """The prompt for ``task`` under ``names`` (:func:`name_map`)."""
    return _render_prompt(_facts(task), names.forward)


def render_completion(task: GroundTask, plan: PlanSteps, names: NameMap) -> str:
    """``plan`` (task names) as the model writes it under ``names``, scratchpad included."""
    return _render_plan(_facts(task), names.forward, plan)


def _render_prompt(f: _Facts, n: dict[str, str]) -> str:
    modes, equipment, cameras, objectives = _relevant(f)
    out = ["init", "uplink", *_order(n.get(w, w) for w in f.uplinks)]
    for rover in _by_pool(equipment, n):
        out += _rover_state(rover, f.position, f.full, f.held, f.sent, f.calibrated, f, n)
        out += equipment[rover]
        moves = f.moves.get(rover, {})
        for a in _by_pool(moves, n):
            out += [",", n.get(a, a), *_order(n.get(b, b) for b in moves[a])]
    for cam in _by_pool(cameras, n):
        out += [n.get(cam, cam), "on", *_order(n.get(r, r) for r in f.on_board[cam])]
        out += ["target", *_order(n.get(t, t) for t in f.targets.get(cam, []))]
        out += _order(n.get(m, m) for m in f.supports[cam] & modes)
    for obj in _by_pool(objectives, n):
        out += [n.get(obj, obj), "from", *_order(n.get(w, w) for w in f.seen_from.get(obj, ()))]
    goals = [tuple(n.get(a, a) for a in _item_of_sent(g)) for g in f.goals]
    out += ["goal", *_render_items(goals), "plan"]
    return " ".join(out)


def _render_plan(f: _Facts, n: dict[str, str], plan: PlanSteps) -> str:
    shown = set(_relevant(f)[1])
    pos = dict(f.position)
    full = set(f.full)
    held = set(f.held)
    sent = set(f.sent)
    calibrated = set(f.calibrated)
    goals = [(g, tuple(n.get(a, a) for a in _item_of_sent(g))) for g in f.goals]

    def pool(item: Item) -> list[str]:
        return [n.get(a, a) for a in item]

    # the data each step's plan sends next (None after the last send)
    upcoming: list[Item | None] = [None] * (len(plan) + 1)
    for i in range(len(plan) - 1, -1, -1):
        name, args = plan[i]
        kind = name.removeprefix("communicate_").removesuffix("_data")
        if name.startswith("communicate_") and kind in _SENT:
            k = 2 if kind == "image" else 1
            upcoming[i] = (kind, *args[2:2 + k])
        else:
            upcoming[i] = upcoming[i + 1]

    def following(i: int) -> list[str]:
        nxt = upcoming[i]
        return ["next", *pool(nxt)] if nxt is not None else []

    chunks: list[str] = []
    if upcoming[0] is not None:
        chunks.append(" ".join([">", *following(0)]))
    rovers = set(f.by_type.get("rover", []))
    route: tuple[str, str, int] | None = None  # the navigate chunk still open: rover, from, hops
    for i, (name, args) in enumerate(plan):
        words = [name]
        rover = args[0] if args else ""
        shown.add(rover)
        done = True  # a step the format knows: its scratchpad follows
        if name == "navigate" and len(args) == 3:
            if route is not None and route[0] == rover and (
                    _distances(f, rover, route[1]).get(args[2]) == route[2] + 1):
                # one more hop of a shortest route: the open chunk's destination moves on
                route = (rover, route[1], route[2] + 1)
                chunks[-1] = f"navigate {n.get(rover, rover)} {n.get(args[2], args[2])}"
                pos[rover] = args[2]
                continue
            route = (rover, pos.get(rover, args[1]), 1)
            words += [rover, args[2]]
            pos[rover] = args[2]
        elif name in ("sample_soil", "sample_rock") and len(args) == 3:
            words.append(rover)
            full.add(args[1])
            held.add((f"have_{name[7:]}_analysis", rover, args[2]))
        elif name == "drop" and len(args) == 2:
            words.append(rover)
            full.discard(args[1])
        elif name == "calibrate" and len(args) == 4:
            words += [rover, args[1]]
            calibrated.add((args[1], rover))
        elif name == "take_image" and len(args) == 5:
            words += [rover, args[2], args[3], args[4]]
            held.add(("have_image", rover, args[2], args[4]))
            calibrated.discard((args[3], rover))
        elif name in ("communicate_soil_data", "communicate_rock_data") and len(args) == 5:
            words += [rover, args[2]]
            sent.add((_SENT[name.split("_")[1]], args[2]))
        elif name == "communicate_image_data" and len(args) == 6:
            words += [rover, args[2], args[3]]
            sent.add((_SENT["image"], args[2], args[3]))
        else:
            words += args
            done = False
        if name != "navigate" or len(args) != 3:
            route = None
        step = " ".join(n.get(w, w) for w in words)
        if done and name.startswith("communicate_"):
            left = [item for g, item in goals if g not in sent]
            pad = ["done"] if not left else []
            if left:
                for r in _by_pool(shown & rovers, n):
                    pad += _rover_state(r, pos, full, held, sent, calibrated, f, n)
                pad += ["left", *_render_items(left), *following(i + 1)]
            step += " > " + " ".join(pad)
        elif done and name != "navigate":
            here = [n.get(pos[rover], pos[rover])] if rover in pos else []
            pad = [*here, *following(i + 1)]
            if pad:
                step += " > " + " ".join(pad)
        chunks.append(step)
    return " ; ".join(chunks)


def _restore(f: _Facts, pos: dict[str, str], name: str, args: list[str]) -> str | None:
    """The full action line for the arguments the model wrote, or None when it cannot be
    restored (wrong count, unknown rover): then the words pass through as written."""
    if not args:
        return None
    rover = args[0]
    here = pos.get(rover)
    if name == "navigate":
        if len(args) == 3:
            pos[rover] = args[2]
            return None
        if len(args) != 2 or here is None:
            return None
        pos[rover] = args[1]
        hops = _route(f, rover, here, args[1])
        if not hops:  # no way there (or already there): one move, which the validator rejects
            return f"navigate {rover} {here} {args[1]}"
        return "\n".join(f"navigate {rover} {a} {b}" for a, b in zip([here, *hops], hops, strict=False))
    if here is None:
        return None
    if name in ("sample_soil", "sample_rock") and len(args) == 1 and rover in f.store:
        return f"{name} {rover} {f.store[rover]} {here}"
    if name == "drop" and len(args) == 1 and rover in f.store:
        return f"drop {rover} {f.store[rover]}"
    if name == "calibrate" and len(args) == 2:
        targets = f.targets.get(args[1], [])
        if not targets:
            return None
        seen = [t for t in targets if here in f.seen_from.get(t, ())]
        return f"calibrate {rover} {args[1]} {(seen or targets)[0]} {here}"
    if name == "take_image" and len(args) == 4:
        return f"take_image {rover} {here} {args[1]} {args[2]} {args[3]}"
    if f.lander is None:
        return None
    if name in ("communicate_soil_data", "communicate_rock_data") and len(args) == 2:
        return f"{name} {rover} {f.lander} {args[1]} {here} {f.lander_at}"
    if name == "communicate_image_data" and len(args) == 3:
        return f"{name} {rover} {f.lander} {args[1]} {args[2]} {here} {f.lander_at}"
    return None


def _distances(f: _Facts, rover: str, start: str) -> dict[str, int]:
    """Moves ``rover`` needs from ``start`` to every waypoint it can reach (breadth first)."""
    return _search(f, rover, start)[0]


def _route(f: _Facts, rover: str, start: str, goal: str) -> list[str]:
    """The waypoints after ``start`` of a shortest route of ``rover`` to ``goal``, neighbours
    tried in name order; empty when there is none or ``goal`` is ``start``."""
    came = _search(f, rover, start)[1]
    if goal not in came:
        return []
    hops = []
    while goal != start:
        hops.append(goal)
        goal = came[goal]
    return hops[::-1]


def _search(f: _Facts, rover: str, start: str) -> tuple[dict[str, int], dict[str, str]]:
    moves = f.moves.get(rover, {})
    dist, came = {start: 0}, {}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there in moves.get(here, []):
            if there not in dist:
                dist[there], came[there] = dist[here] + 1, here
                queue.append(there)
    return dist, came


def _with_detour(f: _Facts, plan: list[tuple[str, tuple[str, ...]]], rng: np.random.Generator
                 ) -> list[tuple[str, tuple[str, ...]]]:
    """``plan`` with a move to a neighbour and straight back inserted at a random point, by the
    rover acting there (unchanged when that rover has no way back)."""
    if not plan:
        return plan
    i = int(rng.integers(len(plan) + 1))
    acting = plan[min(i, len(plan) - 1)][1]
    if not acting:
        return plan
    rover = acting[0]
    pos = dict(f.position)
    for name, args in plan[:i]:
        if name == "navigate" and len(args) == 3:
            pos[args[0]] = args[2]
    here = pos.get(rover)
    moves = f.moves.get(rover, {})
    if here is None:
        return plan
    back = [b for b in moves.get(here, []) if here in moves.get(b, [])]
    if not back:
        return plan
    there = back[int(rng.integers(len(back)))]
    detour = [("navigate", (rover, here, there)), ("navigate", (rover, there, here))]
    return [*plan[:i], *detour, *plan[i:]]


def corpus_task_and_example(
    size: int, rng: np.random.Generator, detour_share: float = 0.0,
    params: Mapping[str, int] | None = None,
) -> tuple[GroundTask, Example]:
    """A random task of ``size`` waypoints (and ``params``: other generator parameters, such as
    ``n_rovers``) and its pretraining pair: the witness plan (with probability ``detour_share`` a
    wasted move there and back) under names drawn from ``rng``."""
    generated = generate_sized("rovers", size, rng, params=params)
    task = generated.task
    f = _facts(task)
    names = _names(f, rng).forward
    plan = plan_steps(generated.witness_plan)
    # no draw when the share is 0, so corpora without detours stay as they were
    if detour_share > 0 and rng.random() < detour_share:
        plan = _with_detour(f, plan, rng)
    return task, Example(_render_prompt(f, names), _render_plan(f, names, plan))


def extract_completion(completion: str, task: GroundTask, names: NameMap) -> ExtractedPlan:
    """The plan in ``completion`` written under ``names``: task names, one action a line, the
    arguments the format leaves out restored. Never raises: words it cannot map pass through, and
    an action it cannot complete is passed on as written, so the validator names what is wrong."""
    text = completion if isinstance(completion, str) else _as_text(completion)
    try:
        f = _prepared(task)[0]
    except ValueError:  # more objects than the pools hold: no names, but the facts still help
        f = _facts(task)
    back = names.backward
    pos = dict(f.position)
    lines: list[str] = []
    n_reasoning = 0
    for chunk in text.split(";"):
        action, _, state = chunk.partition(">")
        n_reasoning += len(state.split())
        words = action.split()
        if not words:
            continue
        name, args = words[0], [back.get(w, w) for w in words[1:]]
        lines.append(_restore(f, pos, name, args) or " ".join([name, *args]))
    return ExtractedPlan("\n".join(lines), n_reasoning)


class RoversFormat:
    """Rovers in the compact format (module docstring)."""

    domain = "rovers"
    version = 2
    """Version 2: ``navigate`` names only a route's destination (version 1 wrote every move)."""

    def words(self) -> list[str]:
        return list(_WORDS)

    def prompt(self, task: GroundTask) -> str:
        f, names = _prepared(task)
        return _render_prompt(f, names.forward)

    def completion(self, task: GroundTask, plan: PlanSteps) -> str:
        f, names = _prepared(task)
        return _render_plan(f, names.forward, plan)

    def extract(self, completion: str, task: GroundTask) -> ExtractedPlan:
        try:
            names = _prepared(task)[1]
        except ValueError:
            names = NameMap({})
        return extract_completion(completion, task, names)

    def teaching_plan(self, generated: GeneratedTask) -> PlanSteps:
        return plan_steps(generated.witness_plan)

    def corpus_example(self, size: int, rng: np.random.Generator, detour_share: float = 0.0,
                       params: Mapping[str, int] | None = None) -> Example:
        return corpus_task_and_example(size, rng, detour_share, params)[1]


def _as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def plan_steps(lines: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``(name, args)`` of PDDL action lines such as a witness plan's (unreadable lines skipped)."""
    return [p for p in (parse_action_line(line) for line in lines) if p is not None]


FORMAT = RoversFormat()
