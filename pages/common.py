"""The one Streamlit-side helper module: session workspace, session-state keys, error display.

Only this module names `st.session_state` keys, so pages stay thin and consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st

from tlcore import workspaces
from tlcore.errors import TLCoreError

T = TypeVar("T")
_WORKSPACE = "workspace"
_DATASET = "dataset"
_ANALYSIS = "analysis"
_STRATEGY = "strategy"
_RUN = "run"
_DESCRIPTIONS = "descriptions"
_UPLOAD = "upload"


def workspace() -> Path:
    """This browser session's own folder; two sessions never share one.

    Its id, made by the server (`tlcore.workspaces`), is kept in the page's address (`?ws=...`),
    so a reload, or a restart of the app, finds the same folder and its runs again. An id the
    server did not make is refused with a note, and a new workspace opened.
    """
    if _WORKSPACE not in st.session_state:
        folder, given = None, st.query_params.get("ws", "")
        if given:
            try:
                folder = workspaces.open_workspace(given)
            except TLCoreError as error:
                st.warning(str(error))
        if folder is None:
            ws_id, folder = workspaces.create()
            st.query_params["ws"] = ws_id
        st.session_state[_WORKSPACE] = folder
    return st.session_state[_WORKSPACE]


def stored_upload(upload):
    """The upload saved under a server-made name (`tlcore.uploads`), once per uploaded file, not per rerun."""
    from tlcore.uploads import store_upload

    saved = st.session_state.get(_UPLOAD)
    if saved is None or saved[0] != upload.file_id or not saved[1].path.is_file():
        saved = (upload.file_id, run_or_stop(lambda: store_upload(workspace(), upload.name, upload.getvalue())))
        st.session_state[_UPLOAD] = saved
    return saved[1]


def current_dataset():
    """The dataset the Data page loaded, as (key, Dataset, Audit), or None."""
    return st.session_state.get(_DATASET)


def set_dataset(key: str, dataset, report) -> None:
    st.session_state[_DATASET] = (key, dataset, report)


def run_or_stop(action: Callable[[], T]) -> T:
    """Run a tlcore call; a `TLCoreError` becomes a readable message on the page instead of a traceback."""
    try:
        return action()
    except TLCoreError as error:
        st.error(str(error))
        st.stop()


def current_analysis():
    """(dataset key, Analysis) from the Analyse page, for the dataset loaded now; else None."""
    stored, loaded = st.session_state.get(_ANALYSIS), current_dataset()
    return stored if stored and loaded and stored[0] == loaded[0] else None


def set_analysis(analysis) -> None:
    st.session_state[_ANALYSIS] = (current_dataset()[0], analysis)
    st.session_state[_STRATEGY] = analysis.recommendation.strategy


def chosen_strategy(default: str = "extract") -> str:
    return st.session_state.get(_STRATEGY, default)


def set_strategy(strategy: str) -> None:
    st.session_state[_STRATEGY] = strategy


def descriptions() -> dict[str, str]:
    """What the user typed for each class (texts): the words zero-shot "predict" compares texts with."""
    return st.session_state.get(_DESCRIPTIONS, {})


def set_descriptions(typed: dict[str, str]) -> None:
    st.session_state[_DESCRIPTIONS] = typed


def current_run() -> dict | None:
    """The run on show: {"report", "run_dir", "root" (images; None for texts), "result" (a RunResult, or None)}."""
    return st.session_state.get(_RUN)


def set_run(report: dict, run_dir: Path, root: Path | None, result=None) -> None:
    st.session_state[_RUN] = {"report": report, "run_dir": Path(run_dir), "root": Path(root) if root else None,
                              "result": result}


def need_dataset():
    """The loaded (key, dataset, audit), or a pointer to the Data page and a stop."""
    loaded = current_dataset()
    if loaded is None:
        st.info("Load a dataset on the Data page first.")
        st.stop()
    return loaded


class ProgressPanel:
    """A progress bar, a status line, a table of models as they finish and a live chart of metrics."""

    def __init__(self) -> None:
        self.bar = st.progress(0.0)
        self.status = st.empty()
        self.board = st.empty()
        self.chart = st.empty()
        self.points: list[dict] = []
        self.finished: list[dict] = []

    def __call__(self, progress) -> None:
        self.bar.progress(min(progress.fraction, 1.0), text=f"{progress.stage}: {progress.done}/{progress.total}")
        self.status.caption(progress.message)
        if progress.stage in ("baselines", "search") and progress.metrics:
            model = ("Keras head " if progress.stage == "search" else "") + progress.message.split(":")[0]
            score = progress.metrics.get("cv_accuracy", progress.metrics.get("val_accuracy"))
            self.finished.append({"model": model, "score on training data (CV or inner split)": score})
            self.board.dataframe(self.finished, hide_index=True)
        if progress.metrics and progress.stage in ("finetune", "search"):
            self.points += [{"step": f"{progress.stage} {progress.done}", "metric": k, "value": v}
                            for k, v in progress.metrics.items()]
            import pandas as pd
            import plotly.express as px

            frame = pd.DataFrame(self.points)
            self.chart.plotly_chart(px.line(frame, x="step", y="value", color="metric", markers=True),
                                    width="stretch")
