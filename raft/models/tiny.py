"""A tiny base model built offline: BPE tokenizer, chat template, brief pretraining, a reading stage.

It stands in for a hub model in tests and in the offline demo. `raft train --base-model DIR`
loads it like any other model directory. Two shapes, both stock transformers architectures:

- `lfm2` (default): LFM2's hybrid of short causal convolutions and attention. The convolution hands
  each position its previous tokens, so one attention layer can match "the token after the one I just
  copied" and copying from the context is learned in a few hundred steps (measured: a random-init
  LLaMA of the same size copies 12 % of quoted tokens after 100 drill steps, LFM2 39 %).
- `llama`: a plain LLaMA decoder.

The copy drill (`copy_steps`) is self-supervised: a window of corpus text followed by
`##begin_quote##` and a verbatim slice of that window; the loss is on the slice. With
`reading_drill_every` the drill goes on during the reading stage; `bf16` trains under bf16 autocast.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.index.corpus import SAMPLE_DOCS
from raft.models.reading import ReadingConfig, ReadingTask

log = logging.getLogger(__name__)

PAD, EOT, IM_START, IM_END = "<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, EOT, IM_START, IM_END]
# Prompt-contract markers get one token each so quotes and answers stay short and easy to learn.
CONTRACT_TOKENS = [prompts.BEGIN_QUOTE, prompts.END_QUOTE, prompts.ANSWER_TAG]

# ChatML with {% generation %} markers, so TRL can mask everything but the assistant's words.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyModelConfig:
    """Shape and training budget of the tiny model (defaults: LFM2, 2 layers, ~1.9M parameters)."""

    out: Path
    corpus: Path | None = None
    arch: str = "lfm2"  # "lfm2" (short convolutions + attention) or "llama"
    vocab_size: int = 4000
    hidden_size: int = 256
    intermediate_size: int = 512
    layers: int = 2  # LFM2: one convolution layer, one attention layer
    heads: int = 4
    kv_heads: int = 2
    max_positions: int = 4096
    # Copy drill: corpus windows of copy_context tokens, then a quoted slice of the window (0 steps: none).
    copy_steps: int = 0
    copy_batch_size: int = 16
    copy_context: tuple[int, int] = (32, 128)
    copy_lr: float = 3e-3
    pretrain_steps: int = 200
    seq_len: int = 256
    batch_size: int = 8
    lr: float = 3e-3
    seed: int = 0
    overwrite: bool = False
    # Reading stage (raft/models/reading.py): self-supervised questions about the corpus text; 0 steps: none.
    reading_steps: int = 0
    reading_batch_size: int = 8
    reading_lr: float = 2e-3
    reading_distractors: int = 3
    reading_answer_only: bool = True  # loss on the answer turn only (else on every token)
    # One copy-drill batch after every N reading batches (0: none), so reading does not wear copying away.
    reading_drill_every: int = 0
    # bf16 autocast while training (weights and optimiser stay fp32): faster on CPUs with bf16
    # instructions (AVX512-BF16, AMX) and on GPUs, slower where bf16 is emulated.
    bf16: bool = False
    # Documents (doc ids or source paths) kept out of the tokenizer, pretraining and reading text.
    exclude: tuple[str, ...] = ()

    def reading(self) -> ReadingConfig:
        return ReadingConfig(
            steps=self.reading_steps,
            batch_size=self.reading_batch_size,
            lr=self.reading_lr,
            max_distractors=self.reading_distractors,
            answer_only_loss=self.reading_answer_only,
            seed=self.seed,
            bf16=self.bf16,
        )


def read_corpus_texts(corpus: Path, exclude: tuple[str, ...] = ()) -> list[str]:
    """The text of every document `raft index` would read from `corpus` (any supported format), in path
    order, minus the `exclude`d documents (doc ids or source paths)."""
    from raft.models.reading import reading_documents

    texts = [f"{d.title}\n\n{d.text}".strip() for d in reading_documents(Path(corpus), exclude)]
    if not texts:
        raise RaftError(f"corpus {corpus} holds no readable documents; pass --corpus DIR with documents")
    return texts


def unmatched_excludes(corpus: Path, exclude: tuple[str, ...]) -> list[str]:
    """The excluded ids that name no document of the corpus (reported, so a typo is not silent)."""
    if not exclude:
        return []
    from raft.index.corpus import Corpus
    from raft.models.reading import is_excluded

    docs = list(Corpus(Path(corpus)))
    return sorted(x for x in set(exclude) if not any(is_excluded(d, [x]) for d in docs))


def contract_texts() -> list[str]:
    """Prompt-contract text, so the tokenizer learns the words every RAFT prompt uses."""
    c = prompts.contract()
    example = prompts.build_user_prompt("What is the answer?", [prompts.Document("Title", "Some text.")])
    quote = prompts.format_quote("a quoted sentence")
    lines = [c["system_prompt"], example, f"{quote} {prompts.ANSWER_TAG} {prompts.ABSTAIN_ANSWER}"]
    return lines * 20


def train_tokenizer(texts: list[str], vocab_size: int, max_positions: int) -> Any:
    """A byte-level BPE tokenizer with ChatML special tokens and the chat template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts + contract_texts(), trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in CONTRACT_TOKENS])
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD,
        additional_special_tokens=[IM_START, EOT],
        model_max_length=max_positions,
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    return hf_tok


