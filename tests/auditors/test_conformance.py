"""Every registered auditor passes every conformance check (``iterdeploy.auditors.conformance``).

One test case per (auditor, check), e.g. ``drift::check_read_only``, so ``pytest -k`` picks one out.
The auditors run at their defaults except fewer resamples (``--bootstrap 20``; the black-box
permutation test 40), which changes no convention and keeps the run to seconds.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from iterdeploy.auditors.conformance import (
    CHECKS,
    Check,
    ConformanceError,
    ConformanceStores,
    check_auditor,
    check_shape,
)
from iterdeploy.auditors.core.features import InsufficientRunError
from iterdeploy.auditors.core.findings import make_finding
from iterdeploy.auditors.interfaces import Auditor
from iterdeploy.auditors.payloads import UnknownPayload
from iterdeploy.auditors.registry import AUDITORS, AuditorSpec
from iterdeploy.auditors.rl.equivalence import RlEquivalenceAuditor
from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import FindingRow, RunReader, RunWriter

REAL_RUN: dict[str, object] = {
    "generations": 1,
    "deploy.tasks_per_generation": 8,
    "deploy.sizes.max": 3,
    "users": [
        {"name": "validators", "policy": "validity", "weight": 0.5},
        {
            "name": "sloppy",
            "weight": 0.5,
            "policy": {"stages": [{"noisy_validator": {"false_accept": 0.3}}], "select": "all"},
        },
    ],
}
"""As the RL tests' tiny real run (tests/auditors/test_rl_equivalence.py), one generation shorter:
generations 0 and 1, so generation 0 has a successor trained on what its users kept."""

FAST: dict[str, dict[str, object]] = {"blackbox-reward": {"n_permutations": 40}}
"""Settings beyond ``make(seed=0, n_bootstrap=20)`` that keep a check to seconds."""

EXPECTED_FAILURES: dict[tuple[str, str], str] = {}
"""(command, check) → why it fails for now; such a case is an expected failure, never a skip."""

CASES = [
    pytest.param(spec, check, id=f"{spec.command}::{check.__name__}") for spec in AUDITORS for check in CHECKS
]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> ConformanceStores:
    return synthetic.conformance_stores(tmp_path_factory.mktemp("conformance"))  # type: ignore[no-any-return]


def fast(spec: AuditorSpec) -> Auditor:
    auditor = spec.make(seed=0, n_bootstrap=20)
    return dataclasses.replace(auditor, **FAST.get(spec.command, {}))  # type: ignore[type-var]


@pytest.mark.parametrize(("spec", "check"), CASES)
def test_registered_auditor_passes(spec: AuditorSpec, check: Check, stores: ConformanceStores) -> None:
    reason = EXPECTED_FAILURES.get((spec.command, check.__name__))
    if reason:
        pytest.xfail(reason)
    check(fast(spec), stores)


@pytest.mark.parametrize("spec", AUDITORS, ids=lambda s: s.command)
def test_check_auditor_takes_a_registry_entry(spec: AuditorSpec, stores: ConformanceStores) -> None:
    """An entry's auditor at its defaults, and a stored name that is the entry's command plus -vN."""
    check_auditor(spec, stores, checks=(check_shape,))


@pytest.mark.slow
def test_rl_equivalence_conforms_on_a_real_run(
    tiny_overrides: dict[str, object], tmp_path: Path, stores: ConformanceStores
) -> None:
    """On the synthetic stores the RL check has no successor model to differentiate and says so;
    here it measures a tiny real run (a model pretrained and fine-tuned: minutes, hence slow)."""
    overrides = {**tiny_overrides, **REAL_RUN}
    run_scenario(parse_scenario("name: tiny\n", overrides=overrides), "name: tiny\n", tmp_path / "run")
    real = dataclasses.replace(stores, full=tmp_path / "run")
    check_auditor(RlEquivalenceAuditor(max_traces=16, n_bootstrap=20, n_splits=5), real)


# -- the checker catches what it should -----------------------------------------------------------

_CALLS = itertools.count()


@dataclass(frozen=True)
class FakeAuditor:
    """A minimal auditor; ``mode`` breaks one convention."""

    name: ClassVar[str] = "fake-v1"
    min_generations: ClassVar[int] = 1

    mode: str = "good"

    def audit(self, reader: RunReader) -> list[FindingRow]:
        generations = [g.generation for g in reader.generations()]
        if not generations:
            if self.mode == "bare-insufficient":
                raise InsufficientRunError("the run has no generation")
            if self.mode == "named-insufficient":
                raise InsufficientRunError("the run has no generation", missing="no generation")
            severity = "medium" if self.mode == "alarm-on-empty" else "info"
            reason = {} if self.mode == "silent-on-empty" else {"reason": "no-generations"}
            return [self._finding(None, severity, {**reason, "denominators": {"n_generations": 0}})]
        if self.mode == "writes":
            writer = RunWriter(reader.run_dir)
            try:
                writer.replace_findings(self.name, [self._finding(None, "info", {})])
            finally:
                writer.close()
        denominators: object = {"n_generations": len(generations), "by_generation": dict.fromkeys(
            [str(g) for g in generations], 1)}
        if self.mode == "share-denominator":
            denominators = {"n_traces": 3, "kept_share": 0.5}
        numbers = {"n": next(_CALLS) if self.mode == "random" else 0}
        if self.mode != "no-denominators":
            numbers["denominators"] = denominators  # type: ignore[assignment]
        return [self._finding(g, "info", numbers) for g in generations]

    def _finding(self, generation: int | None, severity: str, numbers: dict[str, object]) -> FindingRow:
        evidence = {} if self.mode == "no-evidence" else {"generations": [generation]}
        return make_finding(auditor=self.name, kind="fake", severity=severity,  # type: ignore[arg-type]
                            generation=generation, claim="A fake claim.",
                            numbers=UnknownPayload.build(numbers), evidence=evidence)


def test_a_conforming_auditor_passes(stores: ConformanceStores) -> None:
    check_auditor(FakeAuditor(), stores)
    check_auditor(FakeAuditor("named-insufficient"), stores)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("no-denominators", "no 'denominators'"),
        ("share-denominator", "kept_share is 0.5, not a count"),
        ("no-evidence", "evidence is {}"),
        ("random", "not deterministic"),
        ("writes", "changed the store"),
        ("alarm-on-empty", "raised alarms on an empty run"),
        ("silent-on-empty", "did not say why"),
        ("bare-insufficient", "without naming what is missing"),
    ],
)
def test_a_broken_auditor_fails_with_the_reason(mode: str, message: str, stores: ConformanceStores) -> None:
    with pytest.raises(ConformanceError, match=re.escape(message)):
        check_auditor(FakeAuditor(mode), stores)


def test_a_registered_name_must_match_the_command(stores: ConformanceStores) -> None:
    spec = AuditorSpec("other-name", "tests.auditors.test_conformance:FakeAuditor")
    with pytest.raises(ConformanceError, match="registered as 'other-name'"):
        check_auditor(spec, stores, checks=())
