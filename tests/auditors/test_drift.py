"""The drift auditor flags the shifts a synthetic run was built with, and nothing else.

The stores here are made up like ``conftest.py``'s, with two things the drift auditor needs and the
implicit-reward stores do not have: evaluation traces on a fixed task pool, and *task effects*.
Each task has its own difficulty, plan length and reasoning length, so the samples of one task are
correlated as they are in a real run. That matters: a test that counted traces as independent
would "find" drift in these stores with no shift at all (checked below), so the no-shift runs can
fail an auditor that gets its units wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from scipy.stats import ks_2samp
from typer.testing import CliRunner

from iterdeploy.auditors.cli import register
from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.auditors.core.findings import make_finding
from iterdeploy.auditors.drift.auditor import AUDITOR_NAME, DriftAuditor, audit_drift
from iterdeploy.auditors.drift.data import action_names, build_trace_table, plan_key, plan_pairs
from iterdeploy.auditors.drift.diversity import DiversityRow, collapse_signals
from iterdeploy.auditors.payloads import UnknownPayload, payload
from iterdeploy.simulator.store import (
    EvaluationRow,
    FindingRow,
    GenerationBundle,
    RunReader,
    RunWriter,
    TraceRow,
)

LENGTH_FEATURES = {"plan_length", "valid_plan_length", "rel_plan_length", "n_tokens"}
"""Features a doubling of plan length moves (completion tokens include the plan)."""

FAILURE_KINDS = ("invalid_step", "goal_not_reached", "unparseable")


@dataclass(frozen=True)
class Gen:
    """How one synthetic generation behaves.

    Attributes:
        length_factor: Multiplies every plan's length.
        p_valid: Mean per-task probability of a valid sample.
        new_failure: A failure kind that replaces ``new_failure_share`` of the failed samples.
        new_failure_share: Share of failed samples given ``new_failure``.
        collapse: Every sample of a task repeats the task's first sample exactly.
        n_tasks: Deployment tasks (0 gives a generation with no deployment traces).
        eval_traces: Whether the generation samples the evaluation pool.
    """

    length_factor: float = 1.0
    p_valid: float = 0.5
    new_failure: str | None = None
    new_failure_share: float = 0.0
    collapse: bool = False
    n_tasks: int = 50
    eval_traces: bool = True


class _Builder:
    """Writes tasks and traces with counter ids, drawing from one seeded generator."""

    def __init__(self, synthetic: Any, seed: int, n_samples: int) -> None:
        self.s = synthetic
        self.rng = np.random.default_rng(seed)
        self.n_samples = n_samples
        self.task_id = 0
        self.trace_id = 0
        self.decision_id = 0

    def task(self, generation: int | None, pool: str) -> tuple[Any, dict[str, float]]:
        """A task row and its hidden effects (difficulty, base plan length, reasoning length)."""
        self.task_id += 1
        size = int(self.rng.integers(3, 7))
        effects = {
            "difficulty": float(self.rng.normal(0.0, 0.2) + 0.12 * (size - 4.5)),
            "base_length": 2 * size + 2 * int(self.rng.integers(0, 3)),
            "reasoning": float(self.rng.normal(25 + 4 * size, 10)),
        }
        return self.s.task_row(self.task_id, generation, size, pool=pool), effects

    def _plan(self, length: int, size: int) -> str:
        lines = []
        for k in range(length):
            first = k % 2 == 0
            action = str(self.rng.choice(["pickup", "unstack"] if first else ["putdown", "stack"]))
            arity = 1 if action in ("pickup", "putdown") else 2
            objects = [f"b{int(self.rng.integers(1, size + 1))}" for _ in range(arity)]
            lines.append(" ".join([action, *objects]))
        return "\n".join(lines)

    def samples(
        self, task: Any, effects: dict[str, float], generation: int, gen: Gen, purpose: str
    ) -> list[TraceRow]:
        """The model's samples for one task in one generation."""
        p_task = float(np.clip(gen.p_valid - effects["difficulty"], 0.02, 0.98))
        out: list[TraceRow] = []
        for k in range(self.n_samples):
            self.trace_id += 1
            if gen.collapse and out:
                out.append(out[0].model_copy(update={"trace_id": self.trace_id, "sample_index": k}))
                continue
            if self.rng.random() < p_task:
                status = "valid"
                length = int(effects["base_length"]) + 2 * int(self.rng.integers(0, 4))
            else:
                status = str(self.rng.choice(FAILURE_KINDS, p=[0.6, 0.3, 0.1]))
                if gen.new_failure and self.rng.random() < gen.new_failure_share:
                    status = gen.new_failure
                length = int(self.rng.integers(1, 3 * task.size))
            length = max(1, round(length * gen.length_factor))
            reasoning = max(0, int(self.rng.normal(effects["reasoning"], 3)))
            if status == "unparseable":
                plan_text, length = "<junk " + str(self.rng.integers(1e9)) + ">", 0
            else:
                plan_text = self._plan(length, task.size)
            row = self.s.trace_row(
                self.trace_id,
                generation,
                task.task_id,
                status=status,
                plan_length=length,
                n_tokens=reasoning + 3 * length + int(self.rng.integers(0, 3)),
                sample_index=k,
                purpose=purpose,
            )
            out.append(
                row.model_copy(
                    update={
                        "plan_text": plan_text,
                        "completion": f"think x{reasoning} ; {plan_text}",
                        "n_reasoning_tokens": reasoning,
                        "hit_token_limit": bool(self.rng.random() < 0.01),
                    }
                )
            )
        return out

    def decisions(self, traces: list[TraceRow]) -> list[Any]:
        out = []
        for t in traces:
            self.decision_id += 1
            out.append(self.s.decision_row(self.decision_id, t, kept=t.is_valid))
        return out


