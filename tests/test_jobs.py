"""Background jobs: in huey's immediate mode (fast), and with real worker processes on the SQLite
queue and on Redis (slow): jobs complete in order, a killed worker's run reads interrupted, a new
worker takes the queued jobs, and with two workers on Redis every job runs exactly once."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, descendants
from tlcore import jobs, runs
from tlcore.data import import_data
from tlcore.errors import SettingError
from tlcore.samples import sample_path
from tlcore.train import SearchConfig, TrainConfig

TINY = TrainConfig(strategies=("extract",), image_size=64, budget_seconds=60, baselines=("logistic_regression",),
                   search=SearchConfig(max_trials=1, max_epochs=5), stop_early=False)  # the search runs: tests stop it


@pytest.fixture
def shapes(tmp_path):
    return import_data(sample_path("shapes"), tmp_path / "ws")


@pytest.fixture
def queue_at(monkeypatch, tmp_path):
    """Point this process at another queue (and home), as the app would be; back to immediate afterwards."""
    def use(where: str) -> dict:
        env = {"TRANSFERLAB_QUEUE": where, "TRANSFERLAB_HOME": str(tmp_path / "home")}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        jobs.queue.cache_clear()
        return os.environ | env

    yield use
    jobs.queue.cache_clear()


def wait_for(condition, seconds: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def start_worker(env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tlcore", "worker", *extra], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(process: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def trained_with_progress(monkeypatch, workspace: Path, dataset_folder: Path) -> tuple[Path, list[dict]]:
    """A TINY training job run at once, with every progress file it wrote, as the pages would have read it."""
    seen = []
    real_write = jobs.ProgressFile.write

    def spy(self, stage, stage_fraction, *args, **kwargs):
        real_write(self, stage, stage_fraction, *args, **kwargs)
        seen.append(jobs.read_progress(self.folder))

    monkeypatch.setattr(jobs.ProgressFile, "write", spy)
    return jobs.submit_training(workspace, dataset_folder, TINY), seen


# --- immediate mode -----------------------------------------------------------------------------------------


def test_a_runs_bar_keeps_pace_with_its_expected_time_then_with_the_budget(tmp_path):
    """A 12 s run with a 300 s budget: halfway through its expected time the bar is at half of EXPECTED_SHARE and
    about 6 s are left; past it, the bar moves on with the budget and the time left is the budget's (at most)."""
    def written(elapsed: float, expected: float | None) -> dict:
        jobs.ProgressFile(tmp_path, budget_seconds=300, expected_seconds=expected,
                          started=time.time() - elapsed).write("train", 0.5)
        return jobs.read_progress(tmp_path)

    early = written(6, 12)
    assert early["fraction"] == pytest.approx(jobs.EXPECTED_SHARE / 2, abs=0.01)
    assert early["remaining"] == pytest.approx(6, abs=0.5) and early["remaining_is"] == "expected"
    late = written(156, 12)  # half of the budget's remaining 288 s after the expected 12
    assert jobs.EXPECTED_SHARE < late["fraction"] == pytest.approx((jobs.EXPECTED_SHARE + 0.99) / 2, abs=0.01)
    assert late["remaining"] == pytest.approx(144, abs=0.5) and late["remaining_is"] == "past expected"
    # just past 12 s is within the expectation's precision (1.5x or 10 s more): a little longer, not late
    assert [written(t, 12)["remaining_is"] for t in (13, 21.5, 22.5)] == ["a little longer"] * 2 + ["past expected"]
    assert [written(t, 60)["remaining_is"] for t in (85, 95)] == ["a little longer", "past expected"]  # 1.5x here
    unknown = written(150, None)
    assert unknown["fraction"] == pytest.approx(0.5, abs=0.01) and unknown["remaining_is"] == "budget"


def test_an_analysis_bar_keeps_pace_with_what_analyses_take_here_and_never_runs_back(tmp_path):
    """Its steps' own fractions ran backwards (the features to 100%, then "analysis 0/3", then each base ranked from
    0); paced by the usual analysis time instead, later writes never read less, and past that time no time left."""
    seen = []
    for elapsed, stage, fraction in ((5, "features", 0.9), (10, "analysis", 0.0), (30, "rank bases", 0.3),
                                     (60, "features", 0.1), (90, "analysis", 0.67)):
        jobs.ProgressFile(tmp_path, expected_seconds=40.0, started=time.time() - elapsed).write(stage, fraction)
        seen.append(jobs.read_progress(tmp_path))
    fractions = [p["fraction"] for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] < 0.99
    assert fractions[0] == pytest.approx(jobs.EXPECTED_SHARE * 5 / 40, abs=0.01)
    assert seen[2]["remaining"] == pytest.approx(10, abs=0.5) and seen[3]["remaining"] is None


