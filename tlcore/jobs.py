"""Background jobs on huey: analysis, and training with its bundle, run by worker processes.

The app submits a job and follows what the job writes into its folder; it never does the work
in a page's own script run, so leaving the page, reloading or restarting the app stops nothing.
A job's folder (a run's folder, or `analyses/<id>` for an analysis) holds `status.json`
(queued, running, complete, failed, cancelled, interrupted: see `tlcore.runs`), `progress.json`
(what `follow` reads: the bar, elapsed and remaining time, the models so far), a heartbeat, and
its result.

The queue is huey's: its SQLite storage in `$TRANSFERLAB_HOME/queue.db` by default (nothing to
start), its Redis storage with `TRANSFERLAB_QUEUE=redis://HOST:PORT/0` for workers on several
machines that share `$TRANSFERLAB_HOME`, and `TRANSFERLAB_QUEUE=immediate` to run each job at
once in the submitting process (tests, or a single-user script).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import secrets
import shutil
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import heap, paths, quota, runs
from .environment import number
from .errors import TLCoreError
from .progress import Progress
from .strategy import DEFAULT_AIM

QUEUE_ENV = "TRANSFERLAB_QUEUE"
PROGRESS_FILE = "progress.json"
JOB_FILE = "job.json"
CANCEL_FILE = "cancel"
RESULT_FILE = "analysis.json"
WORKER_STALE_SECONDS = 20.0
UNFINISHED = ("queued", "running")


class JobCancelled(TLCoreError):
    """The user cancelled the job; what had finished is kept."""

    run_state = "cancelled"


class JobGone(TLCoreError):
    """The job's folder was deleted while it ran: the job stops, and nothing is written for it."""

    run_state = "cancelled"


class JobError(TLCoreError):
    """A job that cannot be submitted, followed or cancelled as asked."""


# --- the queue ------------------------------------------------------------------------------------------


@cache
def queue():
    """The huey instance for this process, chosen by `TRANSFERLAB_QUEUE`, with TransferLab's tasks on it."""
    from huey import MemoryHuey, RedisHuey, SqliteHuey

    where = os.environ.get(QUEUE_ENV, "").strip()
    if where == "immediate":
        huey = MemoryHuey("transferlab", immediate=True, results=False)
    elif where.startswith(("redis://", "rediss://", "unix://")):
        huey = RedisHuey("transferlab", url=where, results=False)
    elif where in ("", "sqlite"):
        paths.home().mkdir(parents=True, exist_ok=True)
        # no table is made here: a queue locked by another process is waited for where it is used (`_ready`)
        huey = SqliteHuey("transferlab", filename=str(paths.home() / "queue.db"), results=False,
                          create_tables=False, timeout=QUEUE_BUSY_SECONDS)
    else:
        raise JobError(f"{QUEUE_ENV}={where!r} is not a queue TransferLab knows; use redis://HOST:PORT/0, "
                       "'immediate', or leave it unset for the SQLite queue")
    huey.transferlab_tasks = {name: huey.task(context=True, name=name)(function) for name, function in TASKS.items()}
    return huey


QUEUE_BUSY_SECONDS = 5.0  # SQLite's own wait for a lock, per statement; `_ready` retries around it
SUBMIT_WAIT_SECONDS = 10.0  # a submission that finds the queue locked retries this long, then refuses in words
WORKER_WAIT_SECONDS = 900.0  # a worker that finds the queue locked waits this long (saying so), then stops


def _queue_file() -> Path:
    return paths.home() / "queue.db"


def _queue_error(error: Exception, waited: float) -> JobError:
    """A one-line `JobError` for an SQLite queue that is locked or damaged: what was found and what to do."""
    if _locked(error):
        return JobError(f"the job queue {_queue_file()} stayed locked by another process for {waited:.0f} s; "
                        "try again in a moment, and if it stays locked stop the process holding it (a stuck worker or "
                        "a program with the file open) and restart the workers")
    found = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
    return JobError(f"the job queue {_queue_file()} is damaged ({found}); stop the workers, move the file aside "
                    "(e.g. to queue.db.damaged) and start them again: a new "
                    "queue is made, and the jobs that were waiting must be submitted again")


def _locked(error: Exception) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _ready(huey, wait_seconds: float, say=None):
    """`huey` once the SQLite queue's tables exist, retrying while another process holds its lock
    (at most `wait_seconds`, saying so through `say`); a damaged file or a lock that outlasts the wait is a
    one-line `JobError`. Other queues (Redis, immediate) are returned as they are."""
    import sqlite3

    from huey import SqliteHuey

    if not isinstance(huey, SqliteHuey) or getattr(huey, "transferlab_ready", False):
        return huey
    started, delay = time.monotonic(), 0.2
    while True:
        try:
            huey.storage.initialize_schema()
        except sqlite3.DatabaseError as error:  # OperationalError (locked) is one of these
            huey.storage.close()
            waited = time.monotonic() - started
            if not _locked(error) or waited + delay > wait_seconds:
                raise _queue_error(error, waited) from None
            if say is not None:
                say(f"the job queue {_queue_file()} is locked by another process; retrying in {delay:.0f} s "
                    f"(waited {waited:.0f} s of {wait_seconds:.0f})")
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
        else:
            huey.transferlab_ready = True
            return huey


