"""The one Streamlit-side helper module: the session's workspace and state, jobs followed live, errors shown.

A session's state lives in its workspace (`tlcore.session`), not in `st.session_state`, so a
reload, a page switch or a restart of the app finds it again; only the workspace's id is kept in
the browser session (and in the address, `?ws=...`).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import streamlit as st

from tlcore import jobs, runs, session, words, workspaces
from tlcore.errors import TLCoreError

T = TypeVar("T")
# The guided flow: step -> its page. "Runs" and "Try the base" stay in the sidebar as side rooms.
STEPS = {"Data": "pages/data.py", "Analyse": "pages/analyse.py", "Train": "pages/train.py",
         "Results": "pages/results.py", "Export": "pages/export.py"}
DEFAULT_BUDGET = 300.0  # seconds the app gives a training run unless the user moves the slider
_WORKSPACE = "workspace"
_UPLOAD = "upload"
POLL_SECONDS = 1.0
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:@&=^\"'/?%,;])")


def plain(text) -> str:
    """`text` escaped so Markdown shows it as it is: no link, emphasis, HTML or directive can come of it (every
    name a user gave: uploads, datasets, classes)."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).splitlines()))


def workspace() -> Path:
    """This browser session's own folder; two sessions never share one.

    Its id, made by the server (`tlcore.workspaces`), is kept in the page's address (`?ws=...`)
    on every page (a sidebar link drops it; each page puts it back), so a reload, or a restart of
    the app, finds the same folder and its runs again. An id the server did not make is refused
    with a note, and a new workspace opened.
    """
    if _WORKSPACE not in st.session_state:
        folder, given = None, st.query_params.get("ws", "")
        if given:
            try:
                folder = workspaces.open_workspace(given)
            except TLCoreError as error:
                st.warning(str(error))
        if folder is None:
            _, folder = workspaces.create()
        st.session_state[_WORKSPACE] = folder
    folder = st.session_state[_WORKSPACE]
    if st.query_params.get("ws") != folder.name:
        st.query_params["ws"] = folder.name
    return folder


def go_to(page: str):
    """Switch to `page`, keeping the workspace in the address: one browser-history entry per switch.

    A bare `st.switch_page` clears the address's query (one history entry), switches (a second), and the next
    page then puts `?ws=` back (a third), so Back seemed to do nothing.
    """
    st.switch_page(page, query_params={"ws": workspace().name})


def steps(current: str) -> None:
    """The five steps at the top of a step's page, the current one marked, and the loaded dataset named."""
    cols = st.columns([1] * len(STEPS) + [3], vertical_alignment="center")
    for number, (col, name) in enumerate(zip(cols, STEPS, strict=False), start=1):
        here = name == current
        if col.button(f"{number}. {name}", key=f"step:{name}", type="primary" if here else "tertiary", disabled=here,
                      width="stretch"):
            go_to(STEPS[name])
    loaded = current_dataset()
    cols[-1].markdown(f"Dataset: **{plain(loaded[1].source)}**" if loaded else "No dataset loaded yet")


def next_step(current: str, ready: bool = True, why: str = "") -> None:
    """A "Next" button to the step after `current` (disabled, with the reason, until `ready`)."""
    names = list(STEPS)
    following = names[names.index(current) + 1]
    if st.button(f"Next: {following} →", key="next", type="primary", disabled=not ready, help=why or None):
        go_to(STEPS[following])


def state() -> session.Session:
    return session.load(workspace())


def remember(**changes) -> session.Session:
    """Save choices of this session in its workspace."""
    return session.update(workspace(), **changes)


def run_or_stop(action: Callable[[], T]) -> T:
    """Run a tlcore call; a `TLCoreError` becomes a readable message on the page instead of a traceback.

    The message is shown as text (`plain`): it may quote names the user gave (an upload's file name, a class).
    """
    try:
        return action()
    except TLCoreError as error:
        st.error(plain(str(error)))
        st.stop()


