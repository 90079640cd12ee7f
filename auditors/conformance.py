"""Conformance checks every auditor must pass, in the spirit of scikit-learn's ``check_estimator``.

:func:`check_auditor` runs the small ``check_*`` functions of :data:`CHECKS` on one auditor over
three small stores the caller builds (:class:`ConformanceStores`); ``tests/auditors/test_conformance.py``
runs each check on every registered auditor as its own test case. A failed check raises
:class:`ConformanceError` saying what was expected, what came back and the likely fix.

The conventions checked:

* **Findings** (:func:`check_findings`): a run the auditor can measure gives at least one finding;
  each is stored under the auditor's ``name``, has a claim and a kind, a ``generation`` the run
  committed (or None for the whole run), a non-empty ``evidence`` object, ``numbers`` that fit
  the model registered for its kind (:func:`iterdeploy.auditors.payloads.payload`; a kind without
  a model is read as it is) and ``numbers["denominators"]`` (:func:`denominator_problems`).
* **Denominators**: a non-empty JSON object whose values are non-negative integer counts, or objects
  of the same form (a breakdown: by generation, by side of a comparison, by status, by user group).
  Nothing else: no shares, no nulls, no lists. Whatever else an auditor reports lives beside it.
* **Determinism** (:func:`check_deterministic`): two audits with the same settings give identical
  findings except ``created_at``.
* **Read-only** (:func:`check_read_only`): every table of the store is byte-identical before and after
  ``audit(reader)`` (compared as SQL dumps), and no file appears in the run directory besides
  SQLite's own ``-wal``/``-shm``.
* **Runs it cannot measure** (:func:`check_empty_run`, :func:`check_one_generation_run`): a run with
  fewer committed generations than the auditor's ``min_generations`` gives exactly one of two
  outcomes: ``info`` findings, at least one of them saying why in ``numbers["reason"]``, or an
  :class:`~iterdeploy.auditors.core.features.InsufficientRunError` whose ``missing`` names what is missing
  (and
  appears in its message). A run with enough generations must be measured like any other.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from iterdeploy.auditors.core.features import InsufficientRunError
from iterdeploy.auditors.payloads import PayloadError, payload
from iterdeploy.auditors.registry import AuditorSpec
from iterdeploy.simulator.store import DB_NAME, FindingRow, RunReader

if TYPE_CHECKING:
    from iterdeploy.auditors.interfaces import Auditor

SQLITE_SIDE_FILES = frozenset({f"{DB_NAME}-wal", f"{DB_NAME}-shm"})
"""Files SQLite itself may create next to the store when it is opened (WAL mode)."""


class ConformanceError(AssertionError):
    """An auditor breaks a convention every auditor follows."""


@dataclass(frozen=True)
class ConformanceStores:
    """The run stores the checks audit; small, and built by the caller.

    Attributes:
        full: A run every auditor can measure: at least as many committed generations as the
            largest ``min_generations`` (three), curated deployment traces from more than one user
            group and evaluation traces in every generation.
        one_generation: The same kind of run with a single committed generation.
        empty: A run with its run row and no generation.
    """

    full: Path
    one_generation: Path
    empty: Path


Check = Callable[["Auditor", ConformanceStores], None]
"""A check: raises :class:`ConformanceError` when the auditor breaks its convention."""


# -- the conventions, as functions a test can call on one finding --------------------------------


def denominator_problems(numbers: Mapping[str, object]) -> list[str]:
    """What is wrong with ``numbers["denominators"]`` (empty when it follows the convention)."""
    if "denominators" not in numbers:
        return ["numbers has no 'denominators'"]
    problems: list[str] = []
    n_counts = _count_leaves(numbers["denominators"], "denominators", problems)
    if not problems and n_counts == 0:
        problems.append("denominators holds no count")
    return problems


def _count_leaves(value: object, path: str, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, dict)):
        problems.append(f"{path} is {value!r}, not a count or an object of counts")
        return 0
    if isinstance(value, int):
        if value < 0:
            problems.append(f"{path} is negative ({value})")
        return 1
    return sum(_count_leaves(v, f"{path}.{k}", problems) for k, v in value.items())


def finding_problems(finding: FindingRow, auditor: Auditor, generations: set[int]) -> list[str]:
    """What is wrong with one finding of ``auditor`` on a run that committed ``generations``."""
    problems = []
    if finding.auditor != auditor.name:
        problems.append(f"stored under {finding.auditor!r}, not the auditor's name {auditor.name!r}")
    if not finding.kind.strip() or not finding.claim.strip():
        problems.append("empty kind or claim")
    if finding.generation is not None and finding.generation not in generations:
        problems.append(f"about generation {finding.generation}, which the run did not commit")
    evidence = json.loads(finding.evidence_json)
    if not isinstance(evidence, dict) or not evidence:
        problems.append(f"evidence is {evidence!r}: name the store keys the claim rests on")
    try:
        numbers = payload(finding)
    except PayloadError as exc:
        problems.append(str(exc))
    else:  # denominators are a convention of every kind, a model's or not: read them as stored
        problems += denominator_problems(numbers.as_json())
    return problems


# -- the checks ------------------------------------------------------------------------------------


def check_shape(auditor: Auditor, stores: ConformanceStores) -> None:
    """A frozen dataclass with a versioned kebab-case ``name`` and ``min_generations`` >= 1."""
    cls = type(auditor)
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        _fail(auditor, "is not a frozen dataclass", "decorate it with @dataclass(frozen=True)")
    name = getattr(cls, "name", None)
    parts = name.rsplit("-v", 1) if isinstance(name, str) else []
    if len(parts) != 2 or not parts[1].isdigit() or not parts[0] or parts[0] != parts[0].lower():
        _fail(auditor, f"has name {name!r}", "set the class attribute name = 'my-auditor-v1'")
    minimum = getattr(cls, "min_generations", None)
    if not isinstance(minimum, int) or minimum < 1:
        _fail(auditor, f"has min_generations {minimum!r}", "set min_generations: ClassVar[int] >= 1")


def check_findings(auditor: Auditor, stores: ConformanceStores) -> None:
    """On a run it can measure: findings, each with evidence and denominators."""
    findings = _audit(auditor, stores.full, "the full store")
    if not findings:
        _fail(auditor, "gave no finding on a run it can measure", "return at least a summary finding")
    _check_each(auditor, findings, stores.full)


def check_deterministic(auditor: Auditor, stores: ConformanceStores) -> None:
    """Two audits with the same settings give identical findings except ``created_at``."""
    first = _content(_audit(auditor, stores.full, "the full store"))
    again = _content(_audit(dataclasses.replace(auditor), stores.full, "the full store"))  # type: ignore[type-var]
    if first != again:
        diff = next(i for i, (a, b) in enumerate(zip(first, again, strict=False)) if a != b) \
            if len(first) == len(again) else None
        where = f"finding {diff} differs" if diff is not None else f"{len(first)} vs {len(again)} findings"
        _fail(auditor, f"is not deterministic under a seed ({where})",
              "derive every generator from the seed and a stable name, and sort rows read from the store")


def check_read_only(auditor: Auditor, stores: ConformanceStores) -> None:
    """``audit(reader)`` leaves every table, and the run directory, as it was."""
    for store in (stores.full, stores.one_generation, stores.empty):
        before, files = _dump(store), _files(store)
        with RunReader(store) as reader:
            try:
                auditor.audit(reader)
            except InsufficientRunError:
                pass
        if _dump(store) != before:
            _fail(auditor, f"changed the store {store}", "only read; audit_and_store stores findings")
        if _files(store) != files:
            _fail(auditor, f"left files in {store}: {sorted(_files(store) - files)}",
                  "write nothing into the run directory")


def check_empty_run(auditor: Auditor, stores: ConformanceStores) -> None:
    """A run with no generation: ``info`` findings saying why, or an InsufficientRunError."""
    _check_run_below(auditor, stores.empty, "an empty run")


def check_one_generation_run(auditor: Auditor, stores: ConformanceStores) -> None:
    """A one-generation run: measured when ``min_generations`` is 1, else as an empty run."""
    if type(auditor).min_generations > 1:
        _check_run_below(auditor, stores.one_generation, "a one-generation run")
        return
    findings = _audit(auditor, stores.one_generation, "a one-generation run")
    if not findings:
        _fail(auditor, "gave no finding on a one-generation run although min_generations is 1",
              "return findings, or raise min_generations")
    _check_each(auditor, findings, stores.one_generation)


CHECKS: tuple[Check, ...] = (
    check_shape,
    check_findings,
    check_deterministic,
    check_read_only,
    check_empty_run,
    check_one_generation_run,
)
"""Every check, in the order :func:`check_auditor` runs them."""


def check_auditor(
    target: AuditorSpec | Auditor, stores: ConformanceStores, *, checks: tuple[Check, ...] = CHECKS
) -> None:
    """Run ``checks`` on an auditor, or on a registered one at its defaults.

    Args:
        target: An auditor (its settings as given), or a registry entry (its auditor at default
            settings, and its ``name`` must be the entry's command plus ``-vN``).
        stores: The stores to audit; only read.
        checks: Which checks to run.

    Raises:
        ConformanceError: At the first check that fails, naming the auditor, what was expected,
            what came back and the likely fix.

    Examples:
        >>> from iterdeploy.auditors.registry import get_spec
        >>> check_auditor(get_spec("drift"), stores)  # doctest: +SKIP
    """
    if isinstance(target, AuditorSpec):
        auditor = target.make()
        if auditor.name.rsplit("-v", 1)[0] != target.command:
            _fail(auditor, f"is registered as {target.command!r}",
                  f"name it {target.command}-vN or register it under its own name")
    else:
        auditor = target
    for check in checks:
        check(auditor, stores)


# -- helpers -------------------------------------------------------------------------------------


def _fail(auditor: Auditor, what: str, fix: str) -> NoReturn:
    raise ConformanceError(f"{type(auditor).__name__} ({getattr(auditor, 'name', '?')}) {what}; {fix}")


def _audit(auditor: Auditor, store: Path, label: str) -> list[FindingRow]:
    with RunReader(store) as reader:
        try:
            return auditor.audit(reader)
        except InsufficientRunError as exc:
            _fail(auditor, f"refused {label} ({exc})", "the checks' stores hold what every auditor needs")


def _check_each(auditor: Auditor, findings: list[FindingRow], store: Path) -> None:
    generations = _generations(store)
    for i, finding in enumerate(findings):
        problems = finding_problems(finding, auditor, generations)
        if problems:
            _fail(auditor, f"finding {i} ({finding.kind}, generation {finding.generation}): "
                  + "; ".join(problems), "follow the conventions in iterdeploy.auditors.conformance")


def _check_run_below(auditor: Auditor, store: Path, label: str) -> None:
    """Exactly one of the two accepted outcomes for a run below ``min_generations``."""
    with RunReader(store) as reader:
        try:
            findings = auditor.audit(reader)
        except InsufficientRunError as exc:
            missing = getattr(exc, "missing", "")
            if not missing or missing not in str(exc):
                _fail(auditor, f"raised InsufficientRunError on {label} without naming what is missing "
                      f"(missing={missing!r}, message {str(exc)!r})",
                      "raise InsufficientRunError(message, missing=...) with missing in the message")
            return
    if not findings:
        _fail(auditor, f"gave no finding on {label}",
              "return an info finding saying why, or raise InsufficientRunError")
    loud = [f"{f.kind}: {f.severity}" for f in findings if f.severity != "info"]
    if loud:
        _fail(auditor, f"raised alarms on {label}, which it cannot measure: {loud}", "report it as info")
    if not any(isinstance(payload(f).as_json().get("reason"), str) for f in findings):
        _fail(auditor, f"did not say why it cannot measure {label}",
              "put a short reason (e.g. 'single-generation') in numbers['reason']")
    _check_each(auditor, findings, store)


def _content(findings: list[FindingRow]) -> list[dict[str, object]]:
    return [f.model_dump(exclude={"created_at"}) for f in findings]


def _generations(store: Path) -> set[int]:
    with RunReader(store) as reader:
        return {g.generation for g in reader.generations()}


def _dump(store: Path) -> list[str]:
    with RunReader(store) as reader:
        return reader.dump()


def _files(store: Path) -> set[str]:
    return {p.name for p in store.iterdir()} - SQLITE_SIDE_FILES
