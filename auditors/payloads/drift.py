"""Payloads of the drift auditor (:mod:`iterdeploy.auditors.drift`): behaviour drift, capability,
diversity and collapse."""

from __future__ import annotations

from typing import ClassVar, Literal

from iterdeploy.auditors.payloads.base import FindingPayload, GenerationPair, JsonObject, Part, Real

Purpose = Literal["deploy", "eval"]
"""Which traces: the deployment tasks' or the evaluation pool's."""


class DriftTestRow(GenerationPair):
    """One two-sample test of the run summary's table (flagged or not)."""

    purpose: Purpose | None = None
    """Traces compared."""
    feature: str | None = None
    """Behaviour feature."""
    test: Literal["ks", "chi2"] | None = None
    """KS on per-task means, or chi-squared on task-weighted counts."""
    status: Literal["tested", "too-few", "one-category"] | None = None
    """``tested``, or why not."""
    statistic: Real | None = None
    """The test statistic (null when not tested)."""
    p_value: Real | None = None
    """Raw p-value (null when not tested)."""
    p_adjusted: Real | None = None
    """Benjamini-Hochberg over the run's drift and capability tests."""
    psi: Real | None = None
    """Population stability index (effect size)."""
    js_distance: Real | None = None
    """Jensen–Shannon distance (effect size)."""
    units_earlier: Real | None = None
    """Task units of the earlier generation (tasks, or task-weighted counts)."""
    units_later: Real | None = None
    """Task units of the later generation."""
    direction: str | None = None
    """``higher``, ``lower`` or ``shape`` for a continuous feature; the category whose share grew
    most for a categorical one."""


class Expectation(Part):
    """A flagged change read against the curation's selection differentials."""

    verdict: Literal["expected", "departure", "unexplained", "no-curation-data"] | None = None
    """Which differential the change points along."""
    declared_differential: Real | dict[str, Real | None] | None = None
    """The declared objective's selection differential on the feature: the mean over what it keeps
    minus over all traces (for a categorical feature, category → difference of shares)."""
    departure_differential: Real | dict[str, Real | None] | None = None
    """The users' departure from it (kept minus declared), in the same form."""
    observed_change: Real | dict[str, Real | None] | None = None
    """The change the test saw, in the same form."""
    curated_generations: list[int] | None = None
    """The generations whose curation fed the later model."""
    rule: str | None = None
    """The rule, in words."""


class DriftNumbers(FindingPayload):
    """``drift``: one of three. The run's summary (generation null: every test, ``tests``), a flagged
    test (at the later generation: ``feature``, ``statistic``, ``p_adjusted``, ``psi``, ...), or a
    generation without traces of a purpose (``purpose`` and ``n_traces`` 0)."""

    KIND: ClassVar[str] = "drift"

    # the summary
    n_tests: int | None = None
    """Summary: tests in the Benjamini-Hochberg family (drift and capability)."""
    n_drift_tests: int | None = None
    """Summary: behaviour-drift tests."""
    n_flagged: int | None = None
    """Summary: drift tests flagged."""
    features: list[str] | None = None
    """Summary: the behaviour features compared."""
    pairs: list[GenerationPair] | None = None
    """Summary: the pairs of generations compared."""
    traces_by_purpose: dict[str, int] | None = None
    """Summary: traces per purpose."""
    n_unreadable: int | None = None
    """Summary: unreadable traces (counted, never dropped)."""
    tests: list[DriftTestRow] | None = None
    """Summary: every test."""
    reason: str | None = None
    """Summary: ``no-generations`` or ``single-generation`` when nothing was compared."""
    # a flagged test
    feature: str | None = None
    """Test: the behaviour feature."""
    feature_kind: Literal["continuous", "categorical"] | None = None
    """Test: the feature's kind (KS for continuous, chi-squared for categorical)."""
    population: Literal["all", "readable", "valid"] | None = None
    """Test: which traces of the purpose the feature is read on."""
    purpose: Purpose | None = None
    """Test, empty generation: which traces."""
    generations: GenerationPair | None = None
    """Test: the pair compared."""
    test: str | None = None
    """Test: the scipy function."""
    test_units: str | None = None
    """Test: what one unit of the test is."""
    units_earlier: Real | None = None
    """Test: task units of the earlier generation."""
    units_later: Real | None = None
    """Test: task units of the later generation."""
    statistic: Real | None = None
    """Test: KS D or chi-squared."""
    p_value: Real | None = None
    """Test: raw p-value."""
    p_adjusted: Real | None = None
    """Test: Benjamini-Hochberg adjusted p-value."""
    psi: Real | None = None
    """Test: population stability index."""
    js_distance: Real | None = None
    """Test: Jensen–Shannon distance."""
    direction: str | None = None
    """Test: ``higher``, ``lower`` or ``shape``, or the category whose share grew most."""
    severity_rule: str | None = None
    """Test: the rule that set the severity, in words."""
    expectation: Expectation | None = None
    """Test: whether the declared objective, the users' departure or nothing explains the change."""
    detail: JsonObject | None = None
    """Test: bins or categories with both generations' shares and summaries."""
    # both
    alpha: Real | None = None
    """False discovery rate."""
    correction: JsonObject | None = None
    """The multiple-testing correction (method, function or family size)."""
    thresholds: JsonObject | None = None
    """PSI thresholds for medium and high (and alpha)."""
    binning: JsonObject | None = None
    """How numeric features are binned for PSI."""
    n_traces: int | None = None
    """Empty generation: 0."""
    denominators: JsonObject | None = None
    """Traces (by purpose) the numbers rest on; a test's per generation (``earlier``, ``later``)."""


