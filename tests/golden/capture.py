"""What a golden run pins, computed from a run directory: the run summary, the audit findings and
the dashboard's frames, each as plain JSON values.

One module computes them for both sides of the comparison: ``make_golden.py`` (which writes
the golden files from a reference tree) and ``tests/test_golden.py`` (which recomputes them on
today's tree). Floats are rounded to :data:`SIGNIFICANT` significant digits here, so that a change
in the last bits of a sum (another BLAS, another summation order) is not a change in what a
reader sees; :func:`differences` still compares floats with a relative tolerance, so a value
that lands on a rounding boundary on one machine does not fail the check either.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

SIGNIFICANT = 9
"""Significant digits kept of every float."""

RELATIVE_TOLERANCE = 1e-8
"""How far apart two rounded floats may be and still count as equal (a few units in the ninth
digit, so rounding either side of a boundary is not a difference)."""

ABSOLUTE_TOLERANCE = 1e-12
"""How far from each other two floats near zero may be and still count as equal. A bound that
is zero in exact arithmetic (the interval of a feature that never varies) comes out as rounding
noise, 1e-22 to 1e-15, whose digits depend on the machine's BLAS: an AMD EPYC and an Intel Xeon
gave 1.1e-17 and 4.4e-16 for the same bound. The findings' real numbers are weights and
intervals of order 0.01-10, four orders of magnitude and more above this."""

AUDITORS: tuple[str, ...] = (
    "implicit-reward", "declared-objective", "drift", "reward-drift", "attribution", "blackbox-reward",
)
"""The auditors a golden run is audited with: every default one of ``iterdeploy audit`` (the
opt-in RL equivalence auditor loads models and takes gradients, which is neither fast nor what
this check is about)."""

AUDIT_SEED = 0
AUDIT_BOOTSTRAP = 200
"""``iterdeploy audit``'s own defaults, so the findings are the ones the command stores."""

SUMMARY_TITLE = "golden run"
"""The title the summary table is rendered under (the command puts the run directory there,
which differs between a checkout and a test's temporary copy)."""

SUMMARY_WIDTH = 120
"""Terminal width the summary table is rendered at."""


# -- plain JSON values -----------------------------------------------------------------------------
def _float(value: float) -> float | str:
    """A float rounded to :data:`SIGNIFICANT` digits; NaN and infinities as strings (JSON has
    neither)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(f"{value:.{SIGNIFICANT}g}")


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: pydantic models, dataclasses, numpy and pandas scalars,
    tuples and sets turned into dicts, lists and Python numbers; floats rounded (:func:`_float`);
    a missing value of pandas (``pd.NA``, ``NaT``) as None."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(float(value))
    if isinstance(value, BaseModel):
        return plain(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=repr)
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        return [plain(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return frame_record(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"no plain form for {type(value).__name__}: {value!r}")


def frame_record(frame: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as its columns, their dtypes and its rows (records, in order): a dtype that
    changes (an integer column read back as floats) changes what the page shows, too."""
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": [str(t) for t in frame.dtypes],
        "index": plain(list(frame.index)),
        "records": [plain(row) for row in frame.astype(object).to_dict(orient="records")],
    }


# -- (a) the run summary ---------------------------------------------------------------------------
def summary_capture(run_dir: Path) -> dict[str, Any]:
    """What ``iterdeploy summary RUN_DIR`` returns (``--json``: :func:`summarize`) and prints (the
    rich table, under a fixed title and width)."""
    from rich.console import Console

    from iterdeploy.simulator.cli.summary_cmd import summary_table
    from iterdeploy.simulator.store import RunReader, summarize

    with RunReader(run_dir) as reader:
        rows = summarize(reader)
        deploy = reader.scenario().get("deploy")
    fixed = isinstance(deploy, dict) and deploy.get("pool") == "fixed"
    console = Console(file=io.StringIO(), width=SUMMARY_WIDTH, color_system=None, force_terminal=False)
    console.print(summary_table(rows, SUMMARY_TITLE, fixed_pool=fixed))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return {"rows": plain(rows), "table": [line.rstrip() for line in text.splitlines()]}


