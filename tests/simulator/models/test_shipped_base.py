"""The default base ships with the package, is checked before every load, and is reproducible.

A first run on a new machine must not wait minutes for pretraining, and what it loads instead must
be exactly what the recipe produces: the shipped files are verified against their digests, and
``iterdeploy pretrain --check`` rebuilds a recipe and compares it bit for bit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models import embedded
from iterdeploy.simulator.models.embedded import (
    DIGESTS,
    REPRODUCED_FILES,
    EmbeddedModelSpec,
    ensure_base,
    file_digest,
    read_digests,
    recorded_cpu,
    recorded_threads,
    verified_shipped,
)

DEFAULT = f"embedded-{EmbeddedModelSpec().content_hash()}"
TINY_RECIPE = ["--set", "model.embedded.pretrain_steps=30", "--set", "model.embedded.n_layers=1",
               "--set", "model.embedded.hidden_size=32", "--set",
               "model.embedded.intermediate_size=64"]
REPO = Path(__file__).resolve().parents[3]


def test_the_default_recipe_ships_its_base_with_digests_of_every_reproduced_file() -> None:
    shipped = verified_shipped(DEFAULT)
    assert shipped is not None, (
        f"the default recipe's base {DEFAULT} is not shipped: after changing the default recipe, "
        f"ship its base with `iterdeploy pretrain --out simulator/models/shipped`")
    assert set(read_digests(shipped)) == set(REPRODUCED_FILES)


def test_a_first_run_loads_the_shipped_base_without_pretraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(embedded, "pretrain", lambda *a, **k: pytest.fail("pretrained"))
    assert ensure_base(EmbeddedModelSpec()) == embedded.SHIPPED_ROOT / DEFAULT
    assert not (tmp_path / "empty").exists(), "loading a shipped base writes nothing"


def test_a_cached_base_is_preferred_to_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path))
    cached = tmp_path / "models" / DEFAULT
    shutil.copytree(embedded.SHIPPED_ROOT / DEFAULT, cached)
    assert ensure_base(EmbeddedModelSpec()) == cached


@pytest.mark.parametrize("damage", ["flip a byte", "delete"])
def test_a_damaged_shipped_base_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    shipped = tmp_path / "shipped"
    shutil.copytree(embedded.SHIPPED_ROOT / DEFAULT, shipped / DEFAULT)
    weights = shipped / DEFAULT / "model.safetensors"
    if damage == "delete":
        weights.unlink()
    else:
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 1
        weights.write_bytes(bytes(data))
    monkeypatch.setattr(embedded, "SHIPPED_ROOT", shipped)
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ModelError, match=r"model\.safetensors: the shipped base model is damaged"):
        ensure_base(EmbeddedModelSpec())


QUICKSTART = str(REPO / "scenarios" / "quickstart.yaml")


def _pretrain(*extra: str) -> Result:
    """``iterdeploy pretrain`` of the quickstart with the tiny recipe."""
    return CliRunner().invoke(app, ["pretrain", QUICKSTART, *TINY_RECIPE, *extra])


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny recipe's base, pretrained by the command into an empty cache."""
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path))
    first = _pretrain()
    assert first.exit_code == 0, first.output
    return next((tmp_path / "models").glob("embedded-*"))


def test_pretrain_check_rebuilds_a_recipe_bit_for_bit(built: Path) -> None:
    assert read_digests(built) == {f: file_digest(built / f) for f in REPRODUCED_FILES}
    assert (built / DIGESTS).is_file()
    check = _pretrain("--check")
    assert check.exit_code == 0, check.output
    assert "reproduced bit for bit" in check.output


def test_pretrain_check_says_when_the_rebuild_differs(built: Path) -> None:
    (built / "config.json").write_text((built / "config.json").read_text() + " ")
    check = _pretrain("--check")
    assert check.exit_code == 1, check.output
    assert "NOT reproduced" in check.output