ARCHS = ("lfm2", "llama")


def check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise RaftError(f"--arch {arch!r} is not one of {', '.join(ARCHS)}")


def model_config(cfg: TinyModelConfig, tokenizer: Any) -> Any:
    """The transformers config of the chosen shape (LFM2: convolution and attention layers alternate)."""
    from transformers import Lfm2Config, LlamaConfig

    check_arch(cfg.arch)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        bos_token_id=None,
    )
    if cfg.arch == "llama":
        return LlamaConfig(**common)
    layer_types = ["conv" if i % 2 == 0 and cfg.layers > 1 else "full_attention" for i in range(cfg.layers)]
    return Lfm2Config(**common, layer_types=layer_types, block_auto_adjust_ff_dim=False)


def init_model(cfg: TinyModelConfig, tokenizer: Any) -> Any:
    """A randomly initialised model, seeded without touching the global RNG state."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    config = model_config(cfg, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        eos_token_id=im_end, pad_token_id=tokenizer.pad_token_id, bos_token_id=None, do_sample=False
    )
    return model


def _batches(ids: list[int], cfg: TinyModelConfig) -> Iterator[tuple[Any, Any, Any]]:
    """Endless random windows of `seq_len` tokens from the token stream, from a seeded generator."""
    import torch

    stream = torch.tensor(ids, dtype=torch.long)
    span = cfg.seq_len
    if len(stream) < span + 1:
        stream = stream.repeat(math.ceil((span + 1) / max(len(stream), 1)) + 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    while True:
        starts = torch.randint(0, len(stream) - span, (cfg.batch_size,), generator=gen)
        batch = torch.stack([stream[s : s + span] for s in starts.tolist()])
        yield batch, batch, torch.ones_like(batch)  # labels are shifted inside the model


def copy_batches(ids: list[int], tokenizer: Any, cfg: TinyModelConfig) -> Iterator[tuple[Any, Any, Any]]:
    """Endless copy-drill batches: a corpus window, `##begin_quote##`, a verbatim slice of the window,
    `##end_quote##`; the loss is on the slice and the closing marker only."""
    import random

    rng = random.Random(f"{cfg.seed}:copy")
    lo, hi = cfg.copy_context
    hi = max(lo, min(hi, len(ids) - 1))
    begin, end = (tokenizer.convert_tokens_to_ids(t) for t in (prompts.BEGIN_QUOTE, prompts.END_QUOTE))
    pad = tokenizer.pad_token_id
    while True:
        rows = []
        for _ in range(cfg.copy_batch_size):
            n = rng.randint(lo, hi)
            start = rng.randrange(len(ids) - n + 1)
            window = ids[start : start + n]
            length = rng.randint(min(6, n), min(32, n))
            at = rng.randrange(n - length + 1)
            piece = window[at : at + length] + [end]
            rows.append((window + [begin] + piece, [-100] * (n + 1) + piece))
        yield pad_batch(rows, pad)


def pad_batch(rows: list[tuple[list[int], list[int]]], pad: int) -> tuple[Any, Any, Any]:
    """(input ids, labels) rows right-padded to one width: ids with `pad`, labels with -100, and the mask."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    x = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows])
    y = torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in rows])
    mask = (torch.arange(width)[None, :] < torch.tensor([len(ids) for ids, _ in rows])[:, None]).long()
    return x, y, mask