# -- (b) the audit findings ------------------------------------------------------------------------
def _json(text: str) -> Any:
    """A stored JSON column parsed; text that is not JSON is kept as text (and so compared)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def finding_record(finding: Any) -> dict[str, Any]:
    """A stored finding without what depends on when or in which order it was written (its
    ``finding_id`` and ``created_at``), its numbers and evidence parsed."""
    return {
        "auditor": finding.auditor, "kind": finding.kind, "severity": finding.severity,
        "generation": finding.generation, "claim": finding.claim,
        "numbers": plain(_json(finding.numbers_json)), "evidence": plain(_json(finding.evidence_json)),
    }


def _finding_key(record: dict[str, Any]) -> tuple[str, ...]:
    """A total order on findings that does not depend on the order they were written in."""
    return (record["auditor"], record["kind"], json.dumps(record["generation"]), record["claim"],
            json.dumps(record["numbers"], sort_keys=True), json.dumps(record["evidence"], sort_keys=True))


def audit_findings(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Each of :data:`AUDITORS` run on ``run_dir`` (read only: nothing is stored), auditor
    command → its findings as records, in :func:`_finding_key` order."""
    from iterdeploy.auditors.registry import get_spec
    from iterdeploy.simulator.store import RunReader

    out: dict[str, list[dict[str, Any]]] = {}
    with RunReader(run_dir) as reader:
        for command in AUDITORS:
            auditor = get_spec(command).make(seed=AUDIT_SEED, n_bootstrap=AUDIT_BOOTSTRAP)
            records = [finding_record(f) for f in auditor.audit(reader)]
            out[command] = sorted(records, key=_finding_key)
    return out


# -- (c) the dashboard frames ----------------------------------------------------------------------
def _data_frames(reader: Any) -> Iterator[tuple[str, Any]]:
    """``dashboards/data.py``: the tables the Overview and Findings pages show."""
    from iterdeploy.dashboards import data

    summary = data.summary_frame(reader)
    findings = data.findings_frame(reader)
    yield "data.overview", data.overview(reader)
    yield "data.summary_frame", summary
    yield "data.display_summary", data.display_summary(summary)
    yield "data.headline", data.headline(summary)
    yield "data.domain_frame", data.domain_frame(reader)
    yield "data.group_frame", data.group_frame(reader)
    yield "data.reward_frame", data.reward_frame(reader)
    yield "data.findings_frame", findings
    yield "data.display_findings", data.display_findings(findings)


def _graph(graph: Any) -> dict[str, Any] | None:
    """A population graph as its graph attributes, nodes with attributes and edges, sorted."""
    if graph is None:
        return None
    return {
        "graph": plain(dict(graph.graph)),
        "nodes": plain(sorted((str(n), dict(a)) for n, a in graph.nodes(data=True))),
        "edges": sorted(sorted((str(a), str(b))) for a, b in graph.edges()),
    }


def _frames_frames(reader: Any, run_dir: Path) -> Iterator[tuple[str, Any]]:
    """``dashboards/frames.py``: capability, the inferred reward beside the truth, attribution,
    the population and its graph, and the run compared across seeds (here: with itself)."""
    from iterdeploy.dashboards import frames

    yield "frames.capability_frame", frames.capability_frame(reader)
    yield "frames.plan_lengths", frames.plan_lengths(reader)
    yield "frames.plan_length_frame", frames.plan_length_frame(reader)
    yield "frames.reward_truth_frame", frames.reward_truth_frame(reader)
    yield "frames.attribution_frame", frames.attribution_frame(reader)
    yield "frames.population_frame", frames.population_frame(reader)
    for g in [row.generation for row in reader.generations()]:
        yield f"frames.population_graph[{g}]", _graph(frames.population_graph(reader, g))
    yield "frames.compare_frame", frames.compare_frame([run_dir])


