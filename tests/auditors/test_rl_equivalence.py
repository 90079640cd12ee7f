"""The RL equivalence check (Propositions 1 and 2 of the paper), on a tiny real run and on parts.

The fast tests build a one-layer Llama in memory and check the numerical pieces: per-trace
gradients against autograd and finite differences, the log-probability against the training loss,
the inner-product geometry, importance weights. The real-run tests run the project's own loop
(tiny model, three generations, a population with noisy validators so that generations 0 and 1 keep
something) and audit it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.auditors.core.findings import FindingView
from iterdeploy.auditors.rl import equivalence as rq
from iterdeploy.auditors.rl import gradients as rg
from iterdeploy.auditors.rl import measure as rm
from iterdeploy.auditors.rl import run_data as rd
from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.models.training import IGNORE, collate
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import FindingRow, RunReader

PAD = 0


# -- a tiny model in memory --------------------------------------------------------------------


def _tiny_lora_model(seed: int = 0, random_b: bool = False) -> tuple[torch.nn.Module, list[torch.nn.Linear]]:
    """A 1-layer Llama with a LoRA adapter; its ``B`` layers (random instead of zero on request,
    so the per-trace formula is tested away from the probe's starting point too)."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=24,
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=PAD,
        bos_token_id=1,
        eos_token_id=2,
    )
    base = LlamaForCausalLM(config)
    for p in base.parameters():
        p.requires_grad = False
    model = get_peft_model(
        base,
        LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"]),
    )
    layers = [m for name, m in model.named_modules() if name.endswith("lora_B.default")]
    if random_b:
        with torch.no_grad():
            for layer in layers:
                layer.weight.normal_(0, 0.3)
    model.eval()
    return model, layers


def _examples(n: int, seed: int = 0) -> list[rg.Encoded]:
    """Random (ids, labels) pairs of different lengths, prompt positions masked."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        n_prompt, n_comp = int(rng.integers(2, 6)), int(rng.integers(2, 9))
        ids = [1, *rng.integers(3, 24, size=n_prompt + n_comp - 1).tolist()]
        out.append((ids, [IGNORE] * n_prompt + ids[n_prompt:]))
    return out


def _autograd(model: torch.nn.Module, layers: list[torch.nn.Linear], ex: rg.Encoded) -> torch.Tensor:
    logp = rg._sequence_logprobs(model, collate([ex], PAD))
    grads = torch.autograd.grad(-logp.sum(), [layer.weight for layer in layers])
    return torch.cat([g.reshape(-1) for g in grads])


def test_per_trace_gradients_equal_autograd_on_each_sequence_alone() -> None:
    model, layers = _tiny_lora_model(random_b=True)
    examples = _examples(7)
    got = rg.per_trace_gradients(model, layers, examples, PAD, batch_size=3)  # padded batches
    assert got.grads.shape == (7, got.n_parameters) and got.sketch_dim is None
    for i, ex in enumerate(examples):
        want = _autograd(model, layers, ex)
        assert torch.allclose(got.grads[i], want.float(), atol=1e-5, rtol=1e-4)
        alone = rg.sequence_logprobs(model, [ex], PAD)[0]
        assert got.logprobs[i] == pytest.approx(alone, abs=1e-5)


def test_per_trace_gradient_matches_finite_differences() -> None:
    model, layers = _tiny_lora_model(seed=3)
    model.double()
    ex = _examples(1, seed=5)[0]
    grad = rg.per_trace_gradients(model, layers, [ex], PAD).grads[0].double()
    rng = torch.Generator().manual_seed(0)
    directions = [torch.randn(layer.weight.shape, generator=rng, dtype=torch.float64) for layer in layers]
    v = torch.cat([d.reshape(-1) for d in directions])

    def loss(eps: float) -> float:
        with torch.no_grad():
            for layer, d in zip(layers, directions, strict=True):
                layer.weight += eps * d
            value = -float(rg._sequence_logprobs(model, collate([ex], PAD))[0])
            for layer, d in zip(layers, directions, strict=True):
                layer.weight -= eps * d
        return value

    eps = 1e-3  # attention's softmax runs in float32 even in a float64 model: not smaller
    numeric = (loss(eps) - loss(-eps)) / (2 * eps)
    assert float(grad @ v) == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_sequence_logprob_is_the_training_loss_times_its_tokens() -> None:
    model, _ = _tiny_lora_model()
    ex = _examples(1, seed=2)[0]
    batch = collate([ex], PAD)
    n_scored = sum(1 for x in ex[1][1:] if x != IGNORE)
    with torch.no_grad():
        hf_loss = float(model(**batch).loss)
    assert -rg.sequence_logprobs(model, [ex], PAD)[0] == pytest.approx(hf_loss * n_scored, rel=1e-5)


@pytest.mark.parametrize("max_bytes", [rg.GRADIENT_MEMORY_BYTES, 100])
def test_autograd_of_a_weighted_loss_is_the_weighted_sum_of_per_trace_gradients(max_bytes: int) -> None:
    """The identity row's two routes agree, exact or count-sketched."""
    model, layers = _tiny_lora_model(random_b=True)
    examples = _examples(9, seed=4)
    weights = np.array([1.0, 0, 0.5, 0, 2.0, 0, 0, 1.0, 0.25])
    per_trace = rg.per_trace_gradients(model, layers, examples, PAD, batch_size=4, max_bytes=max_bytes)
    direct = per_trace.project(rg.weighted_gradient(model, layers, examples, weights, PAD, batch_size=2))
    summed = torch.as_tensor(weights, dtype=torch.float32) @ per_trace.grads
    assert torch.allclose(direct, summed, atol=1e-4, rtol=1e-4)
    assert rg.cosine(direct.double().numpy(), summed.double().numpy()) == pytest.approx(1.0, abs=1e-6)