def drift_bundles(
    synthetic: Any, gens: list[Gen], *, seed: int = 0, n_samples: int = 4, n_eval_tasks: int = 40
) -> list[GenerationBundle]:
    """A synthetic run: one bundle per ``gens`` entry, evaluation tasks fixed from generation 0."""
    b = _Builder(synthetic, seed, n_samples)
    eval_pool = [b.task(None, "eval") for _ in range(n_eval_tasks)]
    bundles = []
    for g, gen in enumerate(gens):
        tasks, traces, evaluations = [], [], []
        if g == 0:
            tasks += [t for t, _ in eval_pool]
        for _ in range(gen.n_tasks):
            task, effects = b.task(g, "deploy")
            tasks.append(task)
            traces += b.samples(task, effects, g, gen, "deploy")
        decisions = b.decisions(traces)
        if gen.eval_traces:
            for task, effects in eval_pool:
                samples = b.samples(task, effects, g, gen, "eval")
                traces += samples
                valid = [t.plan_length for t in samples if t.is_valid]
                evaluations.append(
                    EvaluationRow(
                        generation=g,
                        task_id=task.task_id,
                        n_samples=len(samples),
                        n_valid=len(valid),
                        solved=bool(valid),
                        best_plan_length=min(valid) if valid else None,
                    )
                )
        n_deploy = sum(t.purpose == "deploy" for t in traces)
        bundles.append(
            GenerationBundle(
                generation=synthetic.generation_row(g, gen.n_tasks, n_deploy, sum(d.kept for d in decisions)),
                tasks=tasks,
                traces=traces,
                decisions=decisions,
                evaluations=evaluations,
            )
        )
    return bundles


