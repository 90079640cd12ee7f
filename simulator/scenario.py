"""The scenario schema: a YAML file validated into a frozen :class:`ScenarioSpec`.

This is the only place input is validated. Every field has a default, so an empty file is the
quickstart; unknown keys and wrong types are errors that name the key path and the line.

Name map (YAML key → field → store): the whole resolved spec is stored as JSON in
``runs.scenario_json`` and the file as given in ``runs.scenario_yaml``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.limits import MAX_GENERATIONS, MAX_SAMPLES, MAX_SEED, MAX_TASKS
from iterdeploy.simulator.models.device import DEVICE_PATTERN, DTypeName
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, ParamRange
from iterdeploy.simulator.scenario_rules import (
    check_domain,
    check_scenario_name,
    check_sizes,
    describe_sizes,
    distinct_tasks,
    sizes_of,
    split_by_weight,
)
from iterdeploy.simulator.scenario_yaml import parse_yaml, read_yaml_text, short_repr
from iterdeploy.simulator.users._common import describe_validation_error
from iterdeploy.simulator.users.policy_spec import PolicySpec, declared_policy
from iterdeploy.simulator.users.spec import (
    DomainName,
    DomainTasks,
    DynamicsSpec,
    PopulationSpec,
    TaskDistributionSpec,
    UserGroupSpec,
    duplicate_names,
    member_names,
    unknown_schedule_groups,
)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SizeRange(_Spec):
    """An inclusive range of task sizes (blocks for Blocksworld), drawn uniformly."""

    min: int = Field(3, ge=2, le=24)
    """Smallest size: 2 ≤ min ≤ 24, and a size the domain's generator accepts (its main
    parameter's range, ``iterdeploy tasks --help``)."""
    max: int = Field(8, ge=2, le=24)
    """Largest size: min ≤ max ≤ 24, and a size the domain's generator accepts."""

    @model_validator(mode="after")
    def _ordered(self) -> SizeRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class DeploySpec(_Spec):
    """What users bring to each deployed generation and how the model answers."""

    pool: Literal["fresh", "fixed"] = "fresh"
    """``fresh``: users bring new tasks every generation. ``fixed``: the paper's protocol, one
    pool of ``tasks_per_generation`` tasks drawn once (generation 0's draw) and deployed again to
    every generation, by the same users; solved is counted on that pool (the summary's deploy
    solved), and the evaluation pool, which no generation is deployed on or trained on, is the
    held-out check that the gains are not only memorised tasks."""
    tasks_per_generation: int = Field(160, ge=1, le=MAX_TASKS)
    """Tasks users bring per generation, 1 to 10,000 (disjoint from the evaluation pool and from
    earlier generations' tasks, so the sizes must hold that many distinct tasks); with ``pool:
    fixed``, the size of the one pool every generation meets."""
    sizes: SizeRange = SizeRange()
    """Size distribution of those tasks."""
    samples_per_task: int = Field(8, ge=1, le=MAX_SAMPLES)
    """Completions sampled per task (K), 1 to 256."""
    temperature: float = Field(1.0, ge=0.0, le=5.0, allow_inf_nan=False)
    """Sampling temperature, 0 to 5 (0 = greedy)."""
    max_new_tokens: int = Field(320, ge=1, le=8192)
    """Token limit per completion, 1 to 8192; longer ones are cut and recorded as such."""


class EvaluationSpec(_Spec):
    """The fixed evaluation pool, the same for every generation."""

    n_tasks: int = Field(96, ge=1, le=MAX_TASKS)
    """Tasks in the pool, 1 to 10,000, all distinct (split over the domains by their weights,
    largest remainder first)."""
    sizes: SizeRange = SizeRange()
    """Size distribution of a one-domain scenario (same as deployment by default; the pools are
    disjoint)."""
    domains: TaskDistributionSpec | None = None
    """Domains and sizes of the pool when they differ from the deployment's (``None``: the
    scenario's ``domains``, or ``domain`` with ``sizes``)."""
    samples_per_task: int = Field(4, ge=1, le=MAX_SAMPLES)
    """Samples per task, 1 to 256; a task counts as solved if any is valid."""
    temperature: float = Field(1.0, ge=0.0, le=5.0, allow_inf_nan=False)
    """Sampling temperature for evaluation, 0 to 5."""


