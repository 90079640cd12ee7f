"""The auditor registry: one entry per auditor, from which the CLI and the exports are derived."""

from __future__ import annotations

import re

import pytest

import iterdeploy.auditors
from iterdeploy.auditors.registry import AUDITORS, REGISTRY, UnknownAuditorError, default_specs, get_spec


def test_commands_are_unique_and_kebab_case_and_printers_resolve() -> None:
    """The stored name, frozen dataclass and the rest: tests/auditors/test_conformance.py."""
    assert len(REGISTRY) == len(AUDITORS)
    for spec in AUDITORS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", spec.command)
        assert callable(spec.load_printer())


def test_every_registered_auditor_is_exported_by_the_package() -> None:
    for spec in AUDITORS:
        assert spec.class_name in iterdeploy.auditors.__all__
        assert getattr(iterdeploy.auditors, spec.class_name) is spec.load()


def test_make_passes_the_shared_options_to_those_that_have_them() -> None:
    drift = get_spec("drift").make(seed=3, n_bootstrap=7)  # no bootstrap: defaults only
    assert drift == get_spec("drift").load()()
    implicit = get_spec("implicit-reward").make(seed=3, n_bootstrap=7)
    assert (implicit.seed, implicit.n_bootstrap) == (3, 7)  # type: ignore[attr-defined]


def test_default_order_leaves_out_the_opt_in_auditors() -> None:
    assert [s.command for s in default_specs()] == [s.command for s in AUDITORS if not s.opt_in]
    assert [s.command for s in AUDITORS if s.opt_in] == ["rl-equivalence"]


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownAuditorError, match="did you mean 'reward-drift'"):
        get_spec("reward-drfit")