def test_zero_b_probe_has_zero_a_gradients() -> None:
    """Why only the B matrices are kept: at B = 0 the A gradients vanish exactly."""
    model, _ = _tiny_lora_model()
    a_params = [p for name, p in model.named_parameters() if "lora_A" in name]
    logp = rg._sequence_logprobs(model, collate([_examples(1)[0]], PAD))
    grads = torch.autograd.grad(-logp.sum(), a_params)
    assert all(float(g.abs().max()) == 0.0 for g in grads)


def test_count_sketch_keeps_inner_products_close() -> None:
    model, layers = _tiny_lora_model(random_b=True)
    examples = _examples(6)
    exact = rg.per_trace_gradients(model, layers, examples, PAD)
    sketched = rg.per_trace_gradients(model, layers, examples, PAD, max_bytes=100, seed=1)
    assert sketched.sketch_dim is not None
    a, b = exact.gram(), sketched.gram()
    assert np.abs(a - b).max() <= 0.1 * np.abs(a).max()


# -- geometry and weights ------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), dim=st.integers(1, 20), seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_sft_on_kept_and_reinforce_with_the_decision_point_the_same_way(
    n: int, dim: int, seed: int, scale: float
) -> None:
    """Proposition 1's identity, as the geometry computes it: any reward-0/1 REINFORCE weighting is
    the SFT weighting divided by N."""
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=(n, dim))
    kept = (rng.random(n) < 0.5).astype(float)
    kept[0] = 1.0
    geometry = rg.GradientGeometry(grads @ grads.T, list(range(n)))
    cos = geometry.raw_cosine(kept, kept * scale / n)
    assert cos is not None and cos == pytest.approx(1.0, abs=1e-9)
    assert cos == pytest.approx(rg.cosine(kept @ grads, (kept / n) @ grads), abs=1e-9)


def test_signal_cosine_sees_through_noise_and_the_test_separates_means() -> None:
    rng = np.random.default_rng(0)
    dim, n = 400, 120
    mu = rng.normal(size=dim)
    other = rng.normal(size=dim)
    same_a = mu + 12 * rng.normal(size=(n, dim))
    same_b = mu + 12 * rng.normal(size=(n, dim))
    diff_b = other + 12 * rng.normal(size=(n, dim))
    for b, same in ((same_b, True), (diff_b, False)):
        grads = np.vstack([same_a, b])
        geometry = rg.GradientGeometry(grads @ grads.T, list(range(2 * n)))
        in_a = np.arange(2 * n) < n
        raw = geometry.raw_cosine(in_a.astype(float), (~in_a).astype(float))
        signal = float(geometry.signal_cosine(in_a.astype(float), (~in_a).astype(float))[0])
        test = geometry.mean_difference_test(in_a, ~in_a, np.random.default_rng(1), 199)
        if same:
            assert raw is not None and raw < 0.7  # noise makes raw batches look unrelated
            assert signal == pytest.approx(1.0, abs=0.3)
            assert test["p_value"] is not None and test["p_value"] > 0.05
        else:
            assert abs(signal) < 0.3
            assert test["p_value"] is not None and test["p_value"] < 0.01


