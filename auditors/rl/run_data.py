"""The RL equivalence check's view of a run: each generation's model as deployed, and the traces.

Read here: the run's planner and each generation's model loaded the way the loop deployed it,
the deployment traces with their curation decisions, the next generation's training set, the
completion texts and tasks of the traces that are run through a model, and the seeded choice of
the on-policy batch. :mod:`iterdeploy.auditors.rl.measure` measures on these with the numerics of
:mod:`iterdeploy.auditors.rl.gradients`.

What is differentiated, and why:

* **The deployed model, with a fresh probe adapter.** For generation g, the model that wrote the
  generation's deployment traces is loaded as the loop deploys it (the registry's planner, then the
  generation's safetensors adapter through ``load_adapter``; never pickle). Its adapter is merged
  and a fresh LoRA adapter with the run's rank and alpha is attached; peft sets the adapter's ``B``
  matrices to zero, so the probed function *is* the deployed model (``checks`` reports the largest
  log-probability difference) and the gradient is the one a next LoRA step from that point would
  take. At ``B = 0`` the gradient of every ``A`` matrix is exactly zero, so the gradient vector is
  that of the ``B`` matrices. Runs trained with ``method: full`` are probed the same way (the
  full-weight gradient seen through the adapter). With ``mode: fresh`` (the paper) the next
  generation restarts from the base; the theory is about the gradient at the current policy, which
  is what is measured.
* **Training's own encoding.** Prompts come from the run's task format, (ids, labels) from the
  planner's training encoder (:func:`iterdeploy.simulator.models.training.encode_example` for the embedded
  model); the loss is on completion tokens only, and a trace's log-probability is the sum of its
  token log-probabilities.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.auditors.rl.gradients import Encoded
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.models.embedded import base_directory, cache_root
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.protocol import Example
from iterdeploy.simulator.models.registry import EMBEDDED_NAME, load_planner
from iterdeploy.simulator.models.task_format import TaskFormat, task_format
from iterdeploy.simulator.planning import GroundTask, load_stored_task
from iterdeploy.simulator.scenario import ScenarioSpec
from iterdeploy.simulator.store import ModelRow, RunReader, TraceRow

# -- the run's models ----------------------------------------------------------------------------


@dataclass
class Models:
    """The run's planner, and each generation's model loaded the way the loop deployed it."""

    run_dir: Path
    spec: ScenarioSpec
    planner: HfPlanner
    rows: dict[int, ModelRow]
    fmt: TaskFormat

    def deployed(self, generation: int) -> torch.nn.Module:
        """Model ``generation`` as the loop deployed it: base, plus its adapter when it has one."""
        row = self.rows.get(generation)
        if row is None:
            raise StoreError(f"{self.run_dir}: no model recorded for generation {generation}")
        if row.adapter_path:
            path = self.run_dir / row.adapter_path
            if not path.is_dir():
                raise StoreError(f"{path}: the adapter of generation {generation} is missing")
            self.planner.load_adapter(path)
        else:
            self.planner.reset_to_base()
        model = self.planner.model
        model.eval()
        return model

    def probe(self, generation: int, seed: int) -> tuple[torch.nn.Module, list[torch.nn.Linear], str]:
        """Model ``generation`` with a fresh LoRA adapter whose ``B`` is zero; the adapter's ``B``
        layers (the ``A`` gradients are exactly zero there); a description of the space."""
        from peft import LoraConfig, PeftModel, get_peft_model

        model = self.deployed(generation)
        self.planner.reset_to_base()  # the planner must not keep using the model changed below
        if isinstance(model, PeftModel):
            model = model.merge_and_unload()
        for p in model.parameters():
            p.requires_grad = False
        tr = self.spec.training
        lora = LoraConfig(
            r=tr.lora_r,
            lora_alpha=tr.lora_alpha,
            lora_dropout=0.0,
            target_modules=self.planner.lora_target_modules(model),
            task_type="CAUSAL_LM",
        )
        torch.manual_seed(seed)
        probed = get_peft_model(model, lora)
        probed.eval()
        layers = [
            m
            for name, m in probed.named_modules()
            if name.rsplit(".", 1)[-1] == "default"
            and ".lora_B." in f".{name}."
            and isinstance(m, torch.nn.Linear)
        ]
        return (
            probed,
            layers,
            (
                f"the B matrices of a fresh LoRA adapter (r={tr.lora_r}, alpha={tr.lora_alpha}, B = 0) "
                f"on model {generation}, where a next fine-tuning step would start"
            ),
        )

    def encode(self, prompt: str, completion: str) -> Encoded:
        """Training's own (ids, labels) for a pair."""
        tok = self.planner.tokenizer
        return self.planner.encode_example(tok, Example(prompt, completion), self.spec.training.max_len)

    @property
    def pad_id(self) -> int:
        return int(self.planner.tokenizer.pad_token_id)

    @property
    def eos_id(self) -> int:
        return int(self.planner.tokenizer.eos_token_id)


