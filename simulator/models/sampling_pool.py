"""Decoding whole batches in worker processes, one torch thread each.

Why: the embedded model is too small for torch's own threads to use a second core. Its matmuls
are 64 rows by 128 wide and its attention reads memory (docs/benchmarks.md, "The lean decoder,
against the matmul limit"), so intra-op threads split each small op and mostly wait for each
other. Batches, however, are independent: :meth:`HfPlanner.sample
<iterdeploy.simulator.models.hf_planner.HfPlanner.sample>` seeds each one on its own (the call's
seed plus the batch's first row), so N processes that each decode whole batches draw exactly what
one process draws, batch for batch, in about 1/N of the time.

The weights go to the workers once per call, as a file of plain tensors in a temporary folder
(a worker loads it when it meets a new file, then keeps it); a task carries only token ids. The
pool is started on first use, kept for the life of the process (workers take a second or two to
start) and shut down at exit. Workers ignore Ctrl-C, which the parent handles; a worker that dies
(killed, out of memory) is reported as a :class:`~iterdeploy.simulator.errors.ModelError` and the
pool is started afresh on the next call. A worker whose parent dies (even by SIGKILL) exits
within a second.

How many workers: :envvar:`ITERDEPLOY_SAMPLE_WORKERS` (a positive number, or ``auto``), or
:func:`sample_workers` around a block; ``auto`` (the default) is one per usable CPU, at most
:data:`MAX_AUTO_WORKERS`. One worker means no pool: batches are decoded in this process.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

from iterdeploy.simulator.cpus import usable_cpus
from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models.lean_kernel import LeanLayer, LeanLlama, decode, pad_left

SAMPLE_WORKERS_ENV = "ITERDEPLOY_SAMPLE_WORKERS"
"""Environment variable: how many processes decode batches (a positive number or ``auto``)."""

MAX_AUTO_WORKERS = 8
"""``auto`` uses one worker per usable CPU up to this many; beyond it a run is better spread over
several runs (``iterdeploy sweep``) than over more workers of one."""

PARENT_POLL_S = 0.5
"""How often a worker checks that its parent is still there."""

_override: int | None = None
_lock = threading.Lock()
_pool: tuple[int, ProcessPoolExecutor] | None = None
_calls = itertools.count()


def parse_workers(text: str, *, source: str = SAMPLE_WORKERS_ENV) -> int:
    """``auto`` or a positive number as a worker count; anything else is refused naming ``source``."""
    value = text.strip().lower()
    if value in ("", "auto"):
        return min(usable_cpus(), MAX_AUTO_WORKERS)
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ModelError(f"{source}={text!r}: expected a positive number of sampling workers or 'auto'")
    return n


def configured_workers() -> int:
    """How many processes decode batches now: :func:`sample_workers`' value inside such a
    block, else :envvar:`ITERDEPLOY_SAMPLE_WORKERS`, else ``auto``."""
    if _override is not None:
        return _override
    return parse_workers(os.environ.get(SAMPLE_WORKERS_ENV, "auto"))


@contextlib.contextmanager
def sample_workers(n: int) -> Iterator[None]:
    """Decode with ``n`` processes inside the block (a sweep gives each run its own CPUs)."""
    global _override
    if n < 1:
        raise ModelError(f"sampling workers must be at least 1, not {n}")
    before, _override = _override, n
    try:
        yield
    finally:
        _override = before


def _state(m: LeanLlama) -> dict[str, object]:
    """The weights as plain tensors and numbers (what ``torch.load(weights_only=True)`` reads)."""
    state: dict[str, object] = {
        "embed": m.embed, "norm": m.norm, "lm_head": m.lm_head, "inv_freq": m.inv_freq,
        "n_heads": m.n_heads, "n_kv_heads": m.n_kv_heads, "head_dim": m.head_dim,
        "intermediate": m.intermediate, "eps": m.eps, "n_layers": len(m.layers),
    }
    for i, layer in enumerate(m.layers):
        for field in ("input_norm", "qkv", "o", "post_norm", "gate_up", "down"):
            state[f"layers.{i}.{field}"] = getattr(layer, field)
    return state


def _from_state(state: dict[str, object]) -> LeanLlama:
    def tensor(key: str) -> torch.Tensor:
        value = state[key]
        assert isinstance(value, torch.Tensor)
        return value

    fields = ("input_norm", "qkv", "o", "post_norm", "gate_up", "down")
    n_layers = int(str(state["n_layers"]))
    layers = tuple(
        LeanLayer(**{f: tensor(f"layers.{i}.{f}") for f in fields}) for i in range(n_layers)
    )
    return LeanLlama(
        embed=tensor("embed"), layers=layers, norm=tensor("norm"), lm_head=tensor("lm_head"),
        n_heads=int(str(state["n_heads"])), n_kv_heads=int(str(state["n_kv_heads"])),
        head_dim=int(str(state["head_dim"])), intermediate=int(str(state["intermediate"])),
        eps=float(str(state["eps"])), inv_freq=tensor("inv_freq"),
    )


# ---- in the worker process ----

_weights: tuple[str, LeanLlama] | None = None


def _start_worker(parent: int) -> None:
    """One torch thread (the pool's workers are the parallelism), Ctrl-C left to the parent, and
    a watch on the parent: a worker holds both ends of its task pipe, so it would wait forever on
    a parent killed with SIGKILL."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


@dataclass(frozen=True)
class _Task:
    weights_file: str
    encoded: list[list[int]]
    seed: int
    pad_token_id: int
    eos_token_id: int
    max_new_tokens: int
    temperature: float


def _decode_task(task: _Task) -> list[list[int]]:
    global _weights
    if _weights is None or _weights[0] != task.weights_file:
        _weights = (task.weights_file, _from_state(torch.load(task.weights_file, weights_only=True)))
    torch.manual_seed(task.seed)
    ids, mask = pad_left(task.encoded, task.pad_token_id)
    with torch.no_grad():
        return decode(
            _weights[1], ids, mask, max_new_tokens=task.max_new_tokens,
            temperature=task.temperature, eos_token_id=task.eos_token_id,
        )


# ---- in the parent ----


def _executor(workers: int) -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is not None and _pool[0] != workers:
            _pool[1].shutdown(wait=True, cancel_futures=True)
            _pool = None
        if _pool is None:
            executor = ProcessPoolExecutor(
                max_workers=workers, mp_context=get_context("spawn"), initializer=_start_worker,
                initargs=(os.getpid(),),
            )
            try:
                # a spawn pool starts a worker for each task submitted while none is idle: these
                # start them all, before any finishes, while __main__ is hidden
                with _main_module_hidden():
                    for started in [executor.submit(int) for _ in range(workers)]:
                        started.result()
            except BrokenProcessPool as e:
                executor.shutdown(wait=True, cancel_futures=True)
                raise ModelError(f"the sampling worker processes did not start ({e}); set "
                                 f"{SAMPLE_WORKERS_ENV}=1 to sample in this process") from e
            _pool = (workers, executor)
        return _pool[1]


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without their importing the parent's ``__main__``.

    A spawned process first imports the script (or ``-m`` module) that started its parent, as
    ``__mp_main__``, so that objects pickled from it resolve. The workers need nothing from it:
    they run this module's functions on tasks of this module's types. Without this, a user's
    script that calls ``iterdeploy.run`` or samples at its top level, outside ``if __name__ ==
    "__main__":``, would start its whole study again in every worker (which Python refuses there,
    breaking the pool). ``multiprocessing.spawn.get_preparation_data`` reads ``__spec__`` and
    ``__file__`` of ``__main__`` while a process starts; for that moment they are hidden, as in an
    interactive session, and then restored."""
    main = sys.modules.get("__main__")
    saved: dict[str, Any] = {name: main.__dict__[name] for name in ("__spec__", "__file__")
                             if main is not None and name in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


def shutdown() -> None:
    """Stop the workers (at exit, or to free their memory); the next call starts new ones."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool[1].shutdown(wait=True, cancel_futures=True)
            _pool = None


atexit.register(shutdown)


def decode_batches(
    m: LeanLlama,
    batches: Sequence[tuple[int, list[list[int]]]],
    *,
    seed: int,
    workers: int,
    pad_token_id: int,
    eos_token_id: int,
    max_new_tokens: int,
    temperature: float,
) -> Iterator[list[list[int]]]:
    """Each batch's new tokens per row, in the batches' order, decoded by ``workers`` processes.

    ``batches`` holds ``(first_row, token_lists)``; a batch is seeded with ``seed + first_row``,
    as :meth:`HfPlanner.sample <iterdeploy.simulator.models.hf_planner.HfPlanner.sample>` seeds it
    in-process, so the result does not depend on ``workers``.
    """
    if workers <= 1 or len(batches) <= 1:
        for start, encoded in batches:
            torch.manual_seed(seed + start)
            ids, mask = pad_left(encoded, pad_token_id)
            yield decode(m, ids, mask, max_new_tokens=max_new_tokens, temperature=temperature,
                         eos_token_id=eos_token_id)
        return
    executor = _executor(workers)
    with tempfile.TemporaryDirectory(prefix="iterdeploy-weights-") as folder:
        weights_file = str(Path(folder) / f"weights-{next(_calls)}.pt")
        torch.save(_state(m), weights_file)
        futures: list[Future[list[list[int]]]] = []
        try:
            for start, encoded in batches:
                futures.append(executor.submit(_decode_task, _Task(
                    weights_file=weights_file, encoded=encoded, seed=seed + start,
                    pad_token_id=pad_token_id, eos_token_id=eos_token_id,
                    max_new_tokens=max_new_tokens, temperature=temperature,
                )))
            for future in futures:
                yield future.result()
        except BrokenProcessPool as e:
            shutdown()
            raise ModelError(
                f"a sampling worker process died ({e}); set {SAMPLE_WORKERS_ENV}=1 to sample in "
                "this process"
            ) from e
        finally:
            for future in futures:
                future.cancel()
            wait(futures)  # none may still be reading the weights when their folder goes
