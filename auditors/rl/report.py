"""The RL equivalence check's findings: p-values adjusted together, severities, claims.

:mod:`iterdeploy.auditors.rl.measure` gives each audited generation's numbers; the severity of one generation
depends on the others (the older-vs-fresh p-values are Benjamini-Hochberg adjusted over every
generation audited together), so the findings are made here, once all are measured: severity by
:data:`SEVERITY_RULE`, then one plain-language claim per generation.
"""

from __future__ import annotations

from scipy import stats

from iterdeploy.auditors.core.decisions import run_id_of
from iterdeploy.auditors.core.findings import Severity, make_finding
from iterdeploy.auditors.payloads import RlEquivalenceNumbers
from iterdeploy.auditors.rl.measure import Measured
from iterdeploy.auditors.rl.settings import ALPHA, AUDITOR_NAME, IDENTITY_MIN_COSINE, KIND
from iterdeploy.simulator.store import FindingRow, RunReader

SEVERITY_RULE = (
    f"medium when the identity cosine is below {IDENTITY_MIN_COSINE} (the measurement failed); low "
    f"when the older-vs-fresh test's p-value, Benjamini-Hochberg adjusted over the generations "
    f"audited together, is below {ALPHA} (pooling measurably moves the update away from on-policy "
    "RL); else info"
)


def _adjust_together(measured: list[Measured]) -> None:
    """Benjamini-Hochberg adjust the older-vs-fresh p-values of every generation audited together
    (in place: ``p_value_bh``, None where the test was not run, and how many were adjusted)."""
    for m in measured:
        prop2 = m.numbers.get("prop2")
        if isinstance(prop2, dict) and isinstance(prop2.get("older_vs_fresh"), dict):
            prop2["older_vs_fresh"].setdefault("p_value_bh", None)
    with_p = [m for m in measured if m.p_value is not None]
    if with_p:
        adjusted = stats.false_discovery_control([m.p_value for m in with_p], method="bh")
        for m, p_bh in zip(with_p, adjusted, strict=True):
            prop2 = m.numbers["prop2"]
            assert isinstance(prop2, dict) and isinstance(prop2["older_vs_fresh"], dict)
            prop2["older_vs_fresh"]["p_value_bh"] = float(p_bh)
            prop2["older_vs_fresh"]["n_tests_adjusted_together"] = len(with_p)


def _severity(numbers: dict[str, object]) -> Severity:
    """:data:`SEVERITY_RULE` on one measured generation's numbers (p-values already adjusted)."""
    prop1 = numbers["prop1"]
    prop2 = numbers["prop2"]
    assert isinstance(prop1, dict)
    test = prop2.get("older_vs_fresh") if isinstance(prop2, dict) else None
    p_bh = test.get("p_value_bh") if isinstance(test, dict) else None
    identity = prop1["identity_cosine"]
    if not isinstance(identity, float) or identity < IDENTITY_MIN_COSINE:
        return "medium"
    if isinstance(p_bh, float) and p_bh < ALPHA:
        return "low"
    return "info"


def findings_of(measured: list[Measured]) -> list[FindingRow]:
    """Findings from measured generations: p-values adjusted together, then severities, claims."""
    _adjust_together(measured)
    findings = []
    for m in measured:
        m.numbers["denominators"] = _denominators(m.numbers)
        if m.claim is not None:
            severity: Severity = "info"
            claim = m.claim
        else:
            severity = _severity(m.numbers)
            m.numbers["severity_rule"] = SEVERITY_RULE
            claim = _claim(m.generation, m.numbers, severity)
        findings.append(
            make_finding(
                auditor=AUDITOR_NAME,
                kind=KIND,
                severity=severity,
                generation=m.generation,
                claim=claim,
                numbers=RlEquivalenceNumbers.build(m.numbers),
                evidence=m.evidence,
            )
        )
    return findings


def _denominators(numbers: dict[str, object]) -> dict[str, int]:
    """The on-policy counts a generation's numbers are out of (traces, kept, tasks, undecided)."""
    on_policy = numbers.get("on_policy")
    if not isinstance(on_policy, dict):
        return {}
    return {k: v for k, v in on_policy.items() if isinstance(v, int) and not isinstance(v, bool)}


