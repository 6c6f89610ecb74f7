"""`raft export --format gguf`: a trained model as one GGUF file for llama.cpp and Ollama.

The file is written from the merged Hugging Face directory `raft.models.export.export` builds (LoRA
folded in, the contract's chat adaptation inside the template, every stop id known), the way
llama.cpp's `convert_hf_to_gguf.py` writes it:

- tensors under llama.cpp's names (`gguf.get_tensor_name_map`); for the `llama` architecture the
  rows of `q_proj`/`k_proj` are permuted into llama.cpp's rotary layout (`permute_rotary`), Qwen2
  keeps Hugging Face's layout; 1-D tensors (norms, biases) stay F32, matrices are F16 or Q8_0;
- the byte-level BPE tokenizer: tokens, merges, token types (added special tokens are CONTROL,
  other added tokens USER_DEFINED), the pre-tokenizer's llama.cpp name, special ids and add_bos;
- the chat template, and the turn end as EOS/EOT, so llama.cpp stops where `raft` does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raft.errors import RaftError

log = logging.getLogger(__name__)

# Hugging Face architecture -> the llama.cpp architecture it is written as (Mistral is llama to llama.cpp).
ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
}
QUANTS = ("f16", "q8_0")
RAFT_STOP_KEY = "raft.stop_token_ids"  # every stop id of the prompt contract, for readers that want them all

# The llama.cpp names (`tokenizer.ggml.pre`) of the pre-tokenizers we can recognise.
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PRE_TOKENIZERS = ("gpt-2", "smollm", "qwen2", "llama-bpe")


def supported() -> str:
    return ", ".join(sorted(ARCHITECTURES))


def check_architecture(config: Any) -> str:
    """The llama.cpp architecture for a transformers config; a one-line RaftError when there is none."""
    names = list(getattr(config, "architectures", None) or [])
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    found = ", ".join(names) or getattr(config, "model_type", "unknown")
    raise RaftError(f"GGUF export cannot write {found}; supported architectures: {supported()}")


def check_quant(quant: str) -> None:
    if quant not in QUANTS:
        raise RaftError(f"unknown GGUF quantization {quant!r}; choose one of {', '.join(QUANTS)}")


def permute_rotary(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """Rows of a q/k projection from Hugging Face's rotary layout to llama.cpp's (its `permute`)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


@dataclass(frozen=True)
class GgufFacts:
    """What the Modelfile and the manifest need to know about a written file."""

    path: Path
    architecture: str
    quant: str
    tensors: int
    stop_tokens: tuple[str, ...]  # the text of every stop id, turn end first
    chat_template: str


def _rope(config: Any) -> tuple[float, dict[str, Any]]:
    params = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    kind = params.get("rope_type", params.get("type", "default"))
    if kind not in ("default", "linear"):
        raise RaftError(f"GGUF export cannot write rope scaling {kind!r}; only default and linear rope are supported")
    return float(theta), params if kind == "linear" else {}


def _write_hparams(writer: Any, config: Any, arch: str, name: str) -> None:
    import gguf

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if arch == "qwen2" and head_dim != config.hidden_size // config.num_attention_heads:
        raise RaftError("GGUF export cannot write a Qwen2 model whose head_dim is not hidden_size / heads")
    theta, linear = _rope(config)
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(config.num_attention_heads))
    writer.add_head_count_kv(int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_rope_freq_base(theta)
    writer.add_vocab_size(int(config.vocab_size))
    if arch == "llama":
        writer.add_rope_dimension_count(int(head_dim))
        if head_dim != config.hidden_size // config.num_attention_heads:
            writer.add_key_length(int(head_dim))
            writer.add_value_length(int(head_dim))
    if linear:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(linear["factor"]))


def _tensors(hf_dir: Path, config: Any, arch: str, quant: str) -> list[tuple[str, Any, Any]]:
    """`(gguf name, array, raw dtype or None)` for every weight, converted the way llama.cpp expects."""
    import gguf
    import numpy as np
    from safetensors import safe_open

    gguf_arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}[arch]
    names = gguf.get_tensor_name_map(gguf_arch, int(config.num_hidden_layers))
    n_head = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_head)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    out = []
    files = sorted(hf_dir.glob("*.safetensors"))
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                if key.endswith("rotary_emb.inv_freq") or (tied and key == "lm_head.weight"):
                    continue
                data = f.get_tensor(key).float().numpy()
                if arch == "llama" and key.endswith(("q_proj.weight", "q_proj.bias")):
                    data = permute_rotary(data, n_head, n_head)
                elif arch == "llama" and key.endswith(("k_proj.weight", "k_proj.bias")):
                    data = permute_rotary(data, n_head, n_kv)
                name = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if name is None:
                    raise RaftError(f"GGUF export does not know where tensor {key} goes; supported: {supported()}")
                if data.ndim == 1:
                    out.append((name, np.ascontiguousarray(data, dtype=np.float32), None))
                elif quant == "q8_0" and data.shape[-1] % 32 == 0:
                    q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
                    out.append((name, q, gguf.GGMLQuantizationType.Q8_0))
                else:
                    out.append((name, np.ascontiguousarray(data, dtype=np.float16), None))
    return out


