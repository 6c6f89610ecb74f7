"""`raft tune`: a small Optuna search on the tiny model, killed mid-study and resumed; input errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raft import artifacts
from raft.errors import RaftError
from raft.splits import VALIDATION as VALIDATION_SPLIT
from raft.train.tune import TuneConfig, parse_knob, tune, validate
from tests.conftest import make_dataset

ROOT = Path(__file__).resolve().parents[2]
FIXED = {"batch_size": 4, "grad_accum": 1, "eval_steps": 1, "logging_steps": 1, "max_length": 512,
         "lora_alpha": 16, "early_stopping_patience": 0}  # fmt: skip
SPACE = {"lr": "1e-3:1e-2", "lora_r": "4,8", "epochs": "1,2"}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("tune-ds") / "dataset", n_train=8, n_eval=4)


def _finished(db: Path) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not db.is_file():
        return []
    try:
        study = optuna.load_study(study_name="raft-tune", storage=f"sqlite:///{db.resolve()}")
    except KeyError:  # the study is being created
        return []
    return [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]


def _trial_states(db: Path) -> list[tuple[int, str]]:
    """(number, state) of every trial, read with one short read-only query, so polling never holds
    the database long enough to block the study's own writes."""
    import sqlite3
    from contextlib import closing

    if not db.is_file():
        return []
    try:
        with closing(sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True, timeout=1)) as con:
            return con.execute("SELECT number, state FROM trials").fetchall()
    except sqlite3.OperationalError:  # no trials table yet, or busy for a moment
        return []


@pytest.mark.slow
def test_search_resumes_after_a_kill_and_links_the_best_trial(tmp_path, small_dataset, tiny_model_dir):
    out = tmp_path / "tune"
    config = tmp_path / "fixed.yaml"
    config.write_text("".join(f"{k}: {v}\n" for k, v in FIXED.items()))
    cmd = [sys.executable, "-m", "raft", "tune", str(small_dataset), "-o", str(out), "--base-model",
           str(tiny_model_dir), "--trials", "4", "--config", str(config), "--lr", SPACE["lr"],
           "--lora-r", SPACE["lora_r"], "--lora-alpha", "none", "--epochs", SPACE["epochs"], "--heartbeat", "1"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    storage = out / "study.db"
    deadline = time.monotonic() + 600
    # Kill once a trial has finished and the next one is running, so the kill leaves one behind as
    # 'running' (polled on the study's own state, not on a guess of how long a trial takes).
    while proc.poll() is None and time.monotonic() < deadline:
        states = _trial_states(storage)
        done = [n for n, state in states if state in ("COMPLETE", "PRUNED")]
        if done and any(state == "RUNNING" and n > max(done) for n, state in states):
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the study ended before it could be killed mid-study"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.state.name, t.value) for t in _finished(storage)}
    assert 1 <= len(before) < 4, "the kill should land mid-study"
    time.sleep(2.5)  # past the heartbeat grace period: the dead trial is now stale

    cfg = TuneConfig(dataset=small_dataset, out=out, base_model=str(tiny_model_dir), trials=4, space=SPACE,
                     train=FIXED, heartbeat_s=1)  # fmt: skip
    manifest = tune(cfg)

    after = _finished(storage)
    assert len(after) == 4
    assert {n: (s, v) for n, (s, v) in before.items()} == {
        t.number: (t.state.name, t.value) for t in after if t.number in before
    }  # finished trials were kept, not rerun
    rows = json.loads((out / "trials.json").read_text())
    complete = [r for r in rows if r["state"] == "complete"]
    assert complete and manifest["trials"].get("complete", 0) + manifest["trials"].get("pruned", 0) == 4
    for r in complete:  # each trial is an ordinary `raft train` model directory
        model = artifacts.read_manifest(Path(r["model_dir"]), "model")
        assert model["final_eval_loss"] == pytest.approx(r["validation_loss"])
        assert {r["params"]["lr"], r["params"]["lora_r"]} and 1e-3 <= r["params"]["lr"] <= 1e-2
    best = min(complete, key=lambda r: r["validation_loss"])
    assert manifest["best_trial"] == best["number"]
    assert (out / "best").is_symlink() and (out / "best").resolve() == Path(best["model_dir"]).resolve()
    assert artifacts.read_manifest(out / "best", "model")["final_eval_loss"] == best["validation_loss"]
    assert (out / "tune.png").stat().st_size > 10_000
    table = (out / "trials.md").read_text()
    best_line = next(line for line in table.splitlines() if line.startswith(f"| {best['number']} **best** | complete"))
    assert f"| {best['validation_loss']:.4f} |" in best_line
    assert artifacts.read_manifest(out, "tune")["settings"]["validation_split"] == VALIDATION_SPLIT


def test_grid_search_runs_every_combination(tmp_path, small_dataset, tiny_model_dir):
    fixed = dict(FIXED, max_steps=1, lora_r=4)
    cfg = TuneConfig(dataset=small_dataset, out=tmp_path / "grid", base_model=str(tiny_model_dir),
                     sampler="grid", space={"lr": "1e-3,5e-3"}, train=fixed, prune=False)  # fmt: skip
    manifest = tune(cfg)
    rows = json.loads((tmp_path / "grid" / "trials.json").read_text())
    assert sorted(r["params"]["lr"] for r in rows) == [1e-3, 5e-3]
    assert manifest["trials"] == {"complete": 2}
    again = tune(cfg)  # a finished study runs nothing more
    assert again["trials"] == {"complete": 2}


def test_knob_parsing():
    assert parse_knob("lr", "1e-4:1e-3").low == 1e-4
    assert parse_knob("lora_r", "8,16,8").choices == (8, 16)
    for name, text in (("lora_r", "4:8"), ("lr", "3e-4:1e-4"), ("lr", "fast"), ("epochs", "0,1")):
        with pytest.raises(RaftError):
            parse_knob(name, text)


def test_bad_searches_fail_before_training(tmp_path, small_dataset, tiny_model_dir):
    base = dict(dataset=small_dataset, out=tmp_path / "t", base_model=str(tiny_model_dir), train=FIXED)
    with pytest.raises(RaftError, match="grid needs lists"):
        validate(TuneConfig(**base, sampler="grid", space={"lr": "1e-4:1e-3"}))
    with pytest.raises(RaftError, match="both searched and fixed"):
        validate(TuneConfig(**base, space={"lora_alpha": "8,16"}))
    with pytest.raises(RaftError, match="epochs cannot be searched"):
        validate(TuneConfig(**dict(base, train=dict(FIXED, max_steps=3)), space={"epochs": "1,2"}))
    assert not (tmp_path / "t").exists()


def test_cli_reports_bad_input_in_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "raft", "tune", str(tmp_path / "missing"), "-o", str(tmp_path / "o"),
                           "--base-model", "x", "--lora-r", "8:16"], cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--lora-r" in proc.stderr