def stored_upload(upload):
    """The upload saved under a server-made name (`tlcore.uploads`), once per uploaded file, not per rerun."""
    from tlcore.uploads import store_upload

    saved = st.session_state.get(_UPLOAD)
    if saved is None or saved[0] != upload.file_id or not saved[1].path.is_file():
        saved = (upload.file_id, run_or_stop(lambda: store_upload(workspace(), upload.name, upload.getvalue())))
        st.session_state[_UPLOAD] = saved
    return saved[1]


DATASET_CACHE_BYTES = 256 * 2**20  # loaded datasets kept in memory for all sessions together


class _LoadedDatasets:
    """Loaded datasets and their audits, the least recently used dropped once they hold more than `budget` bytes.

    Why by size and not by count: one server serves many sessions, and 16 entries (the count bound it had) of a
    100,000-image or a large-text dataset can hold gigabytes. The size is the records' and the per-class table's
    own memory (pandas, deep), which dominate. The dataset in use last always stays, even alone over the budget:
    each click reruns the page, which would otherwise read it from disk every time.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.entries: OrderedDict[tuple[str, float], tuple[object, object, int]] = OrderedDict()
        self.lock = threading.Lock()

    @property
    def held(self) -> int:
        return sum(size for _, _, size in self.entries.values())

    def get(self, folder: str, stamp: float):
        key = (folder, stamp)
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                dataset, audit, _ = self.entries[key]
                return dataset, audit
        dataset, audit = _read_dataset(folder)  # outside the lock: other sessions go on meanwhile
        with self.lock:
            self.entries[key] = (dataset, audit, _bytes_of(dataset, audit))
            self.entries.move_to_end(key)
            while len(self.entries) > 1 and self.held > self.budget:
                self.entries.popitem(last=False)
        return dataset, audit


def _bytes_of(dataset, audit) -> int:
    """About how much memory a loaded dataset and its audit hold: their tables' own size."""
    return int(dataset.records.memory_usage(deep=True).sum() + audit.per_class.memory_usage(deep=True).sum())


def _read_dataset(folder: str):
    """A stored dataset and its audit (without features)."""
    from tlcore.data.store import load_stored
    from tlcore.modality import modality_of

    dataset = load_stored(Path(folder))
    return dataset, modality_of(dataset).audit(dataset)


@st.cache_resource(show_spinner=False)
def loaded_datasets() -> _LoadedDatasets:
    """The one store of loaded datasets, shared by every session of this server (see `_LoadedDatasets`)."""
    return _LoadedDatasets(DATASET_CACHE_BYTES)


def current_dataset():
    """The loaded (key, Dataset, Audit) of this session, or None."""
    now = state()
    folder = now.folder(workspace(), "datasets")
    if folder is None or not (folder / "dataset.json").is_file():
        return None
    dataset, audit = loaded_datasets().get(str(folder), (folder / "dataset.json").stat().st_mtime)
    return now.dataset_key, dataset, audit


def dataset_folder() -> Path | None:
    return state().folder(workspace(), "datasets")


def need_dataset():
    """The loaded (key, dataset, audit), or a pointer to the Data page and a stop."""
    loaded = current_dataset()
    if loaded is None:
        st.info("Load a dataset on the Data page first.")
        st.stop()
    from tlcore.modality import modality_of

    noun = modality_of(loaded[1]).noun
    st.caption(f"Dataset: **{plain(loaded[1].source)}** ({len(loaded[1])} {noun}, {len(loaded[1].classes)} classes)")
    return loaded


def current_analysis() -> tuple[Path, dict | None] | None:
    """(the analysis job's folder, its result or None while it works) for the loaded dataset; else None."""
    now = state()
    folder = now.folder(workspace(), "analyses")
    if folder is None or not folder.is_dir() or jobs.job_info(folder).get("dataset") != str(dataset_folder()):
        return None
    return folder, jobs.read_analysis(folder)


def chosen_strategy(default: str = "extract") -> str:
    return state().strategy or default


def descriptions() -> dict[str, str]:
    """What the user typed for each class (texts): the words zero-shot "predict" compares texts with."""
    return dict(state().descriptions)


