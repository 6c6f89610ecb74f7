"""Artifact directories: what a killed build leaves is cleaned or restored, a failed build leaves nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from raft import artifacts
from raft.errors import RaftError


@pytest.fixture(scope="module")
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not artifacts.pid_alive(proc.pid)
    return proc.pid


def finished(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "data.txt").write_text(text)
    artifacts.write_manifest(path, "index", {})
    return path


def test_staging_folders_of_dead_builds_are_removed_and_live_ones_kept(tmp_path, dead_pid):
    out = tmp_path / "idx"
    stale = tmp_path / f".idx.tmp-{dead_pid}"
    live = tmp_path / f".idx.tmp-{os.getppid()}"
    for d in (stale, live):
        d.mkdir()
        (d / "vectors.f32.tmp").write_bytes(b"\0" * 64)
    with artifacts.staging_dir(out) as tmp:
        finished(tmp / "x", "x")
    assert not stale.exists() and live.is_dir() and out.is_dir()


def test_a_swap_killed_between_its_renames_is_restored_on_read_and_on_the_next_build(tmp_path, dead_pid):
    out = tmp_path / "idx"
    backup = finished(tmp_path / f".idx.old-{dead_pid}", "old")  # the old index, renamed away; new never came
    assert artifacts.read_manifest(out, "index")["kind"] == "index"
    assert (out / "data.txt").read_text() == "old" and not backup.exists()

    os.replace(out, backup)
    with pytest.raises(RaftError, match="already exists"):  # restored first, so nothing is overwritten silently
        with artifacts.staging_dir(out):
            pass
    assert (out / "data.txt").read_text() == "old" and not backup.exists()


def test_old_backups_beside_a_present_output_are_dropped(tmp_path, dead_pid):
    out = finished(tmp_path / "idx", "current")
    finished(tmp_path / f".idx.old-{dead_pid}", "older")
    artifacts.recover_swap(out)
    assert (out / "data.txt").read_text() == "current"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_a_failed_build_leaves_no_folder_it_created(tmp_path):
    out = tmp_path / "a" / "b" / "idx"
    with pytest.raises(RaftError, match="boom"), artifacts.staging_dir(out):
        raise RaftError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_output_path_through_a_file_is_refused_before_anything_is_made(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RaftError, match="is a file, not a folder"):
        artifacts.check_output_dir(tmp_path / "f" / "sub" / "idx", overwrite=False)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