def test_a_training_job_tells_the_time_its_analysis_expected(shapes, tmp_path, monkeypatch):
    """The run's bar reads the saved analysis's expected time for the way it runs (same base and size)."""
    from tlcore.analysis import ANALYSIS_FILE

    runs.write_json(shapes.stored_in / ANALYSIS_FILE, {"backbone": "efficientnet_lite0", "image_size": 64,
                                                       "recommendation": {"expected_seconds": {"extract": 45.0}}})
    try:
        _, seen = trained_with_progress(monkeypatch, tmp_path / "ws", shapes.stored_in)
    finally:
        (shapes.stored_in / ANALYSIS_FILE).unlink()
    told = [p for p in seen if not p["finished"]]
    assert told[0]["stage"] == "starting" and told[0]["remaining_is"] == "expected"  # "about", from the first write
    assert all(p["remaining_is"] == "expected" for p in told[:2]) and told[0]["remaining"] <= 45.0
    assert all(p["fraction"] < 1.0 for p in told) and seen[-1]["fraction"] == 1.0


def test_an_analysis_job_writes_its_result_and_ends_at_100_percent(shapes, tmp_path):
    folder = jobs.submit_analysis(tmp_path / "ws", shapes.stored_in, None)
    assert runs.state(folder) == "complete"
    assert jobs.read_analysis(folder)["recommendation"]["strategy"] in ("predict", "extract", "finetune")
    progress = jobs.read_progress(folder)
    assert progress["finished"] and progress["fraction"] == 1.0 and progress["remaining"] == 0.0
    assert jobs.job_info(folder)["dataset"] == str(shapes.stored_in)
    assert jobs.analysis_seconds() != jobs.ANALYSIS_GUESS_SECONDS  # timed, for the next waiting jobs


def test_a_training_job_trains_builds_the_bundle_and_follows_the_budget(shapes, tmp_path, monkeypatch):
    run_dir, seen = trained_with_progress(monkeypatch, tmp_path / "ws", shapes.stored_in)
    assert runs.state(run_dir) == "complete" and jobs.job_state(run_dir) == "complete"
    assert (run_dir / "bundle.zip").is_file() and (run_dir / "report.json").is_file()
    fractions = [p["fraction"] for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and max(fractions[:-1]) < 1.0
    assert {"features", "baselines", "bundle", "done"} <= {p["stage"] for p in seen}
    assert all(p["remaining"] is not None and p["remaining"] <= TINY.budget_seconds for p in seen)
    assert seen[-1]["board"][0]["model"] == "Logistic regression"  # in words
    fitted = next(p["message"] for p in seen if p["stage"] == "baselines" and p["message"].startswith("Logistic"))
    assert re.fullmatch(r"Logistic regression: \d+\.\d% right in cross-validation on training", fitted)  # the status
    wall = runs.read_json(run_dir / "report.json")["wall"]  # a job's: what it waited before its start is told
    assert 0.0 <= wall["seconds_waiting"] < wall["seconds_to_final_bundle"]


def test_a_failing_job_reads_failed_with_its_message_in_words(shapes, tmp_path, monkeypatch):
    from tlcore.train import extract as extract_strategy

    def refuse(ctx):
        raise SettingError("the budget is too small for this data; raise it")

    monkeypatch.setattr(extract_strategy, "run", refuse)
    run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, TINY)
    assert runs.state(run_dir) == "failed"
    assert runs.status(run_dir)["error"] == "the budget is too small for this data; raise it"
    assert jobs.read_progress(run_dir)["finished"] and not (run_dir / "bundle.zip").exists()


def test_an_unexpected_error_is_one_line_with_the_path_of_its_log(shapes, tmp_path, monkeypatch):
    from tlcore.train import extract as extract_strategy

    def crash(ctx):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(extract_strategy, "run", crash)
    run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, TINY)
    error = runs.status(run_dir)["error"]
    assert error.startswith("unexpected ZeroDivisionError: division by zero") and "\n" not in error
    assert "ZeroDivisionError" in (run_dir / "error.log").read_text()