def _store(tmp_path: Path, synthetic: Any, gens: list[Gen], name: str = "run",
           scenario: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    return synthetic.write_store(tmp_path / name, drift_bundles(synthetic, gens, **kwargs), scenario)


def _audit(run: Path, **config: Any) -> list[FindingRow]:
    with RunReader(run) as reader:
        return DriftAuditor(**config).audit(reader)


def _numbers(f: FindingRow) -> dict[str, Any]:
    """A finding's numbers, read through its kind's payload model (which must fit them exactly)."""
    numbers = payload(f).as_json()
    assert numbers == json.loads(f.numbers_json)
    return dict(numbers)


def _flagged(findings: list[FindingRow]) -> set[tuple[str, str, int, int]]:
    """(purpose, feature, earlier, later) of every flagged drift test (a finding per flagged test,
    whatever its severity: a change the declared objective predicts is flagged but ``info``)."""
    out = set()
    for f in findings:
        if f.kind == "drift" and f.generation is not None and "p_adjusted" in _numbers(f):
            n = _numbers(f)
            out.add((n["purpose"], n["feature"], n["generations"]["earlier"], n["generations"]["later"]))
    return out


def _expected(features: set[str], pairs: list[tuple[int, int]]) -> set[tuple[str, str, int, int]]:
    return {(p, f, a, b) for p in ("deploy", "eval") for f in features for a, b in pairs}


SHIFTED_AT_2 = [(1, 2), (2, 3), (0, 2)]
"""Pairs that differ when only generation 2 of 0..3 is shifted (0→3 compares two normal ones)."""


# -- shifts are found, exactly ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def length_run(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> Path:
    """Generation 2 writes plans twice as long; generations 0, 1 and 3 are alike."""
    gens = [Gen(), Gen(), Gen(length_factor=2.0), Gen()]
    return _store(tmp_path_factory.mktemp("length"), synthetic, gens, n_samples=6)


@pytest.fixture(scope="module")
def length_findings(length_run: Path) -> list[FindingRow]:
    return _audit(length_run)


def test_doubled_plans_flag_exactly_the_length_features_and_pairs(length_findings: list[FindingRow]) -> None:
    assert _flagged(length_findings) == _expected(LENGTH_FEATURES, SHIFTED_AT_2)
    assert not [f for f in length_findings if f.kind in ("capability", "collapse") and f.severity != "info"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_doubled_plans_over_seeds_flag_nothing_else(tmp_path: Path, synthetic: Any, seed: int) -> None:
    """Other seeds: the strongly moved features always flag, nothing outside the shift ever does.

    (The relative length moves less, in absolute terms, and may miss on some seeds.)
    """
    gens = [Gen(), Gen(), Gen(length_factor=2.0), Gen()]
    flagged = _flagged(_audit(_store(tmp_path, synthetic, gens, seed=seed, n_samples=6)))
    assert flagged <= _expected(LENGTH_FEATURES, SHIFTED_AT_2)
    assert flagged >= _expected(LENGTH_FEATURES - {"rel_plan_length"}, SHIFTED_AT_2)


def test_flagged_finding_carries_its_evidence(length_findings: list[FindingRow], length_run: Path) -> None:
    finding = next(
        f
        for f in length_findings
        if f.kind == "drift"
        and "p_adjusted" in _numbers(f)
        and _numbers(f)["feature"] == "plan_length"
        and _numbers(f)["purpose"] == "deploy"
        and _numbers(f)["generations"]["earlier"] == 1
    )
    n, evidence = _numbers(finding), json.loads(finding.evidence_json)
    assert finding.auditor == AUDITOR_NAME and finding.generation == 2
    # doubling is far beyond PSI 0.25: high when the users' departure explains it, info when the
    # declared objective predicts it, low when nothing in the curation does
    verdict = n["expectation"]["verdict"]
    assert finding.severity == {"departure": "high", "expected": "info", "unexplained": "low"}[verdict]
    assert n["psi"] >= 0.25 and n["js_distance"] > 0.2
    assert n["p_adjusted"] < 0.05 and n["p_value"] <= n["p_adjusted"]
    assert n["test"] == "scipy.stats.ks_2samp" and n["statistic"] > 0.5
    assert n["direction"] == "higher" and n["generations"]["relation"] == "consecutive"
    assert n["correction"]["method"] == "benjamini-hochberg" and n["correction"]["n_tests"] > 50
    assert n["detail"]["later"]["mean"] > 1.7 * n["detail"]["earlier"]["mean"]
    assert "longer" in finding.claim and "generation 1" in finding.claim
    # the examples are generation-2 deployment traces with the longest plans
    with RunReader(length_run) as reader:
        traces = {t.trace_id: t for t in reader.traces(generation=2, purpose="deploy")}
    ids = evidence["later_trace_ids"]
    assert ids and all(i in traces for i in ids)
    longest = max(t.plan_length for t in traces.values())
    assert traces[ids[0]].plan_length == longest
    assert evidence["generations"] == [1, 2]


def test_denominators_count_failed_and_unreadable(
    length_findings: list[FindingRow], length_run: Path
) -> None:
    with RunReader(length_run) as reader:
        traces = reader.traces(generation=2, purpose="deploy")
    n_unreadable = sum(t.status == "unparseable" for t in traces)
    n_failed = sum(not t.is_valid and t.status != "unparseable" for t in traces)
    assert n_unreadable > 0 and n_failed > 0
    for finding in length_findings:
        n = _numbers(finding)
        if finding.kind != "drift" or finding.severity == "info" or n["purpose"] != "deploy":
            continue
        if n["generations"]["later"] != 2:
            continue
        later = n["denominators"]["later"]
        assert later["n_traces"] == len(traces)  # every sample, whatever its outcome
        assert later["n_unreadable"] == n_unreadable and later["n_failed"] == n_failed
        assert later["n_valid"] + later["n_failed"] + later["n_unreadable"] == later["n_traces"]
        expected_population = {
            "plan_length": len(traces) - n_unreadable,
            "valid_plan_length": later["n_valid"],
            "rel_plan_length": later["n_valid"],
            "n_tokens": len(traces),
        }[n["feature"]]
        assert later["n_in_population"] == expected_population
        assert str(len(traces)) in finding.claim


def test_new_failure_kind_flags_the_outcome_mix_only(tmp_path: Path, synthetic: Any) -> None:
    gens = [Gen(), Gen(), Gen(new_failure="unknown_action", new_failure_share=0.6), Gen()]
    findings = _audit(_store(tmp_path, synthetic, gens))
    assert _flagged(findings) == _expected({"status"}, SHIFTED_AT_2)
    finding = next(f for f in findings if f.kind == "drift" and "p_adjusted" in _numbers(f)
                   and _numbers(f)["generations"]["earlier"] == 1)
    n = _numbers(finding)
    assert n["direction"] == "unknown_action" and n["test"] == "scipy.stats.chi2_contingency"
    assert "'unknown_action' went from 0% to" in finding.claim
    with RunReader(tmp_path / "run") as reader:
        statuses = {t.trace_id: t.status for t in reader.traces(generation=n["generations"]["later"])}
    assert all(statuses[i] == "unknown_action" for i in json.loads(finding.evidence_json)["later_trace_ids"])


def test_capability_change_beyond_intervals_is_flagged(tmp_path: Path, synthetic: Any) -> None:
    gens = [Gen(p_valid=0.3), Gen(p_valid=0.3), Gen(p_valid=0.85)]
    findings = _audit(_store(tmp_path, synthetic, gens, n_samples=6))
    changes = [f for f in findings if f.kind == "capability" and f.generation is not None]
    assert changes, "a jump from 30% to 85% valid must show in some size bucket"
    for f in changes:
        n = _numbers(f)
        assert f.generation == 2 and n["change"] > 0 and n["interval"]["disjoint"]
        assert n["p_adjusted"] < 0.05
        assert n["later"]["valid_ci"][0] > n["earlier"]["valid_ci"][1]
        assert n["denominators"]["later"]["n_samples"] >= n["later"]["n_valid"]
        # the declared objective (validity) keeps valid plans: a rise is what it predicts
        assert n["declared_push"] == 1 and n["expected"] and f.severity == "info"
        assert "rose" in f.claim and "failed and unreadable ones included" in f.claim
        assert "reported as expected" in f.claim
    summary = next(f for f in findings if f.kind == "capability" and f.generation is None)
    cells = _numbers(summary)["cells"]
    assert {c["purpose"] for c in cells} == {"deploy", "eval"}
    for c in cells:
        low, high = c["valid_ci"]
        assert low <= c["valid_share"] <= high


# -- no shift, no findings --------------------------------------------------------------------------


NULL_SEEDS = range(8)


@pytest.fixture(scope="module")
def null_runs(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> list[Path]:
    """Same behaviour in every generation, several seeds."""
    root = tmp_path_factory.mktemp("null")
    return [_store(root, synthetic, [Gen()] * 4, name=f"seed-{s}", seed=s) for s in NULL_SEEDS]


def test_no_shift_flags_nothing_over_seeds(null_runs: list[Path]) -> None:
    raw_p: list[float] = []
    for run in null_runs:
        findings = _audit(run)
        assert [f for f in findings if f.severity != "info"] == [], run.name
        summary = next(f for f in findings if f.kind == "drift" and f.generation is None)
        raw_p += [t["p_value"] for t in _numbers(summary)["tests"] if t["p_value"] is not None]
    # the per-test level holds too (BH aside): about 5% of raw p-values below 0.05, not more
    assert len(raw_p) > 400
    assert np.mean(np.asarray(raw_p) < 0.05) <= 0.07


def test_null_stores_are_clustered_so_trace_level_tests_would_fail(null_runs: list[Path]) -> None:
    """Guard on the fixture: counting traces as independent finds drift where there is none.

    So the no-shift test above can fail an auditor that tests traces rather than tasks.
    """
    rejections = []
    for run in null_runs:
        with RunReader(run) as reader:
            frame = build_trace_table(reader).frame
        deploy = frame[frame["purpose"] == "deploy"]
        for column in ("n_reasoning_tokens", "n_tokens", "readable_plan_length"):
            for a, b in [(0, 1), (1, 2), (2, 3)]:
                x = deploy.loc[deploy["generation"] == a, column].dropna()
                y = deploy.loc[deploy["generation"] == b, column].dropna()
                rejections.append(ks_2samp(x, y).pvalue < 0.05)
    assert np.mean(rejections) > 0.12  # well above the nominal 5%


# -- diversity and collapse -------------------------------------------------------------------------


def test_repeating_one_plan_is_a_collapse(tmp_path: Path, synthetic: Any) -> None:
    findings = _audit(_store(tmp_path, synthetic, [Gen(), Gen(), Gen(collapse=True), Gen(collapse=True)]))
    collapses = [f for f in findings if f.kind == "collapse"]
    signals = {(_numbers(f)["purpose"], _numbers(f)["signal"]) for f in collapses}
    for purpose in ("deploy", "eval"):
        assert (purpose, "distinct_valid_plans_per_task") in signals
        assert (purpose, "plan_entropy_bits") in signals
        assert (purpose, "unique_completion_share") in signals
    assert ("deploy", "action_type_entropy_bits") not in signals  # the action mix did not change
    for f in collapses:
        n = _numbers(f)
        # the declared objective keeps one plan per task: a narrowing is what it predicts
        assert n["declared_selects"] and f.severity == "info" and "what it predicts" in f.claim
        assert f.generation == 2 and n["below_fraction_generations"] == [2, 3]
        values = {s["generation"]: s["value"] for s in n["series"]}
        assert values[2] < 0.5 * values[0]
        assert "repeating itself" in f.claim
        ids = json.loads(f.evidence_json)["repeated_plan_trace_ids"]
        assert ids and json.loads(f.evidence_json)["repeated_plan_generation"] == 2
    summary = next(f for f in findings if f.kind == "diversity")
    rows = {(r["purpose"], r["generation"]): r for r in _numbers(summary)["rows"]}
    assert rows[("deploy", 2)]["unique_completion_share"] == pytest.approx(0.25)
    assert rows[("deploy", 2)]["n_duplicate_completions"] == 150  # 3 of 4 samples of 50 tasks


def _row(generation: int, value: float | None) -> DiversityRow:
    values = dict.fromkeys(
        ("distinct_valid_plans_per_task", "plan_entropy_bits", "action_type_entropy_bits"), 1.0
    )
    return DiversityRow(generation, "deploy", {**values, "unique_completion_share": value}, {})


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ([1.0, 0.9, 0.8, 0.7], ("medium", [], True)),  # three falls, 30% lower
        ([1.0, 0.98, 0.96, 0.95], None),  # three falls but only 5% lower
        ([1.0, 0.9, 0.95, 0.7], None),  # not monotone, never below half
        ([1.0, 0.9, 0.8], None),  # two falls are too few
        ([1.0, 0.4, 0.9], ("high", [1], False)),  # below half once
        ([1.0, None, 0.45, 0.4], ("high", [2, 3], False)),  # an empty generation is skipped
        ([0.0, 0.0, 0.0], None),  # nothing to fall from
    ],
)
def test_collapse_rules(series: list[float | None], expected: tuple[str, list[int], bool] | None) -> None:
    found = collapse_signals([_row(g, v) for g, v in enumerate(series)])
    if expected is None:
        assert found == []
        return
    assert len(found) == 1 and found[0].signal == "unique_completion_share"
    assert (found[0].severity, found[0].below, found[0].monotone) == expected


# -- edge cases --------------------------------------------------------------------------------------


def test_only_generation_zero_gives_info_not_a_crash(tmp_path: Path, synthetic: Any) -> None:
    findings = _audit(_store(tmp_path, synthetic, [Gen()]))
    assert {f.severity for f in findings} == {"info"}
    assert [f.kind for f in findings] == ["drift", "capability", "diversity"]
    assert "only generation 0" in findings[0].claim
    assert _numbers(findings[0])["n_tests"] == 0


def test_empty_generation_gives_info_not_a_crash(tmp_path: Path, synthetic: Any) -> None:
    gens = [Gen(), Gen(n_tasks=0, eval_traces=False), Gen()]
    findings = _audit(_store(tmp_path, synthetic, gens))
    notes = [f for f in findings if f.generation == 1]
    assert {(f.kind, f.severity) for f in notes} == {("drift", "info")}
    assert sorted(_numbers(f)["purpose"] for f in notes) == ["deploy", "eval"]
    assert any("Generation 1 has no deployment traces" in f.claim for f in notes)
    tests = _numbers(findings[0])["tests"]
    with_gen_1 = [t for t in tests if 1 in (t["earlier"], t["later"])]
    assert with_gen_1 and all(t["status"] == "too-few" and t["p_value"] is None for t in with_gen_1)
    assert _flagged(findings) == set()


def test_run_without_generations_gives_info(tmp_path: Path, synthetic: Any) -> None:
    run = synthetic.write_store(tmp_path / "run", [])
    findings = _audit(run)
    assert {f.severity for f in findings} == {"info"}
    assert "nothing to audit" in findings[0].claim


def test_bad_config_is_refused(length_run: Path) -> None:
    for config in ({"alpha": 0.0}, {"n_bins": 1}, {"ci_method": "normal"}, {"collapse_fraction": 1.5}):
        with pytest.raises(AuditorConfigError):
            _audit(length_run, **config)


def test_same_store_same_findings(length_run: Path, length_findings: list[FindingRow]) -> None:
    again = _audit(length_run)
    assert [f.model_dump(exclude={"created_at"}) for f in again] == [
        f.model_dump(exclude={"created_at"}) for f in length_findings
    ]


def test_reaudit_replaces_only_its_own_findings(tmp_path: Path, synthetic: Any) -> None:
    run = _store(tmp_path, synthetic, [Gen(), Gen(length_factor=2.0)], n_eval_tasks=10)
    other = make_finding(
        auditor="other-v1", kind="x", severity="low", generation=None, claim="c",
        numbers=UnknownPayload.build({}), evidence={},
    )
    writer = RunWriter(run)
    writer.replace_findings("other-v1", [other])
    writer.close()
    first = audit_drift(run)
    second = audit_drift(run)
    assert [f.claim for f in first] == [f.claim for f in second]
    with RunReader(run) as reader:
        stored = reader.findings()
    assert sum(f.auditor == "other-v1" for f in stored) == 1
    assert sum(f.auditor == AUDITOR_NAME for f in stored) == len(second)


def test_plan_parsing() -> None:
    assert action_names("(Stack b1 b2)\n\n unstack b3 b4 \npickup b1") == ("stack", "unstack", "pickup")
    assert plan_key("(Stack  b1 b2)\n\nPICKUP b3") == plan_key("stack b1 b2\npickup b3")
    assert plan_key("stack b1 b2") != plan_key("stack b2 b1")
    assert [(p.earlier, p.later, p.relation) for p in plan_pairs((0, 1, 2, 3))] == [
        (0, 1, "consecutive"),
        (1, 2, "consecutive"),
        (2, 3, "consecutive"),
        (0, 2, "baseline"),
        (0, 3, "baseline"),
    ]


# -- the CLI -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stand-in for the iterdeploy CLI."""

    register(app)
    return app


@pytest.fixture
def cli_run(tmp_path: Path, synthetic: Any) -> Path:
    return _store(tmp_path, synthetic, [Gen(n_tasks=30), Gen(n_tasks=30, length_factor=2.0)], n_eval_tasks=20)


def test_cli_only_drift_prints_and_stores(app: typer.Typer, cli_run: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(cli_run), "--only", "drift", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed and {f["auditor"] for f in printed} == {AUDITOR_NAME}
    assert any(f["kind"] == "drift" and f["severity"] == "high" for f in printed)
    with RunReader(cli_run) as reader:
        assert [f.claim for f in reader.findings()] == [f["claim"] for f in printed]


def test_cli_runs_every_auditor_in_order(app: typer.Typer, cli_run: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(cli_run), "--json", "--bootstrap", "10"])
    assert result.exit_code == 0, result.output
    auditors = [f["auditor"] for f in json.loads(result.stdout)]
    order = ["implicit-reward-v2", "declared-objective-v2", AUDITOR_NAME, "reward-drift-v2",
             "attribution-v2", "blackbox-reward-v2"]
    assert set(auditors) <= set(order) and set(order[:5]) <= set(auditors)
    assert auditors == sorted(auditors, key=order.index), "grouped, in the documented order"
    with RunReader(cli_run) as reader:
        assert sorted(f.auditor for f in reader.findings()) == sorted(auditors)


def test_cli_table_output(app: typer.Typer, cli_run: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(cli_run), "--only", "drift"])
    assert result.exit_code == 0, result.output
    assert "Drift: flagged after" in result.stdout and "plan_length" in result.stdout
    assert "[high] drift, generation 1:" in result.stdout
    assert "drift findings stored in" in result.stdout
    assert "Implicit reward" not in result.stdout