def _enqueue(name: str, *args) -> str:
    """Put a task on the queue, retrying a locked SQLite queue for `SUBMIT_WAIT_SECONDS`; a `JobError` in one
    line when it cannot be queued (locked too long, damaged, unreachable)."""
    import sqlite3

    huey = _ready(queue(), SUBMIT_WAIT_SECONDS)
    task = huey.transferlab_tasks[name].s(*args)
    started, delay = time.monotonic(), 0.2
    while True:
        try:
            huey.enqueue(task)
            return task.id
        except sqlite3.DatabaseError as error:
            waited = time.monotonic() - started
            if not _locked(error) or waited + delay > SUBMIT_WAIT_SECONDS:
                raise _queue_error(error, waited) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        except Exception as error:  # a Redis that went away (in immediate mode, the job itself: left as it is)
            if huey.immediate:
                raise
            raise JobError(f"the job could not be queued ({type(error).__name__}: {str(error)[:120]}); check "
                           f"{QUEUE_ENV} and that the queue's server runs, then submit again") from None


@contextlib.contextmanager
def _queueing(folder: Path, made: bool):
    """Undo a submission whose job could not be queued: a folder this submission made is removed, an existing one
    (a resumed run) is marked failed with the reason, so no run waits "queued" for a job no worker will see."""
    try:
        yield
    except JobError as error:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                runs.set_status(Path(folder), "failed", error=f"it could not be queued: {error}")
        raise


def waiting() -> list:
    """The tasks waiting in the queue, first to run first (cancelled ones, which a worker skips, left out)."""
    huey = _ready(queue(), SUBMIT_WAIT_SECONDS)
    try:
        return [task for task in huey.pending() if not huey.is_revoked(task)]
    except Exception as error:  # a Redis that went away, a locked database
        raise JobError(f"the job queue cannot be read ({type(error).__name__}: {error}); check {QUEUE_ENV}") from None


def queued_ids() -> list[str]:
    """Ids of the jobs waiting in the queue, first to run first."""
    return [task.id for task in waiting()]


def ahead_of(folder: Path) -> int | None:
    """How many jobs wait before the queued job of `folder` (None when it is not waiting)."""
    task_id = job_info(folder).get("task_id")
    ids = queued_ids()
    return ids.index(task_id) if task_id in ids else None


# an analysis has no budget: what one usually takes, until this machine has timed one (the samples in a browser on an
# idle 2-core machine, 2026-12-05: Shapes 33-41 s, Support 20-24 s; the first analysis had read "about 0:59 left").
# Since an analysis at the ceiling stopped timing what no run uses (4f84cbe), walk 8 took 19 s on a new app's Shapes,
# which had read "about 0:39 left", and 27 s on digits after it
ANALYSIS_GUESS_SECONDS = 25.0


def analysis_seconds() -> float:
    """What an analysis takes on this machine (the median of the last ones, `tlcore.costs`), or the first guess:
    a queued analysis's share of a waiting job's expected wait."""
    from . import costs

    return costs.measured("analysis", None, "seconds") or ANALYSIS_GUESS_SECONDS


def expected_wait(folder: Path) -> float | None:
    """Seconds the queued job of `folder` is expected to wait (None when it is not waiting): each live worker
    process is free once its running job has used its budget (a free one at once), and the jobs ahead in the queue
    take the first free ones in turn, for their budgets; the job starts on the first process free after them.
    Budgets are what a job may take, so this is the longest wait, not a guess at a shorter one."""
    pending = waiting()
    ids = [task.id for task in pending]
    task_id = job_info(folder).get("task_id")
    if task_id not in ids:
        return None
    now = time.time()
    busy = [max(float(info.get("budget") or analysis_seconds()) - (now - float(info.get("started", now))), 0.0)
            for info in filter(None, map(runs.read_json, running_dir().glob("*.json")))]
    processes = max(sum(int(w.get("workers", 1)) for w in alive_workers()), len(busy), 1)
    free_at = busy + [0.0] * (processes - len(busy))
    heapq.heapify(free_at)
    for task in pending[: ids.index(task_id)]:
        heapq.heappush(free_at, heapq.heappop(free_at) + _task_budget(task))
    return free_at[0]