class ModelSpec(_Spec):
    """The base model."""

    name: str = "embedded-tiny-v1"
    """A registered model (``embedded-tiny-v1``, pretrained and cached on first use;
    ``smollm2-135m``, see docs/models.md), ``hf:DIR`` or a directory written by
    ``save_pretrained``, a ``.gguf`` file, ``vllm:DIR``, or ``hub:ORG/NAME`` (the only one
    ever downloaded: from the Hugging Face cache, or the Hub where the network allows)."""
    few_shot: int = Field(2, ge=0, le=8)
    """Solved examples of the domain shown before each task, 0 to 8 (PDDL-prompted models
    only)."""
    embedded: EmbeddedModelSpec = EmbeddedModelSpec()
    """Architecture and pretraining recipe of the embedded model."""
    device: str = Field("auto", pattern=DEVICE_PATTERN.pattern)
    """Where sampling and training run: ``auto`` (the first CUDA GPU when torch sees one, else
    the CPU), ``cpu``, ``cuda`` or ``cuda:N``. Runs are bit-for-bit repeatable on the CPU only."""
    dtype: DTypeName = "auto"
    """Precision of the weights: ``auto`` is float32 on the CPU and bfloat16 on a GPU."""

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data  # ``model: smollm2-135m``

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from iterdeploy.simulator.errors import ModelError
        from iterdeploy.simulator.models.registry import known_models, resolve_model

        if name.strip() in known_models():  # installed or not: that is checked when it loads,
            return name  # so a scenario file validates on a machine without the model
        try:
            resolve_model(name)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return name


class TrainingSpec(_Spec):
    """How each generation is fine-tuned."""

    method: Literal["lora", "full"] = "lora"
    """LoRA adapter (paper) or full fine-tuning."""
    mode: Literal["fresh", "chained"] = "fresh"
    """Fresh adapter on the fixed base each generation (paper), or continue the previous one."""
    lora_r: int = Field(32, ge=1, le=256)
    """LoRA rank, 1 to 256."""
    lora_alpha: int = Field(64, ge=1, le=4096)
    """LoRA scaling numerator, 1 to 4096."""
    lr: float = Field(2e-3, gt=0, le=1.0, allow_inf_nan=False)
    """Peak learning rate: finite, 0 < lr ≤ 1."""
    n_epochs: int = Field(4, ge=1, le=100)
    """Passes over the training set, 1 to 100."""
    batch_size: int = Field(16, ge=1, le=4096)
    """Examples per optimiser step, 1 to 4096."""
    max_len: int = Field(512, ge=16, le=32768)
    """Tokens per training example, 16 to 32768 (prompt + completion; the prompt's start is cut
    first). Real LLMs with few-shot PDDL prompts need 1536 or more."""
    pack: bool = True
    """Pack each step's examples into rows (position ids restart per example, so transformers
    masks them apart) instead of padding all to the longest: the same gradients up to
    floating-point order, without the compute padding costs when sizes are mixed."""
    newest_weight: int = Field(1, ge=1, le=16)
    """How many times (1 to 16) each trace published by the generation just deployed appears in
    the next training set (1: the paper's plain union). Above 1 the newest data, which holds the plans of
    the frontier, weighs more against what earlier generations already taught."""


