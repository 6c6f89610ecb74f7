"""Bad input to every command: exit code 2, one line naming the problem and the fix, no traceback, nothing
left on disk. Commands run in-process through `raft.cli.main` (its error handling included)."""

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from raft import artifacts, prompts
from tests.conftest import SAMPLE_DOCS, SAMPLE_QUESTIONS
from tests.train.test_train import make_dataset


def run_raft(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """`raft ARGS` through the console entry point: (exit code, stdout, stderr)."""
    from raft.cli import main

    monkeypatch.setattr(sys, "argv", ["raft", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(*roots: Path) -> set[tuple[str, int]]:
    """Every path under `roots` with its size (directories: 0)."""
    seen = set()
    for root in roots:
        for p in Path(root).rglob("*"):
            seen.add((str(p), p.stat().st_size if p.is_file() else 0))
    return seen


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """Real artifacts (an index of one folder of the bundled corpus, a random-init tiny model, a dataset) and broken copies."""
    import shutil

    from raft.index.build import IndexConfig, build_index

    root = tmp_path_factory.mktemp("bad-input")
    corpus = root / "corpus"
    shutil.copytree(SAMPLE_DOCS / "accounts", corpus / "accounts")  # the documents of the first questions
    paths = {"root": root, "corpus": corpus, "index": root / "index", "model": root / "model"}
    build_index(IndexConfig(corpus=corpus, out=paths["index"]))
    shutil.copytree(tiny_model_dir, paths["model"])  # a copy under root: the snapshot sees any write to it
    paths["dataset"] = make_dataset(root / "dataset", n_train=8, n_eval=4)
    for name, damage in (("no_faiss", "rm"), ("short_faiss", "cut"), ("no_chunks", "chunks")):
        copy = shutil.copytree(paths["index"], root / name)
        if damage == "rm":
            (copy / "index.faiss").unlink()
        elif damage == "cut":
            (copy / "index.faiss").write_bytes((paths["index"] / "index.faiss").read_bytes()[:200])
        else:
            (copy / "chunks.jsonl").unlink()
        paths[name] = copy
    (root / "unfinished").mkdir()
    paths["unfinished"] = root / "unfinished"
    for name, adapter in (("trained", True), ("full", False)):
        (root / name).mkdir()
        artifacts.write_manifest(root / name, "model", {"adapter": adapter, "base_model": str(paths["model"]),
                                                        "prompt": prompts.contract()})
        paths[name] = root / name
    lines = SAMPLE_QUESTIONS.read_text().splitlines()[:12]
    paths["qa"] = root / "qa.jsonl"
    paths["qa"].write_text("\n".join(lines) + "\n")
    paths["qa_bad"] = root / "qa_bad.jsonl"
    paths["qa_bad"].write_text("\n".join([*lines[:2], '{"id": "x", "question": "a\tb"}', *lines[3:]]) + "\n")
    paths["qa_empty"] = root / "qa_empty.jsonl"
    paths["qa_empty"].write_text("")
    paths["qa_csv"] = root / "qa.csv"
    paths["qa_csv"].write_text("id,text\n1,hello\n")
    paths["feedback_bad"] = root / "feedback.jsonl"
    paths["feedback_bad"].write_text('{"rating": "up", "question": "q\x01", "answer": "a"}\n')
    paths["file"] = root / "a_file"
    paths["file"].write_text("not a folder\n")
    return paths


# (case id, arguments, substrings the one-line error must hold: the problem, then the fix)
CASES = [
    # index
    ("index-corpus-missing", ["index", "{tmp}/nothing", "-o", "{tmp}/idx"], ["does not exist", "pass a directory"]),
    ("index-out-through-file", ["index", "{corpus}", "-o", "{file}/idx"], ["is a file, not a folder", "choose another"]),
    ("index-out-in-proc", ["index", "{corpus}", "-o", "/proc/raft-x/idx"], ["cannot create", "choose another"]),
    ("index-device-word", ["index", "{corpus}", "-o", "{tmp}/idx", "--device", "banana"], ["'banana' is not a device", "use cpu"]),
    ("index-device-missing-gpu", ["index", "{corpus}", "-o", "{tmp}/idx", "--device", "cuda:7"], ["cuda:7", "CUDA"]),
    ("index-chunk-size-huge", ["index", "{corpus}", "-o", "{tmp}/idx", "--chunk-size", "99999999999"],
     ["more than the embedder reads", "use at most"]),
    ("index-chunk-size-tiny", ["index", "{corpus}", "-o", "{tmp}/idx", "--chunk-size", "4"], ["too small", "at least 16"]),
    ("index-overlap", ["index", "{corpus}", "-o", "{tmp}/idx", "--overlap", "150"], ["--overlap 150", "less than half"]),
    ("index-batch-size", ["index", "{corpus}", "-o", "{tmp}/idx", "--batch-size", "0"], ["--batch-size 0", "at least 1"]),
    ("index-processes", ["index", "{corpus}", "-o", "{tmp}/idx", "--processes", "0"], ["--processes 0", "at least 1"]),
    ("index-update-overwrite", ["index", "{corpus}", "-o", "{tmp}/idx", "--update", "--overwrite"], ["exclude each other", "pass one"]),
    ("index-exists", ["index", "{corpus}", "-o", "{index}"], ["already exists", "--overwrite"]),
    # search
    ("search-missing", ["search", "{tmp}/nothing", "q"], ["does not exist", "raft index"]),
    ("search-no-faiss", ["search", "{no_faiss}", "reset"], ["index.faiss is missing", "--overwrite"]),
    ("search-short-faiss", ["search", "{short_faiss}", "reset"], ["index.faiss is damaged", "--overwrite"]),
    ("search-no-chunks", ["search", "{no_chunks}", "reset"], ["chunks.jsonl is missing", "--overwrite"]),
    ("search-empty-query", ["search", "{index}", ""], ["query is empty", "pass the question"]),
    ("search-blank-query", ["search", "{index}", "   "], ["query is empty", "pass the question"]),
    ("search-device", ["search", "{index}", "reset", "--device", "banana"], ["not a device", "use cpu"]),
    ("search-dataset", ["search", "{dataset}", "reset"], ["is a dataset directory, not an index", "raft index"]),
    ("search-unfinished", ["search", "{unfinished}", "reset"], ["not a finished index", "raft index"]),
    # generate
    ("generate-batch-size", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa}", "--batch-size", "0"],
     ["--batch-size 0", "at least 1"]),
    ("generate-concurrency", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa}", "--concurrency", "0"],
     ["--concurrency 0", "at least 1"]),
    ("generate-no-source", ["generate", "{index}", "-o", "{tmp}/ds"], ["no question source", "--qa FILE"]),
    ("generate-qa-missing", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{tmp}/none.jsonl"], ["does not exist", "--qa"]),
    ("generate-p-oracle", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa}", "--p-oracle", "2"], ["--p-oracle", "between 0 and 1"]),
    ("generate-device", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa}", "--device", "banana"], ["not a device", "use cpu"]),
    ("generate-index-missing", ["generate", "{tmp}/none", "-o", "{tmp}/ds", "--qa", "{qa}"], ["not found", "raft index"]),
    ("generate-bad-json", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa_bad}"],
     ["line 3: invalid JSON (Invalid control character at column", "fix or remove"]),
    ("generate-empty-qa", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa_empty}"], ["qa_empty.jsonl", "question"]),
    ("generate-csv-no-question", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa_csv}"], ["qa.csv", "question"]),
    ("generate-max-tokens", ["generate", "{index}", "-o", "{tmp}/ds", "--qa", "{qa}", "--max-tokens", "10", "--tokenizer", "{model}"],
     ["over --max-tokens 10", "raise --max-tokens"]),
    # train
    ("train-lr-negative", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{model}", "--lr", "-1"], ["--lr -1", "above 0"]),
    ("train-lr-zero", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{model}", "--lr", "0"], ["--lr 0", "above 0"]),
    ("train-target-modules", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{model}", "--target-modules", "nonexistent"],
     ["nonexistent: no such layer", "q_proj"]),
    ("train-eval-rows", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{model}", "--eval-rows", "0"], ["--eval-rows", ">= 1"]),
    ("train-batch-size", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{model}", "--batch-size", "0"], ["batch_size", ">= 1"]),
    ("train-warmup", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{model}", "--warmup-ratio", "1.5"], ["warmup_ratio", "[0, 1)"]),
    ("train-base-is-dataset", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{dataset}"],
     ["is a dataset directory, not a model", "pass a local model directory"]),
    ("train-dataset-missing", ["train", "{tmp}/none", "-o", "{tmp}/m", "--base-model", "{model}"], ["does not exist", "raft generate"]),
    ("train-dataset-is-index", ["train", "{index}", "-o", "{tmp}/m", "--base-model", "{model}"],
     ["is an index directory, not a dataset", "raft generate"]),
    ("train-kto-batch", ["train", "{dataset}", "-o", "{tmp}/m", "--base-model", "{model}", "--method", "kto", "--batch-size", "1"],
     ["kto", "--batch-size >= 2"]),
    ("train-config-missing", ["train", "--config", "{tmp}/none.yaml"], ["does not exist", "--config FILE"]),
    # eval
    ("eval-temperature-negative", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}", "--temperature", "-1"],
     ["--temperature -1", "between 0 and 2"]),
    ("eval-temperature-high", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}", "--temperature", "5"],
     ["--temperature 5", "between 0 and 2"]),
    ("eval-device", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}", "--device", "banana"], ["not a device", "use cpu"]),
    ("eval-repetition-penalty", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}",
                                 "--repetition-penalty", "0.5"], ["--repetition-penalty 0.5", "between 1 (off) and 2"]),
    ("eval-repetition-penalty-onnx", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}",
                                      "--repetition-penalty", "1.2", "--engine", "onnx-fp32"], ["torch engines only", "drop it"]),
    ("eval-repetition-penalty-openai", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--system",
                                        "a=openai:http://127.0.0.1:9/v1:m", "--repetition-penalty", "1.2"],
     ["a: --repetition-penalty works with the torch engines only", "drop it"]),
    ("eval-model-is-dataset", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{dataset}"],
     ["is a dataset directory, not a model", "raft train"]),
    ("eval-k", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}", "-k", "0"], ["--k", "at least 1"]),
    ("eval-limit", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}", "--limit", "0"], ["--limit", "at least 1"]),
    ("eval-conditions", ["eval", "{index}", "--qa", "{qa}", "-o", "{tmp}/r", "--model", "{model}", "--conditions", "bogus"],
     ["unknown condition", "choose from"]),
    # chat
    ("chat-model-is-dataset", ["chat", "{index}", "--model", "{dataset}"], ["is a dataset directory, not a model", "raft train"]),
    ("chat-adapter-is-dataset", ["chat", "{index}", "--model", "{model}", "--adapter", "{dataset}"],
     ["is a dataset directory, not a model", "raft train"]),
    ("chat-trained-with-adapter", ["chat", "{index}", "--model", "{trained}", "--adapter", "{trained}"],
     ["brings its own adapter", "drop --adapter"]),
    ("chat-device", ["chat", "{index}", "--model", "{model}", "--device", "banana"], ["not a device", "use cpu"]),
    ("chat-index-missing", ["chat", "{tmp}/none", "--model", "{model}"], ["does not exist", "raft index"]),
    ("chat-k-over-limit", ["chat", "{index}", "--model", "{model}", "-k", "21"], ["k must be between 1 and 20 (got 21)"]),
    # serve
    ("serve-model-is-dataset", ["serve", "{index}", "--model", "{dataset}"], ["is a dataset directory, not a model", "raft train"]),
    ("serve-adapter-full-weights", ["serve", "{index}", "--model", "{model}", "--adapter", "{full}"],
     ["holds full weights", "pass it as the model"]),
    ("serve-device-gpu", ["serve", "{index}", "--model", "{model}", "--device", "cuda:7"], ["cuda:7", "CUDA"]),
    ("serve-busy-port", ["serve", "{index}", "--model", "{model}", "--port", "{busy_port}"], ["cannot listen", "another --port"]),
    ("serve-short-key", ["serve", "{index}", "--model", "{model}", "--api-key", "short"], ["--api-key", "at least 8"]),
    # export / merge
    ("export-missing", ["export", "{tmp}/none", "-o", "{tmp}/out"], ["does not exist", "raft train"]),
    ("export-dataset", ["export", "{dataset}", "-o", "{tmp}/out"], ["is a dataset directory, not a model", "raft train"]),
    ("export-base-model", ["export", "{model}", "-o", "{tmp}/out"], ["is not a finished model", "raft train"]),
    ("merge-missing", ["merge", "{tmp}/none", "-o", "{tmp}/out"], ["does not exist", "raft train"]),
    ("merge-index", ["merge", "{index}", "-o", "{tmp}/out"], ["is an index directory, not a model", "raft train"]),
    ("merge-full-weights", ["merge", "{full}", "-o", "{tmp}/out"], ["holds full weights", "load it directly"]),
    # tune
    ("tune-lr-text", ["tune", "{dataset}", "-o", "{tmp}/t", "--base-model", "{model}", "--lr", "fast"], ["--lr 'fast'", "write"]),
    ("tune-lr-negative", ["tune", "{dataset}", "-o", "{tmp}/t", "--base-model", "{model}", "--lr", "-1,2"], ["--lr", "positive"]),
    ("tune-eval-top", ["tune", "{dataset}", "-o", "{tmp}/t", "--base-model", "{model}", "--eval-top", "2"], ["--eval-top", "--index"]),
    # demo
    ("demo-corpus-missing", ["demo", "-o", "{tmp}/run", "--corpus", "{tmp}/none"], ["does not exist", "--corpus DIR"]),
    ("demo-qa-missing", ["demo", "-o", "{tmp}/run", "--qa", "{tmp}/none.jsonl"], ["does not exist", "--qa FILE"]),
    ("demo-base-model-unknown", ["demo", "-o", "{tmp}/run", "--base-model", "gpt-nonsense"],
     ["--base-model gpt-nonsense is neither", "smollm2-135m"]),
    ("demo-full-with-lora-layers", ["demo", "-o", "{tmp}/run", "--full", "--lora-layers", "8"],
     ["--lora-layers needs --lora"]),
    # feedback
    ("feedback-export-missing", ["feedback", "export", "{tmp}/none.jsonl", "-o", "{tmp}/qa.jsonl"], ["none.jsonl", "raft chat"]),
    ("feedback-export-bad-json", ["feedback", "export", "{feedback_bad}", "-o", "{tmp}/qa.jsonl"], ["at column", "line 1"]),
    ("feedback-preference-no-index", ["feedback", "export", "{feedback_bad}", "-o", "{tmp}/p.jsonl", "--as", "preference"],
     ["needs --index", "INDEX_DIR"]),
    ("feedback-report-nothing", ["feedback", "report", "-o", "{tmp}/rep"], ["pass a feedback file", "--requests LOG"]),
]