def test_signal_inner_leaves_out_pairs_from_one_task() -> None:
    """Two traces of one task never pair: a task-specific direction does not pass for signal."""
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(5, 50)) * 10  # one direction per task, nothing common
    grads = np.repeat(shared, 2, axis=0)  # two traces per task
    geometry = rg.GradientGeometry(grads @ grads.T, [t for t in range(5) for _ in range(2)])
    ones = np.ones(10)
    assert float(geometry.signal_inner(ones, ones)[0]) < 0.5 * float(np.mean(np.sum(shared**2, axis=1)))
    identical = rg.GradientGeometry(np.full((4, 4), 2.0), [0, 1, 2, 3])  # all gradients equal
    assert float(identical.signal_inner(np.ones(4), np.ones(4))[0]) == pytest.approx(2.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=40), st.floats(-100, 100), st.floats(1.5, 50))
def test_importance_weights_are_self_normalised_and_clipped(
    log_ratio: list[float], shift: float, clip: float
) -> None:
    w = rg.importance_weights(np.array(log_ratio), clip)
    shifted = rg.importance_weights(np.array(log_ratio) + shift, clip)
    assert np.allclose(w.weights, shifted.weights)  # only ratios matter
    assert np.all(w.weights > 0) and w.weights.mean() == pytest.approx(1.0)
    assert 1.0 - 1e-9 <= w.ess <= len(log_ratio) + 1e-9
    assert w.n_clipped == int(
        np.sum(
            np.exp(np.array(log_ratio) - max(log_ratio))
            / np.mean(np.exp(np.array(log_ratio) - max(log_ratio)))
            > clip
        )
    )


def test_on_policy_weights_are_one() -> None:
    w = rg.importance_weights(np.zeros(9))
    assert np.array_equal(w.weights, np.ones(9)) and w.ess == 9.0 and w.n_clipped == 0
    with pytest.raises(AuditorConfigError, match="clip"):
        rg.importance_weights(np.zeros(3), clip=1.0)


# -- stores without a model ----------------------------------------------------------------------


def test_store_without_kept_traces_gives_a_finding_not_a_crash(
    make_store: Callable[..., Path],
) -> None:
    run_dir = make_store(rules="reject_all", n_generations=2, n_tasks=5)
    with RunReader(run_dir) as reader:
        (nothing,) = rq.RlEquivalenceAuditor().audit(reader)  # no successor training set: nothing to audit
        assert nothing.severity == "info" and nothing.generation is None
        assert "no next fine-tuning step" in nothing.claim
        findings = rq.RlEquivalenceAuditor(generations=(0, 1)).audit(reader)  # no model is loaded for these
    assert [f.generation for f in findings] == [0, 1]
    for f in findings:
        assert f.severity == "info" and "kept none of the 20 deployment traces" in f.claim
        assert json.loads(f.numbers_json)["status"] == "no-kept-traces"


def test_bad_options_and_unknown_generations_are_errors(make_store: Callable[..., Path]) -> None:
    run_dir = make_store(rules="reject_all", n_generations=1, n_tasks=3)
    with RunReader(run_dir) as reader:
        with pytest.raises(AuditorConfigError, match="not committed"):
            rq.RlEquivalenceAuditor(generations=(3,)).audit(reader)
        for bad in ({"max_traces": 0}, {"n_splits": 0}, {"clip": 0.5}, {"n_bootstrap": -1}):
            with pytest.raises(AuditorConfigError):
                rq.RlEquivalenceAuditor(**bad).audit(reader)  # type: ignore[arg-type]


def test_audit_and_store_replaces_its_own_findings(make_store: Callable[..., Path]) -> None:
    run_dir = make_store(rules="reject_all", n_generations=1, n_tasks=3)
    first = rq.audit_rl_equivalence(run_dir, generations=[0])
    again = rq.audit_rl_equivalence(run_dir, generations=[0])
    assert len(first) == len(again) == 1 and again[0].auditor == rq.AUDITOR_NAME


# -- a tiny real run -----------------------------------------------------------------------------