class PoolSpec(_Spec):
    """How published traces become the next training set."""

    mode: Literal["accumulate", "replace"] = "accumulate"
    """Union over all generations so far (paper) or the latest generation only."""
    per_task: Literal["all", "shortest", "longest"] = "all"
    """Of the traces published for one task in one generation, train on all of them, or only the
    shortest / longest plan (matters when a policy publishes several per task)."""
    dedup: bool = False
    """Drop a published trace whose plan is identical to one already in the pool for that task
    (off by default, as in the paper: a plan published twice counts twice)."""
    reference_share: float = Field(0.0, ge=0.0, le=10.0, allow_inf_nan=False)
    """Fresh reference plans (from the reference planner, on newly drawn tasks, distinct from
    every task before them) added to each training set, as a share of the curated pool's size,
    0 to 10: 0 is the paper's pure self-training; 0.5 adds one reference plan for every two
    curated traces."""
    reference_sizes: Literal["deploy", "pretraining"] = "deploy"
    """Sizes of those tasks: the deployment's (expert plans where the model is being pushed), or
    the embedded base's pretraining body, drawn with its corpus's generator parameters
    (replaying part of the base's corpus, so fine-tuning on the frontier does not crowd out what
    the base knew)."""


class ScenarioSpec(_Spec):

    """A whole scenario: one curation-bias question, fully specified."""

    name: str = "quickstart"
    """Scenario name; it names the run directory (``runs/<name>-seed<seed>``), so it must be a
    plain file name: not empty, no ``/`` or ``\\``, no ``..``, no control characters, at most
    :data:`~iterdeploy.simulator.scenario_rules.MAX_NAME_BYTES` bytes of UTF-8."""
    question: str = ""
    """The question the scenario answers, in one paragraph."""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Seed of everything in the run: 0 ≤ seed < 2**32 (why this range:
    :data:`iterdeploy.simulator.limits.MAX_SEED`)."""
    domain: DomainName = "blocksworld"
    """The domain of a one-domain scenario (any of the ten: ``iterdeploy tasks --help``); its
    task sizes are ``deploy.sizes`` and ``evaluation.sizes``."""
    domains: TaskDistributionSpec | None = None
    """Several domains instead: domain → ``{min, max, weight}`` of its main size parameter
    (blocks, rovers, boxes, ...), e.g. ``{blocksworld: {min: 3, max: 8}, rovers: {min: 1, max:
    2}}``. Users bring tasks from it (weights: share of tasks) unless a group says otherwise, and
    the evaluation pool spans it. Replaces ``domain`` and ``deploy.sizes``."""
    unreadable_domains: Literal["refuse", "skip"] = "refuse"
    """What to do with a domain the model has no prompt for (the embedded model reads only the
    domains with a compact format: blocksworld, rovers, sokoban): ``refuse`` the scenario, naming
    them, or ``skip`` them, so that users bring, and the evaluation pool holds, tasks of the
    others only (``iterdeploy run`` says which were skipped). One file can then ask its question
    of a PDDL-prompted model on every domain and of the embedded model on those it reads."""
    generations: int = Field(5, ge=0, le=MAX_GENERATIONS)
    """Fine-tuned generations after generation 0 (the base model), 0 to 50."""
    deploy: DeploySpec = DeploySpec()
    """Deployment: tasks, samples, temperature."""
    evaluation: EvaluationSpec = EvaluationSpec()
    """The fixed evaluation pool."""
    model: ModelSpec = ModelSpec()
    """The base model."""
    training: TrainingSpec = TrainingSpec()
    """Fine-tuning of each generation."""
    users: tuple[UserGroupSpec, ...] = (UserGroupSpec(),)
    """The user population: groups with a policy, a weight, optionally their own task sizes
    (see ``docs/users.md``)."""
    dynamics: DynamicsSpec = DynamicsSpec()
    """Social graph of the user groups and how their policies change between generations."""
    pool: PoolSpec = PoolSpec()
    """Data pooling across generations."""
    declared_objective: str | PolicySpec = "validity"
    """The objective the operator says the curation serves (auditors compare against it): a
    policy preset's name, ``none`` (no curation declared, i.e. ``accept_all``), or any policy
    mapping a user group's ``policy`` accepts. A name is kept (and stored) as written, so stores
    from before mappings were allowed read the same; a mapping becomes a :class:`PolicySpec`,
    stored in its canonical full form. Auditors read either with
    :func:`iterdeploy.simulator.users.declared_policy`."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        return check_scenario_name(name)

    @field_validator("domain")
    @classmethod
    def _registered(cls, domain: str) -> str:
        return check_domain(domain)

    @field_validator("declared_objective", mode="before")
    @classmethod
    def _declared_policy(cls, value: Any) -> Any:
        # checked here, not left to the str | PolicySpec union: a misspelt name must fail at load
        # with the known names, and a bad mapping with its own problem rather than with one
        # complaint per union member
        if isinstance(value, Mapping):
            try:
                return PolicySpec.model_validate(value)
            except ValidationError as exc:
                raise ValueError(describe_validation_error(exc)) from None
        if isinstance(value, str | PolicySpec):
            try:
                declared_policy(value)
            except ScenarioError as exc:
                raise ValueError(str(exc).removeprefix("declared_objective: ")) from None
            return value
        raise ValueError("expected a policy name (validity, none, ...) or a policy mapping")

    @field_validator("users")
    @classmethod
    def _unique_users(cls, users: tuple[UserGroupSpec, ...]) -> tuple[UserGroupSpec, ...]:
        if not users:
            raise ValueError("a scenario needs at least one user group")
        repeated = duplicate_names(member_names(users))  # the population's own rule
        if repeated:
            raise ValueError(f"user names must be unique after expanding count; repeated: {repeated}")
        return users

    @model_validator(mode="after")
    def _tasks_fit_the_loop(self) -> ScenarioSpec:
        if self.domains is not None and "domain" in self.model_fields_set:
            raise ValueError("domains: give either domain (one) or domains (several), not both")
        skipped = self.skipped_domains()
        if skipped:
            for i, u in enumerate(self.users):
                theirs = sorted(set(u.tasks.domains) & set(skipped)) if u.tasks else []
                if theirs:
                    raise ValueError(
                        f"users.{i}.tasks: {u.name!r} brings {theirs} tasks, which this model "
                        "cannot read and unreadable_domains: skip leaves out: take them out of "
                        "the group's tasks")
            named = self.domains.domains if self.domains is not None else {}
            if not set(named) - set(skipped):
                raise ValueError(
                    f"unreadable_domains: skip leaves no domain: this model reads none of "
                    f"{sorted(named)} (docs/model-card.md says which domains it reads)")
            if (self.evaluation.domains is not None
                    and not set(self.evaluation.domains.domains) - set(skipped)):
                raise ValueError(
                    "unreadable_domains: skip leaves evaluation.domains empty: this model reads "
                    f"none of {sorted(self.evaluation.domains.domains)}")
        deployed = set(self.deploy_tasks().domains)
        one_domain = self.domains is None  # then deploy.sizes / evaluation.sizes are its sizes
        checks = (
            ("domains", self.domains),
            ("evaluation.domains", self.evaluation.domains),
            ("deploy.sizes", self.deploy_tasks() if one_domain else None),
            ("evaluation.sizes", self.eval_tasks() if one_domain and not self.evaluation.domains else None),
            *((f"users.{i}.tasks", u.tasks) for i, u in enumerate(self.users)),
        )
        for where, dist in checks:
            for name, sizes in (dist.domains.items() if dist is not None else ()):
                check_sizes(where if where.endswith(".sizes") else f"{where}.{name}", name, sizes)
        for i, u in enumerate(self.users):
            other = sorted(set(u.tasks.domains) - deployed) if u.tasks else []
            if other:
                raise ValueError(
                    f"users.{i}.tasks: {u.name!r} brings {other} tasks, but this scenario deploys on "
                    f"{sorted(deployed)}: add them to domains (the evaluation pool measures only "
                    "the scenario's domains)"
                )
        used = sorted(deployed | set(self.eval_tasks().domains))
        if used != ["blocksworld"]:
            from iterdeploy.simulator.models.registry import prompt_format_of

            if prompt_format_of(self.model.name) == "compact":
                from iterdeploy.simulator.models.compact import compact_domains

                planned = self.model.embedded.domains()
                missing = [d for d in used if d not in planned]
                unreadable = [d for d in missing if d not in compact_domains()]
                if missing:
                    skip_hint = (", or set unreadable_domains: skip to run the others (the "
                                 "shipped paper_ipc10 does)" if set(used) - set(unreadable) else "")
                    no_format = (
                        f"; {unreadable} {'has' if len(unreadable) == 1 else 'have'} no compact "
                        "format, so no embedded model reads them: leave them out of domains"
                        f"{skip_hint}" if unreadable else "")
                    raise ValueError(
                        f"model.name: the embedded model of this recipe plans {list(planned)}, but "
                        f"this scenario uses {missing} too: add them to "
                        "model.embedded.pretrain_domains (rovers, sokoban; docs/model-card.md) or "
                        "choose a PDDL-prompted model (model.name: smollm2-135m, hf:DIR or a .gguf; "
                        f"docs/models.md){no_format}"
                    )
        return self

    @model_validator(mode="after")
    def _enough_distinct_tasks(self) -> ScenarioSpec:
        # the loop never repeats a task (evaluation, deployment and reference tasks are all
        # distinct), so sizes that hold fewer tasks than the run needs could never finish; where
        # the tasks can be counted (Blocksworld) that is refused here, before anything runs, and
        # elsewhere the draw itself gives up (iterdeploy.simulator.loop.task_supply.MAX_REPEATED_DRAWS)
        hint = ("widen the sizes, or ask for fewer tasks (deploy.tasks_per_generation, "
                "generations, evaluation.n_tasks)")
        evaluation = self.eval_tasks()
        shares = split_by_weight(self.evaluation.n_tasks, [d.weight for d in evaluation.domains.values()])
        for (name, sizes), wanted in zip(evaluation.domains.items(), shares, strict=True):
            held = sizes_of(TaskDistributionSpec(domains={name: sizes}))
            exist = distinct_tasks(held)
            if exist is not None and wanted > exist:
                raise ValueError(
                    f"evaluation.n_tasks: the evaluation pool needs {wanted} distinct tasks of "
                    f"{describe_sizes(held)}, and only {exist} exist; {hint}")
        rounds = 1 if self.deploy.pool == "fixed" else self.generations + 1
        needed = self.deploy.tasks_per_generation * rounds
        why = (f"{self.deploy.tasks_per_generation} in the fixed pool" if rounds == 1 else
               f"{self.deploy.tasks_per_generation} new ones in each of {rounds} generations")
        key = "deploy.sizes" if self.domains is None else "domains"
        groups = [u for u in (*self.users, self.dynamics.churn.template) if u is not None]
        if all(u.tasks is None for u in groups):  # every task then comes from deploy_tasks()
            held = sizes_of(self.deploy_tasks())
            exist = distinct_tasks(held)
            if exist is not None and needed > exist:
                raise ValueError(
                    f"{key}: users bring {needed} deployment tasks ({why}), never repeated, and "
                    f"the sizes ({describe_sizes(held)}) hold only {exist} distinct tasks; {hint}")
        held = sizes_of(evaluation, self.deploy_tasks(), *(u.tasks for u in groups))
        exist = distinct_tasks(held)
        total = needed + self.evaluation.n_tasks
        if exist is not None and total > exist:
            raise ValueError(
                f"{key}: the run needs {total} distinct tasks ({self.evaluation.n_tasks} to "
                f"evaluate and {needed} to deploy: {why}), and the sizes ({describe_sizes(held)}) "
                f"hold only {exist}; {hint}")
        return self

    @model_validator(mode="after")
    def _replay_needs_the_embedded_corpus(self) -> ScenarioSpec:
        if self.pool.reference_sizes == "pretraining":
            from iterdeploy.simulator.models.registry import prompt_format_of

            if prompt_format_of(self.model.name) != "compact":
                raise ValueError(
                    "pool.reference_sizes: 'pretraining' replays the embedded base's corpus "
                    f"sizes, and {self.model.name!r} is not the embedded model; use 'deploy'")
        return self

    @model_validator(mode="after")
    def _schedule_fits(self) -> ScenarioSpec:
        # a planted change must name a family that exists and a generation the run reaches, or the
        # auditor it is meant to score would be scored against a change that never happened
        problems = unknown_schedule_groups(self.dynamics, self.users)
        problems += [
            f"dynamics.schedule.{i}.generation: {e.generation} is beyond this scenario's "
            f"generations ({self.generations}): {e.group!r} would never switch to its policy"
            for i, e in enumerate(self.dynamics.schedule)
            if e.generation > self.generations
        ]
        if problems:
            raise ValueError(problems[0])
        return self

    def deploy_tasks(self) -> TaskDistributionSpec:
        """Domains and sizes of the tasks users bring, unless a group declares its own (less the
        domains :meth:`skipped_domains` leaves out)."""
        if self.domains is None:
            return self._one_domain(self.deploy.sizes)
        return self.domains.without(self.skipped_domains())

    def eval_tasks(self) -> TaskDistributionSpec:
        """Domains and sizes of the fixed evaluation pool (less the skipped domains)."""
        if self.evaluation.domains is not None:
            return self.evaluation.domains.without(self.skipped_domains())
        if self.domains is None:
            return self._one_domain(self.evaluation.sizes)
        return self.domains.without(self.skipped_domains())

    def skipped_domains(self) -> tuple[str, ...]:
        """The domains this scenario names but runs without, sorted: with ``unreadable_domains:
        skip``, those its model has no prompt for (for the embedded model, no compact format).
        Empty when it refuses them instead, and for a model that reads PDDL (it reads every
        domain)."""
        if self.unreadable_domains == "refuse" or self.domains is None:
            return ()
        from iterdeploy.simulator.models.registry import prompt_format_of

        if prompt_format_of(self.model.name) != "compact":
            return ()
        from iterdeploy.simulator.models.compact import compact_domains

        named = set(self.domains.domains)
        if self.evaluation.domains is not None:
            named |= set(self.evaluation.domains.domains)
        return tuple(sorted(named - set(compact_domains())))

    def reference_tasks(self) -> TaskDistributionSpec:
        """Domains and sizes of the reference plans added to training sets
        (``pool.reference_sizes``)."""
        if self.pool.reference_sizes == "deploy":
            return self.deploy_tasks()
        corpora = self.model.embedded.corpora()
        return TaskDistributionSpec(domains={
            name: DomainTasks(min=corpora[name].min_size, max=corpora[name].max_size,
                              weight=d.weight)
            for name, d in self.deploy_tasks().domains.items() if name in corpora})

    def reference_params(self) -> dict[str, dict[str, ParamRange]]:
        """Generator parameters of the reference tasks besides their size, per domain: a replay
        of the embedded base's corpus (``pool.reference_sizes: pretraining``) draws its tasks as
        the corpus did (Sokoban boxes already on their goals, say); none otherwise."""
        if self.pool.reference_sizes == "deploy":
            return {}
        corpora = self.model.embedded.corpora()
        return {name: dict(corpora[name].params) for name in self.deploy_tasks().domains
                if name in corpora and corpora[name].params}

    def _one_domain(self, sizes: SizeRange) -> TaskDistributionSpec:
        return TaskDistributionSpec(domains={self.domain: DomainTasks(min=sizes.min, max=sizes.max)})

    def population_spec(self) -> PopulationSpec:
        """The ``users`` and ``dynamics`` sections as the users package reads them."""
        return PopulationSpec(users=self.users, dynamics=self.dynamics)

    def to_json(self) -> str:
        """Canonical JSON of the resolved scenario."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``path`` (the deepest one that exists).

    Path elements the file does not spell out are skipped, not fatal: a compact form such as
    ``policy: {noisy_validator: {...}}`` validates as ``policy.stages.0.noisy_validator``, and the
    line wanted is still that of ``noisy_validator``.
    """
    line = None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(key)), None)
            if match is not None:
                line = match[0].start_mark.line + 1
                node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
    return line


