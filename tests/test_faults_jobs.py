"""Faults of issue 36 in the job queue and the runs: a queue locked by another process or damaged, a full disk
during training, a run folder deleted while its job runs. Each fault is made here, not mocked away."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_jobs import queue_at, shapes, start_worker, stop, wait_for  # noqa: F401 (fixtures)
from tlcore import jobs, runs
from tlcore.progress import report
from tlcore.train import SearchConfig, TrainConfig

TINY_FOR_FAULTS = TrainConfig(strategies=("extract",), image_size=64, budget_seconds=60, baselines=(),
                              search=SearchConfig(max_trials=1, max_epochs=1), stop_early=False)

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("begin exclusive")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
conn.execute("rollback")
"""


def hold_lock(db: Path) -> subprocess.Popen:
    """Another process holding the queue's write lock until its stdin is closed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(timeout=30)


@pytest.fixture
def sqlite_queue(queue_at, monkeypatch):  # noqa: F811
    monkeypatch.setattr(jobs, "QUEUE_BUSY_SECONDS", 0.2)
    monkeypatch.setattr(jobs, "SUBMIT_WAIT_SECONDS", 1.0)
    env = queue_at("sqlite")
    jobs._ready(jobs.queue(), 5)  # the queue's tables exist, as after any first use
    return env


@pytest.mark.slow
def test_a_worker_started_on_a_locked_queue_waits_and_runs_the_job_once_it_is_released(sqlite_queue, tmp_path):
    marks = tmp_path / "marks"
    jobs.submit_ping(marks)
    holder = hold_lock(jobs._queue_file())
    log = tmp_path / "worker.err"
    with log.open("w") as err:
        worker = subprocess.Popen([sys.executable, "-m", "tlcore", "worker"], cwd=Path(__file__).parents[1],
                                  env=sqlite_queue, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        assert wait_for(lambda: "is locked by another process; retrying" in log.read_text(), 90), log.read_text()
        assert worker.poll() is None, log.read_text()  # still waiting, not dead
        release(holder)
        assert wait_for(lambda: len(list(marks.glob("*.json"))) == 1, 120), log.read_text()
    finally:
        release(holder) if holder.poll() is None else None
        stop(worker)


def test_a_submission_on_a_locked_queue_retries_then_refuses_in_one_line_leaving_no_run(shapes, sqlite_queue,  # noqa: F811
                                                                                        tmp_path):
    holder = hold_lock(jobs._queue_file())
    try:
        with pytest.raises(jobs.JobError, match="locked by another process") as refused:
            jobs.submit_analysis(tmp_path / "ws", shapes.stored_in, None)
    finally:
        release(holder)
    assert "\n" not in str(refused.value) and "try again" in str(refused.value)
    assert not list((tmp_path / "ws" / "analyses").glob("*"))  # nothing waits "queued" for a job never queued
    folder = jobs.submit_analysis(tmp_path / "ws", shapes.stored_in, None)  # released: it queues
    assert runs.state(folder) == "queued" and jobs.job_info(folder)["task_id"] in jobs.queued_ids()


def test_a_damaged_queue_is_reported_in_one_line_and_leaves_no_queued_run(shapes, queue_at, tmp_path):  # noqa: F811
    from tests.test_jobs import TINY

    queue_at("sqlite")
    db = jobs._queue_file()
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"this is not an SQLite database, it was damaged\n" * 200)
    with pytest.raises(jobs.JobError, match="is damaged") as refused:
        jobs.submit_training(tmp_path / "ws", shapes.stored_in, TINY)
    assert "\n" not in str(refused.value) and "move the file aside" in str(refused.value)
    assert not [r for r in runs.all_runs(tmp_path / "ws") if r["state"] == "queued"]
    assert not list((tmp_path / "ws" / "runs").glob("*"))


# --- a full disk during training ------------------------------------------------------------------------------


def _no_partials(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if "partial" in p.name]


def test_a_full_disk_during_training_ends_the_run_failed_in_one_line_without_partial_files(shapes, tmp_path,  # noqa: F811
                                                                                           monkeypatch):
    from tlcore.train import extract as extract_strategy

    real_write_bytes = Path.write_bytes

    def fill_the_disk(self, data):  # the model's file: half of it lands, then the disk is full
        if self.name.startswith(".model.json"):
            real_write_bytes(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_bytes(self, data)

    def train_a_model(ctx):
        runs.write_json(ctx.run_dir / "model.json", {"weights": [0.5] * 5000})

    monkeypatch.setattr(Path, "write_bytes", fill_the_disk)
    monkeypatch.setattr(extract_strategy, "run", train_a_model)
    run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, TINY_FOR_FAULTS)
    assert runs.state(run_dir) == "failed"
    error = runs.status(run_dir)["error"]
    assert error.startswith("the disk is full") and "free some space" in error and "\n" not in error
    assert _no_partials(run_dir) == [] and not (run_dir / "model.json").exists()
    assert jobs.read_progress(run_dir)["error"] == error


def test_a_full_disk_met_outside_the_run_files_also_fails_in_words_and_removes_unfinished_files(shapes, tmp_path,  # noqa: F811
                                                                                                monkeypatch):
    from tlcore.train import extract as extract_strategy

    def save_a_model(ctx):  # as a library writing its own unfinished file would
        (ctx.run_dir / ".model.123.partial.keras").write_bytes(b"\0" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(extract_strategy, "run", save_a_model)
    run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, TINY_FOR_FAULTS)
    assert runs.state(run_dir) == "failed"
    assert runs.status(run_dir)["error"].startswith("the disk is full")
    assert _no_partials(run_dir) == []


def test_a_status_is_still_written_when_the_disk_has_no_room_for_a_second_copy(tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "r1"
    runs.set_status(run_dir, "running")
    real_write_bytes = Path.write_bytes

    def full(self, data):
        if "partial" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    runs.set_status(run_dir, "failed", error="the disk is full")
    assert runs.status(run_dir)["state"] == "failed" and _no_partials(run_dir) == []


def test_listing_runs_of_a_read_only_workspace_works(tmp_path, monkeypatch):
    run_dir = tmp_path / "ws" / "runs" / "r1"
    runs.set_status(run_dir, "running")
    (run_dir / runs.HEARTBEAT_FILE).write_text("{}")
    old = time.time() - 3600
    os.utime(run_dir / runs.HEARTBEAT_FILE, (old, old))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(runs, "write_atomic", read_only)
    assert [r["state"] for r in runs.all_runs(tmp_path / "ws")] == ["interrupted"]


# --- a run folder deleted while its job runs ------------------------------------------------------------------


def test_a_run_folder_deleted_while_its_job_runs_ends_the_job_quietly_and_no_half_run_appears(shapes, tmp_path,  # noqa: F811
                                                                                              monkeypatch, capsys):
    import shutil

    from tlcore.train import extract as extract_strategy

    def deleted_meanwhile(ctx):
        shutil.rmtree(ctx.run_dir)  # the user deletes the run while it trains
        runs.write_json(ctx.run_dir / "model.json", {"weights": [0.5]})  # the training's next write
        report(ctx.progress, "strategies", 1, 2, "fitting")  # the job notices here at the latest

    monkeypatch.setattr(extract_strategy, "run", deleted_meanwhile)
    run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, TINY_FOR_FAULTS)  # no exception escapes
    assert not run_dir.exists()  # neither the deleted run nor a half one made again by its own writes
    assert runs.all_runs(tmp_path / "ws") == []
    assert "its folder was deleted while it ran" in capsys.readouterr().err
    marks = tmp_path / "marks"  # the worker (here: this process) takes the next job
    jobs.submit_ping(marks)
    assert len(list(marks.glob("*.json"))) == 1


def test_a_job_whose_folder_was_deleted_before_it_started_writes_nothing(shapes, tmp_path, monkeypatch, capsys):  # noqa: F811
    import shutil

    run_dir = tmp_path / "ws" / "runs" / "queued-then-deleted"
    run_dir.mkdir(parents=True)
    shutil.rmtree(run_dir)
    jobs._train(str(tmp_path / "ws"), str(shapes.stored_in), TINY_FOR_FAULTS, run_dir.name)
    assert not run_dir.exists() and "deleted before it started" in capsys.readouterr().err