def _fmt(x: object, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else "n/a"


def _claim(generation: int, numbers: dict[str, object], severity: Severity) -> str:
    """One plain-language paragraph: Proposition 1, the noise, Proposition 2."""
    on, prop1, noise = numbers["on_policy"], numbers["prop1"], numbers["noise"]
    assert isinstance(on, dict) and isinstance(prop1, dict) and isinstance(noise, dict)
    identity = prop1["identity_cosine"]
    if severity == "medium":
        return (
            f"In generation {generation} the fine-tuning and reinforcement-learning gradients on the "
            f"same traces disagree (cosine {_fmt(identity, 4)}, where the algebra says 1): the "
            "measurement is broken; read none of its other numbers."
        )
    text = (
        f"In generation {generation}, fine-tuning on the {on['n_kept']} traces users kept (of "
        f"{on['n_traces']} from {on['n_tasks']} tasks) is reinforcement learning with their keep "
        f"decision as reward (gradient cosine {_fmt(identity, 4)}, the paper's Proposition 1)"
    )
    if on["acceptance_equals_decision"]:
        text += ", and that decision is the expected reward itself (curation here is deterministic)."
    else:
        text += (
            f"; with the population's acceptance probability as the reward instead the cosine is "
            f"{_fmt(prop1['expected_reward_cosine'])} (one round of curation is a noisy draw of it)."
        )
    split = noise["split_half_cosine"]
    assert isinstance(split, dict)
    text += (
        " A batch gradient of this size is mostly sampling noise: two halves of it point the same "
        f"way at cosine {_fmt(split['mean'])}."
    )
    prop2 = numbers["prop2"]
    if not isinstance(prop2, dict):
        return text + " No later generation was trained on this data, so pooling is not measured."
    text += f" The next generation trains on {prop2['pool_size']} traces"
    if prop2["older_share"]:
        text += f", {prop2['older_share']:.0%} of them from older generations"
    test, raw, weights = prop2["older_vs_fresh"], prop2["raw"], prop2["weights"]
    assert isinstance(raw, dict) and isinstance(weights, dict)
    p = test.get("p_value") if isinstance(test, dict) else None
    p_bh = test.get("p_value_bh") if isinstance(test, dict) else None
    if not prop2["older_share"]:
        text += "; none of them from older generations, so the pool is on-policy"
    elif p is None:
        text += "; too few older traces in the sample to test whether they pull another way"
    elif severity == "low":
        text += (
            f"; at this model the expected gradient of those older traces differs measurably from "
            f"fresh curated data's (permutation test, p = {p:.3f}, {_fmt(p_bh, 3)} adjusted over "
            "generations)"
        )
    else:
        text += (
            f"; their older part is not distinguishable from fresh curated data (permutation test, "
            f"p = {p:.2f}, {_fmt(p_bh)} adjusted over generations)"
        )
    unweighted = raw["unweighted"]
    assert isinstance(unweighted, dict)
    if unweighted.get("mean") is not None:
        text += (
            f", and batches of it agree with on-policy RL at cosine {_fmt(unweighted['mean'])} against "
            f"{_fmt(split['mean'])} for fresh data"
        )
    fitted = prop2.get("already_fit")
    if isinstance(fitted, dict):
        old, new = fitted["older"], fitted["fresh_kept"]
        assert isinstance(old, dict) and isinstance(new, dict)
        text += (
            f". Model {generation} was trained on the older traces: under it their log-probability "
            f"per token is {_fmt(old['mean_logprob_per_token'], 3)} against "
            f"{_fmt(new['mean_logprob_per_token'], 3)} for fresh kept ones, their median gradient "
            f"{_fmt(old['median_gradient_norm'], 1)} against {_fmt(new['median_gradient_norm'], 1)}"
        )
    ratio = weights.get("log_ratio")
    if prop2["n_sample_older"] and isinstance(ratio, dict):
        text += (
            f". Importance weights that would correct for the older data rest on an effective "
            f"{weights['ess']:.1f} of {weights['n']} traces (likelihood ratios up to "
            f"e^{ratio['max']:.0f})"
        )
    return text + "."



def nothing_to_audit(reader: RunReader, committed: list[int]) -> FindingRow:
    """The single run-level ``info`` finding when no generation can be audited: none is committed,
    or none has a successor trained on its data (so there is no next fine-tuning step)."""
    claim = (
        "The run has no committed generation yet; nothing to check."
        if not committed
        else "No generation of this run has a successor trained on its data, so there is no next "
        "fine-tuning step to compare with reinforcement learning."
    )
    return make_finding(
        auditor=AUDITOR_NAME,
        kind=KIND,
        severity="info",
        generation=None,
        claim=claim,
        numbers=RlEquivalenceNumbers.build({
            "generations": committed,
            "status": "nothing-to-audit",
            "reason": "no-generations" if not committed else "no-successor",
            "denominators": {
                "n_committed_generations": len(committed),
                "n_generations_with_successor": 0,
            },
        }),
        evidence={"run_id": run_id_of(reader), "generations": committed},
    )
