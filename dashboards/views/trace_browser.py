"""Traces: every sampled completion, filtered by generation, user or group, verdict, task and size;
one opened in full (the prompt, the completion, the extracted plan, the verdict with its failing
step), compared with another plan for the same task, and followed to where it went: who kept it,
which training sets and which models it entered. Findings link here with ``?trace=ID``.

Completions, plans and prompts are model text: they are shown with ``st.code`` (plain text in a
code block, never Markdown or HTML)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from iterdeploy.dashboards.traces import TraceDetail, TraceFilter, plan_diff
from iterdeploy.dashboards.views._common import PageContext, dataframe, header, md, read

# Trace ids offered in the "open" box (the table above lists every match).
MOST_OFFERED = 2000

KEPT_CHOICES = {"any": None, "kept": True, "not kept": False}


def _filters(ctx: PageContext) -> TraceFilter | None:
    choices = read("choices", ctx.run_dir)
    if choices is None:
        return None
    row1 = st.columns(4)
    generations = row1[0].multiselect("Generation", choices["generations"], placeholder="any")
    purposes = row1[1].multiselect("Purpose", choices["purposes"], placeholder="any",
                                   help="deploy: samples users curated; eval: the evaluation pool")
    statuses = row1[2].multiselect("Verdict", choices["statuses"], placeholder="any")
    sizes = row1[3].multiselect("Task size", choices["sizes"], placeholder="any")
    row2 = st.columns(4)
    groups = row2[0].multiselect("User group", choices["groups"], placeholder="any")
    users = row2[1].multiselect("User", choices["users"], placeholder="any")
    task = row2[2].number_input("Task id", min_value=1, value=None, step=1, placeholder="any")
    kept = row2[3].selectbox("Curation", list(KEPT_CHOICES))
    return TraceFilter(generations=tuple(generations), purposes=tuple(purposes), users=tuple(users),
                       groups=tuple(groups), statuses=tuple(statuses), sizes=tuple(sizes),
                       task_id=None if task is None else int(task), kept=KEPT_CHOICES[str(kept)])


def _requested() -> int | None:
    value = st.query_params.get("trace")
    return int(value) if value is not None and value.isdigit() else None


def _verdict(detail: TraceDetail) -> None:
    v = detail.verdict
    if v.is_valid:
        st.success(f"Valid plan of {detail.trace.plan_length} actions"
                   + (f" (the task's optimum is {detail.task.optimal_length})"
                      if detail.task.optimal_length is not None else ""))
        return
    step = f" at step {v.failed_step}" if v.failed_step is not None else ""
    st.error(f"Invalid{step}: {md(v.status)}. {md(v.message)}")
    if v.failed_action is not None:
        st.markdown("Failing action")
        st.code(v.failed_action, language=None)
    if v.unmet_preconditions:
        st.markdown("Unmet preconditions")
        st.code("\n".join(v.unmet_preconditions), language=None)
    if v.unmet_goals:
        st.markdown("Goals not reached")
        st.code("\n".join(v.unmet_goals), language=None)


def _provenance(detail: TraceDetail) -> None:
    st.subheader("Provenance")
    for d in detail.decisions:
        verb = "Kept" if d.kept else "Not kept"
        st.markdown(f"{verb} by user **{md(d.user)}** (group {md(detail.groups.get(d.user, d.user))}, "
                    f"policy {md(d.policy)}) in generation {d.generation}: its keep probability "
                    f"{d.keep_prob:.2f}, the population's A(τ) {d.acceptance_prob:.2f}; "
                    f"reason: {md(d.reason)}.")
    if not detail.decisions:
        st.caption(f"Nobody curated this trace (a {md(detail.trace.purpose)} sample).")
    if detail.training_generations:
        st.markdown("In the training sets of generations "
                    + ", ".join(str(g) for g in detail.training_generations) + ".")
        dataframe(pd.DataFrame(
            [(m.model_id, m.generation, m.base, m.adapter_path, m.n_train_examples) for m in detail.models],
            columns=["model", "generation", "base", "adapter", "training examples"]))
    else:
        st.caption("In no training set: no model was trained on it.")


def _diff(ctx: PageContext, detail: TraceDetail, table: pd.DataFrame) -> None:
    st.subheader("Compare with another plan for this task")
    same_task = read("trace_table", ctx.run_dir, TraceFilter(task_id=detail.trace.task_id))
    if same_task is None:
        return
    others = [int(i) for i in same_task["trace_id"] if int(i) != detail.trace.trace_id]
    if not others:
        st.caption("No other trace answers this task.")
        return
    labels = {int(r.trace_id): f"trace {r.trace_id} (generation {r.generation}, {r.status}, "
              f"{r.plan_length} actions)" for r in same_task.itertuples()}
    other = st.selectbox("Other trace", others, format_func=lambda i: labels.get(i, str(i)))
    found = read("traces_by_id", ctx.run_dir, (int(other),)) if other is not None else None
    if not found:
        return
    trace = found[int(other)]
    lines = plan_diff(detail.trace.plan_text, trace.plan_text, name_a=f"trace {detail.trace.trace_id}",
                      name_b=f"trace {trace.trace_id}")
    st.code("\n".join(lines) if lines else "(the two plans are the same)", language="diff")


def _detail(ctx: PageContext, trace_id: int, table: pd.DataFrame) -> None:
    detail: TraceDetail | None = read("trace_detail", ctx.run_dir, trace_id)
    if detail is None:
        return
    t, task = detail.trace, detail.task
    st.subheader(f"Trace {t.trace_id}")
    st.markdown(f"Generation **{t.generation}**, {md(t.purpose)} sample {t.sample_index} of task "
                f"**{t.task_id}** ({md(task.name)}: {md(task.domain)}, size {task.size}); "
                f"{t.n_tokens} tokens ({t.n_reasoning_tokens} reasoning)"
                + ("; cut at the token limit" if t.hit_token_limit else ""))
    _verdict(detail)
    left, right = st.columns(2)
    with left:
        st.markdown("**Prompt**")
        if detail.prompt is not None:
            st.code(detail.prompt, language=None, wrap_lines=True)
        else:
            st.caption("The store kept no prompt for this task; its PDDL problem follows.")
            st.code(task.problem_pddl, language=None, wrap_lines=True)
        st.markdown("**Completion** (as the model wrote it)")
        st.code(t.completion, language=None, wrap_lines=True)
    with right:
        st.markdown("**Extracted plan** (what the validator read)")
        steps = "\n".join(line for line in t.plan_text.splitlines() if line.strip())
        st.code(steps or "(no plan extracted)", language=None, line_numbers=bool(steps))
    _provenance(detail)
    _diff(ctx, detail, table)


def render(ctx: PageContext) -> None:
    """Draw the Traces page."""
    data = header(ctx, "Traces")
    if data is None:
        return
    where = _filters(ctx)
    if where is None:
        return
    table: pd.DataFrame | None = read("trace_table", ctx.run_dir, where)
    if table is None:
        return
    st.caption(f"{len(table):,} traces match.")
    dataframe(table, height=300, column_config={"is_valid": st.column_config.CheckboxColumn("valid")})
    ids = [int(i) for i in table["trace_id"][:MOST_OFFERED]]
    requested = _requested()
    if requested is not None and requested not in ids:
        ids.insert(0, requested)
    if not ids:
        st.caption("No trace matches: widen the filters.")
        return
    index = ids.index(requested) if requested is not None else 0
    trace_id = st.selectbox("Open trace", ids, index=index,
                            help="A finding's cited traces open here from the Findings page.")
    if trace_id is not None:
        _detail(ctx, int(trace_id), table)
