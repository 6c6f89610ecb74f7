"""`raft demo`: corpus → index → RAFT + DSF data → RAFT + DSF training of the base model → eval, offline.

Every stage writes a self-describing directory under RUN_DIR. A stage is reused on a re-run when its
manifest is present and the inputs it was built from (settings + upstream manifests) are unchanged;
deleting one stage's output redoes that stage and every stage after it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft import artifacts, prompts
from raft.data.teacher import ANSWER_FORMAT
from raft.errors import RaftError
from raft.index.corpus import SAMPLE_DOCS, SAMPLE_QUESTIONS
from raft.models import offline

if TYPE_CHECKING:
    from raft.data.qa import QAItem

log = logging.getLogger(__name__)

STATE = "demo_state.json"


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo; the defaults are the README's run: SmolLM2-135M-Instruct fully fine-tuned on
    160 rows, 150 seeded test questions (see docs/demo.md for the time it takes on 2 CPU cores).

    `base_model` is a hub id, a path or an offline alias (`smollm2-135m`).
    """

    out: Path = Path("runs/demo")
    corpus: Path = SAMPLE_DOCS
    qa: Path = SAMPLE_QUESTIONS
    base_model: str = "smollm2-135m"
    chunk_size: int = 128
    overlap: int = 24
    distractors: int = 3
    p_oracle: float = 0.8
    strategy: str = "hard"
    order: str = "retrieval"  # context documents in search-rank order, as chat shows them (docs/demo.md)
    raft_steps: int = 40
    dsf_steps: int = 40
    batch_size: int = 4
    lr: float = 1e-4
    full: bool = True  # full fine-tuning (False: LoRA); chosen on validation, see docs/demo.md
    lora_layers: int | None = None  # LoRA on the last N decoder layers only (raft train --lora-layers); None: all
    eval_rows: int | None = 32  # validation rows each training eval reads (raft train --eval-rows); None: all
    precision: str = "auto"  # raft train --precision
    k: int = 3  # chunks retrieved at eval; 3 beat 4 and 2 on validation questions (docs/demo.md)
    test_fraction: float = 0.2  # documents held out for test when the QA file has no split column
    eval_limit: int | None = 150  # a seeded subset of the test questions; None: all of them
    max_new_tokens: int = 96  # a third of the composed answers on the bundled corpus need more than 64 tokens
    eval_batch_size: int = 16
    seed: int = 0


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    out: Path
    inputs: tuple[str, ...]  # names of upstream stages
    settings: dict[str, Any]
    run: Callable[[], Any]


def lora(cfg: DemoConfig) -> DemoConfig:
    """`--lora`: LoRA r16 on every layer instead of full fine-tuning, at the rate that goes with it."""
    return replace(cfg, full=False, lr=3e-4)


def quick(cfg: DemoConfig) -> DemoConfig:
    """`--quick`: every stage end to end with few steps and few test questions (about 3 minutes on 2 CPU
    cores). A smoke run: its models are trained too briefly to answer."""
    return replace(cfg, raft_steps=2, dsf_steps=1, eval_rows=4, eval_limit=8, max_new_tokens=32)


def stages(cfg: DemoConfig) -> list[Stage]:
    out = Path(cfg.out)
    s = []
    s.append(
        Stage(
            "index",
            "Index the corpus",
            out / "index",
            (),
            _pick(cfg, "corpus chunk_size overlap"),
            lambda: _index(cfg, out / "index"),
        )
    )
    s.append(
        Stage(
            "qa",
            "Split the gold questions by document",
            out / "questions",
            (),
            _pick(cfg, "qa test_fraction seed"),
            lambda: _questions(cfg, out / "questions"),
        )
    )
    for mode in ("raft", "dsf"):
        s.append(
            Stage(
                f"data-{mode}",
                f"Build the {mode.upper()} dataset",
                out / "data" / mode,
                ("index", "qa"),
                {
                    **_pick(cfg, "distractors p_oracle strategy order seed"),
                    "mode": mode,
                    "prompt": prompts.contract()["hash"],
                    "answer_format": ANSWER_FORMAT,
                },
                lambda mode=mode: _generate(cfg, out, mode),
            )
        )
    for mode, steps in (("raft", cfg.raft_steps), ("dsf", cfg.dsf_steps)):
        s.append(
            Stage(
                f"train-{mode}",
                f"Train the {mode.upper()} model",
                out / "models" / mode,
                (f"data-{mode}",),
                {**_pick(cfg, "batch_size lr full lora_layers eval_rows precision seed base_model"), "steps": steps},
                lambda mode=mode, steps=steps: _train(cfg, out, mode, steps),
            )
        )
    s.append(
        Stage(
            "eval",
            "Evaluate base, DSF and RAFT with retrieval",
            out / "report",
            ("index", "qa", "train-raft", "train-dsf"),
            _pick(cfg, "k eval_limit max_new_tokens eval_batch_size seed"),
            lambda: _evaluate(cfg, out),
        )
    )
    return s