def _task_budget(task) -> float:
    """A queued task's time budget: a training run's config says it; an analysis is guessed."""
    config = next((a for a in getattr(task, "args", ()) if hasattr(a, "budget_seconds")), None)
    return float(config.budget_seconds) if config is not None else analysis_seconds()


def running_dir() -> Path:
    """Where each running job keeps a marker (its budget and start), for the waiting jobs' expected wait."""
    return paths.home() / "running"


# --- submitting ----------------------------------------------------------------------------------------------


def submit_analysis(workspace: Path, dataset_folder: Path, backbone: str | None,
                    descriptions: dict[str, str] | None = None, pilot: bool = False, aim: str = DEFAULT_AIM) -> Path:
    """Queue an analysis of the stored dataset (with `pilot`, a close call measured by a short run of both ways;
    `aim`: "best" accuracy or "fast", good and fast); returns the job's folder (`analyses/<id>`)."""
    _ready(queue(), SUBMIT_WAIT_SECONDS)  # a locked or damaged queue is refused before any folder is made
    with _submitting(Path(workspace)):
        quota.check_can_submit(Path(workspace))  # a fair share of the queue and the disk, before anything waits
        folder = Path(workspace) / "analyses" / runs.new_run_id()
        _write_job(folder, "analysis", dataset_folder, backbone=backbone, pilot=pilot, aim=aim)
    with _queueing(folder, made=True):
        task_id = _enqueue("analyse", str(workspace), str(dataset_folder), str(folder), backbone,
                           dict(descriptions or {}), pilot, aim)
    _record_task(folder, task_id)
    return folder


def submit_training(workspace: Path, dataset_folder: Path, config, run_id: str | None = None) -> Path:
    """Queue a training run (and its bundle) of the stored dataset; returns the run's folder.

    The run is checked and named now (`tlcore.runs.open_run`): a bad run id or a run that cannot
    be resumed is refused here, in words, before anything waits in the queue.
    """
    from .data.store import load_stored
    from .train import run_request

    dataset = load_stored(dataset_folder)
    request = run_request(dataset, config)
    _ready(queue(), SUBMIT_WAIT_SECONDS)  # a locked or damaged queue is refused before any folder is made
    with _submitting(Path(workspace)):  # one press, one run: quick presses find the run the first one queued
        if run_id is None and (same := _just_submitted(Path(workspace), request)) is not None:
            return same
        quota.check_can_submit(Path(workspace))  # a fair share of the queue and the disk, before anything waits
        made = run_id is None or not (Path(workspace) / "runs" / runs.check_run_id(run_id)).exists()
        run_dir = runs.open_run(Path(workspace), run_id, request)
        (run_dir / CANCEL_FILE).unlink(missing_ok=True)
        (run_dir / PROGRESS_FILE).unlink(missing_ok=True)
        _write_job(run_dir, "training", dataset_folder, budget_seconds=config.budget_seconds)
    with _queueing(run_dir, made):
        task_id = _enqueue("train", str(workspace), str(dataset_folder), config, run_dir.name)
    _record_task(run_dir, task_id)
    return run_dir


BENEFIT_DIR = "benefit"  # a run's "what transfer saved" job keeps its status and progress here
TFLITE_DIR = "tflite"  # a run's "add TFLite copies to its bundle" job keeps its status and progress here


def submit_benefit(workspace: Path, run_dir: Path, budget_seconds: float) -> Path:
    """Queue "what transfer saved" for a finished run (`tlcore.benefit.job.run_benefit`); returns the job's folder
    (`<run>/benefit`), which `job_state` and `read_progress` read like any job's."""
    return _submit_for_run(workspace, run_dir, BENEFIT_DIR, "what transfer saved is measured on", float(budget_seconds),
                           budget_seconds=budget_seconds)


def submit_tflite(workspace: Path, run_dir: Path) -> Path:
    """Queue TFLite copies of a finished run's bundle model (`tlcore.export.add_tflite`); returns the job's folder
    (`<run>/tflite`)."""
    return _submit_for_run(workspace, run_dir, TFLITE_DIR, "TFLite copies are made of")


def _submit_for_run(workspace: Path, run_dir: Path, kind: str, needs: str, *args, **details) -> Path:
    """Queue the job `kind` for a complete run, in its folder `<run>/<kind>` (a name, never a client's path)."""
    run_dir = Path(workspace) / "runs" / runs.check_run_id(Path(run_dir).name)
    if runs.state(run_dir) != "complete":
        raise JobError(f"run {run_dir.name} is {runs.state(run_dir)}; {needs} a complete run: wait for it to finish "
                       "(or train one)")
    _ready(queue(), SUBMIT_WAIT_SECONDS)  # a locked or damaged queue is refused before any folder is made
    with _submitting(Path(workspace)):
        quota.check_can_submit(Path(workspace))
        folder = run_dir / kind
        made = not folder.exists()
        (folder / CANCEL_FILE).unlink(missing_ok=True)
        (folder / PROGRESS_FILE).unlink(missing_ok=True)
        _write_job(folder, kind, run_dir, **details)
    with _queueing(folder, made):
        task_id = _enqueue(kind, str(workspace), run_dir.name, *args)
    _record_task(folder, task_id)
    return folder


