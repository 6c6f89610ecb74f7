"""The CUDA path of `raft train`, measured: LoRA and QLoRA on random-init Llama shapes of ~0.5B and ~1.5B.

    python tests/benchmarks/bench_gpu_train.py [--out gpu_train.md] [--steps 12] [--shapes 0.5b,1.5b]

Each run is `raft.train.sft.train` itself (bf16, packing with padding-free attention, activation
checkpointing on or off) on a RAFT-format dataset built from the bundled gold questions, with a
SmolLM2-style (ChatML) tokenizer trained offline on the bundled corpus (tests/families.py; vocabulary
padded to 32,000 like Llama 2). Reported:

- tokens/s: non-padding tokens per second over the optimizer steps after the first 3 (warm-up excluded);
- MFU: model FLOPs / (seconds x peak bf16 FLOPs of the GPU), with 4N FLOPs per token for (Q)LoRA
  (forward 2N + backward through the frozen weights 2N; no weight gradients for them) and 6N for full
  fine-tuning, N = parameters excluding the input embedding; attention-score FLOPs and recomputation
  under activation checkpointing are not counted (so MFU is a lower bound);
- peak memory: torch.cuda.max_memory_allocated during the run;
- generation tokens/s: `raft.serve.generators.LocalGenerator.generate` (the path of `raft eval`), 16 prompts
  in one left-padded batch, 128 new tokens each.

The whole script is sized to finish within 8 minutes on one H100/H200-class GPU and writes its table
to --out (Markdown). Without CUDA it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VOCAB = 32000
# Dense bf16 peak (no sparsity) by device-name fragment, in FLOP/s.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10G": 125e12}


@dataclass(frozen=True)
class Shape:
    """A Llama-architecture shape (GQA, SwiGLU, untied embeddings)."""

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int

    def config(self):
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=self.hidden,
            intermediate_size=self.intermediate,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads,
            max_position_embeddings=4096,
            tie_word_embeddings=False,
        )


SHAPES = {
    "0.5b": Shape("0.5b", hidden=1536, layers=16, heads=12, kv_heads=4, intermediate=4096),
    "1.5b": Shape("1.5b", hidden=2048, layers=24, heads=16, kv_heads=8, intermediate=7168),
}


def count_params(shape: Shape) -> dict[str, int]:
    """Total and non-embedding parameter counts, on the meta device (nothing is allocated)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(shape.config())
    total = sum(p.numel() for p in model.parameters())
    return {"total": total, "non_embedding": total - model.get_input_embeddings().weight.numel()}


def flops_per_token(n_non_embedding: int, method: str) -> int:
    """4N for (Q)LoRA, 6N for full fine-tuning (see the module docstring)."""
    return (6 if method == "full" else 4) * n_non_embedding


