"""Synthetic run stores for the dashboard tests.

The rows are made up but written through :class:`RunWriter` with the real row models, so the
dashboard reads exactly the store format the loop writes, in milliseconds instead of a training run.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from iterdeploy.dashboards.browser import CHROMIUM, CHROMIUM_ARGS, wait_until_drawn
from iterdeploy.simulator.store import (
    CurationRow,
    EvaluationRow,
    FindingRow,
    GenerationBundle,
    GenerationRow,
    ModelRow,
    PopulationRow,
    RunRow,
    RunStatus,
    RunWriter,
    TaskRow,
    TraceRow,
    TrainingExampleRow,
    dumps,
)

SCENARIO_NAME = "curation-bias-demo"
SEED = 7
EVAL_SIZES = (2, 3, 4, 5, 6)
"""Blocks of the five evaluation tasks."""
SOLVED = (1, 2, 4, 5)
"""Evaluation tasks generation g solves: the first SOLVED[g] tasks of EVAL_SIZES."""
DEPLOY_SIZES = (2, 3)
"""Each generation's users bring two tasks; the first of two samples is valid and published."""
NOW = "2025-06-01T12:00:00+00:00"

MakeRun = Callable[..., Path]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def small_real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small *real* length_bias run, audited: the tiny embedded model (``TINY_OVERRIDES``), two
    fine-tuned generations, written by a real ``iterdeploy run`` process and audited by a real
    ``iterdeploy audit``. Pages and the report are checked on what the loop and the auditors
    really write, not only on the synthetic stores below. Tests must not write to it."""
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("small-real-run") / "run"
    overrides = {**TINY_OVERRIDES, "generations": 2}
    args = ["run", "scenarios/length_bias.yaml", "--out", str(out)]
    for key, value in overrides.items():
        args += ["--set", f"{key}={value}"]
    for command in (args, ["audit", str(out)]):
        result = subprocess.run([sys.executable, "-m", "iterdeploy.simulator.cli", *command],
                                cwd=REPO, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
    return out


# -- the browser harness: one server per store, one chromium per module ---------------------------
PAGE_TIMEOUT_MS = 60_000
EXPECT_TIMEOUT_MS = 30_000
"""How long an ``expect(...)`` assertion waits for the page (playwright's default is 5 s): a
Streamlit rerun on a loaded 2-core machine took longer than that, and a slow page is not a wrong
one. A page that never shows what is expected still fails, after this long."""
expect.set_options(timeout=EXPECT_TIMEOUT_MS)

PAGES: dict[str, str] = {
    "overview": "", "capability": "capability", "reward": "reward", "findings": "findings",
    "traces": "traces", "population": "population", "compare": "compare",
}
"""Each page of the dashboard and its URL path (the Overview is the default page, at ``/``)."""

PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'
"""Markup a model, a scenario file or a user name could carry: run as code, it sets
``window.__xss``; shown as text, it is harmless."""


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium under playwright; fails (never skips) when it is not installed."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser.sh (as root) first; "
                    "the browser tests need Debian's chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for a module's tests (each test opens its own page)."""
    with chromium() as b:
        yield b


def open_page(browser: Browser, url: str, *, height: int = 2000) -> Page:
    """A fresh tab at ``url``, drawn to the end (:func:`wait_until_drawn`)."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    wait_until_drawn(page, PAGE_TIMEOUT_MS)
    return page


def _docstrings(tree: ast.AST) -> Iterator[str]:
    """Every string a Python file holds as a bare statement: module, class and function
    docstrings and attribute docstrings (what Streamlit's magic would print)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            yield node.value.value


def docstring_sentences() -> list[str]:
    """The sentences of every docstring of the dashboard package (six words or more, whitespace
    normalised): none may be visible on a page."""
    package = REPO / "dashboards"
    sentences: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        for text in _docstrings(ast.parse(path.read_text(encoding="utf-8"))):
            for sentence in re.split(r"(?<=[.:;!?])\s+", " ".join(text.split())):
                if len(sentence.split()) >= 6:
                    sentences.add(sentence)
    return sorted(sentences)


def visible_text(page: Page) -> str:
    """The page's visible text, whitespace normalised, without the invisible word joiners the
    dashboard puts into URLs in store text (so that Markdown does not link them)."""
    return " ".join(page.inner_text("body").replace("\u2060", "").split())


def assert_clean(page: Page) -> str:
    """No Streamlit exception box and no docstring sentence on the page; returns its text."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.all_inner_texts()
    text = visible_text(page)
    stray = [s for s in docstring_sentences() if s in text]
    assert not stray, f"docstring text on the page: {stray[:3]}"
    return text


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``browser`` marker (tests that drive a real headless chromium)."""
    config.addinivalue_line(
        "markers", "browser: drives the Streamlit page in headless chromium "
        "(needs /usr/bin/chromium: run scripts/install-browser.sh)",
    )


def reward_weights(generation: int) -> dict[str, dict[str, float | None]]:
    """The inferred reward of a generation: validity paid for throughout, short plans more and
    more; ``plan_length`` has no interval in generation 0 (no usable resamples)."""
    length = -0.25 * generation
    return {
        "is_valid": {"weight": 2.0, "ci_low": 1.5, "ci_high": 2.5},
        "plan_length": {"weight": length, "ci_low": None if generation == 0 else length - 0.1,
                        "ci_high": None if generation == 0 else length + 0.1},
        "n_tokens": {"weight": None, "ci_low": None, "ci_high": None},
    }


def eval_plan_length(size: int, generation: int) -> int:
    """Valid evaluation plans get longer with size and with generation."""
    return 2 * size + generation


def _trace(trace_id: int, generation: int, task_id: int, purpose: str, index: int,
           is_valid: bool, length: int, text: str = "") -> TraceRow:
    return TraceRow(
        trace_id=trace_id, generation=generation, task_id=task_id, purpose=purpose,  # type: ignore[arg-type]
        sample_index=index, completion="(unstack a b)\n" * length + text,
        plan_text="(unstack a b)\n" * length + text, n_tokens=5 * length, n_reasoning_tokens=0,
        hit_token_limit=False, status="valid" if is_valid else "goal_not_reached",
        is_valid=is_valid, plan_length=length, verdict_json=dumps({"valid": is_valid}),
    )


def _task(task_id: int, pool: str, generation: int | None, size: int,
          domain: str = "blocksworld", text: str = "") -> TaskRow:
    return TaskRow(
        task_id=task_id, pool=pool, generation=generation, domain=domain,  # type: ignore[arg-type]
        name=f"{pool}-{task_id}{text}", size=size, params_json=dumps({"n_blocks": size}),
        optimal_length=2 * size, problem_pddl=f"(define (problem p{task_id}))",
    )


def build_run(run_dir: Path, *, n_generations: int = len(SOLVED), status: RunStatus = "completed",
              with_findings: bool = True, all_invalid: bool = False,
              domains: tuple[str, ...] = ("blocksworld",), groups: tuple[str, ...] = ("u0",),
              families: dict[str, str] | None = None, with_rewards: bool = False,
              name: str = SCENARIO_NAME, text: str = "", question: str | None = None,
              seed: int = SEED) -> Path:
    """Write a synthetic run store to ``run_dir`` and close it (so no WAL is left behind).

    Args:
        run_dir: Where to create the run.
        n_generations: Generations to commit (0 = only the run row).
        status: The run status to leave.
        with_findings: Whether to add two auditor findings.
        all_invalid: Make every trace invalid (a generation that solved nothing).
        domains: Domains of the evaluation tasks, in turn (task i gets ``domains[i % len]``).
        groups: User groups that curate the deployment tasks, in turn (each generation's task i
            goes to ``groups[i % len]``).
        families: When given, a population record per generation naming each group's family
            (``{group: family}``), as the loop writes for populations of many members.
        with_rewards: Add the white-box auditor's per-generation findings with inferred weights
            (:func:`reward_weights`), as ``iterdeploy audit`` writes them.
        name: The scenario name (stored in the run row and the scenario).
        text: Appended to every completion, plan, task name and finding claim (the XSS tests
            put markup here).
        question: When given, the scenario's question, and a ``users:`` list naming each group
            (with ``text`` as its policy), as a scenario file would give them.
        seed: The run's seed (two runs differing only here are two seeds of one scenario).

    Returns:
        ``run_dir``.
    """
    writer = RunWriter(run_dir)
    try:
        scenario: dict[str, object] = {"name": name, "seed": seed}
        if question is not None:
            scenario["question"] = question
            scenario["users"] = [{"name": fam, "weight": 1.0, "count": 1, "policy": text or "validity"}
                                 for fam in sorted(set((families or {}).values()) or set(groups))]
        writer.create_run(RunRow(
            run_id=f"00000000-0000-4000-8000-{seed:012d}", name=name, seed=seed,
            scenario_yaml=f"name: {SCENARIO_NAME}\nseed: {seed}\n",
            scenario_json=dumps(scenario), status="started",
            created_at=NOW, package_versions=dumps({"iterdeploy": "0.1.0"}),
        ))
        eval_tasks = [_task(i + 1, "eval", None, s, domains[i % len(domains)], text)
                      for i, s in enumerate(EVAL_SIZES)]
        next_task, next_trace, next_decision, published = len(eval_tasks) + 1, 1, 1, []
        for g in range(n_generations):
            bundle = GenerationBundle(generation=GenerationRow(
                generation=g, model_id=g, n_deploy_tasks=len(DEPLOY_SIZES),
                n_deploy_traces=2 * len(DEPLOY_SIZES), n_published=0, train_size=0,
                wall_time_s=1.5, committed_at=NOW,
            ))
            if g == 0:
                bundle.tasks.extend(eval_tasks)
            for i, task in enumerate(eval_tasks):
                solved = i < SOLVED[g] and not all_invalid
                length = eval_plan_length(task.size, g) if solved else 3
                bundle.traces.append(_trace(next_trace, g, task.task_id, "eval", 0, solved, length, text))
                bundle.evaluations.append(EvaluationRow(
                    generation=g, task_id=task.task_id, n_samples=1, n_valid=int(solved),
                    solved=solved, best_plan_length=length if solved else None,
                ))
                next_trace += 1
            kept_now = []
            for task_index, size in enumerate(DEPLOY_SIZES):
                task = _task(next_task, "deploy", g, size, text=text)
                bundle.tasks.append(task)
                next_task += 1
                for index in range(2):
                    is_valid = index == 0 and not all_invalid
                    bundle.traces.append(
                        _trace(next_trace, g, task.task_id, "deploy", index, is_valid, 2 * size, text)
                    )
                    bundle.decisions.append(CurationRow(
                        decision_id=next_decision, generation=g, trace_id=next_trace,
                        user=groups[task_index % len(groups)],
                        policy="validity-v1", kept=is_valid,
                        reason="valid" if is_valid else "goal_not_reached",
                        acceptance_prob=1.0 if is_valid else 0.0,
                        keep_prob=1.0 if is_valid else 0.0, group_probs_json="{}",
                    ))
                    if is_valid:
                        kept_now.append(next_trace)
                    next_trace += 1
                    next_decision += 1
            if families is not None:
                nodes = [{"name": member, "family": fam, "policy": f"validity-v1{text}", "weight": 0.5}
                         for member, fam in families.items()]
                bundle.population.append(PopulationRow(
                    generation=g, record_json=dumps({"generation": g, "nodes": nodes})))
            bundle.training_set.extend(TrainingExampleRow(generation=g, trace_id=t) for t in published)
            published += kept_now
            bundle.models.append(ModelRow(
                model_id=g, generation=g, base="tiny@abc", parent_id=None if g == 0 else 0,
                adapter_path=None if g == 0 else f"adapters/gen{g}", hyperparameters_json="{}",
                train_loss=None, n_train_examples=len(bundle.training_set), train_time_s=0.0,
            ))
            bundle.generation = bundle.generation.model_copy(
                update={"n_published": len(kept_now), "train_size": len(published)}
            )
            writer.commit_generation(bundle)
        if with_findings and n_generations:
            writer.replace_findings("implicit-reward-v2", [
                FindingRow(finding_id=0, auditor="implicit-reward-v2", kind="implicit-reward",
                           severity="info", generation=None,
                           claim="Curation rewards validity only, as declared." + text,
                           numbers_json=dumps({"denominators": {"n_decisions": 4 * n_generations}}),
                           evidence_json=dumps({"kept_trace_ids_sample": published[:3]}),
                           created_at=NOW),
                FindingRow(finding_id=0, auditor="implicit-reward-v2", kind="drift",
                           severity="high", generation=2,
                           claim="Plans grew 40% longer between generations 1 and 2.",
                           numbers_json="{}", evidence_json="{}", created_at=NOW),
                *(FindingRow(finding_id=0, auditor="implicit-reward-v2", kind="implicit-reward",
                             severity="info", generation=g,
                             claim=f"Generation {g}'s curation rewards validity.",
                             numbers_json=dumps({"features": reward_weights(g)}),
                             evidence_json="{}", created_at=NOW)
                  for g in range(n_generations if with_rewards else 0)),
            ])
        writer.set_status(status)
    finally:
        writer.close()
    return run_dir


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """Factory: ``make_run(name="run", **build_run_kwargs)`` → a fresh run directory."""

    def _make(name: str = "run", **kwargs: object) -> Path:
        return build_run(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return _make


@pytest.fixture
def run_dir(make_run: MakeRun) -> Path:
    """A completed four-generation run with two findings."""
    return make_run()