def pre_tokenizer_name(tokenizer_json: dict[str, Any]) -> str:
    """llama.cpp's name for how this byte-level BPE splits text before merging; RaftError if unknown."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        regex = (steps[0].get("pattern") or {}).get("Regex")
        for name, split in (("qwen2", _QWEN2_SPLIT), ("llama-bpe", _LLAMA3_SPLIT)):
            if regex == split:
                return name
    raise RaftError(
        f"GGUF export cannot name this tokenizer's pre-tokenizer ({kinds}) for llama.cpp; "
        f"supported: byte-level BPE splitting like {', '.join(PRE_TOKENIZERS)}"
    )


def _write_tokenizer(writer: Any, tokenizer: Any, config: Any, stops: list[int]) -> tuple[str, ...]:
    """Vocabulary, merges, token types, special ids and template; returns the stop tokens' text."""
    import gguf

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise RaftError("GGUF export writes byte-level BPE tokenizers only (Llama 3, Qwen2, SmolLM style)")
    pre = pre_tokenizer_name(spec)
    vocab = {**model["vocab"], **{t["content"]: t["id"] for t in spec.get("added_tokens", [])}}
    size = int(config.vocab_size)
    if max(vocab.values()) >= size:
        raise RaftError(f"the tokenizer has ids beyond the model's vocabulary of {size}; it cannot be written")
    by_id = {i: t for t, i in vocab.items()}
    added = {t["id"]: t for t in spec.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(by_id[i])
            if i in added:
                types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
            else:
                types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    turn_end = stops[0]
    writer.add_eos_token_id(turn_end)
    writer.add_eot_token_id(turn_end)
    if tokenizer.bos_token_id is not None:
        writer.add_bos_token_id(int(tokenizer.bos_token_id))
    if tokenizer.unk_token_id is not None:
        writer.add_unk_token_id(int(tokenizer.unk_token_id))
    if tokenizer.pad_token_id is not None:
        writer.add_pad_token_id(int(tokenizer.pad_token_id))
    probe = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(bool(probe) and probe[0] == tokenizer.bos_token_id)
    writer.add_add_eos_token(False)
    writer.add_chat_template(tokenizer.chat_template)
    writer.add_array(RAFT_STOP_KEY, [int(s) for s in stops])
    return tuple(tokens[s] for s in stops)


def ordered_stops(stop_ids: list[int], turn_end: list[int]) -> list[int]:
    """The stop ids with the template's turn end first (it becomes the file's EOS and EOT)."""
    first = [t for t in turn_end if t in stop_ids] or stop_ids[:1]
    return first + [s for s in stop_ids if s not in first]


def write_gguf(hf_dir: Path, path: Path, quant: str, name: str) -> GgufFacts:
    """Write the merged Hugging Face model in `hf_dir` (a `raft export` directory) as one GGUF file."""
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    from raft.models.loading import turn_end_ids

    check_quant(quant)
    config = AutoConfig.from_pretrained(hf_dir)
    arch = check_architecture(config)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    manifest = json.loads((hf_dir / "manifest.json").read_text())
    stops = ordered_stops([int(s) for s in manifest["stop_token_ids"]], turn_end_ids(tokenizer))
    writer = gguf.GGUFWriter(str(path), arch)
    _write_hparams(writer, config, arch, name)
    ftype = gguf.LlamaFileType.MOSTLY_F16 if quant == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0
    writer.add_file_type(ftype)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    stop_tokens = _write_tokenizer(writer, tokenizer, config, stops)
    tensors = _tensors(hf_dir, config, arch, quant)
    for tensor_name, data, raw in tensors:
        writer.add_tensor(tensor_name, data, raw_dtype=raw)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    log.info("wrote %s (%s, %s, %d tensors)", path.name, arch, quant, len(tensors))
    return GgufFacts(path, arch, quant, len(tensors), stop_tokens, tokenizer.chat_template)


def export_gguf(
    model_dir: Path, out: Path, quant: str = "f16", overwrite: bool = False, trust_remote_code: bool = False
) -> Path:
    """Write `model_dir` (a `raft train` MODEL_DIR) as `out/<name>-<quant>.gguf`, a Modelfile and a README."""
    import tempfile

    from transformers import AutoConfig

    from raft import artifacts
    from raft.models import modelfile
    from raft.models.export import export

    check_quant(quant)
    model_dir, out = Path(model_dir), Path(out)
    manifest = artifacts.read_manifest(model_dir, "model", "raft train DATASET -o MODEL_DIR")
    artifacts.check_output_dir(out, overwrite, "export")
    source = str(manifest["base_model"]) if manifest.get("adapter") else str(model_dir)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise RaftError(f"cannot read the config of '{source}' ({str(exc).splitlines()[0][:160]})") from None
    check_architecture(config)
    name = out.name or "raft"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}.hf-", dir=out.parent) as tmp:
        hf_dir = export(model_dir, Path(tmp) / "hf", trust_remote_code=trust_remote_code)
        with artifacts.staging_dir(out, overwrite) as stage:
            file_name = f"{name}-{quant}.gguf"
            facts = write_gguf(hf_dir, stage / file_name, quant, name)
            from transformers import AutoTokenizer

            pieces = modelfile.chat_pieces(AutoTokenizer.from_pretrained(hf_dir))
            (stage / "Modelfile").write_text(modelfile.modelfile(file_name, pieces, facts.stop_tokens))
            (stage / "README.md").write_text(modelfile.readme(file_name, name))
            record = {k: manifest.get(k) for k in ("base_model", "prompt", "dataset", "method")}
            record |= {
                "format": "gguf",
                "file": file_name,
                "quant": quant,
                "architecture": facts.architecture,
                "stop_tokens": list(facts.stop_tokens),
                "exported_from": str(model_dir.resolve()),
            }
            artifacts.write_manifest(stage, "gguf", record)
    log.info("exported %s -> %s", model_dir, out / file_name)
    return out / file_name