def test_a_cancelled_job_stops_at_its_next_step_and_keeps_what_finished(shapes, tmp_path):
    ws = tmp_path / "ws"
    real_call = jobs.ProgressFile.__call__

    def cancel_after_features(self, progress):
        if progress.stage == "baselines":
            runs.write_atomic(self.folder / jobs.CANCEL_FILE, "by the test")
        real_call(self, progress)

    jobs.ProgressFile.__call__ = cancel_after_features
    try:
        run_dir = jobs.submit_training(ws, shapes.stored_in, TINY)
    finally:
        jobs.ProgressFile.__call__ = real_call
    assert runs.state(run_dir) == "cancelled" and "cancelled during baselines" in runs.status(run_dir)["reason"]
    assert (run_dir / "dataset" / "dataset.json").is_file() and not (run_dir / "report.json").exists()
    with pytest.raises(jobs.JobError, match="only a queued or running job can be cancelled"):
        jobs.cancel(run_dir)


def test_submitting_refuses_a_bad_run_id_and_a_complete_run_before_queueing(shapes, tmp_path):
    ws = tmp_path / "ws"
    with pytest.raises(runs.RunError, match="plain name"):
        jobs.submit_training(ws, shapes.stored_in, TINY, run_id="../x")
    done = jobs.submit_training(ws, shapes.stored_in, TINY)
    with pytest.raises(runs.RunError, match="is complete"):
        jobs.submit_training(ws, shapes.stored_in, TINY, run_id=done.name)
    assert runs.state(done) == "complete"


def test_the_config_of_a_run_reads_back_as_it_was_asked():
    import dataclasses

    config = dataclasses.replace(TINY, class_descriptions={"a": "an a"})
    assert TrainConfig.from_dict(dataclasses.asdict(config)) == config
    with pytest.raises(SettingError, match="could not be read back"):
        TrainConfig.from_dict({"search": {}})


# --- real workers ----------------------------------------------------------------------------------------


def test_a_queued_job_can_be_cancelled_before_it_starts(shapes, tmp_path, queue_at):
    queue_at("sqlite")
    run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, TINY)
    assert runs.state(run_dir) == "queued" and jobs.ahead_of(run_dir) == 0
    assert jobs.alive_workers() == []
    assert jobs.cancel(run_dir) == "cancelled"
    jobs._train(str(tmp_path / "ws"), str(shapes.stored_in), TINY, run_dir.name)  # a worker that got it anyway
    assert runs.state(run_dir) == "cancelled" and not (run_dir / "report.json").exists()


@pytest.mark.slow
def test_a_worker_runs_jobs_in_order_and_a_killed_one_leaves_an_interrupted_run(shapes, tmp_path, queue_at):
    env = queue_at("sqlite")
    ws = tmp_path / "ws"
    long = TrainConfig(strategies=("extract",), image_size=64, budget_seconds=300, baselines=(),
                       search=SearchConfig(max_trials=50, max_epochs=80))
    first = jobs.submit_training(ws, shapes.stored_in, long)
    second = jobs.submit_training(ws, shapes.stored_in, TINY)
    assert (jobs.ahead_of(first), jobs.ahead_of(second)) == (0, 1)
    worker = start_worker(env)
    try:
        assert wait_for(lambda: jobs.read_progress(first).get("stage") == "search", 120)
        assert runs.state(second) == "queued" and jobs.alive_workers()
        stop(worker, signal.SIGKILL)  # the consumer and its worker process, mid-search
        assert wait_for(lambda: runs.state(first) == "interrupted", runs.STALE_SECONDS + 10)
        assert runs.state(second) == "queued"
        worker = start_worker(env)
        assert wait_for(lambda: jobs.job_state(second) == "complete", 240)
        assert (second / "bundle.zip").is_file() and runs.state(first) == "interrupted"
    finally:
        stop(worker)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is absent (.ci/run installs it)")