def open_models(reader: RunReader) -> Models:
    """The run's planner, checked to be the base the run recorded; never pretrains a base."""
    try:
        spec = ScenarioSpec.model_validate_json(reader.run().scenario_json)
    except ValidationError as exc:
        raise AuditorConfigError(
            f"{reader.run_dir}: the stored scenario cannot be read by this iterdeploy, so its "
            f"models cannot be rebuilt: {exc.errors()[0]['msg']}"
        ) from None
    rows = {m.generation: m for m in reader.models()}
    if not rows:
        raise StoreError(f"{reader.run_dir}: the store records no models")
    if spec.model.name == EMBEDDED_NAME:
        wanted = f"embedded-{spec.model.embedded.content_hash()}"
        recorded = rows[min(rows)].base
        if "@" in recorded and recorded.split("@", 1)[1] != wanted:
            raise AuditorConfigError(
                f"{reader.run_dir}: the run's base model is {recorded}, but its scenario now "
                f"resolves to {wanted}; the auditor would differentiate a different model"
            )
        if base_directory(wanted) is None:
            raise AuditorConfigError(
                f"the run's base model {wanted} is neither shipped nor in the model cache "
                f"({cache_root()}); point "
                "ITERDEPLOY_CACHE at the cache the run used (auditors never train models, so it "
                "is not pretrained again here)"
            )
    # on the CPU in float32 whatever the run used: the per-trace gradients below build their
    # batches on the CPU, and half precision would blur the identities they check
    planner = load_planner(spec.model.name, embedded_spec=spec.model.embedded, device="cpu",
                           dtype="float32")
    if not isinstance(planner, HfPlanner):
        raise AuditorConfigError(f"model {spec.model.name!r} is not a transformers model; no gradients")
    return Models(reader.run_dir, spec, planner, rows, task_format(planner, spec.model.few_shot))


# -- the run's traces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One trace: its generation, task and purpose; the keep decision and mean acceptance
    probability A(τ) for an on-policy trace, 1 and NaN for one read from a training set."""

    trace_id: int
    generation: int
    task_id: int
    purpose: str
    kept: int
    acceptance: float


@dataclass
class Texts:
    """Completion texts and tasks, read only for traces that are run through a model."""

    reader: RunReader
    tasks: dict[int, GroundTask] = field(default_factory=dict)

    def rows(self, trace_ids: Iterable[int]) -> dict[int, TraceRow]:
        """The stored traces with these ids, by ascending id."""
        return self.reader.traces_by_id(trace_ids)

    def task(self, task_id: int) -> GroundTask:
        """The task ``task_id``, rebuilt from its stored PDDL once.

        Raises:
            StoreError: when the store has no such task.
        """
        if task_id not in self.tasks:
            row = self.reader.task(task_id)
            self.tasks[task_id] = load_stored_task(row.domain, row.problem_pddl)
        return self.tasks[task_id]


def on_policy_traces(reader: RunReader, generation: int) -> tuple[list[Trace], int]:
    """Deployment traces of ``generation`` with their decisions, and how many had none."""
    traces = reader.trace_facts(generation=generation, purpose="deploy")
    kept: dict[int, int] = {}
    accept: dict[int, list[float]] = {}
    for d in reader.decisions(generation):
        kept[d.trace_id] = max(kept.get(d.trace_id, 0), int(d.kept))
        accept.setdefault(d.trace_id, []).append(float(d.acceptance_prob))
    out = [
        Trace(
            t.trace_id,
            generation,
            t.task_id,
            "deploy",
            kept[t.trace_id],
            float(np.mean(accept[t.trace_id])),
        )
        for t in traces
        if t.trace_id in kept
    ]
    return out, len(traces) - len(out)


def pool_traces(reader: RunReader, generation: int) -> list[Trace]:
    """The training set of ``generation``, each trace with the generation that wrote it."""
    return [
        Trace(t.trace_id, t.generation, t.task_id, t.purpose, 1, float("nan"))
        for t in reader.training_traces(generation)
    ]


def select_batch(traces: list[Trace], max_traces: int, rng: np.random.Generator) -> list[Trace]:
    """The on-policy batch: whole tasks in a seeded random order until ``max_traces`` traces carry
    a reward (kept, or A(τ) > 0). Stopping at the first task that does not fit (rather than
    skipping it) keeps the batch a uniform random subset of tasks."""
    by_task: dict[int, list[Trace]] = {}
    for t in traces:
        by_task.setdefault(t.task_id, []).append(t)
    chosen: list[Trace] = []
    n_rewarded = 0
    for task_id in rng.permutation(sorted(by_task)):
        group = by_task[int(task_id)]
        add = sum(1 for t in group if t.kept or t.acceptance > 0)
        if n_rewarded + add > max_traces and n_rewarded > 0:
            break
        chosen += group
        n_rewarded += add
    return sorted(chosen, key=lambda t: t.trace_id)
