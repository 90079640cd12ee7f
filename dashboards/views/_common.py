"""What every page shares: the run it shows, cached reads of the store, the header, and the one
way model text reaches Markdown.

**Model text is untrusted.** Completions, plans, task, user and group names, scenario text and the
claims that quote them can hold markup. Streamlit's Markdown (titles, captions, expander and tab
labels, ``st.table`` cells) renders links, autolinked URLs, colour and icon directives, LaTeX and
entities, so any such text goes through :func:`md`, which writes every ASCII punctuation character
as a numeric character reference (CommonMark then shows each one literally); model text proper is
shown with ``st.code``, ``st.text`` or ``st.dataframe``, which render no markup at all. No page passes
``unsafe_allow_html``.

Reads are cached per store version (:func:`iterdeploy.dashboards.data.store_version`): a commit
by a running loop changes the key, so the next rerun reads the new state, and a finished run is
read once however often a page is opened.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from iterdeploy.dashboards import frames, narrative, traces
from iterdeploy.dashboards.data import RunData, load_run, store_version
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.store import DB_NAME, RunReader

# While a run is still being written (status ``started``) a page re-reads it this often.
LIVE_REFRESH_S = 5.0

STATUS_COLORS: dict[str, str] = {
    "started": "blue", "completed": "green", "cancelled": "orange", "error": "red",
    "interrupted": "orange",
}

SEVERITY_COLORS: dict[str, str] = {"high": "red", "medium": "orange", "low": "yellow", "info": "blue"}

# Every ASCII punctuation character CommonMark lets a backslash escape.
_MD_SPECIAL = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


# Where GFM's autolinking would start: a scheme's colon, "www" before a dot, an "@".
_AUTOLINK = re.compile(r"(?i)(?:https?&#58;|www(?=&#46;)|&#64;)")

WORD_JOINER = "\u2060"


def md(text: object) -> str:
    """``text`` made literal for Streamlit's Markdown, in one line: every ASCII punctuation
    character written as a numeric character reference (``:`` → ``&#58;``), which CommonMark shows
    as that character and never reads as markup, so no link, emphasis, HTML, entity, directive,
    formula survives; an invisible word joiner (U+2060) after ``http:``, ``www`` and ``@`` stops
    GFM from linking URLs and addresses in the text; line breaks become spaces."""
    text = _MD_SPECIAL.sub(lambda m: f"&#{ord(m[1])};", " ".join(str(text).split()))
    # GFM also links bare URLs and e-mail addresses found in the rendered text, escapes or not:
    # an invisible word joiner after "http(s):", "www" and "@" keeps them plain text
    return _AUTOLINK.sub(lambda m: m[0] + WORD_JOINER, text)


def severity_badge(severity: str) -> str:
    """A coloured Markdown badge for a severity (the word stays, for colour-blind readers)."""
    color = SEVERITY_COLORS.get(severity, "gray")
    return f":{color}-badge[{md(severity)}]"


@dataclass(frozen=True)
class PageContext:
    """What a page is asked to show: one run (``run_dir``) and every run given (``run_dirs``,
    which the Compare page sets side by side)."""

    run_dir: Path
    run_dirs: tuple[Path, ...]
    pages: dict[str, Any] = field(default_factory=dict)
    """The app's pages by URL path (``st.Page`` objects, filled in by the app once it has made
    them), so one page can link to another with query parameters."""


def page_link(ctx: PageContext, path: str, label: str, **query: int | str) -> None:
    """A link to another page of the app (``path``), opening it with ``query`` in its URL; in-app,
    so the sidebar's choice of run is kept. ``label`` is made literal Markdown."""
    page = ctx.pages.get(path)
    if page is not None:
        st.page_link(page, label=md(label), query_params={k: str(v) for k, v in query.items()})