def test_a_pretrained_base_records_the_thread_count_it_was_built_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path))
    threads = torch.get_num_threads()  # the same count, so the process is left as it was
    result = _pretrain("--threads", str(threads))
    assert result.exit_code == 0, result.output
    built = next((tmp_path / "models").glob("embedded-*"))
    assert recorded_threads(built) == threads
    record = json.loads((built / "iterdeploy_spec.json").read_text())["pretrained_with"]
    assert record["torch"] == torch.__version__ and record["seconds"] >= 0
    assert record["cpu"] == torch.backends.cpu.get_cpu_capability() == recorded_cpu(built)
    assert "iterdeploy_spec.json" not in read_digests(built)  # provenance, not reproduced content


def test_the_shipped_base_records_its_thread_count() -> None:
    shipped = verified_shipped(DEFAULT)
    assert shipped is not None and recorded_threads(shipped) == 1


@pytest.mark.parametrize("record", ["", "{", '{"spec": {}}', '{"pretrained_with": {"torch_threads": "2"}}'])
def test_an_unrecorded_or_garbled_thread_count_reads_as_unknown(tmp_path: Path, record: str) -> None:
    (tmp_path / "iterdeploy_spec.json").write_text(record)
    assert recorded_threads(tmp_path) is None
    assert recorded_threads(tmp_path / "missing") is None


def test_pretrain_check_names_the_thread_count_of_a_base_that_differs(built: Path) -> None:
    spec_file = built / "iterdeploy_spec.json"
    record = json.loads(spec_file.read_text())
    record["pretrained_with"]["torch_threads"] = 7
    spec_file.write_text(json.dumps(record))
    (built / "config.json").write_text((built / "config.json").read_text() + " ")
    check = _pretrain("--check")
    assert check.exit_code == 1, check.output
    assert "pretrained on 7 torch threads" in check.output and "--threads 7" in check.output


def test_pretrain_check_gives_no_thread_hint_when_the_counts_agree(built: Path) -> None:
    (built / "config.json").write_text((built / "config.json").read_text() + " ")
    check = _pretrain("--check")
    assert check.exit_code == 1, check.output
    assert "--threads" not in check.output
    assert "kind of CPU" not in check.output  # the same instruction set too: the cause is elsewhere


@pytest.mark.parametrize("recorded", [True, False], ids=["another-recorded", "unrecorded"])
def test_pretrain_check_names_the_instruction_sets_when_the_thread_counts_agree(
    built: Path, recorded: bool
) -> None:
    """The shipped base (built on an AVX-512 machine, recording no instruction set) rebuilt on
    one thread on an AVX2 machine differed: the hint says why, rather than nothing."""
    import torch

    here = torch.backends.cpu.get_cpu_capability()
    reference_cpu = ("AVX2" if here == "AVX512" else "AVX512") if recorded else None
    spec_file = built / "iterdeploy_spec.json"
    record = json.loads(spec_file.read_text())
    if reference_cpu is None:
        del record["pretrained_with"]["cpu"]
    else:
        record["pretrained_with"]["cpu"] = reference_cpu
    spec_file.write_text(json.dumps(record))
    (built / "config.json").write_text((built / "config.json").read_text() + " ")
    check = _pretrain("--check")
    assert check.exit_code == 1, check.output
    said = " ".join(check.output.split())
    assert f"with those for {here}" in said
    assert (reference_cpu or "an instruction set it does not record") in said
    assert "only on the kind of CPU it was built on" in said and "--threads" not in said


def test_pretrain_refuses_a_scenario_without_the_embedded_model(tmp_path: Path) -> None:
    scenario = tmp_path / "llm.yaml"
    scenario.write_text("name: llm\nmodel: {name: smollm2-135m}\n")
    result = CliRunner().invoke(app, ["pretrain", str(scenario)])
    assert result.exit_code == 2, result.output
    assert "not the embedded model" in result.output