def test_two_workers_on_redis_run_every_job_exactly_once(tmp_path, queue_at):
    port = _free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        env = queue_at(f"redis://127.0.0.1:{port}/0")
        assert wait_for(lambda: _answers(port), 20, 0.2)
        marks = tmp_path / "marks"
        ids = [jobs.submit_ping(marks) for _ in range(40)]
        workers = [start_worker(env), start_worker(env)]
        assert wait_for(lambda: len(list(marks.glob("*.json"))) >= len(ids), 120)
        time.sleep(2)  # a duplicate would show up now
        ran = sorted(p.stem for p in marks.glob("*.json"))
        assert ran == sorted(ids)
        assert wait_for(lambda: len(jobs.alive_workers()) == 2, 15)
    finally:
        for worker in workers:
            stop(worker)
        redis.terminate()
        redis.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_the_queue_setting_is_checked(monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_QUEUE", "postgres://x")
    jobs.queue.cache_clear()
    try:
        with pytest.raises(jobs.JobError, match="not a queue TransferLab knows"):
            jobs.queue()
    finally:
        monkeypatch.setenv("TRANSFERLAB_QUEUE", "immediate")
        jobs.queue.cache_clear()


def test_worker_command_refuses_the_immediate_queue(capsys):
    from tlcore.cli import main

    assert main(["worker"]) == 2
    assert "a worker has nothing to do" in capsys.readouterr().err


def test_jobs_command_lists_runs_with_their_states(shapes, tmp_path, monkeypatch, capsys):
    import json

    from tlcore import paths
    from tlcore.cli import main

    ws = paths.home() / "workspace"
    run_dir = jobs.submit_training(ws, shapes.stored_in, TINY)
    assert main(["jobs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"run": run_dir.name, "state": "complete"}.items() <= next(
        r for r in listed["runs"] if r["run"] == run_dir.name).items()
    assert listed["queue"]["waiting"] == 0
    # a worker's processes are what run jobs at once (one worker with two processes had read "1 worker(s) alive")
    monkeypatch.setattr(jobs, "alive_workers", lambda: [{"host": "here", "pid": 1, "workers": 2, "time": 0.0}])
    assert main(["jobs"]) == 0
    assert "1 worker(s) alive, running 2 job(s) at once at most" in capsys.readouterr().out


def test_an_interrupted_run_resumes_as_a_job_with_its_stored_settings(shapes, tmp_path):
    import json

    from tlcore.train import train

    def stop_at_search(progress):
        if progress.stage == "search":
            raise KeyboardInterrupt

    ws = tmp_path / "ws"
    with pytest.raises(KeyboardInterrupt):
        train(shapes, TINY, ws, progress=stop_at_search)
    (run_dir,) = (ws / "runs").iterdir()
    assert runs.state(run_dir) == "interrupted"
    asked = json.loads((run_dir / "request.json").read_text())["request"]["config"]
    resumed = jobs.submit_training(ws, shapes.stored_in, TrainConfig.from_dict(asked), run_id=run_dir.name)
    assert resumed == run_dir and runs.state(run_dir) == "complete" and (run_dir / "bundle.zip").is_file()


def test_cancel_stops_fine_tuning_within_a_batch(shapes, tmp_path):
    from tlcore.train import FinetuneConfig

    config = TrainConfig(strategies=("finetune",), image_size=64, budget_seconds=300, stop_early=False,
                         finetune=FinetuneConfig(epochs=5, batch_size=8, augment=False))
    batches = []
    real_call = jobs.ProgressFile.__call__

    def cancel_at_the_third_batch(self, progress):
        if progress.stage == "finetune" and "batch" in progress.message:
            batches.append(progress.message)
            if len(batches) == 3:
                runs.write_atomic(self.folder / jobs.CANCEL_FILE, "by the test")
        real_call(self, progress)

    jobs.ProgressFile.__call__ = cancel_at_the_third_batch
    try:
        run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, config)
    finally:
        jobs.ProgressFile.__call__ = real_call
    assert runs.state(run_dir) == "cancelled" and "cancelled during finetune" in runs.status(run_dir)["reason"]
    assert len(batches) == 3 and batches[-1].startswith("epoch 1 of at most 5, batch 3")  # no batch after the request


def test_cancel_while_fine_tuning_reads_its_images_stops_before_its_first_batch(shapes, tmp_path, monkeypatch):
    """A cancel pressed as the images are read acted only after the head, a fresh base, compiling and the first
    batch's tracing (13 s in a browser): the steps between report now, and the run stops at the next one."""
    from tlcore.train import FinetuneConfig

    config = TrainConfig(strategies=("finetune",), image_size=64, budget_seconds=300, stop_early=False,
                         baselines=(), finetune=FinetuneConfig(epochs=5, batch_size=8, augment=False))
    after, read = [], []
    real_call = jobs.ProgressFile.__call__

    def cancel_once_read(self, progress):
        if (self.folder / jobs.CANCEL_FILE).exists():
            after.append(progress)
        real_call(self, progress)  # raises once cancelled
        if progress.stage == "load images" and progress.done == progress.total:
            read.append(progress)
            if len(read) == 3:  # the test split, the last: fine-tuning's preparation comes next
                runs.write_atomic(self.folder / jobs.CANCEL_FILE, "by the test")

    monkeypatch.setattr(jobs.ProgressFile, "__call__", cancel_once_read)
    run_dir = jobs.submit_training(tmp_path / "ws", shapes.stored_in, config)
    assert runs.state(run_dir) == "cancelled" and "cancelled during finetune" in runs.status(run_dir)["reason"]
    assert after[0].message.startswith("preparing")  # the next step's report, not the first batch's


def test_an_idle_worker_asks_the_queue_for_work_at_least_every_poll_seconds(monkeypatch, queue_at):
    """huey's own backoff reaches 10 s between asks on an empty queue: a job pressed after a quiet minute waited
    that long for an idle worker (seen as 4-8 s of "waiting in the queue" in a browser)."""
    import huey.api

    queue_at("sqlite")
    asked = {}

    class Built(Exception):
        pass

    def capture(self, **options):
        asked.update(options, startup=dict(self._startup))
        raise Built

    monkeypatch.setattr(huey.api.Huey, "create_consumer", capture)
    with pytest.raises(Built):
        jobs.run_worker(2)
    assert asked["workers"] == 2 and asked["max_delay"] == jobs.POLL_SECONDS <= 1.0
    assert asked["startup"]["warm_up"] is jobs.warm_up  # each process imports TensorFlow before its first job


def test_warming_up_imports_what_a_job_needs_in_a_fresh_process():
    """In a process of its own (this one has TensorFlow already): the first job's 3.9 s of imports move to the
    worker's start, and its BLAS libraries run one thread each (`tlcore.threads`)."""
    code = ("import gc, sys; from tlcore import jobs; assert 'keras' not in sys.modules; jobs.warm_up(); "
            "from threadpoolctl import threadpool_info; "
            "print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'})); "
            "print(all(m in sys.modules for m in ('keras', 'tensorflow', 'keras_tuner', 'tlcore.deliver'))); "
            "print(gc.get_freeze_count() > 100_000)")  # the imports frozen out of full collections (tlcore.heap)
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           cwd=Path(__file__).resolve().parents[1], env={k: v for k, v in os.environ.items()
                                                                          if k != "TRANSFERLAB_BLAS_THREADS"})
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip().splitlines()[-3:] == ["[1]", "True", "True"]