def parse_scenario(
    text: str, source: str = "<scenario>", overrides: dict[str, Any] | None = None
) -> ScenarioSpec:
    """Validate scenario YAML text (plus ``--set`` overrides) into a :class:`ScenarioSpec`.

    Raises:
        ScenarioError: naming ``source``, each bad key path and its line.
    """
    return _validated(*parse_yaml(text, source), source, overrides)


def _validated(
    node: yaml.Node | None, data: Any, source: str, overrides: dict[str, Any] | None
) -> ScenarioSpec:
    """The scenario that the parsed document ``data`` (composed as ``node``) and ``overrides``
    make; shared by :func:`parse_scenario` and :func:`load_scenario` so a file is parsed once."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    for dotted, value in (overrides or {}).items():
        cursor = data
        keys = dotted.split(".")
        for key in keys[:-1]:
            cursor = cursor.setdefault(key, {})
            if not isinstance(cursor, dict):
                raise ScenarioError(f"--set {dotted}: {key} is not a mapping")
        cursor[keys[-1]] = value
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = tuple(err["loc"])
            kind = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            kind = kind.removeprefix("Value error, ")  # pydantic's wording, not the problem
            got = "" if err["type"] == "extra_forbidden" else f" (got {short_repr(err.get('input'))})"
            if not path:  # a check across sections: its message starts with the key it is about
                named = re.match(r"([a-z_]+(?:\.[\w-]+)*): ", kind)
                if named:
                    path = tuple(int(k) if k.isdigit() else k for k in named[1].split("."))
                    kind = kind[named.end():]
                got = ""
            dotted = ".".join(str(p) for p in path) or "(top level)"
            # a value set by an override is not the file's: name the override, not a line of
            # the file that holds the value it replaced
            override = next((k for k in (overrides or {})
                             if dotted == k or dotted.startswith(f"{k}.")), None)
            line = None if override else _line_of(node, path)
            where = (f"{source} (override {override})" if override
                     else f"{source}:{line}" if line else source)
            problems.append(f"{where}: {dotted}: {kind}{got}")
        if len(problems) == 1:  # one problem, one line
            raise ScenarioError(f"invalid scenario: {problems[0]}") from None
        raise ScenarioError("invalid scenario:\n  " + "\n  ".join(problems)) from None


def load_scenario(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> tuple[ScenarioSpec, str]:
    """Read and validate a scenario file; returns (spec, text as given).

    The file is read as UTF-8 and parsed by :func:`iterdeploy.simulator.scenario_yaml.parse_yaml`, the one
    YAML reader of the project (duplicate keys, alias bombs and deep nesting refused).

    Raises:
        ScenarioError: Naming the file: missing, unreadable, not UTF-8, not YAML, empty (no
            setting at all), or invalid.
    """
    file = Path(path)
    if not file.is_file():
        raise ScenarioError(f"{file}: no such scenario file")
    text = read_yaml_text(file)
    node, data = parse_yaml(text, str(file))
    if data is None or data == {}:
        # An empty file (0 bytes, only comments or white space, a bare ``null`` or ``{}``) is
        # far more often a mistake (the wrong file, a save that failed) than a wish for every
        # default, and running it would start a full-size quickstart run under a name the user
        # never wrote. Programmatic ``parse_scenario("")`` still means the defaults.
        raise ScenarioError(f"{file}: empty scenario; write at least a name, see "
                            "scenarios/quickstart.yaml")
    return _validated(node, data, str(file), overrides), text