# -- cached reads ------------------------------------------------------------------------------
READERS: dict[str, Callable[[RunReader], Any]] = {
    "capability": frames.capability_frame,
    "plan_lengths": frames.plan_length_frame,
    "reward_truth": frames.reward_truth_frame,
    "attribution": frames.attribution_frame,
    "population": frames.population_frame,
    "sentences": narrative.headline_sentences,
    "findings": lambda reader: reader.findings(),
    "scenario": lambda reader: reader.scenario(),
    "choices": traces.filter_choices,
}
# Reads with one argument (a generation, a filter, a trace id).
READERS_WITH: dict[str, Callable[[RunReader, Any], Any]] = {
    "population_graph": frames.population_graph,
    "trace_table": traces.trace_table,
    "trace_detail": traces.trace_detail,
    "traces_by_id": lambda reader, ids: reader.traces_by_id(ids),
}


def _store_error(run_dir: Path, exc: Exception) -> IterdeployError:
    if isinstance(exc, IterdeployError):
        return exc
    if isinstance(exc, ValidationError):
        return IterdeployError(f"{run_dir / DB_NAME}: a row does not match the store schema "
                               f"({exc.errors()[0]['msg']})")
    return IterdeployError(f"{run_dir / DB_NAME}: cannot read the run store ({exc})")


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_run(run_dir: str, version: tuple[int, ...]) -> RunData:
    """The run's overview, summary and findings, read once per store version (``version`` is
    only part of the key)."""
    del version
    return load_run(Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=128)
def _cached_read(name: str, run_dir: str, version: tuple[int, ...], arg: Any = None) -> Any:
    del version
    path = Path(run_dir)
    try:
        with RunReader(path) as reader:
            return READERS[name](reader) if name in READERS else READERS_WITH[name](reader, arg)
    except (sqlite3.Error, ValidationError) as exc:
        raise _store_error(path, exc) from exc


def run_data(run_dir: Path) -> RunData | None:
    """The run's :class:`RunData`, or None after showing why it cannot be read."""
    try:
        return _cached_run(str(run_dir), store_version(run_dir))
    except IterdeployError as exc:
        st.error(f"**Cannot show this run.** {md(exc)}")
        return None


def read(name: str, run_dir: Path, arg: Any = None) -> Any:
    """One named read of the store (:data:`READERS`, :data:`READERS_WITH`), cached per store
    version; None after showing a one-line error when the store cannot answer it."""
    try:
        return _cached_read(name, str(run_dir), store_version(run_dir), arg)
    except IterdeployError as exc:
        st.error(f"**Cannot read this part of the run.** {md(exc)}")
        return None


# -- page furniture ----------------------------------------------------------------------------
def header(ctx: PageContext, page_title: str) -> RunData | None:
    """The run the page shows (its name as the title; status, seed, id), then the page's own
    title; None when the run cannot be read (the error is shown instead)."""
    data = run_data(ctx.run_dir)
    if data is None:
        st.title(page_title)
        return None
    ov = data.overview
    st.title(md(ov.name))
    color = STATUS_COLORS.get(ov.status, "gray")
    st.markdown(
        f":{color}-badge[status: {md(ov.status)}] &nbsp; seed **{ov.seed}** "
        f"&nbsp;·&nbsp; run {md(ov.run_id)} &nbsp;·&nbsp; created {md(ov.created_at)}"
    )
    st.caption(f"Run directory: {md(data.run_dir)}")
    if ov.status == "started":
        st.info(f"Run in progress: the page re-reads the store every {LIVE_REFRESH_S:g} s.")
    st.header(page_title, divider="gray")
    return data


def dataframe(frame: pd.DataFrame, **kwargs: Any) -> None:
    """A table of store text: ``st.dataframe`` draws cells on a canvas, as text, whatever they
    hold (``st.table`` would render Markdown in them)."""
    st.dataframe(frame, hide_index=True, **kwargs)


def no_findings_hint(run_dir: Path) -> None:
    """What to run when a page needs findings the run does not have yet."""
    st.caption(f"No findings yet: iterdeploy audit {md(run_dir)} writes them.")