@pytest.fixture(scope="module")
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(args, expected, inputs, busy_port, tmp_path, capsys,
                                                         monkeypatch):
    if "/proc/" in " ".join(args) and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    values = {k: str(v) for k, v in inputs.items()} | {"tmp": str(tmp_path), "busy_port": str(busy_port)}
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path, inputs["root"])
    code, _, err = run_raft([a.format(**values) for a in args], capsys, monkeypatch)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    for part in expected:
        assert part in lines[0], lines[0]
    assert snapshot(tmp_path, inputs["root"]) == before


def test_enough_cases_for_every_command():
    commands = {args[0] for _, args, _ in CASES}
    assert len(CASES) >= 60
    assert commands >= {"index", "search", "generate", "train", "eval", "chat", "serve", "export", "merge", "tune",
                        "demo", "feedback"}


def test_a_failed_generate_does_not_block_the_fixed_rerun(inputs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ds"
    code, _, err = run_raft(["generate", str(inputs["index"]), "-o", str(out), "--qa", str(inputs["qa_bad"])],
                            capsys, monkeypatch)
    assert code == 2 and "line 3" in err
    code, _, err = run_raft(["generate", str(inputs["index"]), "-o", str(out), "--qa", str(inputs["qa"])],
                            capsys, monkeypatch)
    assert code == 0, err
    assert (out / "manifest.json").is_file() and not (tmp_path / ".ds.partial").exists()


@pytest.fixture(scope="module")
def read_only_run(inputs, tmp_path_factory):
    """`raft train --max-steps 0 --epochs 1` on the dataset made read-only: (exit code, stderr, model dir,
    the dataset's files before, after)."""
    from raft.cli import main

    dataset, out = inputs["dataset"], tmp_path_factory.mktemp("read-only-run") / "m"
    before = snapshot(dataset)
    modes = {p: p.stat().st_mode for p in [dataset, *dataset.rglob("*")]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    args = ["raft", "train", str(dataset), "-o", str(out), "--base-model", str(inputs["model"]), "--max-steps", "0",
            "--epochs", "1", "--batch-size", "4", "--grad-accum", "1", "--eval-steps", "100", "--lora-r", "2",
            "--lora-alpha", "4"]
    old_argv, sys.argv = sys.argv, args
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = old_argv
        for p, mode in modes.items():
            p.chmod(mode)
    return code, out, before, snapshot(dataset)


def test_max_steps_zero_means_train_for_the_epochs(read_only_run):
    code, out, _, _ = read_only_run
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["global_step"] == 2 and manifest["epochs_done"] == 1.0  # 8 rows / batch 4, not 1 step


def test_training_reads_a_read_only_dataset_and_leaves_it_unchanged(read_only_run):
    code, out, before, after = read_only_run
    assert code == 0 and (out / "manifest.json").is_file()
    assert after == before  # no cache files written into the input artifact


def test_max_steps_help_states_the_convention(capsys, monkeypatch):
    code, out, _ = run_raft(["train", "--help"], capsys, monkeypatch)
    assert code == 0 and "0 or less: train for --epochs" in " ".join(out.split())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_parent_is_one_line(inputs, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code, _, err = run_raft(["index", str(inputs["corpus"]), "-o", str(locked / "idx")], capsys, monkeypatch)
    assert code == 2 and "is not writable" in err