def current_run() -> dict | None:
    """The run on show, once complete: {"report", "run_dir", "root" (images; None for texts)}; else None."""
    run_dir = state().folder(workspace(), "runs")
    if run_dir is None or runs.state(run_dir) != "complete":
        return None
    try:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        root = json.loads((run_dir / "dataset" / "dataset.json").read_text(encoding="utf-8")).get("root")
    except (OSError, ValueError):
        return None
    return {"report": report, "run_dir": run_dir, "root": Path(root) if root else None}


STOPPED = ("failed", "cancelled", "interrupted")  # a run that ended before its final model


def kept_first(run_dir: Path | None) -> dict | None:
    """A run that stopped before its end (cancelled, interrupted, failed) but had made its first model: that model's
    bundle and report ({"archive", "report", "run_dir", "state"}); else None.

    Why: the first model's bundle (`<run>/first/`, `tlcore.train.anytime`) is whole and tested, and the pages say
    "what had finished is kept", so it must stay downloadable once the run has stopped.
    """
    if run_dir is None or not Path(run_dir).is_dir():
        return None
    found, first = runs.state(run_dir), first_model(run_dir)
    if found not in STOPPED or first is None or not (first["report"].get("test") or {}).get("per_class"):
        return None
    return first | {"run_dir": run_dir, "state": found}


def first_model(run_dir: Path) -> dict | None:
    """The run's first model as `tlcore.train.anytime` writes it in `<run>/first/`: {"archive", "report"}, or None
    until both are there."""
    from tlcore.train.anytime import FIRST_FOLDER

    archive, report = run_dir / FIRST_FOLDER / "bundle.zip", runs.read_json(run_dir / FIRST_FOLDER / "report.json")
    return {"archive": archive, "report": report} if archive.is_file() and report else None


def show_kept(kept: dict, note: Callable[[str], object] = st.caption) -> None:
    """Say plainly that the download is the first model, kept when the run stopped, with its test accuracy beside
    always answering the largest class (a warning when its lead is within noise, `note` otherwise)."""
    report = kept["report"]
    selected, test = report["selected"], report["test"]
    title = words.model_title(selected["strategy"], selected["model"], words.base_title(report.get("backbone") or ""))
    items = sum(row["support"] for row in test["per_class"])
    again = "" if kept["state"] == "failed" else " Resume the run on the Runs page to train the rest."
    st.info(f"Its **first model** was kept when the run stopped (before its final model): **{title}**, "
            f"**{words.percent(test['accuracy'])}** right on the held-out test split ({items} items).{again}")
    beside_largest_class(report, note)


def no_final_bundle(run_dir: Path) -> None:
    """A complete run whose final bundle is missing (its building failed, or it was deleted): why, and its first
    model's bundle when it has one (whole and tested), so the user still leaves with a model."""
    problem = runs.status(run_dir).get("bundle_error")
    first = first_model(run_dir)
    st.warning((f"This run has no bundle: {problem}." if problem else "This run has no bundle on disk.")
               + (" Its first model is whole and tested: download it below, or train again." if first
                  else " Train again to download one."))
    if first:
        download_first(first, key="first-instead", primary=True)
        beside_largest_class(first["report"], st.caption)


def download_first(first: dict, key: str, *, now: bool = False, primary: bool = False) -> None:
    """A first model's bundle ({"archive", "report"}: `first_model`), read only when clicked (the live panel polls);
    `now` while its run goes on."""
    from functools import partial

    accuracy = words.percent(first["report"]["test"]["accuracy"])
    label = (f"Download the first model now (test accuracy {accuracy})" if now else
             f"Download the first model (bundle-first.zip, test accuracy {accuracy})")
    st.download_button(label, partial(first["archive"].read_bytes), file_name="bundle-first.zip",
                       mime="application/zip", key=key, on_click="ignore", type="primary" if primary else "secondary")


def beside_largest_class(report: dict, note: Callable[[str], object]) -> None:
    """The report's test accuracy beside always answering the largest class: a warning when the lead is within
    noise, `note` otherwise (nothing for a report without the comparison)."""
    largest = report.get("largest_class")
    if largest:
        warn, sentence = words.largest_class_note(report["test"]["accuracy"], largest, "test", largest["test_items"])
        (st.warning if warn else note)(sentence)