def test_a_worker_settles_its_heap_after_every_job(monkeypatch, queue_at):
    """huey runs the hook in each worker process after each task: the job's leftovers are collected and the bases it
    loaded frozen, outside the user's clock (`tlcore.heap`)."""
    import huey.api

    class Started(Exception):
        pass

    hooks = {}

    def consumer(self, **options):
        hooks.update(self._post_execute)
        raise Started

    queue_at("sqlite")
    monkeypatch.setattr(huey.api.Huey, "create_consumer", consumer)
    with pytest.raises(Started):
        jobs.run_worker(1)
    assert hooks["settle_heap"] is jobs.after_job


def test_workers_default_to_what_the_machine_allows_and_the_setting_wins(monkeypatch):
    monkeypatch.delenv(jobs.WORKERS_ENV, raising=False)
    found = jobs.default_workers()
    assert 1 <= found <= (os.cpu_count() or 1)
    monkeypatch.setenv(jobs.WORKERS_ENV, "3")
    assert jobs.default_workers() == 3
    monkeypatch.setenv(jobs.WORKERS_ENV, "many")
    with pytest.raises(SettingError, match="TRANSFERLAB_WORKERS='many' is not a whole number of workers of at least 1"):
        jobs.default_workers()


def test_a_queued_job_shows_its_place_and_expected_wait(shapes, tmp_path, queue_at):
    import dataclasses

    queue_at("sqlite")
    ws = tmp_path / "ws"
    first = jobs.submit_training(ws, shapes.stored_in, dataclasses.replace(TINY, budget_seconds=300))
    second = jobs.submit_training(ws, shapes.stored_in, TINY)
    assert (jobs.ahead_of(first), jobs.ahead_of(second)) == (0, 1)
    assert jobs.expected_wait(first) == 0.0 and jobs.expected_wait(second) == pytest.approx(300.0)
    marker = jobs.running_dir() / "elsewhere.json"  # a job another worker is running, with 100 s of budget left
    runs.write_json(marker, {"folder": "x", "budget": 160.0, "started": time.time() - 60.0})
    assert jobs.expected_wait(first) == pytest.approx(100.0, abs=2.0)
    assert jobs.expected_wait(second) == pytest.approx(400.0, abs=2.0)
    for folder in (first, second):
        jobs.cancel(folder)
    assert jobs.expected_wait(second) is None  # no longer waiting


