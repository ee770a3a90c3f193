"""Runs: every run of this session's workspace, newest first, with its state; follow, cancel, resume or open one."""

import json

import pandas as pd
import streamlit as st

from pages.common import follow, job_failed, no_worker_warning, remember, run_or_stop, workspace
from tlcore import jobs, words
from tlcore.runs import all_runs, list_runs
from tlcore.train.anytime import read_best

st.title("Runs")
every = all_runs(workspace())
if not every:
    st.info("No finished runs yet: train one on the Train page.")
    st.stop()
headline = {r["run"]: r for r in list_runs(workspace())}

def ahead(run_dir) -> str:
    """How many jobs wait before a queued one, as text ("" for the others)."""
    if jobs.job_state(run_dir) != "queued":
        return ""
    count = run_or_stop(lambda: jobs.ahead_of(run_dir))
    return "" if count is None else str(count)


def best_words(run_dir) -> str:
    """A running run's best model so far and its validation score ("" before its first model)."""
    best = read_best(run_dir)
    return f"{best['strategy']}/{best['model']}, validation {words.percent(best['val_accuracy'])}" if best else ""


table = pd.DataFrame([{
    "run": r["run"], "state": jobs.job_state(r["run_dir"]), "jobs ahead": ahead(r["run_dir"]),
    "dataset": headline.get(r["run"], {}).get("dataset", ""),
    "selected": headline.get(r["run"], {}).get("selected", ""),
    "test_accuracy": headline.get(r["run"], {}).get("test_accuracy"), "best so far": best_words(r["run_dir"]),
    "detail": r["detail"],
    "bundle": (r["run_dir"] / "bundle.zip").is_file(),
} for r in every])  # fmt: skip
st.dataframe(table, hide_index=True)
if (table["state"] == "queued").any():
    no_worker_warning()

choice = st.selectbox("Run", table["run"].tolist())
row = next(r for r in every if r["run"] == choice)
found = jobs.job_state(row["run_dir"])
if found in jobs.UNFINISHED:
    follow(row["run_dir"], f"Run {choice}")
    st.stop()
if found in ("failed", "cancelled", "interrupted"):
    job_failed(row["run_dir"])
    if found != "failed" and st.button("Resume", help="Continue with the same data and settings; finished search "
                                                      "trials are read back."):
        request = json.loads((row["run_dir"] / "request.json").read_text(encoding="utf-8"))
        from tlcore.train.config import TrainConfig

        config = run_or_stop(lambda: TrainConfig.from_dict(request["request"]["config"]))
        dataset = jobs.job_info(row["run_dir"]).get("dataset")
        run_or_stop(lambda: jobs.submit_training(workspace(), dataset, config, run_id=choice))
        st.rerun()
    st.stop()
if st.button("Open this run", type="primary"):
    remember(run=choice)
    st.success(f"Run {choice} is open: see the Results and Export pages.")
