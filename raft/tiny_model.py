"""A tiny Llama-shaped base model built offline: BPE tokenizer, chat template, brief pretraining.

It stands in for a hub model in tests and in the offline demo. `raft train --base-model DIR`
loads it like any other model directory.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.reading import ReadingConfig

log = logging.getLogger(__name__)

PAD, EOT, IM_START, IM_END = "<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, EOT, IM_START, IM_END]
# Prompt-contract markers get one token each so quotes and answers stay short and easy to learn.
CONTRACT_TOKENS = [prompts.BEGIN_QUOTE, prompts.END_QUOTE, prompts.ANSWER_TAG]
DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "helpdesk" / "docs"

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
    """Shape and pretraining budget of the tiny model (defaults: ~3.4M params, ~2 min on 2 CPU cores)."""

    out: Path
    corpus: Path | None = None
    vocab_size: int = 4000
    hidden_size: int = 256
    intermediate_size: int = 512
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    max_positions: int = 4096
    pretrain_steps: int = 200
    seq_len: int = 256
    batch_size: int = 8
    lr: float = 3e-3
    seed: int = 0
    overwrite: bool = False
    # Reading stage (raft/reading.py): self-supervised questions about the corpus text; 0 steps: none.
    reading_steps: int = 0
    reading_batch_size: int = 8
    reading_lr: float = 2e-3
    reading_distractors: int = 3
    reading_answer_only: bool = True  # loss on the answer turn only (else on every token)
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
        )


def read_corpus_texts(corpus: Path, exclude: tuple[str, ...] = ()) -> list[str]:
    """The text of every document `raft index` would read from `corpus` (any supported format), in path
    order, minus the `exclude`d documents (doc ids or source paths)."""
    from raft.reading import reading_documents

    texts = [f"{d.title}\n\n{d.text}".strip() for d in reading_documents(Path(corpus), exclude)]
    if not texts:
        raise RaftError(f"corpus {corpus} holds no readable documents; pass --corpus DIR with documents")
    return texts


def unmatched_excludes(corpus: Path, exclude: tuple[str, ...]) -> list[str]:
    """The excluded ids that name no document of the corpus (reported, so a typo is not silent)."""
    if not exclude:
        return []
    from raft.corpus import Corpus
    from raft.reading import is_excluded

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


def init_model(cfg: TinyModelConfig, tokenizer: Any) -> Any:
    """A randomly initialised Llama model, seeded without touching the global RNG state."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig

    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=im_end,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        eos_token_id=im_end, pad_token_id=tokenizer.pad_token_id, bos_token_id=None, do_sample=False
    )
    return model


def _batches(ids: list[int], cfg: TinyModelConfig) -> Iterator[Any]:
    """Endless random windows of `seq_len` tokens from the token stream, from a seeded generator."""
    import torch

    stream = torch.tensor(ids, dtype=torch.long)
    span = cfg.seq_len
    if len(stream) < span + 1:
        stream = stream.repeat(math.ceil((span + 1) / max(len(stream), 1)) + 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    while True:
        starts = torch.randint(0, len(stream) - span, (cfg.batch_size,), generator=gen)
        yield torch.stack([stream[s : s + span] for s in starts.tolist()])


def pretrain(model: Any, tokenizer: Any, texts: list[str], cfg: TinyModelConfig) -> list[float]:
    """Brief causal-LM pretraining on the corpus text (AdamW, warmup + cosine); returns the losses."""
    import torch
    from tqdm.auto import tqdm

    ids: list[int] = []
    for text in texts:
        ids.extend(
            tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids(EOT)]
        )
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, cfg.pretrain_steps // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (
            1 + math.cos(math.pi * (step - warmup) / max(1, cfg.pretrain_steps - warmup))
        )

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    losses: list[float] = []
    bar = tqdm(range(cfg.pretrain_steps), desc="pretrain", unit="step", leave=False)
    for _, batch in zip(bar, _batches(ids, cfg), strict=False):
        loss = model(input_ids=batch, labels=batch).loss  # labels are shifted inside the model
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def read(model: Any, tokenizer: Any, corpus: Path, cfg: TinyModelConfig) -> dict[str, Any]:
    """The reading stage: self-supervised corpus questions in the RAFT answer format (raft/reading.py)."""
    from raft.reading import TaskMaker, passages, reading_documents, train_reading

    rc = cfg.reading()
    t0 = time.perf_counter()
    pool = passages(reading_documents(corpus, cfg.exclude), rc.chunk_size, rc.overlap)
    try:
        tasks = TaskMaker(pool, rc).tasks(rc.steps * rc.batch_size, rc.seed)
    except ValueError as exc:
        raise RaftError(f"reading stage: {exc}; pass --reading-steps 0 for a corpus this small") from exc
    losses, tokens = train_reading(model, tokenizer, tasks, rc)
    seconds = time.perf_counter() - t0
    kinds = sorted({t.kind for t in tasks})
    return {
        "settings": asdict(rc),
        "tasks": len(tasks),
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
    corpus = Path(cfg.corpus) if cfg.corpus is not None else DEFAULT_CORPUS
    artifacts.check_output_dir(cfg.out, cfg.overwrite, "model")
    if cfg.reading_steps < 0 or cfg.pretrain_steps < 0:
        raise RaftError("--pretrain-steps and --reading-steps must be 0 or more")
    unmatched = unmatched_excludes(corpus, cfg.exclude)
    if unmatched:
        log.warning("%d excluded id(s) match no document in %s, e.g. %s", len(unmatched), corpus, unmatched[0])
    texts = read_corpus_texts(corpus, cfg.exclude)
    start = time.perf_counter()
    tokenizer = train_tokenizer(texts, cfg.vocab_size, cfg.max_positions)
    model = init_model(cfg, tokenizer)
    losses = pretrain(model, tokenizer, texts, cfg) if cfg.pretrain_steps > 0 else []
    pretrain_seconds = time.perf_counter() - start
    reading = read(model, tokenizer, corpus, cfg) if cfg.reading_steps > 0 else {}
    n_params = sum(p.numel() for p in model.parameters())
    with artifacts.staging_dir(cfg.out, cfg.overwrite) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        # What `raft eval` checks test questions against: the documents this model was pretrained on.
        from raft.reading import reading_documents

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
                "architecture": "LlamaForCausalLM",
                "parameters": n_params,
                "vocab_size": len(tokenizer),
                "corpus_documents": len(texts),
                "corpus_fingerprint": artifacts.fingerprint(texts),
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