def scores_in_context(report: dict, note: Callable[[str], object]) -> None:
    """The test accuracy beside always answering the largest class (a warning when the lead is within noise,
    `note` otherwise), then every model of the run in words and units."""

    beside_largest_class(report, note)
    table = words.leaderboard(report)
    if "Selected" in table:  # first: the table is wider than the page, and this column was cut off at its end
        table = table[["Selected", *(column for column in table.columns if column != "Selected")]]
    # short headers on the page, the full ones on hover: walk 9's predict run still needed a sideways scroll at
    # 1280 px for "Trained in", "Size" and "Per input" beside two long model names
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Validation accuracy": st.column_config.TextColumn("Validation", help="Accuracy on the validation split, "
                                                           "which chose the model"),
        "Test accuracy": st.column_config.TextColumn("Test", help="Accuracy on the held-out test split, scored once "
                                                     "after the choice"),
    })
    if (table.get("Test accuracy") == words.UNTESTED).any():
        st.caption(words.UNTESTED_WHY)


def no_worker_warning() -> None:
    """Say so, with the command, when jobs would wait forever because no worker is alive."""
    if not jobs.alive_workers():
        st.warning("No job worker is running, so submitted work waits. Start one with "
                   "`python -m tlcore worker` (`make run` starts one with the app).")


def follow(folder: Path, title: str) -> str:
    """Show a job's live progress (polled from what the job writes) until it ends; returns its state.

    A fragment reruns every second while the job is queued or running; when it ends, the whole
    page reruns once so the page can show the result, and the fragment is no longer drawn, so
    nothing polls a finished job. A fragment left polling on a finished page raced the switch to
    another page: the browser got an update for the old page ("Bad delta path index 5 (should be
    between [0, 0])", caught by the browser tests) and the page went blank.
    """
    found = jobs.job_state(folder)
    if found not in jobs.UNFINISHED:
        return found

    @st.fragment(run_every=POLL_SECONDS)
    def panel() -> None:
        found = jobs.job_state(folder)
        if found not in jobs.UNFINISHED:
            st.rerun()  # the whole page: it shows the result and draws no fragment
        show_progress(folder, title, found)
        if st.button("Cancel", key=f"cancel:{folder}"):
            run_or_stop(lambda: jobs.cancel(folder))
            st.rerun()

    panel()
    return jobs.job_state(folder)


def final_bundle_now(folder: Path) -> bool:
    """The final bundle, offered as soon as it is built: the run goes on only to explain its mistakes, and the
    button had waited for that (walk 7: the bundle ready at 3 min 27 s, the button at 3 min 32 s)."""
    from functools import partial

    archive = folder / "bundle.zip"  # written whole, then renamed into place (`tlcore.export`)
    report = runs.read_json(folder / "report.json") if archive.is_file() else None
    if not report:
        return False
    st.download_button(f"Download the trained model now (bundle.zip, test accuracy "
                       f"{words.percent(report['test']['accuracy'])}); the run is still explaining its mistakes",
                       partial(archive.read_bytes), file_name="bundle.zip", mime="application/zip",
                       key=f"final:{folder}", type="primary", on_click="ignore")
    return True


def best_so_far(folder: Path) -> None:
    """The run's model so far (it has one from its first fitted model on), and the first model's bundle to take now."""
    from tlcore.train.anytime import read_best

    best = read_best(folder)
    if not best:
        return
    st.info(words.best_so_far_line(best))
    first = first_model(folder)
    if first:
        download_first(first, key=f"first:{folder}", now=True)


