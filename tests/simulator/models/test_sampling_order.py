"""Sampling batches prompts shortest first; what it returns must line up with the prompts as given."""

from __future__ import annotations

import numpy as np

from iterdeploy.simulator.models.embedded import EmbeddedModelSpec
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning.blocksworld import generate_task


def test_completions_come_back_in_the_callers_order_however_prompts_are_batched(
    tiny_embedded_spec: EmbeddedModelSpec,
) -> None:
    planner = load_planner("embedded-tiny-v1", embedded_spec=tiny_embedded_spec, device="cpu")
    assert isinstance(planner, HfPlanner)
    rng = np.random.default_rng(4)
    tasks = [generate_task(n, rng, name=f"t{k}") for k, n in enumerate((4, 2, 3, 2))]
    fmt = CompactTaskFormat()
    prompts = [fmt.prompt(t) for t in tasks]
    lengths = [len(planner._encode_prompt(p)) for p in prompts]
    assert lengths != sorted(lengths)
    settings = {"n": 2, "temperature": 0.0, "max_new_tokens": 40, "seed": 0}
    alone = [planner.sample([p], **settings)[0] for p in prompts]
    assert len({c[0].text for c in alone}) == len(prompts)  # each task gets its own plan
    planner.batch_size = 3
    shortest_first = planner.sample(prompts, **settings)
    planner.sort_prompts_by_length = False
    as_given = planner.sample(prompts, **settings)
    assert shortest_first == as_given == alone