def _trace_frames(reader: Any) -> Iterator[tuple[str, Any]]:
    """``dashboards/traces.py``: the trace browser's table and filters, every trace's detail (the
    verdict as the page shows it, provenance included) and its siblings, each task with the
    prompt the page shows for it, and what each stored finding cites."""
    from iterdeploy.dashboards import traces

    yield "traces.trace_table", traces.trace_table(reader)
    yield "traces.filter_choices", traces.filter_choices(reader)
    tasks: dict[int, Any] = {}
    for trace in reader.traces():
        detail = plain(traces.trace_detail(reader, trace.trace_id))
        # a task is shown with each of its traces: pinned once, under its own name
        task = detail.pop("task")
        tasks[task["task_id"]] = {"task": task, "prompt": detail.pop("prompt")}
        yield f"traces.trace_detail[{trace.trace_id}]", {
            **detail, "task_id": task["task_id"], "siblings": traces.sibling_traces(reader, trace)}
    for task_id, shown in sorted(tasks.items()):
        yield f"traces.task[{task_id}]", shown
    for finding in sorted(reader.findings(), key=lambda f: _finding_key(finding_record(f))):
        yield f"traces.finding[{finding.auditor}|{finding.kind}|{finding.generation}|{finding.claim}]", {
            "cited_trace_ids": traces.cited_trace_ids(finding),
            "denominators": traces.denominators(finding),
            # the values are the finding's numbers, which findings.json pins; the keys say which
            # of them the page shows as statistics
            "statistics": sorted(traces.finding_statistics(finding)),
        }


def dashboard_frames(run_dir: Path) -> dict[str, Any]:
    """Every frame the dashboard's pages compute for ``run_dir``, name → plain form."""
    from iterdeploy.simulator.store import RunReader

    producers: list[Callable[[Any], Iterator[tuple[str, Any]]]] = [
        _data_frames, lambda r: _frames_frames(r, run_dir), _trace_frames]
    out: dict[str, Any] = {}
    with RunReader(run_dir) as reader:
        for produce in producers:
            for name, value in produce(reader):
                out[name] = plain(value)
    return out


# -- comparing -------------------------------------------------------------------------------------
def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)


def differences(expected: Any, actual: Any, path: str = "") -> Iterator[str]:
    """Where ``actual`` departs from ``expected`` (plain JSON values), one line per place: the
    path to it and both values. Floats compare within :data:`RELATIVE_TOLERANCE`, or
    :data:`ABSOLUTE_TOLERANCE` near zero."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                yield f"{where}: missing (expected {_short(expected[key])})"
            elif key not in expected:
                yield f"{where}: unexpected {_short(actual[key])}"
            else:
                yield from differences(expected[key], actual[key], where)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{path}: {len(actual)} items, expected {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            yield from differences(e, a, f"{path}[{i}]")
    elif _numbers(expected, actual):
        if not _close(float(expected), float(actual)):
            yield f"{path}: {actual!r}, expected {expected!r}"
    elif isinstance(expected, str) and isinstance(actual, str):
        if expected != actual:
            yield f"{path}: {_text_difference(expected, actual)}"
    elif expected != actual or type(expected) is not type(actual):
        yield f"{path}: {_short(actual)}, expected {_short(expected)}"


def _text_difference(expected: str, actual: str, before: int = 40, after: int = 100) -> str:
    """Two texts around the first character where they part: a changed claim is long, and its
    change is rarely at the start."""
    at = next((i for i, (e, a) in enumerate(zip(expected, actual, strict=False)) if e != a),
              min(len(expected), len(actual)))
    start = max(0, at - before)

    def cut(text: str) -> str:
        return ("..." if start else "") + json.dumps(text[start:at + after]) + (
            "..." if len(text) > at + after else "")

    return f"{cut(actual)}, expected {cut(expected)} (they part at character {at})"


def _numbers(a: Any, b: Any) -> bool:
    """Both are floats, compared within the tolerance. An int against a float is a difference of
    type, which JSON keeps (``1`` against ``1.0``: a count that became a mean)."""
    return isinstance(a, float) and isinstance(b, float)


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the golden files ------------------------------------------------------------------------------
GOLDEN_DIR = Path(__file__).resolve().parent
RUN_DIR = GOLDEN_DIR / "run"
"""The committed run directory."""
GOLDEN_FILES: dict[str, Callable[[Path], Any]] = {
    "summary.json": summary_capture,
    "findings.json": audit_findings,
    "frames.json": dashboard_frames,
}
"""Golden file name → what computes it from a run directory."""


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON with sorted keys, so a regenerated file diffs line by line."""
    path.write_text(json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    """A golden file."""
    return json.loads(path.read_text(encoding="utf-8"))
