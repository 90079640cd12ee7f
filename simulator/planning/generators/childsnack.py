"""Childsnack: make sandwiches in the kitchen, carry them on trays to the tables and serve every
waiting child; allergic children need gluten-free sandwiches.

As the IPC-2023 generator: one bread and one content portion per child, exactly as many of each
gluten-free as there are allergic children, all trays in the kitchen, each child waiting at a
random table, no sandwich made yet (at least one sandwich per child). Always solvable: the
gluten-free portions suffice for the allergic children and the rest for the others (make, put on
a tray, carry, serve, child by child: the witness).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import new_task, numbered, pick, shuffled, typed
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "childsnack"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    n = p["n_children"]
    children = numbered("child", n)
    trays = numbered("tray", p["n_trays"])
    sandwiches = numbered("sandw", p["n_sandwiches"])
    breads = numbered("bread", n)
    contents = numbered("content", n)
    tables = numbered("table", p["n_tables"])
    order = shuffled(rng, children)
    allergic = set(order[: p["n_allergic"]])
    gf_breads = shuffled(rng, breads)[: p["n_allergic"]]
    gf_contents = shuffled(rng, contents)[: p["n_allergic"]]
    table = {child: pick(rng, tables) for child in order}
    init: set[Atom] = {("at", t, "kitchen") for t in trays}
    init |= {("at_kitchen_bread", x) for x in breads} | {("at_kitchen_content", x) for x in contents}
    init |= {("allergic_gluten", c) for c in allergic}
    init |= {("not_allergic_gluten", c) for c in children if c not in allergic}
    init |= {("no_gluten_bread", x) for x in gf_breads} | {("no_gluten_content", x) for x in gf_contents}
    init |= {("waiting", c, table[c]) for c in children} | {("notexist", s) for s in sandwiches}
    goal: set[Atom] = {("served", c) for c in children}
    objects = (typed(children, "child") + typed(trays, "tray") + typed(sandwiches, "sandwich")
               + typed(breads, "bread-portion") + typed(contents, "content-portion") + typed(tables, "place"))
    task = new_task(DOMAIN, name or f"childsnack-{n}-{len(trays)}-{len(sandwiches)}", objects, init, goal, p)

    def witness(b: PlanBuilder) -> None:
        tray = trays[0]
        plain_breads = [x for x in breads if x not in gf_breads]
        plain_contents = [x for x in contents if x not in gf_contents]
        gf_b, gf_c = list(gf_breads), list(gf_contents)
        for child, sandwich in zip(children, sandwiches, strict=False):
            if child in allergic:
                b.do("make_sandwich_no_gluten", sandwich, gf_b.pop(), gf_c.pop())
            else:  # the plain portions are exactly enough for the children who are not allergic
                b.do("make_sandwich", sandwich, plain_breads.pop(), plain_contents.pop())
            b.do("put_on_tray", sandwich, tray)
            b.do("move_tray", tray, "kitchen", table[child])
            serve = "serve_sandwich_no_gluten" if child in allergic else "serve_sandwich"
            b.do(serve, sandwich, child, tray, table[child])
            b.do("move_tray", tray, table[child], "kitchen")

    return task, witness


def _check(p: Mapping[str, int]) -> str | None:
    if p["n_allergic"] > p["n_children"]:
        return f"n_allergic ({p['n_allergic']}) must not exceed n_children ({p['n_children']})"
    if p["n_sandwiches"] < p["n_children"]:
        return f"n_sandwiches ({p['n_sandwiches']}) must be at least n_children ({p['n_children']})"
    return None


SPEC = DomainSpec(
    name=DOMAIN,
    summary="make sandwiches (gluten-free for allergic children), carry them on trays and serve every child",
    params=(
        ParamSpec("n_children", "children to serve (IPC: children)", 1, 15, 3),
        ParamSpec("n_allergic", "children allergic to gluten, <= n_children (IPC: allergic_children)",
                  0, 15, lambda p: (p["n_children"] + 1) // 3, "(n_children + 1) // 3"),
        ParamSpec("n_trays", "trays (IPC: trays)", 1, 5, lambda p: 1 + p["n_children"] // 6,
                  "1 + n_children // 6"),
        ParamSpec("n_sandwiches", "sandwich names, >= n_children (IPC: sandwiches)", 1, 20,
                  lambda p: p["n_children"] + 1, "n_children + 1"),
        ParamSpec("n_tables", "tables the children wait at (IPC: fixed 3)", 1, 5, 3),
    ),
    build=_build,
    check=_check,
)