def show_progress(folder: Path, title: str, found: str) -> None:
    """The bar (100% when the job ends), elapsed and remaining time, the status line, the models so far, the chart.

    Once the job has finished, only the bar and the chart: the best so far, its first model's download and the
    search's trial board describe a run still going, and beside the final result they contradict it.
    """
    progress = jobs.read_progress(folder)
    if (folder / jobs.CANCEL_FILE).exists():
        st.warning(f"{title}: stopping, as you asked. It stops after the step it is in (a batch, a model) and keeps "
                   "what had finished.")
    if found == "queued":
        ahead = run_or_stop(lambda: jobs.ahead_of(folder))
        if ahead is None:  # off the queue: a worker has taken it and is starting it
            st.info(f"{title}: starting (a worker has taken it).")
            return
        wait = run_or_stop(lambda: jobs.expected_wait(folder))
        st.info(f"{title}: waiting in the queue, number {ahead + 1}"
                + (f", expected to start within {words.seconds(wait)}" if wait else
                   ", starting in a moment (a worker is free)" if wait is not None and jobs.alive_workers() else "")
                + ". It runs when a worker is free; you can leave this page.")
        no_worker_warning()
        return
    finished = bool(progress.get("finished")) or found == "complete"
    fraction = 1.0 if finished else float(progress.get("fraction", 0.0))
    timing = f"{_clock(progress.get('elapsed', 0))} elapsed" + ("" if finished else time_left(folder, progress))
    where = words.step_line(progress.get("stage", "starting"), str(progress.get("count", "")))
    # the share of the whole job first: a step's own counter beside it had read as a contradiction ("180/180 (1%)")
    now = f"; now {where}" if where and not finished else ""
    st.progress(min(fraction, 1.0), text=f"{title}: {fraction:.0%} done{now}; {timing}")
    if not finished:
        st.caption(progress.get("message", ""))
        if not final_bundle_now(folder):
            best_so_far(folder)
        if progress.get("board"):
            st.dataframe(progress["board"], hide_index=True)
            st.caption("While it trains, the head search scores each trial on an inner split of the training data; "
                       "the final table scores every model on the validation split, so the numbers differ.")
    frame = words.chart_points(progress.get("points") or [])
    if len(frame):
        import plotly.express as px

        chart = px.line(frame, x="trial or epoch", y="% right", color="measure", markers=True, range_y=[0, 101])
        st.plotly_chart(chart, width="stretch", key=f"chart:{folder}")


def time_left(folder: Path, progress: dict) -> str:
    """", about M:SS left" when the remaining time is what the run was expected to take (`remaining_is`:
    "expected"), ", at most M:SS left (the time budget)" when it is what the budget leaves, an upper bound (with
    "past the expected time" once the run is late, `jobs.LATE_FACTOR`, and "a little longer than expected" before).

    A progress file without `remaining_is` (older jobs) is read as the budget's when its job has a budget, and as
    an estimate otherwise (an analysis: the current stage's share done, `jobs.ProgressFile`).
    """
    remaining = progress.get("remaining")
    if remaining is None:
        return ""
    kind = progress.get("remaining_is") or ("budget" if jobs.job_info(folder).get("budget_seconds") else "expected")
    if kind == "expected":  # under a second: "about 0:00 left" read as a stuck clock (walk 6)
        return ", almost done" if remaining < 1 else f", about {_clock(remaining)} left"
    if kind == "a little longer":  # within the precision of the expectation: not yet late
        return ", a little longer than expected"
    past = "past the expected time, " if kind == "past expected" else ""  # not "5 more minutes" of work at 90%
    return f", {past}at most {_clock(remaining)} left (the time budget)"


def _clock(seconds: float | None) -> str:
    seconds = max(int(seconds or 0), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def job_failed(folder: Path) -> None:
    """Show how a job that did not complete ended: its error in words, or that it was cancelled or interrupted."""
    found, detail = runs.state(folder), runs.status(folder)
    words = detail.get("error") or detail.get("reason") or ""
    if found == "failed":
        st.error(f"It failed: {words}")
    elif found in ("cancelled", "interrupted"):
        st.warning(f"It was {found}" + (f": {words}" if words else "."))


def word_table(words: list) -> pd.DataFrame:
    """Each word's weight for a class (leaving it out), the most telling first."""
    table = pd.DataFrame(words, columns=["word", "weight"])
    return table.reindex(table["weight"].abs().sort_values(ascending=False).index).head(15)