def test_a_queued_job_waits_for_no_one_when_a_worker_process_is_free(shapes, tmp_path, queue_at):
    """Two worker processes, one busy with 100 s of budget left: the first job in the queue starts at once (it was
    told "about 2 min" by a wait that shared the running job's budget among all processes), the second when the
    busy process frees (before the first job's 300 s on the other)."""
    import dataclasses

    queue_at("sqlite")
    runs.write_json(jobs.workers_dir() / "here-1.json", {"host": "here", "pid": 1, "workers": 2, "time": time.time()})
    runs.write_json(jobs.running_dir() / "elsewhere.json", {"folder": "x", "budget": 160.0,
                                                             "started": time.time() - 60.0})
    ws = tmp_path / "ws"
    first = jobs.submit_training(ws, shapes.stored_in, dataclasses.replace(TINY, budget_seconds=300))
    second = jobs.submit_training(ws, shapes.stored_in, TINY)
    assert jobs.expected_wait(first) == 0.0
    assert jobs.expected_wait(second) == pytest.approx(100.0, abs=2.0)
    for folder in (first, second):
        jobs.cancel(folder)


def test_a_queued_analysis_counts_what_analyses_took_on_this_machine(shapes, tmp_path, queue_at):
    from tlcore import costs

    queue_at("sqlite")
    ws = tmp_path / "ws"
    analysis = jobs.submit_analysis(ws, shapes.stored_in, None)
    training = jobs.submit_training(ws, shapes.stored_in, TINY)
    assert jobs.expected_wait(training) == pytest.approx(jobs.ANALYSIS_GUESS_SECONDS)  # none timed here yet
    for seconds in (20.0, 30.0, 25.0):  # what `_analyse` records after each analysis
        costs.record("analysis", None, "seconds", seconds)
    assert jobs.expected_wait(training) == pytest.approx(25.0)
    for folder in (analysis, training):
        jobs.cancel(folder)


@pytest.mark.slow
def test_two_workers_run_two_jobs_at_once(shapes, tmp_path, queue_at):
    import dataclasses

    env = queue_at("sqlite")
    ws = tmp_path / "ws"
    long = TrainConfig(strategies=("extract",), image_size=64, budget_seconds=300, baselines=(),
                       search=SearchConfig(max_trials=50, max_epochs=80), stop_early=False)
    both = [jobs.submit_training(ws, shapes.stored_in, dataclasses.replace(long, seed=seed)) for seed in (0, 1)]
    worker = start_worker(env, "--workers", "2")
    try:
        assert wait_for(lambda: all(runs.state(f) == "running" for f in both), 180)
    finally:
        for folder in both:
            if runs.state(folder) in jobs.UNFINISHED:
                jobs.cancel(folder)
        stop(worker)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_serve_stopped_by_sigterm_leaves_no_process_behind(tmp_path, queue_at):
    env = queue_at("sqlite")
    port = _free_port()
    serve = subprocess.Popen([sys.executable, "-m", "tlcore", "serve", "--port", str(port), "--workers", "2"],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(jobs.alive_workers()) == 1 and len(descendants(serve.pid)) >= 4, 120)
        started = descendants(serve.pid)  # the app, the worker's consumer and its two worker processes
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
        assert wait_for(lambda: not any(_alive(pid) for pid in started), 30), "a process serve started is left"
    finally:
        if serve.poll() is None:
            serve.kill()


def test_quick_presses_of_train_queue_one_run(shapes, tmp_path, queue_at):
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    queue_at("sqlite")
    ws = tmp_path / "ws"
    with ThreadPoolExecutor(4) as pool:  # twelve presses, some at the same moment
        folders = list(pool.map(lambda _: jobs.submit_training(ws, shapes.stored_in, TINY), range(12)))
    assert len(set(folders)) == 1 and len(jobs.queued_ids()) == 1
    other = jobs.submit_training(ws, shapes.stored_in, dataclasses.replace(TINY, seed=1))  # another request
    assert other != folders[0] and len(jobs.queued_ids()) == 2
