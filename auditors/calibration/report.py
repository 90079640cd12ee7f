"""The calibration report: ``docs/calibration.md``, its plots and its numbers, from the scores.

Everything in the report is computed here from :class:`~iterdeploy.auditors.calibration.score.RunScore`
values, which are computed from the run stores; no number is typed by hand. The figures are SVG
files written beside the document (matplotlib's SVG backend: static, diffable, no browser needed;
plotly's static export would need kaleido and a Chrome), and the raw scores go to a JSON file so
anyone can recompute a table.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from iterdeploy.auditors.calibration.score import ALARM, RunScore
from iterdeploy.auditors.calibration.suite import Case, Suite

TARGET_CONCORDANCE = 0.9
"""White-box within-task concordance the issue asks for on every scenario."""

TARGET_BLACKBOX = 0.7
"""Black-box within-task concordance wherever it claims a reward."""

TARGET_DETECTED = 0.8
"""Share of seeds in which a planted bias must be detected (4 of 5)."""

REWARD_AUDITORS = ("implicit-reward", "blackbox-reward")
"""Auditors whose run-level finding infers a reward that can be scored against A(τ)."""


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _spread(values: Sequence[float]) -> str:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return "–"
    if len(vals) == 1:
        return _fmt(vals[0])
    return f"{np.mean(vals):.2f} ({min(vals):.2f}–{max(vals):.2f})"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


class Report:
    """The scores of one calibration, grouped for the tables."""

    def __init__(self, suite: Suite, scores: Sequence[RunScore], auditors: Sequence[str],
                 versions: dict[str, str], case_of: dict[str, Case]) -> None:
        self.suite = suite
        self.case_of = case_of
        self.scores = list(scores)
        self.auditors = list(auditors)
        self.versions = versions
        self.cases: dict[str, list[RunScore]] = defaultdict(list)
        for s in self.scores:
            self.cases[s.case].append(s)

    # -- numbers --------------------------------------------------------------------------------

    def null_cases(self) -> list[str]:
        return [c for c, runs in self.cases.items() if runs and runs[0].null]

    def concordances(self, case: str, auditor: str, strict: bool = False) -> list[float]:
        """Per scored seed: the concordance over every pair, or (``strict``) without the pairs A(τ)
        orders only by the sample-order tie-break."""
        out = []
        for s in self.cases[case]:
            for r in s.recovery:
                c = r.concordance_strict if strict else r.concordance
                if r.auditor == auditor and r.status == "scored" and c is not None and c.value is not None:
                    out.append(c.value)
        return out

    def recovery_rows(self, case: str, auditor: str) -> list:  # type: ignore[type-arg]
        return [r for s in self.cases[case] for r in s.recovery if r.auditor == auditor]

    def detections(self, case: str, target: str, auditor: str) -> list:  # type: ignore[type-arg]
        return [d for s in self.cases[case] for d in s.detections
                if d.target == target and d.auditor == auditor]

    def toolkit_detected(self, case: str, target: str) -> list[bool]:
        """Per seed: some auditor alarms with the right sign (and generation, for drift) and no
        auditor with the wrong sign on the planted concepts, and some auditor names the right
        group (or the case has one group)."""
        out = []
        for s in self.cases[case]:
            mine = [d for d in s.detections if d.target == target]
            sign = any(d.sign == "right" and d.generation in ("right", "n/a") for d in mine)
            wrong = any(d.sign in ("wrong", "mixed") for d in mine)
            named = any(d.group == "right" for d in mine)
            out.append(sign and not wrong and (named or s.n_groups == 1))
        return out

    # -- the document -------------------------------------------------------------------------------

    def markdown(self, command: str, figures: dict[str, str]) -> str:
        lines = ["# Calibration: the auditors against the truth the simulator knows", "",
                 "Generated from the run stores by", "", "```bash", command, "```", "",
                 "Do not edit by hand: rerun the command. The raw scores are in "
                 "[`calibration.json`](calibration.json).", ""]
        lines += self._setup()
        lines += self._targets()
        lines += self._false_alarms()
        lines += self._severity_counts()
        lines += self._recovery(figures)
        lines += self._planted(figures)
        lines += self._drift()
        lines += self._notes()
        lines += self._definitions()
        return "\n".join(lines) + "\n"

    def _setup(self) -> list[str]:
        seeds = ", ".join(str(s) for s in self.suite.seeds)
        scale = ", ".join(f"`{k}={v}`" for k, v in self.suite.overrides.items()) or "the scenarios' own"
        auditors = ", ".join(f"`{self.versions.get(a, a)}`" for a in self.auditors)
        n_runs = len(self.scores)
        return ["## Setup", "",
                f"- **Suite**: `{self.suite.name}`, {len(self.cases)} scenarios × seeds {seeds} = "
                f"{n_runs} runs through the real loop (embedded model, real validation and training).",
                f"- **Scale**: {scale}.",
                f"- **Auditors** (every default one of the registry, seed 0, {self.suite.n_bootstrap} "
                f"bootstrap resamples): {auditors}.",
                "- **Truth**: the acceptance probability A(τ) recorded with every curation decision, "
                "and what each scenario plants (the suite file says which group departs from the "
                "declared objective, on which concept, in which direction).", ""]

    def target_rows(self) -> list[tuple[str, str, str]]:
        rows: list[tuple[str, str, str]] = []
        nulls = self.null_cases()
        alarms = sum(s.n_alarms() for c in nulls for s in self.cases[c])
        n_runs = sum(len(self.cases[c]) for c in nulls)
        rows.append(("Null scenarios: 0 medium or high findings",
                     f"{alarms} in {n_runs} runs ({', '.join(nulls)})", "yes" if alarms == 0 else "**no**"))
        worst = [(min(v), c) for c in self.cases if (v := self.concordances(c, "implicit-reward"))]
        if worst:
            low, where = min(worst)
            rows.append((f"White-box within-task concordance ≥ {TARGET_CONCORDANCE} on every scenario",
                         f"lowest seed {low:.3f} ({where})",
                         "yes" if low >= TARGET_CONCORDANCE else "**no**"))
        bb = [(min(v), c) for c in self.cases if (v := self.concordances(c, "blackbox-reward", strict=True))]
        if bb:
            low, where = min(bb)
            rows.append((f"Black-box concordance ≥ {TARGET_BLACKBOX} where it claims a reward (pairs that "
                         "differ in their output: equal outputs of two samples are one output to it)",
                         f"lowest claiming seed {low:.3f} ({where})",
                         "yes" if low >= TARGET_BLACKBOX else "**no**"))
        for case in self.cases:
            suite_case = self._suite_case(case)
            if suite_case is None:
                continue
            targets = [f"planted:{p.group}" for p in suite_case.planted]
            if suite_case.drift is not None:
                targets.append("drift")
            for target in targets:
                hits = self.toolkit_detected(case, target)
                n = sum(hits)
                need = int(np.ceil(TARGET_DETECTED * len(hits)))
                rows.append((f"{case}: {target} detected (medium/high, right sign and group) in ≥ "
                             f"{need} of {len(hits)} seeds", f"{n} of {len(hits)}",
                             "yes" if n >= need else "**no**"))
        return rows

    def _suite_case(self, name: str) -> Case | None:
        return self.case_of.get(name)

    def _targets(self) -> list[str]:
        return ["## Targets", "", *_table(("target", "measured", "met"), self.target_rows()), ""]

    def _false_alarms(self) -> list[str]:
        rows = []
        for case in self.null_cases():
            runs = self.cases[case]
            row: list[object] = [case, len(runs)]
            for a in self.auditors:
                row.append(sum(s.n_alarms(a) for s in runs))
            rows.append(row)
        out = ["## False alarms on the null scenarios", "",
               "Medium or high findings per auditor, summed over seeds. Users follow the declared "
               "objective here, so every one would be a false alarm.", ""]
        out += _table(("scenario", "seeds", *self.auditors), rows)
        examples = [a for c in self.null_cases() for s in self.cases[c] for a in s.alarms][:5]
        if examples:
            out += ["", "The false alarms, as the findings say them:", ""]
            out += [f"- `{e['auditor']}` ({e['severity']}): {e['claim']}" for e in examples]
        return [*out, ""]

    def _severity_counts(self) -> list[str]:
        rows = []
        for case, runs in self.cases.items():
            row: list[object] = [case + (" (null)" if runs[0].null else "")]
            for a in self.auditors:
                counts: dict[str, int] = defaultdict(int)
                for s in runs:
                    for sev, n in s.severities.get(a, {}).items():
                        counts[sev] += n
                with_alarm = sum(1 for s in runs if s.n_alarms(a))
                row.append(f"{counts['high']}/{counts['medium']}/{counts['low']}/{counts['info']} "
                           f"({with_alarm}/{len(runs)})")
            rows.append(row)
        return ["## Findings by severity", "",
                "high / medium / low / info findings summed over seeds; in brackets, the seeds with "
                "at least one medium or high finding.", "",
                *_table(("scenario", *self.auditors), rows), ""]

    def _recovery(self, figures: dict[str, str]) -> list[str]:
        rows = []
        for case in self.cases:
            for a in REWARD_AUDITORS:
                recs = self.recovery_rows(case, a)
                if not recs:
                    continue
                scored = [r for r in recs if r.status == "scored" and r.concordance is not None]
                cannot = sum(1 for r in recs if r.status == "cannot tell")
                conc = [r.concordance.value for r in scored if r.concordance.value is not None]
                strict = [r.concordance_strict.value for r in scored
                          if r.concordance_strict is not None and r.concordance_strict.value is not None]
                pairs = sum(r.concordance.n_pairs for r in scored)
                left = sum(r.concordance_strict.n_identical for r in scored if r.concordance_strict)
                graded = any(r.graded for r in scored)
                corr = [r.correlation for r in scored if r.correlation is not None]
                seeds = f"{len(scored)}/{len(recs)}" + (f" ({cannot} cannot tell)" if cannot else "")
                rows.append([case, a, seeds, _spread(conc), pairs, left, _spread(strict),
                             _spread(corr) if graded else "(A in {0, 1})"])
        out = ["## Recovery of the truth within tasks", "",
               "How often the inferred reward orders two traces of one task as A(τ) does (pairwise "
               "concordance over every pair A(τ) orders; a tie counts one half), mean over the seeds "
               "that were scored (lowest–highest). Some pairs A(τ) orders only by the selector's last "
               "tie-break (the sample drawn first, between traces equal in validity, status, length, "
               "tokens and actions); they are counted, and the next column scores the reward "
               "without them. The black-box "
               "auditor is scored only where it claims a reward (its held-out AUC beats chance); "
               "elsewhere it says it cannot tell.", ""]
        out += _table(("scenario", "auditor", "seeds scored", "concordance", "pairs",
                       "of which tie-break-only", "concordance without them", "within-task r (graded A)"),
                      rows)
        if "concordance" in figures:
            out += ["", f"![Within-task concordance per scenario and seed]({figures['concordance']})"]
        return [*out, ""]

    def _planted(self, figures: dict[str, str]) -> list[str]:
        out = ["## Planted preferences", "",
               "For each planted departure and each auditor: in how many seeds it raised a medium "
               "or high finding with the right sign on the planted concept (and none with the "
               "wrong sign), and whether it named the right group (`n/a`: the auditor pools "
               "groups). The toolkit column counts the seeds where some auditor found the right "
               "sign, none the wrong one, and some auditor named the group (trivially true for a "
               "population of one group).", ""]
        rows = []
        for case in self.cases:
            c = self._suite_case(case)
            if c is None or not c.planted:
                continue
            for p in c.planted:
                target = f"planted:{p.group}"
                signs = ", ".join(f"{k} {'+' if v > 0 else '−'}" for k, v in p.signs.items())
                row: list[object] = [case, p.group, signs]
                for a in self.auditors:
                    ds = self.detections(case, target, a)
                    right = sum(d.detected for d in ds)
                    wrong = sum(d.sign in ("wrong", "mixed") for d in ds)
                    group = {d.group for d in ds if d.sign == "right"}
                    row.append(f"{right}/{len(ds)}" + (f", {wrong} wrong" if wrong else "")
                               + (f", group {'/'.join(sorted(group))}" if group else ""))
                hits = self.toolkit_detected(case, target)
                row.append(f"**{sum(hits)}/{len(hits)}**")
                rows.append(row)
        out += _table(("scenario", "group", "planted", *self.auditors, "toolkit"), rows)
        est = self._estimate_rows()
        if est:
            out += ["", "The white-box published shift on each planted concept (the concept's mean "
                    "over what users published minus over what the declared objective publishes "
                    "from the same candidates, in the feature's units: a share of plans or of "
                    "steps, or steps above the task's best), pooled over groups and for the planted "
                    "group alone, per seed with its 95% interval:", ""]
            out += _table(("scenario", "group", "concept", "scope", "per seed: estimate [interval]"), est)
        if "planted" in figures:
            out += ["", f"![Planted shifts per seed, in standard errors]({figures['planted']})"]
        return [*out, ""]

    def _estimate_rows(self) -> list[list[object]]:
        rows: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
        for case, runs in self.cases.items():
            for s in runs:
                for e in s.estimates:
                    key = (case, str(e["group"]), str(e["concept"]), str(e["scope"]))
                    rows[key].append(f"{_fmt(e['estimate'])} [{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]")
        return [[*k, "; ".join(v)] for k, v in rows.items()]

    def _drift(self) -> list[str]:
        rows = []
        for case, runs in self.cases.items():
            c = self._suite_case(case)
            if c is None:
                continue
            ds = self.detections(case, "drift", "reward-drift")
            alarms = sum(1 for s in runs if s.n_alarms("reward-drift"))
            if c.drift is not None:
                right = sum(d.detected for d in ds)
                when = {d.generation for d in ds}
                rows.append([case, f"generation {c.drift.generation}", f"{right}/{len(ds)}",
                             ", ".join(sorted(when)), f"{alarms}/{len(runs)}"])
            else:
                rows.append([case, "none (fixed policies)", "–", "–", f"{alarms}/{len(runs)}"])
        return ["## Reward drift", "",
                "Where a scenario changes a group's policy during the run, was the change flagged "
                "at the generation it happened, with the right sign and group? Where policies are "
                "fixed, every reward-drift alarm is a false one.", "",
                *_table(("scenario", "planted change", "found at the right generation",
                         "generation of the first flag", "seeds with a reward-drift alarm"), rows), ""]

    def _notes(self) -> list[str]:
        notes = [(name, c.note.strip()) for name, c in self.case_of.items() if c.note.strip()]
        if not notes:
            return []
        return ["## Reading the misses", "",
                "What the suite file says about each scenario, next to what the runs show above.", "",
                *(f"- **{name}**: {' '.join(note.split())}" for name, note in notes), ""]

    def _definitions(self) -> list[str]:
        return ["## How each score is computed", "",
                "- **False alarm**: a medium or high finding on a null scenario (users follow the "
                "declared objective exactly).",
                "- **Detection**: a medium or high finding whose structured claims "
                "(`numbers.claims`) name the planted concept with the planted direction, none with "
                "the opposite one; for auditors that attribute, the claim names the planted group. "
                "The toolkit detects a bias when some auditor has the right sign, none the wrong "
                "one, and some auditor names the right group.",
                "- **Concordance**: within each task, over pairs of curated deployment traces with "
                "different A(τ), the share the auditor's published reward (`numbers."
                "inferred_reward`, applied to the traces' features) orders the same way. Where "
                "several groups decided, the white-box auditor publishes the inferred A(τ) as a "
                "mixture (`inferred_reward.mixture`: each group's within-task reward on its own "
                "tasks, its softmax times the group's kept traces per task, weighted by the group's "
                "share of the tasks), and that mixture is what is scored.",
                "- **Within-task r**: Pearson's r between the inferred keep probability (the "
                "reward's softmax within the task, or the mixture) and A(τ), both centred on their "
                "task's mean; reported where A(τ) is graded (mixed or noisy populations).",
                "- **Published shift**: a feature's mean over the traces users published minus its "
                "mean over the traces a user following the declared objective publishes from the "
                "same candidates; exactly 0 where users follow the declaration. The figure puts "
                "each shift in units of its own standard error, so shares and lengths share an axis.",
                ""]


def write_figures(report: Report, directory: Path, stem: str) -> dict[str, str]:
    """The report's SVG figures, written into ``directory``; name → path relative to it."""
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "iterdeploy"  # deterministic ids: the same scores, the same file
    figures: dict[str, str] = {}
    cases = list(report.cases)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(cases) + 1.5))
    for k, (auditor, marker) in enumerate(zip(REWARD_AUDITORS, ("o", "s"), strict=True)):
        for i, case in enumerate(cases):
            values = report.concordances(case, auditor, strict=auditor == "blackbox-reward")
            ax.scatter(values, [i + 0.15 * (k - 0.5)] * len(values), marker=marker, alpha=0.7,
                       label=auditor if i == 0 else None, color=f"C{k}")
    ax.axvline(TARGET_CONCORDANCE, color="C0", linestyle=":", linewidth=1)
    ax.axvline(TARGET_BLACKBOX, color="C1", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(cases)), cases)
    ax.set_xlabel("within-task concordance with A(τ), one point per seed (black-box: pairs whose "
                  "outputs differ)")
    ax.set_xlim(0.0, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    name = f"{stem}-concordance.svg"
    fig.savefig(directory / name, metadata={"Date": None})
    plt.close(fig)
    figures["concordance"] = name

    rows = [(case, e) for case, runs in report.cases.items() for s in runs for e in s.estimates]
    if rows:
        labels = sorted({f"{c} · {e['group']} · {e['concept']} · {e['scope']}" for c, e in rows})
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 2.0))
        offsets: dict[str, int] = defaultdict(int)
        for case, e in rows:
            label = f"{case} · {e['group']} · {e['concept']} · {e['scope']}"
            y = labels.index(label) + 0.12 * (offsets[label] - 2)
            offsets[label] += 1
            est, lo, hi = e["estimate"], e["ci_low"], e["ci_high"]
            if est is None or lo is None or hi is None:
                continue
            # in standard errors (the interval's half-width is about 1.96 of them), so shifts of a
            # share and of a plan length share one axis
            se = (hi - lo) / 3.92 if hi > lo else None
            z, z_lo, z_hi = (est / se, lo / se, hi / se) if se else (0.0, 0.0, 0.0)
            color = "C2" if ((lo > 0 or hi < 0) and np.sign(est) == e["sign"]) else "C3"
            ax.plot([z_lo, z_hi], [y, y], color=color, linewidth=1.5)
            ax.plot([z], [y], "o", color=color, markersize=3)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("published shift from the declared choice, in standard errors\n"
                      "(green: interval excludes 0, with the planted sign)")
        fig.tight_layout()
        name = f"{stem}-planted.svg"
        fig.savefig(directory / name, metadata={"Date": None})
        plt.close(fig)
        figures["planted"] = name
    return figures


def write_report(report: Report, doc: Path, command: str) -> list[Path]:
    """Write the document, its figures and ``<doc stem>.json``; returns the paths written."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    figures = write_figures(report, doc.parent, doc.stem)
    doc.write_text(report.markdown(command, figures))
    raw = doc.with_suffix(".json")
    raw.write_text(json.dumps({
        "suite": report.suite.model_dump(mode="json"),
        "auditors": {a: report.versions.get(a, a) for a in report.auditors},
        "targets": [{"target": t, "measured": m, "met": ok == "yes"} for t, m, ok in report.target_rows()],
        "runs": [s.as_dict() for s in report.scores],
    }, indent=1, default=str) + "\n")
    return [doc, raw, *(doc.parent / f for f in figures.values())]


__all__ = ["ALARM", "Report", "write_report"]