REAL_RUN: dict[str, object] = {
    "generations": 2,
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
"""On top of the tiny overrides: three generations (0, 1, 2, so generation 1 trains on data from
0 and 1), tasks the tiny model can solve, and users who publish some invalid plans too, so every
generation keeps something and A(τ) differs from the decision."""


@pytest.fixture(scope="module")
def _real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return {"dir": tmp_path_factory.mktemp("rl-equivalence")}


@pytest.fixture
def real_run(tiny_overrides: dict[str, object], _real_runs: dict[str, object]) -> Path:
    """The tiny real run, made once per module (function scope only to read ``tiny_overrides``)."""
    if "run" not in _real_runs:
        run_dir = Path(str(_real_runs["dir"])) / "run"
        spec = parse_scenario("name: tiny\n", overrides={**tiny_overrides, **REAL_RUN})
        run_scenario(spec, "name: tiny\n", run_dir)
        _real_runs["run"] = run_dir
    return Path(str(_real_runs["run"]))


@pytest.fixture
def real_findings(real_run: Path, _real_runs: dict[str, object]) -> list[FindingRow]:
    if "findings" not in _real_runs:
        with RunReader(real_run) as reader:
            auditor = rq.RlEquivalenceAuditor(seed=0, max_traces=32, n_bootstrap=50)
            _real_runs["findings"] = auditor.audit(reader)
    return list(_real_runs["findings"])  # type: ignore[call-overload]


def _numbers(finding: FindingRow) -> dict[str, object]:
    return FindingView.from_row(finding).numbers


def test_real_run_proposition_one_holds_and_the_probe_is_the_deployed_model(
    real_findings: list[FindingRow],
) -> None:
    assert [f.generation for f in real_findings] == [0, 1]  # generation 2 has no successor
    for f in real_findings:
        n = _numbers(f)
        assert n["status"] == "ok", f.claim
        prop1, checks = n["prop1"], n["checks"]
        assert isinstance(prop1, dict) and isinstance(checks, dict)
        assert prop1["identity_cosine"] > 0.999
        assert f.severity in ("info", "low") and "Proposition 1" in f.claim
        assert checks["n_plan_text_mismatch"] == 0  # prompts rebuilt exactly as sampled
        assert checks["probe_logprob_max_abs_diff"] is not None
        assert checks["probe_logprob_max_abs_diff"] < 1e-3
        assert n["n_parameters"] > 0 and n["sketch_dim"] is None


def test_real_run_on_policy_pool_has_unit_weights_and_older_data_does_not(
    real_findings: list[FindingRow],
) -> None:
    first, second = (_numbers(f)["prop2"] for f in real_findings)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["older_share"] == 0.0 and first["older_vs_fresh"] is None
    w = first["weights"]
    assert isinstance(w, dict)
    assert (
        w["ess"] == w["n"]
        and w["n_clipped"] == 0
        and w["log_ratio"] == {"min": 0.0, "median": 0.0, "max": 0.0}
    )
    assert second["older_share"] > 0 and second["n_sample_older"] > 0
    test = second["older_vs_fresh"]
    assert isinstance(test, dict) and {"p_value", "p_value_bh", "statistic"} <= set(test)
    w2 = second["weights"]
    assert isinstance(w2, dict) and isinstance(w2["log_ratio"], dict)
    assert w2["log_ratio"]["max"] != 0.0 and w2["ess"] <= w2["n"]


def test_real_run_same_seed_same_numbers(real_run: Path, real_findings: list[FindingRow]) -> None:
    with RunReader(real_run) as reader:
        again = rq.RlEquivalenceAuditor(seed=0, max_traces=32, n_bootstrap=50).audit(reader)
    assert [(f.claim, f.numbers_json, f.evidence_json) for f in again] == [
        (f.claim, f.numbers_json, f.evidence_json) for f in real_findings
    ]


def test_real_probe_gradient_matches_autograd_on_one_trace(real_run: Path) -> None:
    with RunReader(real_run) as reader:
        models = rd.open_models(reader)
        trace = next(t for t in rd.on_policy_traces(reader, 1)[0] if t.kept)
        encoded, _, _ = rm.encode_all(models, rd.Texts(reader), [trace.trace_id])
        probe, layers, _ = models.probe(1, seed=0)
    ex = encoded[trace.trace_id]
    got = rg.per_trace_gradients(probe, layers, [ex], models.pad_id).grads[0]
    want = _autograd(probe, layers, ex)
    assert float(want.abs().max()) > 0
    assert torch.allclose(got, want.float(), atol=1e-5, rtol=1e-4)