def test_cli_rejects_unknown_auditor(app: typer.Typer, cli_run: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(cli_run), "--only", "vibes"])
    assert result.exit_code == 2


def test_replace_keeps_trace_rows_untouched(length_run: Path, synthetic: Any, tmp_path: Path) -> None:
    """Auditing writes findings only."""
    before = synthetic.dump_tables(length_run, skip=("findings",))
    audit_drift(length_run)
    assert synthetic.dump_tables(length_run, skip=("findings",)) == before


def test_without_a_declared_curation_collapse_and_capability_keep_their_size(
    tmp_path: Path, synthetic: Any
) -> None:
    """Declared objective ``none``: nothing is predicted, so a collapse is high and a capability
    jump is sized as a change, not reported as expected."""
    gens = [Gen(p_valid=0.3), Gen(p_valid=0.3), Gen(p_valid=0.85, collapse=True)]
    findings = _audit(_store(tmp_path, synthetic, gens, n_samples=6,
                             scenario={"declared_objective": "none"}))
    collapses = [f for f in findings if f.kind == "collapse"]
    assert collapses and all(f.severity == "high" for f in collapses)
    changes = [f for f in findings if f.kind == "capability" and f.generation is not None]
    assert changes and all(f.severity in ("medium", "high") for f in changes)
    assert all(not _numbers(f)["expected"] for f in changes)


def test_a_drift_the_declared_objective_predicts_is_expected(tmp_path: Path, synthetic: Any) -> None:
    """Validity rises across generations: more traces are judged valid. The declared objective
    keeps valid plans, so the outcome-mix shift is flagged and reported as expected (info)."""
    gens = [Gen(p_valid=0.3), Gen(p_valid=0.3), Gen(p_valid=0.85)]
    findings = _audit(_store(tmp_path, synthetic, gens, n_samples=6))
    status = [f for f in findings if f.kind == "drift" and "p_adjusted" in _numbers(f)
              and _numbers(f)["feature"] == "status"]
    assert status
    for f in status:
        assert _numbers(f)["expectation"]["verdict"] == "expected" and f.severity == "info"
        assert "declared objective predicts this change" in f.claim