class CapabilityCell(Part):
    """Valid samples and solved tasks of one (generation, purpose, domain, size) bucket."""

    generation: int | None = None
    """Generation of the model."""
    purpose: Purpose | None = None
    """Which traces."""
    domain: str | None = None
    """Planning domain."""
    size: int | None = None
    """Task size (the domain's main size parameter)."""
    n_tasks: int | None = None
    """Tasks in the bucket."""
    n_solved: int | None = None
    """Tasks with at least one valid sample."""
    solved_share: Real | None = None
    """``n_solved / n_tasks`` (null without tasks)."""
    solved_ci: list[Real | None] | None = None
    """Interval of the solved share."""
    n_samples: int | None = None
    """Samples, failed and unreadable included."""
    n_valid: int | None = None
    """Valid samples."""
    n_unreadable: int | None = None
    """Unreadable samples."""
    valid_share: Real | None = None
    """``n_valid / n_samples`` (null without samples)."""
    valid_ci: list[Real | None] | None = None
    """Interval of the valid share."""


class CapabilityNumbers(FindingPayload):
    """``capability``: the run's table (generation null: ``cells``), or one flagged change of a
    bucket's valid-sample share (at the later generation)."""

    KIND: ClassVar[str] = "capability"

    cells: list[CapabilityCell] | None = None
    """Summary: every bucket."""
    n_flagged_changes: int | None = None
    """Summary: changes flagged."""
    note: str | None = None
    """Summary: how the shares count."""
    metric: str | None = None
    """Change: ``valid_sample_share``."""
    purpose: Purpose | None = None
    """Change: which traces."""
    domain: str | None = None
    """Change: planning domain."""
    size: int | None = None
    """Change: task size."""
    generations: GenerationPair | None = None
    """Change: the pair compared."""
    earlier: CapabilityCell | None = None
    """Change: the bucket in the earlier generation."""
    later: CapabilityCell | None = None
    """Change: the bucket in the later generation."""
    change: Real | None = None
    """Change: later valid share minus earlier."""
    test: str | None = None
    """Change: the test, in words."""
    p_value: Real | None = None
    """Change: raw p-value."""
    p_adjusted: Real | None = None
    """Change: Benjamini-Hochberg adjusted with the drift tests."""
    alpha: Real | None = None
    """Change: false discovery rate."""
    correction: JsonObject | None = None
    """Change: the multiple-testing correction."""
    severity_rule: str | None = None
    """Change: the rule that set the severity, in words."""
    declared_push: int | None = None
    """Change: +1 when the declared objective keeps valid traces more than invalid ones, -1 the
    reverse, 0 when it is silent on validity."""
    expected: bool | None = None
    """Change: the declared objective pushes the share this way (``info``)."""
    interval: JsonObject | None = None
    """The intervals' method and confidence (and, for a change, whether they are disjoint)."""
    denominators: JsonObject | None = None
    """Cells, samples, valid, unreadable (for a change: per side)."""


class DiversityNumbers(FindingPayload):
    """``diversity``: every generation's diversity signals, per purpose (run-level, ``info``)."""

    KIND: ClassVar[str] = "diversity"

    rows: list[JsonObject] | None = None
    """One row per (generation, purpose): the signals (``plan_entropy_bits``,
    ``distinct_valid_plans_per_task``, ...) and their counts."""
    collapse_fraction: Real | None = None
    """A signal below this share of its first value is a collapse."""
    min_units: int | None = None
    """Fewest tasks a signal needs."""
    n_collapse_signals: int | None = None
    """Collapse findings written."""
    denominators: JsonObject | None = None
    """Traces, by purpose and generation."""


class SeriesPoint(Part):
    """A signal's value in one generation."""

    generation: int | None = None
    """Generation."""
    value: Real | None = None
    """The signal's value."""


class CollapseNumbers(FindingPayload):
    """``collapse``: a diversity signal that fell below a share of its first value, or fell at
    every generation."""

    KIND: ClassVar[str] = "collapse"

    signal: str | None = None
    """The diversity signal."""
    purpose: Purpose | None = None
    """Which traces."""
    series: list[SeriesPoint] | None = None
    """The signal per generation."""
    baseline: SeriesPoint | None = None
    """The first generation's value."""
    below_fraction_generations: list[int] | None = None
    """Generations below the collapse fraction of the baseline."""
    monotone_fall: bool | None = None
    """The signal fell at every step."""
    thresholds: JsonObject | None = None
    """The collapse fraction and the monotone rule's steps and drop."""
    severity_rule: str | None = None
    """The rule that set the severity, in words."""
    declared_selects: bool | None = None
    """The declared objective keeps only some of a task's samples, so a narrowing is expected."""
    denominators: JsonObject | None = None
    """Generation → the counts the signal rests on."""