def _pick(cfg: DemoConfig, names: str) -> dict[str, Any]:
    return {
        n: str(getattr(cfg, n)) if isinstance(getattr(cfg, n), Path) else getattr(cfg, n)
        for n in names.split()
    }


def run_demo(cfg: DemoConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) every stage; returns the evaluation report."""
    _validate(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    plan = stages(cfg)
    done_fp: dict[str, str] = {}
    t_start = time.perf_counter()
    for i, stage in enumerate(plan, 1):
        inputs_fp = artifacts.fingerprint(
            {"settings": stage.settings, "up": [done_fp[n] for n in stage.inputs]}
        )
        manifest = stage.out / artifacts.MANIFEST
        prior = state.get(stage.name, {})
        if (
            manifest.is_file()
            and prior.get("inputs") == inputs_fp
            and prior.get("output") == _file_fp(manifest)
        ):
            echo(f"[{i}/{len(plan)}] {stage.title}: reusing {stage.out}")
        else:
            echo(f"[{i}/{len(plan)}] {stage.title} -> {stage.out}  ({_elapsed(t_start)} elapsed)")
            t0 = time.perf_counter()
            stage.run()
            state[stage.name] = {
                "inputs": inputs_fp,
                "output": _file_fp(manifest),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            artifacts.write_json_atomic(state_path, state)
            echo(f"      done in {state[stage.name]['seconds']:.0f} s")
        done_fp[stage.name] = state[stage.name]["output"]
    report = json.loads((out / "report" / "report.json").read_text())
    echo(f"Finished in {_elapsed(t_start)}.")
    return report


def _validate(cfg: DemoConfig) -> None:
    """Every input checked before the first expensive stage (the QA file is read and split here too)."""
    problems = []
    if not Path(cfg.corpus).exists():
        problems.append(f"corpus {cfg.corpus} does not exist (pass --corpus DIR)")
    if not Path(cfg.qa).is_file():
        problems.append(f"questions file {cfg.qa} does not exist (pass --qa FILE)")
    for name in ("raft_steps", "dsf_steps", "batch_size", "k", "max_new_tokens"):
        if getattr(cfg, name) < 1:
            problems.append(f"{name.replace('_', '-')} must be at least 1")
    if not 0.0 < cfg.test_fraction < 1.0:
        problems.append("test-fraction must be between 0 and 1")
    if cfg.full and cfg.lora_layers is not None:
        problems.append("--lora-layers needs --lora (the demo fine-tunes fully by default)")
    named = Path(cfg.base_model).exists() or "/" in cfg.base_model
    if not named and offline.find(cfg.base_model) is None:
        problems.append(
            f"--base-model {cfg.base_model} is neither a directory, a hub id (owner/name) nor an offline model "
            f"({', '.join(m.alias for m in offline.MODELS)})"
        )
    if problems:
        raise RaftError("; ".join(problems))
    split_questions(cfg)  # raises on an unreadable or unsplittable QA file


def _file_fp(path: Path) -> str | None:
    return artifacts.fingerprint(path.read_text()) if path.is_file() else None


def _elapsed(t0: float) -> str:
    s = int(time.perf_counter() - t0)
    return f"{s // 60}:{s % 60:02d}"


# ---- the stages ------------------------------------------------------------------------------


def _index(cfg: DemoConfig, out: Path) -> None:
    from raft.index.build import IndexConfig, build_index

    build_index(
        IndexConfig(
            corpus=Path(cfg.corpus), out=out, chunk_size=cfg.chunk_size, overlap=cfg.overlap, overwrite=True
        )
    )


def split_questions(cfg: DemoConfig) -> list[QAItem]:
    """The QA file's questions, each with split train or test: the file's own split column (its validation
    rows count as training documents; `raft generate` carves validation from them), else a seeded split by
    document (`test_fraction` of the document groups)."""
    from raft.data.loaders import read_qa
    from raft.data.qa import QAItem
    from raft.splits import TEST, TRAIN, split_groups

    items = read_qa(Path(cfg.qa))
    if not any(q.split for q in items):
        groups = {q.id: "|".join(q.doc_ids) or q.id for q in items}
        side, _ = split_groups({}, set(groups.values()), cfg.seed, 0.0, cfg.test_fraction)
        items = [QAItem(**{**q.__dict__, "split": side[groups[q.id]]}) for q in items]
    items = [q if q.split == TEST else QAItem(**{**q.__dict__, "split": TRAIN}) for q in items]
    n_test = sum(q.split == TEST for q in items)
    if not n_test or n_test == len(items):
        raise RaftError(
            f"{cfg.qa}: the demo needs questions on at least two documents, some for training and some for test"
        )
    return items


def _questions(cfg: DemoConfig, out: Path) -> None:
    """questions.jsonl: every question with its split (train / test), the file the later stages read."""
    items = split_questions(cfg)
    with artifacts.staging_dir(out, overwrite=True) as tmp:
        with open(tmp / "questions.jsonl", "w") as f:
            for q in items:
                rec = {
                    "id": q.id,
                    "question": q.question,
                    "answer": q.answer,
                    "doc_ids": list(q.doc_ids) or None,
                    "chunk_ids": list(q.chunk_ids) or None,
                    "passage": q.oracle_text,
                    "split": q.split,
                }
                f.write(json.dumps({k: v for k, v in rec.items() if v is not None}) + "\n")
        counts = {s: sum(q.split == s for q in items) for s in ("train", "test")}
        artifacts.write_manifest(tmp, "questions", {"source": str(cfg.qa), **counts})


def _generate(cfg: DemoConfig, out: Path, mode: str) -> None:
    from raft.data.generate import GenerateConfig, generate_dataset

    generate_dataset(
        GenerateConfig(
            index=out / "index",
            out=out / "data" / mode,
            qa=out / "questions" / "questions.jsonl",
            distractors=cfg.distractors,
            p_oracle=cfg.p_oracle,
            strategy=cfg.strategy,
            order=cfg.order,
            mode=mode,
            seed=cfg.seed,
            overwrite=True,
        )
    )


def _train(cfg: DemoConfig, out: Path, mode: str, steps: int) -> None:
    from raft.train.sft import TrainConfig, train

    train(
        TrainConfig(
            dataset=out / "data" / mode,
            out=out / "models" / mode,
            base_model=cfg.base_model,
            full=cfg.full,
            lora_layers=cfg.lora_layers,
            eval_rows=cfg.eval_rows,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            grad_accum=1,
            max_steps=steps,
            eval_steps=max(10, -(-steps // 3)),  # a multiple ends at the last step: no extra final eval
            precision=cfg.precision,
            early_stopping_patience=0,
            seed=cfg.seed,
            overwrite=True,
        )
    )


def _evaluate(cfg: DemoConfig, out: Path) -> None:
    from raft.eval.run import EvalConfig, run_eval
    from raft.serve.generators import DecodingConfig

    run_eval(
        EvalConfig(
            index=out / "index",
            qa=out / "questions" / "questions.jsonl",
            out=out / "report",
            systems=(f"base={cfg.base_model}", f"dsf={out / 'models' / 'dsf'}", f"raft={out / 'models' / 'raft'}"),
            k=cfg.k,
            split="test",
            limit=cfg.eval_limit,
            seed=cfg.seed,
            decoding=DecodingConfig(max_new_tokens=cfg.max_new_tokens),
            batch_size=cfg.eval_batch_size,
            overwrite=True,
        )
    )


def next_steps(cfg: DemoConfig) -> str:
    out = Path(cfg.out)
    return "\n".join(
        [
            f"Report:  {out / 'report' / 'report.md'}",
            "Chat with the result:",
            f"  raft chat {out / 'index'} --model {out / 'models' / 'raft'} -k {cfg.k}",
            "Serve it as an OpenAI-compatible API:",
            f"  raft serve {out / 'index'} --model {out / 'models' / 'raft'} -k {cfg.k} --port 8000",
        ]
    )


def config_record(cfg: DemoConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
