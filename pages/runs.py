"""Runs: every run of this session's workspace, newest first, with its state and headline numbers."""

import json

import pandas as pd
import streamlit as st

from pages.common import set_run, workspace
from tlcore.runs import all_runs, list_runs

st.title("Runs")
every = all_runs(workspace())
unfinished = [r for r in every if r["state"] != "complete"]
if unfinished:
    st.caption("Runs that did not complete: interrupted ones can be continued with "
               "`python -m tlcore train DATA --resume RUN_ID` and the same settings.")
    st.dataframe(pd.DataFrame(unfinished).drop(columns=["run_dir"]), hide_index=True)
rows = list_runs(workspace())
if not rows:
    st.info("No finished runs yet: train one on the Train page.")
    st.stop()
st.dataframe(pd.DataFrame(rows).drop(columns=["run_dir"]), hide_index=True)
choice = st.selectbox("Open a run", [r["run"] for r in rows])
row = next(r for r in rows if r["run"] == choice)
if st.button("Open", type="primary"):
    report = json.loads((row["run_dir"] / "report.json").read_text(encoding="utf-8"))
    root = json.loads((row["run_dir"] / "dataset" / "dataset.json").read_text(encoding="utf-8")).get("root")
    set_run(report, row["run_dir"], root)
    st.success(f"Run {choice} is open: see the Results and Export pages.")
