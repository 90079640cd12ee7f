"""A run's data as files other tools read: training sets, traces, decisions and tasks.

``iterdeploy export RUN_DIR --out DIR`` writes, from the store alone and without changing it:

- ``training/generation-<g>.jsonl``: the examples model ``g`` was fine-tuned on (the run store's
  ``training_sets``: the published traces pooled into its training set, and the reference plans
  where the scenario adds them), one file per fine-tuned generation, as ``prompt`` and
  ``completion`` (the pair the loop trained on, ready for TRL's ``SFTTrainer``) with the trace's
  provenance: the generation and user that produced and published it, the user's group and policy,
  A(τ), the verdict;
- ``traces.jsonl``: every sampled completion (deployment, evaluation, reference) with its verdict,
  the decision on it and the generations whose model was trained on it;
- ``decisions.jsonl``: every curation decision;
- ``tasks.jsonl``: every task, with its PDDL and the prompt the model was given;
- ``README.md``: a dataset card naming the run, scenario, seed and generations, the columns of
  every file, and the ``configs`` that let Hugging Face ``datasets`` load the directory.

With ``fmt="parquet"`` the same tables are Parquet files (``pyarrow``, an optional dependency:
without it the export is refused in one line). Every column has a declared type, so a column that
is empty in one file has the same type as everywhere else. ``fmt="hf"`` saves the same tables as
``datasets.DatasetDict`` objects (:mod:`.hf_export`), and ``fmt="inspect"`` writes the evaluation pool
as one Inspect eval log per generation instead (:mod:`.inspect_export`); both are optional extras,
refused in one line without them and imported only when asked for.

Prompts: stores written since schema version 3 keep the prompt of each task (``prompt_source``
``stored``). Older stores have none; for the embedded model's compact format the prompt is rendered
again from the task's PDDL, exactly as the loop does when it trains on such a store
(``rendered``); for PDDL prompts, which need the model's tokenizer for its chat template, it stays
null (``prompt_source`` null).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from iterdeploy.simulator.errors import IterdeployError, StorageError
from iterdeploy.simulator.store import (
    CurationRow,
    ModelRow,
    RunReader,
    TaskRow,
    TraceRow,
)

ExportFormat = Literal["jsonl", "parquet", "hf", "inspect"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "parquet", "hf", "inspect")
"""The formats :func:`export_run` writes: the tables as JSON Lines or Parquet files with a dataset
card, as Hugging Face ``datasets`` saved to disk (:mod:`.hf_export`), or the evaluation pool as
Inspect eval logs (:mod:`.inspect_export`). The last two are optional extras, imported only when
asked for."""

_EXTRAS: dict[str, tuple[str, str]] = {
    "parquet": ("pyarrow.parquet", "pyarrow, which is not installed: pip install pyarrow, or export "
                "JSON Lines (--format jsonl), which pandas and datasets read as well"),
    "hf": ("datasets", "the Hugging Face datasets library, which is not installed: pip install "
           "'iterdeploy[hf]', or export Parquet (--format parquet), which datasets reads as well"),
    "inspect": ("inspect_ai", "inspect_ai, which is not installed: pip install 'iterdeploy[inspect]'"),
}
"""Format → (the module it needs, the end of the one line that refuses it without that module)."""

ARROW_TYPES = {"int": "int64", "float": "float64", "str": "string", "bool": "bool",
               "list[int]": "list<int64>"}
"""Column type → how the card names its Arrow type."""


@dataclass(frozen=True)
class Column:
    """One column of an exported table: name, type and what it holds (the card prints all
    three; Parquet files get the type)."""

    name: str
    type: Literal["int", "float", "str", "bool", "list[int]"]
    doc: str


_DECISION = (
    Column("user", "str", "the user who decided on the trace (null: no user saw it)"),
    Column("user_group", "str", "that user's group in the scenario (null in stores written before "
           "schema version 4; `iterdeploy.auditors.core.decisions.user_groups` maps their users to groups)"),
    Column("policy", "str", "the policy the user decided under, e.g. `validity-v1`"),
    Column("reason", "str", "why the user kept or dropped it, in a few words"),
    Column("acceptance_prob", "float", "A(τ): the population's probability of publishing this trace "
           "under the policies in force, the scenario's ground-truth implicit reward"),
    Column("keep_prob", "float", "the deciding user's own probability of keeping it"),
)
_VERDICT = (
    Column("plan_text", "str", "the plan extracted from the completion"),
    Column("plan_length", "int", "actions in the plan"),
    Column("status", "str", "validator status: valid, invalid_step, goal_not_reached, "
           "unknown_action, wrong_arity, unknown_object, unparseable, empty"),
    Column("is_valid", "bool", "the plan is executable and reaches the goal"),
    Column("n_tokens", "int", "completion length in tokens"),
    Column("n_reasoning_tokens", "int", "tokens of reasoning before the plan"),
)
_TASK = (
    Column("domain", "str", "the task's domain"),
    Column("task_name", "str", "the task's name"),
    Column("task_size", "int", "the task's main size (blocks for Blocksworld)"),
    Column("optimal_length", "int", "optimal plan length, when the reference planner proved one"),
)

TRAINING_COLUMNS: tuple[Column, ...] = (
    Column("prompt", "str", "the prompt the model was given for the task (see prompt_source)"),
    Column("completion", "str", "the published completion, reasoning included: the training target"),
    Column("generation", "int", "the fine-tuned generation trained on this example (model g)"),
    Column("weight", "int", "times the example entered model g's training data "
           "(`training.newest_weight` for generation g-1's deployment traces, else 1); the "
           "weights sum to the model's `n_train_examples`"),
    Column("trace_id", "int", "the trace in `traces` and the run store"),
    Column("task_id", "int", "the task in `tasks` and the run store"),
    Column("trace_generation", "int", "the generation whose model wrote the completion"),
    Column("purpose", "str", "`deploy` (a user published it) or `reference` (the reference "
           "planner's plan in the model's format, added by `pool.reference_share`)"),
    *_TASK, *_VERDICT,
    *(c for c in _DECISION if c.name != "keep_prob"),
    Column("prompt_source", "str", "`stored` (the run store kept the prompt), `rendered` (an "
           "older store: rendered again from the task's PDDL, as the loop does) or null"),
)
TRACE_COLUMNS: tuple[Column, ...] = (
    Column("trace_id", "int", "the trace's id in the run store"),
    Column("generation", "int", "the generation whose model wrote it"),
    Column("model_id", "int", "that model, in the run store's `models` lineage"),
    Column("task_id", "int", "the task it answers"),
    Column("purpose", "str", "`deploy` (users saw it), `eval` (the fixed evaluation pool, only "
           "the operator sees it) or `reference` (the reference planner's plan)"),
    Column("sample_index", "int", "index among the samples for the same task and generation"),
    Column("domain", "str", "the task's domain"),
    Column("task_size", "int", "the task's main size"),
    Column("completion", "str", "the raw completion"),
    *_VERDICT,
    Column("hit_token_limit", "bool", "generation was cut at the token limit"),
    Column("verdict_json", "str", "the validator's whole verdict as JSON (failing step, unmet "
           "preconditions, ...)"),
    Column("kept", "bool", "the deciding user published it (null: no user decided on it)"),
    *_DECISION,
    Column("training_generations", "list[int]", "the generations whose model was trained on it"),
)
DECISION_COLUMNS: tuple[Column, ...] = (
    Column("decision_id", "int", "the decision's id in the run store"),
    Column("generation", "int", "the generation of the trace decided on"),
    Column("trace_id", "int", "the trace decided on"),
    Column("task_id", "int", "its task"),
    Column("kept", "bool", "the user published the trace"),
    *_DECISION,
    Column("group_probs_json", "str", "every user group's keep probability for the trace, as a "
           "JSON object (A(τ) is their weighted sum)"),
)
TASK_COLUMNS: tuple[Column, ...] = (
    Column("task_id", "int", "the task's id in the run store"),
    Column("pool", "str", "`deploy`, `eval` (the fixed evaluation pool) or `reference`"),
    Column("generation", "int", "the generation whose users brought it (null for `eval`)"),
    Column("domain", "str", "the task's domain"),
    Column("name", "str", "the task's name"),
    Column("size", "int", "its main size"),
    Column("params_json", "str", "every generator parameter, as JSON"),
    Column("optimal_length", "int", "optimal plan length, when the reference planner proved one"),
    Column("problem_pddl", "str", "the problem as PDDL"),
    Column("prompt", "str", "the prompt the model was given (see prompt_source)"),
    Column("prompt_source", "str", "`stored`, `rendered` or null (see `training`)"),
)


@dataclass(frozen=True)
class ExportedFile:
    """One file an export wrote."""

    path: str
    """Relative to the export directory."""
    rows: int
    config: str
    """The ``datasets`` configuration it belongs to (``training``, ``traces``, ...)."""
    split: str
    """Its split in that configuration (``generation_3`` for a training set, else ``train``)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_run` wrote."""

    out_dir: Path
    format: ExportFormat
    files: tuple[ExportedFile, ...]


def export_run(run_dir: str | Path, out_dir: str | Path, fmt: ExportFormat = "jsonl") -> ExportResult:
    """Write the run's training sets, traces, decisions and tasks, with a dataset card, to
    ``out_dir`` (see the module's text). The run is only read, through
    :class:`~iterdeploy.simulator.store.RunReader` (which, like every reader, first brings a store of an
    older schema version up to date, once).

    ``out_dir`` must not exist, or be an empty directory, and must lie outside the run directory.
    Everything is written into a temporary directory beside it, which becomes ``out_dir`` only when
    complete, so a failed export leaves nothing behind.

    Raises:
        IterdeployError: For an unknown format, a format whose optional library is missing
            (pyarrow, datasets, inspect_ai), or an ``out_dir`` that is not empty or lies inside
            the run.
        StoreError: When ``run_dir`` is not a readable run (the message names it).
        StorageError: When the export directory cannot be written.
    """
    if fmt not in EXPORT_FORMATS:
        raise IterdeployError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    _require_extra(fmt)
    run_dir, out = Path(run_dir), Path(out_dir)
    with RunReader(run_dir) as reader:
        reader.run()  # refuses a path that is not a run, or a damaged store, before anything else
        _check_out_dir(run_dir, out)
        staging = out.parent / f".{out.name}.partial-{os.getpid()}"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            files = _write_format(reader, staging, fmt)
            if out.exists():
                out.rmdir()  # an empty directory, checked above
            staging.rename(out)
        except OSError as exc:
            raise StorageError(f"{exc.filename or out}: {exc.strerror or exc} (writing the export); "
                               "pass another --out, or make its directory writable") from None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out_dir=out, format=fmt, files=tuple(files))


def _require_extra(fmt: ExportFormat) -> None:
    """Refuse, in one line and before anything is read or written, a format whose optional
    library is missing."""
    if fmt not in _EXTRAS:
        return
    module, missing = _EXTRAS[fmt]
    try:
        __import__(module)
    except ImportError:
        raise IterdeployError(f"--format {fmt} needs {missing}") from None


def _write_format(reader: RunReader, staging: Path, fmt: ExportFormat) -> list[ExportedFile]:
    """Write the export in ``fmt`` into ``staging`` (created here), card included."""
    if fmt == "inspect":
        from iterdeploy.simulator.studies.inspect_export import write_inspect_logs

        staging.mkdir()
        return write_inspect_logs(reader, staging)
    if fmt == "hf":
        from iterdeploy.simulator.studies.hf_export import write_hf_datasets

        return write_hf_datasets(reader, staging)
    files = write_tables(reader, staging, fmt)
    _card(reader, staging, fmt, files)
    return files


def _check_out_dir(run_dir: Path, out: Path) -> None:
    resolved, run = out.resolve(), run_dir.resolve()
    if resolved == run or run in resolved.parents:
        raise IterdeployError(f"{out}: lies inside the run directory {run_dir}; an export never "
                              "writes into a run: pass a directory outside it")
    try:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise IterdeployError(f"{out}: exists and is not an empty directory; an export never "
                                  "overwrites files: pass a new directory")
    except OSError as exc:
        raise StorageError(f"{out}: {exc.strerror or exc} (checking the export directory); pass "
                           "another --out") from None


# -- writing tables ---------------------------------------------------------------------------


class _Table:
    """One output file, written in batches of row dicts (JSON Lines or Parquet)."""

    def __init__(self, path: Path, columns: Sequence[Column], fmt: ExportFormat) -> None:
        self.path, self.columns, self.fmt, self.rows = path, columns, fmt, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
                     "list[int]": pa.list_(pa.int64())}
            self._schema = pa.schema([(c.name, types[c.type]) for c in columns])
            self._parquet = pq.ParquetWriter(path, self._schema)
        else:
            self._file = path.open("w", encoding="utf-8")

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa

            self._parquet.write_table(pa.Table.from_pylist(list(rows), schema=self._schema))
        else:
            names = [c.name for c in self.columns]
            for row in rows:
                self._file.write(json.dumps({n: row[n] for n in names}, ensure_ascii=False) + "\n")
        self.rows += len(rows)

    def close(self) -> None:
        if self.fmt == "parquet":
            self._parquet.close()
        else:
            self._file.close()


def write_tables(reader: RunReader, staging: Path, fmt: ExportFormat) -> list[ExportedFile]:
    """Every table of :data:`EXPORT_TABLES` as ``fmt`` files under ``staging`` (made here); the
    Hugging Face export builds its datasets from the Parquet ones."""
    staging.mkdir()
    tasks = {t.task_id: t for t in reader.tasks()}
    prompts = PromptTexts(reader, tasks)
    generations = reader.generations()
    model_of = {g.generation: g.model_id for g in generations}
    newest_weight = _newest_weight(reader.scenario())
    files: list[ExportedFile] = []

    def table(name: str, columns: Sequence[Column], config: str, split: str,
              batches: Iterable[Sequence[dict[str, Any]]]) -> None:
        out = _Table(staging / f"{name}.{fmt}", columns, fmt)
        try:
            for batch in batches:
                out.write(batch)
        finally:
            out.close()
        files.append(ExportedFile(f"{name}.{fmt}", out.rows, config, split))

    decided = _decisions_by_trace(reader.decisions())
    trained_on: dict[int, list[int]] = {}
    for g in [gen.generation + 1 for gen in generations]:
        traces = reader.training_traces(g)
        if not traces:
            continue
        for t in traces:
            trained_on.setdefault(t.trace_id, []).append(g)
        rows = [_training_row(g, t, tasks[t.task_id], decided.get(t.trace_id), prompts,
                              newest_weight if t.generation == g - 1 and t.purpose == "deploy" else 1)
                for t in traces]
        table(f"training/generation-{g}", TRAINING_COLUMNS, "training", f"generation_{g}", [rows])

    def trace_batches() -> Iterator[list[dict[str, Any]]]:
        for gen in generations:
            yield [_trace_row(t, model_of, tasks[t.task_id], decided.get(t.trace_id),
                              trained_on.get(t.trace_id, []))
                   for t in reader.traces(generation=gen.generation)]

    def decision_batches() -> Iterator[list[dict[str, Any]]]:
        for gen in generations:
            task_of = {t.trace_id: t.task_id for t in reader.trace_facts(generation=gen.generation)}
            yield [_decision_row(d, task_of[d.trace_id]) for d in reader.decisions(gen.generation)]

    table("traces", TRACE_COLUMNS, "traces", "train", trace_batches())
    table("decisions", DECISION_COLUMNS, "decisions", "train", decision_batches())
    table("tasks", TASK_COLUMNS, "tasks", "train", [[_task_row(t, prompts) for t in tasks.values()]])
    return files


def _newest_weight(scenario: dict[str, Any]) -> int:
    training = scenario.get("training")
    weight = training.get("newest_weight") if isinstance(training, dict) else None
    return weight if isinstance(weight, int) and weight > 1 else 1


def _decisions_by_trace(decisions: Iterable[CurationRow]) -> dict[int, CurationRow]:
    """The decision on each trace: the one that published it where several users decided, else
    the first."""
    out: dict[int, CurationRow] = {}
    for d in decisions:
        if d.trace_id not in out or (d.kept and not out[d.trace_id].kept):
            out[d.trace_id] = d
    return out


def _decision_columns(d: CurationRow | None) -> dict[str, Any]:
    if d is None:
        return {c.name: None for c in _DECISION} | {"kept": None}
    return {"user": d.user, "user_group": d.user_group, "policy": d.policy, "reason": d.reason,
            "acceptance_prob": d.acceptance_prob, "keep_prob": d.keep_prob, "kept": d.kept}


def _verdict_columns(t: TraceRow) -> dict[str, Any]:
    return {"plan_text": t.plan_text, "plan_length": t.plan_length, "status": t.status,
            "is_valid": t.is_valid, "n_tokens": t.n_tokens, "n_reasoning_tokens": t.n_reasoning_tokens}


def _training_row(g: int, t: TraceRow, task: TaskRow, d: CurationRow | None, prompts: PromptTexts,
                  weight: int) -> dict[str, Any]:
    prompt, source = prompts(task)
    return {"prompt": prompt, "completion": t.completion, "generation": g, "weight": weight,
            "trace_id": t.trace_id, "task_id": t.task_id, "trace_generation": t.generation,
            "purpose": t.purpose, "domain": task.domain, "task_name": task.name,
            "task_size": task.size, "optimal_length": task.optimal_length, **_verdict_columns(t),
            **_decision_columns(d), "prompt_source": source}


def _trace_row(t: TraceRow, model_of: dict[int, int], task: TaskRow, d: CurationRow | None,
               trained: list[int]) -> dict[str, Any]:
    return {"trace_id": t.trace_id, "generation": t.generation, "model_id": model_of.get(t.generation),
            "task_id": t.task_id, "purpose": t.purpose, "sample_index": t.sample_index,
            "domain": task.domain, "task_size": task.size, "completion": t.completion,
            **_verdict_columns(t), "hit_token_limit": t.hit_token_limit,
            "verdict_json": t.verdict_json, **_decision_columns(d), "training_generations": trained}


def _decision_row(d: CurationRow, task_id: int) -> dict[str, Any]:
    return {"decision_id": d.decision_id, "generation": d.generation, "trace_id": d.trace_id,
            "task_id": task_id, **_decision_columns(d), "group_probs_json": d.group_probs_json}


def _task_row(t: TaskRow, prompts: PromptTexts) -> dict[str, Any]:
    prompt, source = prompts(t)
    return {"task_id": t.task_id, "pool": t.pool, "generation": t.generation, "domain": t.domain,
            "name": t.name, "size": t.size, "params_json": t.params_json,
            "optimal_length": t.optimal_length, "problem_pddl": t.problem_pddl, "prompt": prompt,
            "prompt_source": source}


class PromptTexts:
    """Each task's prompt and where it came from, rendered at most once per task."""

    def __init__(self, reader: RunReader, tasks: dict[int, TaskRow]) -> None:
        self._render: Callable[[TaskRow], str | None] | None = None
        if any(t.prompt is None for t in tasks.values()):
            self._render = _renderer(reader)
        self._cache: dict[int, tuple[str | None, str | None]] = {}

    def __call__(self, task: TaskRow) -> tuple[str | None, str | None]:
        if task.prompt is not None:
            return task.prompt, "stored"
        if task.task_id not in self._cache:
            prompt = self._render(task) if self._render is not None else None
            self._cache[task.task_id] = (prompt, None if prompt is None else "rendered")
        return self._cache[task.task_id]


def _renderer(reader: RunReader) -> Callable[[TaskRow], str | None] | None:
    """How the loop renders a stored task's prompt for a store that kept none, where that needs
    no model: the embedded model's compact format. None for PDDL prompts (the chat template is
    the model's tokenizer's)."""
    from iterdeploy.simulator.models.registry import REGISTERED, prompt_format_of

    model = reader.scenario().get("model")
    name = model.get("name") if isinstance(model, dict) else None
    if not isinstance(name, str) or name.strip() not in REGISTERED:
        return None  # a local or hub model: resolving it may need files or the network
    if prompt_format_of(name) != "compact":
        return None
    from iterdeploy.simulator.errors import PddlError
    from iterdeploy.simulator.models.task_format import CompactTaskFormat
    from iterdeploy.simulator.planning import load_stored_task

    fmt = CompactTaskFormat()

    def render(task: TaskRow) -> str | None:
        try:
            return fmt.prompt(load_stored_task(task.domain, task.problem_pddl))
        except (PddlError, KeyError, ValueError):
            return None

    return render


# -- the dataset card --------------------------------------------------------------------------

EXPORT_TABLES: dict[str, tuple[str, tuple[Column, ...]]] = {
    "training": ("the examples each fine-tuned generation was trained on, one split per "
                 "generation", TRAINING_COLUMNS),
    "traces": ("every sampled completion with its verdict and the decision on it", TRACE_COLUMNS),
    "decisions": ("every curation decision", DECISION_COLUMNS),
    "tasks": ("every task, with its PDDL and prompt", TASK_COLUMNS),
}
"""Each exported table (a dataset config): what its rows are, and its columns. The dataset cards
of every format (here and in ``hf_export``) describe the tables from it."""


def column_sections(files: Sequence[ExportedFile]) -> list[str]:
    """The dataset card's Markdown sections listing the columns of each table that was written."""
    lines: list[str] = []
    for config, (what, columns) in EXPORT_TABLES.items():
        if any(f.config == config for f in files):
            lines += [f"## Columns of `{config}`", "", f"{what[0].upper()}{what[1:]}.", "",
                      "| column | type | meaning |", "|---|---|---|",
                      *(f"| `{c.name}` | {ARROW_TYPES[c.type]} | {c.doc} |" for c in columns), ""]
    return lines


def _card(reader: RunReader, staging: Path, fmt: ExportFormat, files: Sequence[ExportedFile]) -> None:
    run = reader.run()
    status = reader.run_status()
    generations = [g.generation for g in reader.generations()]
    models = {m.generation: m for m in reader.models()}
    scenario = reader.scenario()
    lines = ["---", "configs:"]
    present = [config for config in EXPORT_TABLES if any(f.config == config for f in files)]
    for config in present:
        lines.append(f"- config_name: {config}")
        if config == present[0]:
            lines.append("  default: true")
        lines.append("  data_files:")
        for f in files:
            if f.config == config:
                lines += [f"  - split: {f.split}", f"    path: {f.path}"]
    lines += ["---", "", f"# iterdeploy run `{run.name}`, seed {run.seed}", ""]
    span = f"generations {generations[0]}–{generations[-1]}" if generations else "no generation"
    lines += [
        f"Exported by `iterdeploy export` from the run store `{reader.run_dir}` (run id "
        f"`{run.run_id}`, created {run.created_at}): scenario `{run.name}`, seed {run.seed}, "
        f"status `{status}`, {span} committed of 0–{scenario.get('generations', '?')} planned, "
        f"model `{_model_name(scenario)}`. Files are {_FORMAT_NAMES[fmt]}; the run store was "
        "only read.",
        "",
        "| file | rows | what |",
        "|---|---|---|",
    ]
    for f in files:
        what = EXPORT_TABLES[f.config][0] if f.config != "training" else _training_line(f, models)
        lines.append(f"| `{f.path}` | {f.rows} | {what} |")
    lines += ["", "## Loading", "", "```python", *_loading(fmt, files), "```", ""]
    if fmt == "jsonl":
        lines += ["JSON carries no column types: pandas reads a column that is null throughout as "
                  "float64, and `datasets` types a column by the first 10 MB of a file. "
                  "`iterdeploy export --format parquet` writes the types listed below into the "
                  "files.", ""]
    lines += column_sections(files)
    lines += [
        "## Provenance", "",
        "Every row names its run-store ids (`trace_id`, `task_id`, `decision_id`), so any number "
        "here can be checked against the store with `iterdeploy summary` or `iterdeploy audit`. "
        "`acceptance_prob` is A(τ), the scenario's ground-truth implicit reward, which the "
        "simulator knows and an outside auditor would have to infer.", "",
    ]
    (staging / "README.md").write_text("\n".join(lines), encoding="utf-8")


_FORMAT_NAMES = {"jsonl": "JSON Lines (one object per line, UTF-8)", "parquet": "Parquet"}


def _model_name(scenario: dict[str, Any]) -> str:
    model = scenario.get("model")
    return str(model.get("name")) if isinstance(model, dict) else "?"


def _training_line(f: ExportedFile, models: dict[int, ModelRow]) -> str:
    g = int(f.split.removeprefix("generation_"))
    model = models.get(g)
    if model is None:
        return f"model {g}'s training set"
    loss = "" if model.train_loss is None else f", final training loss {model.train_loss:.3f}"
    return (f"model {g}'s training set (the store's model row: {model.n_train_examples} examples "
            f"counting `weight`, adapter `{model.adapter_path}`{loss})")


def _loading(fmt: ExportFormat, files: Sequence[ExportedFile]) -> list[str]:
    loader = "json" if fmt == "jsonl" else "parquet"
    first = files[0]
    read = "pd.read_json(DIR / PATH, lines=True)" if fmt == "jsonl" else "pd.read_parquet(DIR / PATH)"
    lines = [
        "import pandas as pd",
        "from pathlib import Path",
        "DIR = Path('.')  # this directory",
        read.replace("PATH", f"'{first.path}'"),
        "",
        "from datasets import load_dataset",
        f"load_dataset(str(DIR), '{first.config}')  # a config above; training: a split per generation",
        f"load_dataset('{loader}', data_files=str(DIR / '{first.path}'))['train']",
    ]
    if first.config == "training":
        last = [f for f in files if f.config == "training"][-1]
        lines += ["", "# prompt/completion pairs, the format TRL's SFTTrainer reads (repeat rows by "
                  "`weight` to match the run)",
                  f"load_dataset(str(DIR), 'training')['{last.split}'].select_columns(['prompt', "
                  "'completion'])"]
    return lines