def peak_flops(device_name: str, override_tflops: float | None = None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    return next((v for k, v in PEAK_BF16.items() if k in device_name), None)


def qlora_quantization_config():
    """The 4-bit NF4 config `raft train --qlora` loads the base model with (see raft/train/sft.py)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


# ---- inputs --------------------------------------------------------------------------------------


def build_dataset(out: Path, n_rows: int) -> Path:
    """A RAFT-format dataset (oracle + 3 distractor passages, CoT answer) from the bundled questions."""
    from datasets import Dataset, DatasetDict

    from raft import artifacts, prompts

    rng = random.Random(0)
    lines = (ROOT / "corpora" / "helpdesk" / "questions.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    rows = []
    for i in range(n_rows):
        q = items[i % len(items)]
        others = rng.sample([p for p in items if p["doc_id"] != q["doc_id"]], 3)
        docs = [prompts.Document(d["doc_id"], d["passage"]) for d in [q, *others]]
        rng.shuffle(docs)
        cot = f"The document says {prompts.format_quote(q['passage'])} {prompts.ANSWER_TAG} {q['answer']}"
        rows.append(
            {
                "prompt": prompts.build_messages(q["question"], docs),
                "completion": [{"role": "assistant", "content": cot}],
            }
        )
    DatasetDict(train=Dataset.from_list(rows)).save_to_disk(str(out / "hf"))
    artifacts.write_manifest(out, "dataset", {"prompt": prompts.contract(), "mode": "raft"})
    return out


def build_base(shape: Shape, out: Path, tokenizer) -> Path:
    """A random-init bf16 model of `shape`, built on the GPU and saved with the offline tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    cfg = shape.config()
    cfg.pad_token_id, cfg.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    with torch.device("cuda"):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    return out


# ---- measurements --------------------------------------------------------------------------------


def _step_timer():
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time and non-padding tokens of every optimizer step."""

        def __init__(self) -> None:
            self.steps: list[tuple[float, int]] = []
            self._t0, self._tokens0 = 0.0, 0

        def on_step_begin(self, args, state, control, **kwargs):
            torch.cuda.synchronize()
            self._t0, self._tokens0 = time.perf_counter(), int(state.num_input_tokens_seen or 0)

        def on_step_end(self, args, state, control, **kwargs):
            torch.cuda.synchronize()
            self.steps.append(
                (time.perf_counter() - self._t0, int(state.num_input_tokens_seen) - self._tokens0)
            )

    return StepTimer()


def attn_implementation() -> str:
    try:
        import flash_attn  # noqa: F401

        return "flash_attention_2"
    except ImportError:
        return "sdpa"


def train_run(
    shape: Shape,
    base: Path,
    dataset: Path,
    out: Path,
    method: str,
    ckpt: bool,
    steps: int,
    n_params: int,
    peak: float | None,
    attn: str,
) -> dict:
    import torch

    from raft.train.sft import TrainConfig, train

    cfg = TrainConfig(
        dataset=dataset, out=out, base_model=str(base), qlora=method == "qlora", full=method == "full",
        max_steps=steps, batch_size=4, grad_accum=1, max_length=2048, packing=True,
        activation_checkpointing=ckpt, attn_implementation=attn, eval_steps=10_000, save_steps=10_000,
        logging_steps=1, lora_r=16, lora_alpha=32, overwrite=True,
        sft_args={"save_strategy": "no", "disable_tqdm": True},
    )  # fmt: skip
    timer = _step_timer()
    torch.cuda.reset_peak_memory_stats()
    train(cfg, callbacks=[timer])
    measured = timer.steps[3:] or timer.steps
    seconds = sum(s for s, _ in measured)
    tokens = sum(t for _, t in measured)
    tps = tokens / seconds if seconds else 0.0
    mfu = tps * flops_per_token(n_params, method) / peak if peak else None
    return {
        "shape": shape.name, "method": method, "checkpointing": ckpt, "attn": attn,
        "tokens_per_s": round(tps), "mfu": None if mfu is None else round(100 * mfu, 1),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1), "steps_timed": len(measured),
    }  # fmt: skip


def generation_run(shape: Shape, base: Path, batch: int = 16, new_tokens: int = 128) -> dict:
    import torch

    from raft import prompts
    from raft.serve.generators import DecodingConfig, LocalGenerator, resolve_model

    gen = LocalGenerator(resolve_model(str(base)), device="cuda")
    convs = [
        prompts.build_messages(f"Question number {i}: how do I reset my password?", []) for i in range(batch)
    ]
    cfg = DecodingConfig(max_new_tokens=new_tokens)
    gen.generate(convs[:2], DecodingConfig(max_new_tokens=8), batch_size=2)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    done = gen.generate(convs, cfg, batch_size=batch)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens = sum(c.completion_tokens for c in done)
    del gen
    torch.cuda.empty_cache()
    return {
        "shape": shape.name,
        "batch": batch,
        "new_tokens": tokens,
        "tokens_per_s": round(tokens / seconds),
    }


def markdown(device: str, params: dict, train_rows: list[dict], gen_rows: list[dict], seconds: float) -> str:
    lines = [
        f"GPU: {device}; total wall time {seconds:.0f} s; MFU with 4N FLOPs/token for (Q)LoRA "
        "(N = parameters without the input embedding; attention scores and recomputation not counted).",
        "",
        "| shape | params (N non-emb.) | method | act. ckpt | attention | tokens/s | MFU % | peak GiB |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for r in train_rows:
        p = params[r["shape"]]
        size = f"{p['total'] / 1e9:.2f}B ({p['non_embedding'] / 1e9:.2f}B)"
        if "error" in r:
            lines.append(
                f"| {r['shape']} | {size} | {r['method']} | {r['checkpointing']} | | failed: {r['error']} | | |"
            )
            continue
        lines.append(
            f"| {r['shape']} | {size} | {r['method']} | {r['checkpointing']} | {r['attn']} | {r['tokens_per_s']} "
            f"| {r['mfu']} | {r['peak_gib']} |"
        )
    lines += ["", "| shape | batch | new tokens | generation tokens/s |", "|---|---:|---:|---:|"]
    lines += [f"| {g['shape']} | {g['batch']} | {g['new_tokens']} | {g['tokens_per_s']} |" for g in gen_rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_train.md"), help="Markdown table to write.")
    parser.add_argument("--steps", type=int, default=12, help="Optimizer steps per run (first 3 not timed).")
    parser.add_argument("--shapes", default="0.5b,1.5b")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="Override the GPU's peak bf16 TFLOP/s."
    )
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("bench_gpu_train: no CUDA device on this machine; nothing measured (run it on a GPU machine).")
        return 0
    from tests.families import contract_texts, corpus_texts, family, family_tokenizer, train_base_bpe

    start = time.perf_counter()
    device = torch.cuda.get_device_name(0)
    peak = peak_flops(device, args.peak_tflops)
    attn = attn_implementation()
    shapes = [SHAPES[s.strip()] for s in args.shapes.split(",") if s.strip()]
    try:
        import bitsandbytes  # noqa: F401

        methods = [("lora", False), ("lora", True), ("qlora", True)]
    except ImportError:
        print("bitsandbytes is not installed: QLoRA rows are skipped")
        methods = [("lora", False), ("lora", True)]
    params: dict[str, dict[str, int]] = {}
    train_rows: list[dict] = []
    gen_rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bpe = train_base_bpe(corpus_texts(ROOT / "corpora" / "helpdesk" / "docs") + contract_texts(), 4000)
        tokenizer = family_tokenizer(family("smollm2"), bpe)  # ChatML, as the product's SmolLM2
        dataset = build_dataset(tmp_path / "dataset", n_rows=8 * args.steps)
        for shape in shapes:
            params[shape.name] = count_params(shape)
            base = build_base(shape, tmp_path / f"base-{shape.name}", tokenizer)
            for method, ckpt in methods:
                print(f"{shape.name} {method} checkpointing={ckpt} ...", flush=True)
                try:
                    row = train_run(shape, base, dataset, tmp_path / "run", method, ckpt, args.steps,
                                    params[shape.name]["non_embedding"], peak, attn)  # fmt: skip
                except Exception as exc:  # a failing configuration is a result too
                    row = {"shape": shape.name, "method": method, "checkpointing": ckpt,
                           "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}  # fmt: skip
                print(row, flush=True)
                train_rows.append(row)
                torch.cuda.empty_cache()
            gen_rows.append(generation_run(shape, base))
            print(gen_rows[-1], flush=True)
    table = markdown(device, params, train_rows, gen_rows, time.perf_counter() - start)
    args.out.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
