"""Worker processes decode batches exactly as one process does: the same tokens, batch for batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models import sampling_pool
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.lean_decoder import extract
from iterdeploy.simulator.models.progress import sample_with_progress
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning.blocksworld import generate_task


@pytest.fixture
def embedded(tiny_embedded_spec: EmbeddedModelSpec) -> HfPlanner:
    planner = load_planner("embedded-tiny-v1", embedded_spec=tiny_embedded_spec, device="cpu")
    assert isinstance(planner, HfPlanner)
    return planner


def _prompts(n_tasks: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    fmt = CompactTaskFormat()
    return [fmt.prompt(generate_task(int(rng.integers(2, 6)), rng, name=f"t{k}")) for k in range(n_tasks)]


def _texts(
    planner: HfPlanner, workers: int, *, temperature: float = 1.0, batch_size: int = 8
) -> list[list[str]]:
    progress: list[int] = []
    planner.batch_size = batch_size
    with sampling_pool.sample_workers(workers):
        out = sample_with_progress(planner, _prompts(9, 3), n=4, temperature=temperature, max_new_tokens=48,
                                   seed=11, on_rows=progress.append)
    assert sum(progress) == 9 * 4, "progress counts every row once"
    return [[c.text for c in row] for row in out]


def test_two_workers_draw_what_one_process_draws(embedded: HfPlanner) -> None:
    serial = _texts(embedded, 1)
    assert _texts(embedded, 2) == serial
    assert _texts(embedded, 3) == serial, "the pool is restarted with another size and still agrees"
    assert len({t for row in serial for t in row}) > 4, "sampled, not one repeated text"


def test_greedy_is_the_same_through_the_pool(embedded: HfPlanner) -> None:
    assert _texts(embedded, 2, temperature=0.0) == _texts(embedded, 1, temperature=0.0)


def test_a_new_adapter_reaches_the_workers(embedded: HfPlanner) -> None:
    """Workers keep the weights of the last call; a changed model must not be served stale."""
    before = _texts(embedded, 2)
    with torch.no_grad():
        for p in embedded.model.parameters():
            p.mul_(0.5)
    after_serial = _texts(embedded, 1)
    assert after_serial != before
    assert _texts(embedded, 2) == after_serial


def test_the_weights_survive_the_trip_to_a_worker(embedded: HfPlanner) -> None:
    m = extract(embedded.model)
    back = sampling_pool._from_state(sampling_pool._state(m))
    assert back.n_heads == m.n_heads and back.eps == m.eps and len(back.layers) == len(m.layers)
    for a, b in zip(back.layers, m.layers, strict=True):
        assert torch.equal(a.qkv, b.qkv) and torch.equal(a.down, b.down)


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_a_bad_worker_count_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv(sampling_pool.SAMPLE_WORKERS_ENV, text)
    with pytest.raises(ModelError, match=sampling_pool.SAMPLE_WORKERS_ENV):
        sampling_pool.configured_workers()


def test_auto_is_one_worker_per_usable_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sampling_pool.SAMPLE_WORKERS_ENV, "auto")
    auto = min(sampling_pool.usable_cpus(), sampling_pool.MAX_AUTO_WORKERS)
    assert sampling_pool.configured_workers() == auto
    monkeypatch.setenv(sampling_pool.SAMPLE_WORKERS_ENV, "3")
    assert sampling_pool.configured_workers() == 3
    with sampling_pool.sample_workers(2):
        assert sampling_pool.configured_workers() == 2
    assert sampling_pool.configured_workers() == 3


def test_a_dead_worker_is_a_clear_error_and_the_next_call_recovers(embedded: HfPlanner) -> None:
    serial = _texts(embedded, 1)
    _texts(embedded, 2)  # the pool is up
    assert sampling_pool._pool is not None
    for pid in list(sampling_pool._pool[1]._processes):  # the test kills a worker
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    with pytest.raises(ModelError, match="worker process died"):
        _texts(embedded, 2)
    assert _texts(embedded, 2) == serial


def test_a_script_that_samples_at_its_top_level_works(tmp_path: Path) -> None:
    """Spawned processes import the script that started their parent; one that samples outside
    ``if __name__ == "__main__":`` (a study script calling ``iterdeploy.run``) would start its
    work again in every worker, which Python refuses there. The pool's workers start without it,
    and draw what one process draws."""
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM
        from iterdeploy.simulator.models.lean_decoder import extract
        from iterdeploy.simulator.models.sampling_pool import decode_batches
        print("the script ran", flush=True)
        torch.manual_seed(0)
        model = extract(LlamaForCausalLM(LlamaConfig(
            vocab_size=20, hidden_size=16, intermediate_size=16, num_hidden_layers=1,
            num_attention_heads=2)))
        batches = [(0, [[3, 4, 5], [9]]), (2, [[6, 7]]), (3, [[8, 8, 8, 8]]), (4, [[5]]), (5, [[4, 4]])]
        options = dict(seed=0, pad_token_id=0, eos_token_id=1, max_new_tokens=6, temperature=1.0)
        pooled = list(decode_batches(model, batches, workers=3, **options))
        alone = list(decode_batches(model, batches, workers=1, **options))
        assert pooled == alone, (pooled, alone)
        from iterdeploy.simulator.models import sampling_pool
        assert len(sampling_pool._pool[1]._processes) == 3
        print("same tokens", flush=True)
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    # once: no worker ran the script (one that did would print it again, then die in it)
    assert result.stdout.splitlines() == ["the script ran", "same tokens"], result.stdout
    assert "RuntimeError" not in result.stderr, result.stderr[-2000:]


def test_workers_leave_when_their_parent_is_killed(tmp_path: Path) -> None:
    """A run killed with SIGKILL must not leave decoding processes behind."""
    script = textwrap.dedent("""
        import os, sys, time
        from iterdeploy.simulator.models import sampling_pool
        pool = sampling_pool._executor(2)
        for f in [pool.submit(time.sleep, 1) for _ in range(2)]:
            f.result()
        print(" ".join(str(p) for p in pool._processes), flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _running(p)]
    assert not alive, f"workers {alive} outlived their parent"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_a_large_model_samples_in_its_own_process(
    embedded: HfPlanner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the size limit the pool is not used (its weights would be written out every call)."""
    from iterdeploy.simulator.models import hf_planner

    calls: list[int] = []
    original = hf_planner.decode_batches
    monkeypatch.setattr(hf_planner, "decode_batches",
                        lambda *a, **k: calls.append(k["workers"]) or original(*a, **k))
    serial = _texts(embedded, 1)
    monkeypatch.setattr(hf_planner, "POOL_MAX_PARAMETERS", 1000)
    assert _texts(embedded, 2) == serial and calls == []
    monkeypatch.setattr(hf_planner, "POOL_MAX_PARAMETERS", 10**9)
    assert _texts(embedded, 2) == serial and calls == [2]