def train_steps(
    model: Any,
    batches: Iterator[tuple[Any, Any, Any]],
    steps: int,
    lr: float,
    desc: str,
    on_step: Callable[[int], None] | None = None,
    bf16: bool = False,
) -> list[float]:
    """`steps` AdamW steps (warmup + cosine to a tenth) on (input ids, labels, attention mask) batches,
    with the forward pass under bf16 autocast if `bf16`; `on_step(n)` is called after step n (1-based),
    e.g. to measure along the way."""
    import torch
    from tqdm.auto import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, steps // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    losses: list[float] = []
    bar = tqdm(range(steps), desc=desc, unit="step", leave=False)
    for step, (x, y, mask) in zip(bar, batches, strict=False):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=x, attention_mask=mask, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if on_step is not None:
            on_step(step + 1)
    model.eval()
    return losses


def corpus_ids(tokenizer: Any, texts: list[str]) -> list[int]:
    """The corpus as one token stream, documents separated by `<|endoftext|>`."""
    eot = tokenizer.convert_tokens_to_ids(EOT)
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"] + [eot])
    return ids


def encode(tasks: Sequence[ReadingTask], tokenizer: Any, answer_only: bool) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per task; labels are -100 outside the assistant turn when `answer_only`."""
    out = []
    for t in tasks:
        enc = tokenizer.apply_chat_template(t.messages(), return_assistant_tokens_mask=True, return_dict=True)
        ids = list(enc["input_ids"])
        mask = list(enc["assistant_masks"])
        labels = [i if (m or not answer_only) else -100 for i, m in zip(ids, mask, strict=True)]
        out.append((ids, labels))
    return out


def train_reading(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[ReadingTask],
    cfg: ReadingConfig,
    drill: Iterator[tuple[Any, Any, Any]] | None = None,
    drill_every: int = 0,
) -> tuple[list[float], int]:
    """Fine-tune on the tasks in order (one pass, padded batches, the tiny model's AdamW + warmup/cosine).

    With a `drill` (copy-drill batches), one drill batch follows every `drill_every` reading batches, so
    the reading stage does not wear away the copying the drill taught. Returns the reading batches'
    losses and the number of (unpadded) reading tokens trained on."""
    rows = encode(tasks, tokenizer, cfg.answer_only_loss)
    steps = math.ceil(len(rows) / cfg.batch_size)
    every = drill_every if drill is not None else 0
    is_reading: list[bool] = []

    def batches() -> Iterator[tuple[Any, Any, Any]]:
        for s in range(steps):
            is_reading.append(True)
            yield pad_batch(rows[s * cfg.batch_size : (s + 1) * cfg.batch_size], tokenizer.pad_token_id)
            if every > 0 and (s + 1) % every == 0:
                is_reading.append(False)
                yield next(drill)

    total = steps + (steps // every if every > 0 else 0)
    losses = train_steps(model, batches(), total, cfg.lr, "reading", bf16=cfg.bf16)
    reading_losses = [loss for loss, reading in zip(losses, is_reading, strict=True) if reading]
    return reading_losses, sum(len(ids) for ids, _ in rows)


def read(
    model: Any,
    tokenizer: Any,
    corpus: Path,
    cfg: TinyModelConfig,
    drill: Iterator[tuple[Any, Any, Any]],
) -> dict[str, Any]:
    """The reading stage: self-supervised corpus questions in the RAFT answer format (raft/models/reading.py),
    with `drill` batches interleaved every `cfg.reading_drill_every` reading batches."""
    from raft.models.reading import TaskMaker, passages, reading_documents

    rc = cfg.reading()
    t0 = time.perf_counter()
    pool = passages(reading_documents(corpus, cfg.exclude), rc.chunk_size, rc.overlap)
    try:
        tasks = TaskMaker(pool, rc).tasks(rc.steps * rc.batch_size, rc.seed)
    except ValueError as exc:
        raise RaftError(f"reading stage: {exc}; pass --reading-steps 0 for a corpus this small") from exc
    losses, tokens = train_reading(model, tokenizer, tasks, rc, drill, cfg.reading_drill_every)
    seconds = time.perf_counter() - t0
    kinds = sorted({t.kind for t in tasks})
    return {
        "settings": asdict(rc),
        "tasks": len(tasks),
        "drill_every": cfg.reading_drill_every,
        "tasks_by_kind": {k: sum(t.kind == k for t in tasks) for k in kinds},
        "passages": len(pool),
        "first_loss": losses[0],
        "final_loss": sum(losses[-10:]) / len(losses[-10:]),
        "tokens": tokens,
        "tokens_per_second": round(tokens / max(seconds, 1e-9)),
        "seconds": round(seconds, 1),
    }


def build_tiny_model(cfg: TinyModelConfig) -> Path:
    """Train the tokenizer, build and pretrain the model, save a plain HF model directory."""
    corpus = Path(cfg.corpus) if cfg.corpus is not None else SAMPLE_DOCS
    artifacts.check_output_dir(cfg.out, cfg.overwrite, "model")
    if min(cfg.reading_steps, cfg.pretrain_steps, cfg.copy_steps, cfg.reading_drill_every) < 0:
        raise RaftError("--pretrain-steps, --copy-steps, --reading-steps and --reading-drill-every must be 0 or more")
    check_arch(cfg.arch)  # before the tokenizer is trained
    unmatched = unmatched_excludes(corpus, cfg.exclude)
    if unmatched:
        log.warning("%d excluded id(s) match no document in %s, e.g. %s", len(unmatched), corpus, unmatched[0])
    texts = read_corpus_texts(corpus, cfg.exclude)
    start = time.perf_counter()
    tokenizer = train_tokenizer(texts, cfg.vocab_size, cfg.max_positions)
    model = init_model(cfg, tokenizer)
    ids = corpus_ids(tokenizer, texts)
    drill = copy_batches(ids, tokenizer, cfg)  # the reading stage continues the same stream
    copy_losses = train_steps(model, drill, cfg.copy_steps, cfg.copy_lr, "copy drill", bf16=cfg.bf16)
    losses = train_steps(model, _batches(ids, cfg), cfg.pretrain_steps, cfg.lr, "pretrain", bf16=cfg.bf16)
    pretrain_seconds = time.perf_counter() - start
    reading = read(model, tokenizer, corpus, cfg, drill) if cfg.reading_steps > 0 else {}
    n_params = sum(p.numel() for p in model.parameters())
    with artifacts.staging_dir(cfg.out, cfg.overwrite) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        # What `raft eval` checks test questions against: the documents this model was pretrained on.
        from raft.models.reading import reading_documents

        pretrained = sorted(d.doc_id for d in reading_documents(corpus, cfg.exclude))
        artifacts.write_json_atomic(tmp / "lineage.json", {"pretrain_docs": pretrained})
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
        settings["corpus"] = str(corpus)
        settings["exclude"] = sorted(cfg.exclude)
        artifacts.write_manifest(
            tmp,
            "base-model",
            {
                "settings": settings,
                "architecture": type(model).__name__,
                "parameters": n_params,
                "vocab_size": len(tokenizer),
                "corpus_documents": len(texts),
                "corpus_fingerprint": artifacts.fingerprint(texts),
                "copy_first_loss": copy_losses[0] if copy_losses else None,
                "copy_final_loss": sum(copy_losses[-10:]) / len(copy_losses[-10:]) if copy_losses else None,
                "pretrain_first_loss": losses[0] if losses else None,
                "pretrain_final_loss": sum(losses[-10:]) / len(losses[-10:]) if losses else None,
                "pretrain_seconds": round(pretrain_seconds, 1),
                "reading": reading or None,
                "excluded_documents": sorted(cfg.exclude),
                "excluded_unmatched": unmatched,
                "seconds": round(time.perf_counter() - start, 1),
            },
        )
    log.info("tiny model: %.1fM params, %d pretrain steps -> %s", n_params / 1e6, len(losses), cfg.out)
    return Path(cfg.out)