SAME_PRESS_SECONDS = 10.0  # a second request for the same run within this time is the same press, not a new run


@contextlib.contextmanager
def _submitting(workspace: Path):
    """One submission at a time per workspace (a lock file, held while the run is named and queued)."""
    import fcntl

    workspace.mkdir(parents=True, exist_ok=True)
    with open(workspace / ".submitting.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _just_submitted(workspace: Path, request: dict) -> Path | None:
    """An unfinished run of this workspace asked the same `request` moments ago, if there is one."""
    asked = runs.request_fingerprint(request)
    for row in runs.all_runs(workspace)[:5]:
        info = job_info(row["run_dir"])
        if row["state"] in UNFINISHED and time.time() - float(info.get("submitted", 0)) < SAME_PRESS_SECONDS \
                and runs.read_json(row["run_dir"] / runs.REQUEST_FILE).get("fingerprint") == asked:
            return row["run_dir"]
    return None


def _write_job(folder: Path, kind: str, dataset_folder: Path, **details) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    runs.write_json(folder / JOB_FILE, {"kind": kind, "dataset": str(dataset_folder), "submitted": time.time(),
                                        **details})
    runs.set_status(folder, "queued")


def _record_task(folder: Path, task_id: str) -> None:
    info = job_info(folder)
    if info:  # a folder deleted meanwhile (an immediate queue ran its job already) is not made again
        with contextlib.suppress(FileNotFoundError):
            runs.write_json(folder / JOB_FILE, info | {"task_id": task_id}, make_folder=False)


def job_info(folder: Path) -> dict:
    return runs.read_json(Path(folder) / JOB_FILE)


def cancel(folder: Path) -> str:
    """Cancel a queued or running job: a queued one never starts, a running one stops at its next step."""
    found = runs.state(folder)
    if found not in UNFINISHED:
        raise JobError(f"{Path(folder).name} is {found}; only a queued or running job can be cancelled")
    runs.write_atomic(Path(folder) / CANCEL_FILE, "cancelled by the user\n")
    if found == "queued":
        task_id = job_info(folder).get("task_id")
        if task_id:
            queue().revoke_by_id(task_id, revoke_once=True)
        runs.set_status(folder, "cancelled", reason="cancelled before it started")
    return runs.state(folder)


# --- what the jobs write -------------------------------------------------------------------------------


# a live chart's series in words: what each number is, and on which data it was measured
POINT_WORDS = {("search", "val_accuracy"): "trial's accuracy (inner split)",
               ("search", "best_val_accuracy"): "best trial so far (inner split)",
               ("finetune", "accuracy"): "accuracy (training split)", ("finetune", "loss"): "loss (training split)",
               ("finetune", "val_accuracy"): "accuracy (validation split)",
               ("finetune", "val_loss"): "loss (validation split)"}


EXPECTED_SHARE = 0.9  # of a run's bar, reached at the time the analysis expected; the rest runs to the budget
# A run is late only past 1.5 times its expected time and 10 s more than it: the precision its expectation is
# checked to (`benchmarks/bench_advice_time.py`). Before that it is "a little longer than expected"; a 3 s run had
# said "past the expected time, at most 4:55 left (the time budget)" a second before it ended.
LATE_FACTOR, LATE_SECONDS = 1.5, 10.0


@dataclass
class ProgressFile:
    """A progress callback that writes `progress.json` (throttled) and stops the job if it was cancelled.

    With a time budget (training), the bar keeps pace with the time the analysis expected the run to take
    (`expected_seconds`, set once the job knows it) up to `EXPECTED_SHARE` of the bar, and the time left is the
    expected time left ("expected"); past it, or with no expectation, the bar moves on with the budget, which a run
    keeps to, and the time left is the budget left ("budget": at most that; "past expected" once the run is late,
    `LATE_FACTOR`, and "a little longer" before that). A 12 s run with a
    300 s budget had shown "about 4:49 left" at 3% until it ended. An analysis has no budget: its bar keeps pace
    with what analyses take on this machine, then creeps on with no time left said; with neither, the share of the
    current stage.
    Between the steps a long call makes no report of its own (a TFLite conversion), the last state is written again
    every `tick` seconds with the time moved on, so the bar never stands still until `finish`.
    """

    folder: Path
    budget_seconds: float | None = None
    expected_seconds: float | None = None
    every: float = 0.5
    tick: float = 2.0
    started: float = field(default_factory=time.time)
    board: list = field(default_factory=list)
    points: list = field(default_factory=list)
    _last: float = 0.0
    _stage: str = ""
    _latest: tuple | None = None
    _done: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ticker: threading.Thread | None = None
    gone: Callable[[], bool] | None = None  # set by the job: its folder was deleted (the job then stops)

    def __call__(self, progress: Progress) -> None:
        if self.gone is not None and self.gone():
            raise JobGone(f"{self.folder.name} was deleted during {progress.stage}; its job stopped")
        if (self.folder / CANCEL_FILE).exists():
            raise JobCancelled(f"{self.folder.name} was cancelled during {progress.stage}; what had finished is kept")
        if progress.stage in ("baselines", "search") and progress.metrics:
            from .words import MODEL_WORDS, percent

            name = progress.message.split(":")[0]
            model = f"Small neural network, {name}" if progress.stage == "search" else MODEL_WORDS.get(name, name)
            score = progress.metrics.get("cv_accuracy", progress.metrics.get("val_accuracy"))
            self.board.append({"model": model, "accuracy on the training data (cross-validated or inner split)":
                               percent(score)})
        if progress.metrics and progress.stage in ("finetune", "search"):
            self.points += [{"step": f"{progress.stage} {progress.done}",
                             "metric": POINT_WORDS.get((progress.stage, k), k), "value": v}
                            for k, v in progress.metrics.items()]
        now = time.time()
        if now - self._last < self.every and progress.stage == self._stage and not progress.metrics \
                and progress.done < progress.total:
            return
        self._last, self._stage = now, progress.stage
        self.write(progress.stage, progress.fraction, progress.message, f"{progress.done}/{progress.total}")

    def write(self, stage: str, stage_fraction: float, message: str = "", count: str = "", finished: bool = False,
              error: str = "") -> None:
        with self._lock:
            if self._done.is_set():
                return  # a late tick after finish
            self._latest = (stage, stage_fraction, message, count)
            if finished:
                self._done.set()
            self._write(stage, stage_fraction, message, count, finished, error)
        if self._ticker is None and not finished:
            self._ticker = threading.Thread(target=self._tick, daemon=True, name="transferlab-progress")
            self._ticker.start()

    def _tick(self) -> None:
        while not self._done.wait(self.tick):
            with self._lock, contextlib.suppress(OSError):  # a full disk or a deleted folder: the job says so
                if not self._done.is_set() and self._latest is not None:
                    self._write(*self._latest)

    def stop(self) -> None:
        """End the ticker without a last write (a job that ended without `finish`, or whose folder is gone)."""
        self._done.set()

    def _write(self, stage: str, stage_fraction: float, message: str = "", count: str = "", finished: bool = False,
               error: str = "") -> None:
        elapsed = time.time() - self.started
        fraction, remaining, remaining_is = self._pace(elapsed, stage_fraction, finished)
        runs.write_json(self.folder / PROGRESS_FILE, {
            "stage": stage, "count": count, "message": message, "fraction": fraction, "elapsed": elapsed,
            "remaining": remaining, "remaining_is": remaining_is, "finished": finished, "error": error,
            "board": self.board,
            "points": self.points[-400:], "updated": time.time(),
        }, make_folder=False)  # fmt: skip

    def _pace(self, elapsed: float, stage_fraction: float, finished: bool) -> tuple[float, float | None, str]:
        """(the bar's fraction, the seconds left, what they are: "expected" or "budget"), as the class says."""
        budget = self.budget_seconds
        expected = self.expected_seconds if not budget or (self.expected_seconds or 0) < budget else None
        if finished:
            return 1.0, 0.0, "expected"
        if expected and elapsed < expected:
            return EXPECTED_SHARE * elapsed / expected, expected - elapsed, "expected"
        if not budget and expected:  # an analysis past what analyses take here: the bar creeps, no time left
            return EXPECTED_SHARE + (0.99 - EXPECTED_SHARE) * (1 - expected / elapsed), None, "expected"
        if not budget:
            fraction = min(max(stage_fraction, 0.0), 0.99)
            return fraction, (elapsed * (1 - fraction) / fraction if fraction > 0.02 else None), "expected"
        after, share = (expected, EXPECTED_SHARE) if expected else (0.0, 0.0)
        fraction = share + (0.99 - share) * min(max((elapsed - after) / (budget - after), 0.0), 1.0)
        if not expected:
            return fraction, max(budget - elapsed, 0.0), "budget"
        late = elapsed > max(LATE_FACTOR * expected, expected + LATE_SECONDS)
        return fraction, max(budget - elapsed, 0.0), "past expected" if late else "a little longer"

    def finish(self, message: str = "done", error: str = "") -> None:
        self.write("done", 1.0, message, finished=True, error=error)


def job_state(folder: Path) -> str:
    """The state of the job of `folder`: the run's own state, except that a complete run whose job is
    still building its bundle (its heartbeat fresh) reads "running" until the job has finished."""
    found = runs.state(folder)
    if found == "complete" and not read_progress(folder).get("finished", True):
        beat = Path(folder) / runs.HEARTBEAT_FILE
        if beat.is_file() and time.time() - beat.stat().st_mtime <= runs.STALE_SECONDS:
            return "running"
    return found


def read_progress(folder: Path) -> dict:
    return runs.read_json(Path(folder) / PROGRESS_FILE)


def read_analysis(folder: Path) -> dict | None:
    """The analysis a finished analysis job wrote (`Analysis.to_dict()`), or None."""
    return runs.read_json(Path(folder) / RESULT_FILE) or None


# --- the tasks (run in a worker) -----------------------------------------------------------------------


def _job(folder: Path, tracker: ProgressFile, work, *, sets_running: bool = True) -> None:
    """Run `work()` as the job of `folder`: statuses, heartbeat, cancellation, one-line errors.

    `sets_running=False` for work that marks its folder running itself (`train` checks the run first).
    A folder deleted before the job starts, or while it runs, ends the job quietly (`_gone`): nothing is written
    for it, and the worker takes its next job.
    """
    folder = Path(folder)
    try:
        identity = _identity(folder)
    except OSError:
        return _gone(folder, "before it started")
    if runs.status(folder).get("state") == "cancelled" or (folder / CANCEL_FILE).exists():
        return
    marker = running_dir() / f"{socket.gethostname()}-{os.getpid()}-{folder.name}.json"
    tracker.gone = lambda: not _same(folder, identity)
    try:
        tracker.write("starting", 0.0, "a worker took the job")
        if sets_running:
            runs.set_status(folder, "running", worker=f"{socket.gethostname()}:{os.getpid()}")
        runs.write_json(marker, {"folder": folder.name,
                                 "budget": tracker.budget_seconds or tracker.expected_seconds or analysis_seconds(),
                                 "started": time.time()})
        _work(folder, tracker, work, identity)
    except OSError:
        if not _same(folder, identity):
            return _gone(folder, "while it ran", identity)
        raise
    finally:
        tracker.stop()
        marker.unlink(missing_ok=True)


def _identity(folder: Path) -> tuple:
    """What tells the job's folder from one made again under its name: the folder's inode alone does not (a
    file system may give a new folder the inode of the one just deleted), its job file (written once, when the
    job was submitted) does."""
    found = folder.stat()
    return found.st_dev, found.st_ino, job_info(folder).get("submitted")


def _same(folder: Path, identity: tuple) -> bool:
    """`folder` is still the folder the job started with (not deleted, nor made again by a late write)."""
    try:
        return _identity(folder) == identity
    except OSError:
        return False


def _gone(folder: Path, when: str, identity: tuple | None = None) -> None:
    """A job whose folder was deleted: say so in the worker's log and stop. A folder some late write of the job
    made again (not the one it started with) holds only pieces of the deleted run: it is removed."""
    if identity is not None and folder.is_dir() and not _same(folder, identity):
        shutil.rmtree(folder, ignore_errors=True)
    _say(f"the job of {folder} stopped: its folder was deleted {when}")


def _work(folder: Path, tracker: ProgressFile, work, identity: tuple) -> None:
    with runs.Heartbeat(folder):
        try:
            work()
        except Exception as error:
            if not _same(folder, identity):
                return _gone(folder, "while it ran", identity)
            _failed(folder, tracker, error)
            return
    if not _same(folder, identity):
        return _gone(folder, "while it ran", identity)
    if runs.status(folder).get("state") != "complete":
        runs.set_status(folder, "complete")
    tracker.finish()


def _failed(folder: Path, tracker: ProgressFile, error: Exception) -> None:
    """Record how the job of `folder` ended early, in one line: cancelled, refused in words, a full disk (its
    unfinished files removed to give the space back), or a bug (the traceback in `error.log`)."""
    if isinstance(error, JobCancelled):
        runs.set_status(folder, "cancelled", reason=str(error))
        tracker.finish("cancelled", str(error))
        return
    if isinstance(error, OSError) and error.errno in runs.DISK_FULL:
        runs.remove_partials(folder)
        message = str(error) if isinstance(error, TLCoreError) else runs.disk_full_message(error.filename)
        runs.set_status(folder, "failed", error=message)
        with contextlib.suppress(OSError):
            tracker.finish("failed", message)
        return
    if isinstance(error, TLCoreError):
        runs.set_status(folder, "failed", error=str(error))
        tracker.finish("failed", str(error))
        return
    log = folder / "error.log"  # a bug: one line for the user, the traceback in the job's folder
    runs.write_atomic(log, traceback.format_exc())
    message = f"unexpected {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}" \
              f" (details in {log})"
    runs.set_status(folder, "failed", error=message)
    tracker.finish("failed", message)


def _analyse(workspace: str, dataset_folder: str, folder: str, backbone: str | None, descriptions: dict,
             pilot: bool = False, aim: str = DEFAULT_AIM, task=None) -> None:
    folder_path = Path(folder)
    # paced by what analyses take here: its steps' own fractions (the features, then each base ranked) ran backwards
    tracker = ProgressFile(folder_path, expected_seconds=analysis_seconds())

    def work() -> None:
        from . import costs
        from .analysis import analyze, save_analysis
        from .data.store import load_stored

        watch = costs.Stopwatch()
        dataset = load_stored(Path(dataset_folder))
        analysis = analyze(dataset, backbone, descriptions=descriptions, progress=tracker,
                           pilot_in=Path(workspace) if pilot else None, aim=aim)
        runs.write_json(folder_path / RESULT_FILE, analysis.to_dict())
        save_analysis(analysis, dataset)
        costs.record("analysis", None, "seconds", watch.seconds)  # for the next waiting jobs' expected wait

    _job(folder_path, tracker, work)


def _train(workspace: str, dataset_folder: str, config, run_id: str, task=None) -> None:
    started = time.monotonic()  # the user's budget counts from here: reading the data and loading the base are in it
    run_dir = Path(workspace) / "runs" / run_id
    from .analysis import expected_run_seconds

    waited = max(time.time() - float(job_info(run_dir).get("submitted") or time.time()), 0.0)  # queue and pickup
    # read before the first write, so the bar says "about" from the start, also for a run of all the ways
    tracker = ProgressFile(run_dir, budget_seconds=config.budget_seconds,
                           expected_seconds=expected_run_seconds(Path(dataset_folder), config))

    def work() -> None:
        from .data.store import load_stored
        from .deliver import train_and_bundle

        done = train_and_bundle(load_stored(Path(dataset_folder)), config, Path(workspace), run_id=run_id,
                                progress=tracker, started=started, waited=waited)
        problems = {"bundle_error": done.bundle_error} if done.bundle_error else {}
        if done.explained and done.bundle is not None:
            problems["explain_error"] = done.explained
        if problems:  # the run is complete; only its download or its pictures are missing
            runs.set_status(run_dir, "complete", seconds=done.result.report["seconds"], **problems)

    _job(run_dir, tracker, work, sets_running=False)


def _benefit(workspace: str, run_id: str, budget_seconds: float, task=None) -> None:
    """What transfer saved for a finished run (issue 33): its own job, in `<run>/benefit/`, never delaying the run."""
    folder = Path(workspace) / "runs" / run_id / BENEFIT_DIR
    tracker = ProgressFile(folder, budget_seconds=budget_seconds)

    def work() -> None:
        from .benefit.job import run_benefit

        run_benefit(Path(workspace) / "runs" / run_id, budget_seconds, progress=tracker)

    _job(folder, tracker, work)


def _tflite(workspace: str, run_id: str, task=None) -> None:
    """TFLite copies of a finished run's bundle model: its own job, in `<run>/tflite/`, asked for after the run."""
    from .export import tflite_seconds

    run_dir = Path(workspace) / "runs" / run_id
    manifest = runs.read_json(run_dir / "bundle" / "manifest.json")
    tracker = ProgressFile(run_dir / TFLITE_DIR, expected_seconds=tflite_seconds(manifest) if manifest else None)

    def work() -> None:
        from .export import add_tflite

        add_tflite(run_dir, progress=tracker)

    _job(run_dir / TFLITE_DIR, tracker, work)


def _ping(folder: str, task=None) -> None:
    """Record which worker ran this job (checks that workers take each job exactly once)."""
    marker = Path(folder) / f"{task.id if task else secrets.token_hex(8)}.json"
    runs.write_json(marker, {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()})


TASKS = {"analyse": _analyse, "train": _train, "benefit": _benefit, "tflite": _tflite, "ping": _ping}


def submit_ping(folder: Path) -> str:
    Path(folder).mkdir(parents=True, exist_ok=True)
    return _enqueue("ping", str(folder))


# --- workers ---------------------------------------------------------------------------------------------------


def workers_dir() -> Path:
    return paths.home() / "workers"


def alive_workers(stale_seconds: float = WORKER_STALE_SECONDS) -> list[dict]:
    """The workers whose heartbeat is fresh: [{"host", "pid", "workers", "time"}]."""
    if os.environ.get(QUEUE_ENV, "").strip() == "immediate":
        return [{"host": socket.gethostname(), "pid": os.getpid(), "workers": 1, "time": time.time()}]
    found = []
    for beat in workers_dir().glob("*.json"):
        info = runs.read_json(beat)
        if info and time.time() - float(info.get("time", 0)) <= stale_seconds:
            found.append(info)
    return found


WORKERS_ENV = "TRANSFERLAB_WORKERS"
# An idle worker asks the queue for work at least this often. huey backs off to 10 s between asks on an empty queue,
# so a job pressed after a minute's quiet (the analysis, reading the advice) waited up to 10 s for a free worker
# before its clock started (benchmarks/bench_pickup.py); one SQLite read twice a second costs nothing.
POLL_SECONDS = 0.5
WORKER_MEMORY_GB = 4  # what one training job may hold (TensorFlow, a base being fine-tuned, its images)


def default_workers() -> int:
    """Worker processes for `serve`: `$TRANSFERLAB_WORKERS`, else one per core as far as memory allows
    (`WORKER_MEMORY_GB` each), at least one: a short job need not wait behind another user's fine-tuning."""
    return int(number(WORKERS_ENV, "a whole number of workers", int, _workers_the_machine_allows, "2"))


def _workers_the_machine_allows() -> int:
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory_gb = WORKER_MEMORY_GB
    return max(1, min(os.cpu_count() or 1, int(memory_gb // WORKER_MEMORY_GB)))


def _say(message: str) -> None:
    """A worker's note to whoever watches it (its standard error, as huey's own log lines)."""
    print(f"worker: {message}", file=sys.stderr, flush=True)


def import_libraries() -> None:
    """Keras (which imports TensorFlow first) and scikit-learn: the slow imports of every job, and of the app's pages
    that show models. Third-party modules only, so a thread that runs this beside another importing TransferLab's
    own modules (the app server warms up so on its first visit) never waits on a lock the other holds."""
    import keras  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import tensorflow  # noqa: F401


def warm_up() -> None:
    """What every job imports (TensorFlow, Keras, Keras Tuner, scikit-learn, the training and bundle code), paid by
    each worker process when it starts, not by its first job: a first run waited 3.9 s for it, outside its own
    clock, while the page said it was still in the queue. Bases stay loaded between jobs once a job has loaded one."""
    import_libraries()
    import keras_tuner  # noqa: F401

    from . import analysis, deliver, explain, export  # noqa: F401
    from .threads import limit_blas_threads
    from .train import baselines, search  # noqa: F401

    limit_blas_threads()  # two workers' spinning BLAS threads on the same cores slowed both jobs (`tlcore.threads`)
    heap.settle()  # the imports stay for the process's life: full collections need not walk them (`tlcore.heap`)


def after_job(task=None, value=None, error=None) -> None:
    """Between a worker's jobs (huey's post-execute hook): collect what the job left and freeze what stays, the
    bases it loaded included, outside any user's clock (`tlcore.heap`)."""
    heap.settle()


def run_worker(workers: int = 1, *, max_tasks: int | None = None) -> None:
    """Run huey's consumer with `workers` worker processes until Ctrl+C (or SIGTERM), beating a heartbeat."""
    huey = queue()
    if huey.immediate:
        raise JobError(f"{QUEUE_ENV}=immediate runs jobs in the submitting process; a worker has nothing to do")
    _ready(huey, WORKER_WAIT_SECONDS, say=_say)  # a queue locked by another process: wait for it, saying so
    beat = workers_dir() / f"{socket.gethostname()}-{os.getpid()}.json"
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.is_set():
            runs.write_json(beat, {"host": socket.gethostname(), "pid": os.getpid(), "workers": workers,
                                   "time": time.time()})
            stop.wait(5.0)

    def cleanup() -> None:  # apart from the heartbeat: removing a large idle workspace may take a while
        while not stop.wait(60.0):
            with contextlib.suppress(OSError, TLCoreError):
                quota.maybe_remove_idle_workspaces()

    thread = threading.Thread(target=heartbeat, daemon=True, name="transferlab-worker-heartbeat")
    thread.start()
    threading.Thread(target=cleanup, daemon=True, name="transferlab-idle-cleanup").start()
    huey.on_startup("warm_up")(warm_up)  # in each worker process, before its first job
    huey.post_execute("settle_heap")(after_job)  # and after each job
    try:
        consumer = huey.create_consumer(workers=workers, worker_type="process", periodic=False,
                                        check_worker_health=True, health_check_interval=5, max_tasks=max_tasks,
                                        max_delay=POLL_SECONDS)
        consumer.run()
    finally:
        stop.set()
        beat.unlink(missing_ok=True)
