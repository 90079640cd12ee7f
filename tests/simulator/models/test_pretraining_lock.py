"""Runs that need the same missing base at once pretrain it once: the others wait, then load it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from iterdeploy.simulator.models import embedded
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec


def test_a_second_run_waits_for_the_first_pretraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_embedded_spec: EmbeddedModelSpec
) -> None:
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path))
    pretrained: list[str] = []

    def slow_pretraining(spec: EmbeddedModelSpec, target: Path, on_step: object = None) -> Path:
        pretrained.append(threading.current_thread().name)
        time.sleep(0.5)  # long enough for the other run to find the base missing and wait
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")
        return target

    monkeypatch.setattr(embedded, "pretrain_into", slow_pretraining)
    found: dict[str, Path] = {}

    def run(name: str) -> None:
        found[name] = embedded.ensure_base(tiny_embedded_spec)

    runs = [threading.Thread(target=run, args=(f"run{i}",), name=f"run{i}") for i in range(3)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(timeout=30)
    assert len(pretrained) == 1, f"pretrained by {pretrained}"
    assert len(set(found.values())) == 1 and len(found) == 3
    assert (tmp_path / "models" / f"embedded-{tiny_embedded_spec.content_hash()}.lock").is_file()


def test_a_failed_pretraining_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_embedded_spec: EmbeddedModelSpec
) -> None:
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path))

    def failing(spec: EmbeddedModelSpec, target: Path, on_step: object = None) -> Path:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(embedded, "pretrain_into", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        embedded.ensure_base(tiny_embedded_spec)
    with pytest.raises(RuntimeError, match="out of memory"):  # not stuck waiting on itself
        embedded.ensure_base(tiny_embedded_spec)
