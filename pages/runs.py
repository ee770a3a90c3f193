"""Runs: every run of this session's workspace, newest first, with its state; follow, cancel, resume or open one."""

import json
import re
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import (
    POLL_SECONDS,
    download_first,
    follow,
    job_failed,
    kept_first,
    no_worker_warning,
    remember,
    run_or_stop,
    show_kept,
    state,
    workspace,
)
from tlcore import jobs, quota, runs, words
from tlcore.runs import all_runs
from tlcore.train.anytime import read_best

st.title("Runs")


def keeps() -> None:
    """What this workspace keeps on disk against its share, each item with a Delete button (`tlcore.quota`)."""
    use = run_or_stop(lambda: quota.usage(workspace()))
    st.caption(run_or_stop(lambda: quota.usage_sentence(workspace())))
    with st.expander(f"What this workspace keeps ({quota.size_words(use.total_bytes)}): delete to free space"):
        for item in use.items:
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.text(f"{quota.NOUNS[item.kind]}: {item.label} ({quota.size_words(item.bytes)})")
            if right.button("Delete", key=f"delete:{item.kind}:{item.name}"):
                run_or_stop(lambda item=item: quota.delete_item(workspace(), item.kind, item.name))
                if item.kind in ("datasets", "runs"):
                    forget = {"datasets": "dataset", "runs": "run"}[item.kind]
                    if getattr(state(), forget, None) == item.name:
                        remember(**{forget: ""})
                st.rerun()


keeps()
every = all_runs(workspace())
if not every:
    st.info("No finished runs yet: train one on the Train page.")
    st.stop()


def ahead(run_dir: Path, state: str) -> str:
    """How many jobs wait before a queued one, as text ("" for the others)."""
    if state != "queued":
        return ""
    count = run_or_stop(lambda: jobs.ahead_of(run_dir))
    return "" if count is None else str(count)


def dataset_name(run_dir: Path, report: dict) -> str:
    """The dataset's name as the Data page shows it: from the report, else the run's copy of the dataset, else the
    stored dataset the job was asked to train on (a run cancelled in the queue has no copy yet)."""
    found = report.get("source") or runs.read_json(run_dir / "dataset" / "dataset.json").get("source")
    if found:
        return found
    asked = jobs.job_info(run_dir).get("dataset")
    datasets = (workspace() / "datasets").resolve()
    if asked and Path(asked).resolve().parent == datasets:  # only this workspace's own datasets are read
        return runs.read_json(Path(asked) / "dataset.json").get("source", "")
    return ""


def way(run_dir: Path, report: dict) -> str:
    """The way of reusing the model the run was asked for: predict, extract, finetune or all."""
    if report.get("strategy"):
        return report["strategy"]
    asked = runs.read_json(run_dir / runs.REQUEST_FILE).get("request", {}).get("strategies") or []
    return asked[0] if len(asked) == 1 else "all" if asked else ""


def base_of(run_dir: Path, report: dict) -> str:
    """The base the run built on, by its title (walk 9 could not tell two runs of one dataset apart without it)."""
    name = report.get("backbone") or ((runs.read_json(run_dir / runs.REQUEST_FILE).get("request") or {})
                                      .get("config") or {}).get("backbone") or ""
    return words.base_title(name) if name else ""


def started(run_dir: Path) -> time.struct_time:
    """When the run started: from its id where the app named it (20261202-140501-ab12), else its folder's time."""
    found = re.match(r"(\d{8}-\d{6})", run_dir.name)
    if found:
        try:
            return time.strptime(found.group(1), "%Y%m%d-%H%M%S")
        except ValueError:
            pass
    request = run_dir / runs.REQUEST_FILE
    return time.localtime((request if request.is_file() else run_dir).stat().st_mtime)


def when(moment: time.struct_time) -> str:
    """ "2 Dec 14:05" (the year too when it is not this one)."""
    year = f" {moment.tm_year}" if moment.tm_year != time.localtime().tm_year else ""
    return f"{moment.tm_mday} {time.strftime('%b', moment)}{year} {time.strftime('%H:%M', moment)}"


def best_so_far(run_dir: Path) -> tuple[str, str]:
    """A run's best model so far, in words, and its validation score ("", "" before its first model)."""
    best = read_best(run_dir)
    if not best:
        return "", ""
    title = words.model_title(best["strategy"], best["model"], words.base_title(best.get("base") or ""))
    return f"best so far: {title}", f"{words.percent(best['val_accuracy'])} on validation, so far"


def row(run: dict) -> dict:
    """A run in words: the selected model and its test accuracy once complete, the first model a stopped run kept
    (its bundle downloadable), the best so far until then. Why one stopped is shown when it is picked."""
    run_dir = run["run_dir"]
    state = jobs.job_state(run_dir)
    report = runs.read_json(run_dir / "report.json") if run["state"] == "complete" else {}
    kept = kept_first(run_dir) if not report else None
    found = kept["report"] if kept else report
    selected, test = found.get("selected") or {}, found.get("test") or {}
    if selected.get("model") and test.get("accuracy") is not None:
        base = words.base_title(found.get("backbone") or "")
        title = words.model_title(selected["strategy"], selected["model"], base)
        model = f"first model, kept: {title}" if kept else title
        score = f"{words.percent(test['accuracy'])} on test"
    else:
        model, score = best_so_far(run_dir)
    return {"run": run["run"], "started": when(started(run_dir)), "dataset": dataset_name(run_dir, found),
            "base": base_of(run_dir, found), "way": way(run_dir, report), "state": state,
            "jobs ahead": ahead(run_dir, state), "model": model,
            "accuracy": score, "bundle": (run_dir / "bundle.zip").is_file() or kept is not None}


COLUMNS = {  # column -> its header, and what it says on hover
    "started": st.column_config.TextColumn("Started"),
    "dataset": st.column_config.TextColumn("Dataset"),
    "base": st.column_config.TextColumn("Base", help="The pretrained model the run built on."),
    "way": st.column_config.TextColumn("Way", help="The way of reusing the pretrained model: predict (as it is), "
                                       "extract (a new model on its features), finetune, or all three."),
    "state": st.column_config.TextColumn("State"),
    "jobs ahead": st.column_config.TextColumn("Jobs ahead", help="Jobs waiting in the queue before this one."),
    "model": st.column_config.TextColumn("Model", help="The model the run selected on the validation split; while "
                                         "it trains, its best so far; once it stopped early, the first model it "
                                         "kept."),
    "accuracy": st.column_config.TextColumn("Accuracy", help="The selected model's (or the kept first model's), on "
                                            "the held-out test split; while it trains, the best so far's, on the "
                                            "validation split."),
    "bundle": st.column_config.CheckboxColumn("Bundle", help="A bundle.zip is ready to download (for a run that "
                                              "stopped before its end, its first model's)."),
}


def runs_table() -> pd.DataFrame:
    return pd.DataFrame([row(r) for r in every])


def draw(table: pd.DataFrame) -> None:
    shown = [c for c in COLUMNS if c in ("started", "dataset", "state", "bundle") or (table[c] != "").any()]
    st.dataframe(table, hide_index=True, width="stretch", column_order=shown, column_config=COLUMNS)


table = runs_table()
if table["state"].isin(jobs.UNFINISHED).any():
    # Redrawn while a run is unfinished, as the followed run's best-so-far box below is: a table drawn once named
    # another model than the box a minute later. A change of state reruns the whole page (the chooser, the panel).
    unread = [table]  # the fragment's first drawing is this run's: the runs are read once per page run

    @st.fragment(run_every=POLL_SECONDS)
    def live_table() -> None:
        now = unread.pop() if unread else runs_table()
        if now["state"].tolist() != table["state"].tolist():
            st.rerun()
        draw(now)

    live_table()
else:
    draw(table)
if (table["state"] == "queued").any():
    no_worker_warning()


def label(run_id: str) -> str:
    """A run in the picker: "flowers, extract, 94.6%, 2 Dec 14:05" (its state instead of a score until complete)."""
    found = table.set_index("run").loc[run_id]
    outcome = found["accuracy"].removesuffix(" on test") if found["state"] == "complete" else found["state"]
    if found["state"] != "complete" and found["model"].startswith("first model"):
        outcome += f", first model {found['accuracy'].removesuffix(' on test')}"
    return ", ".join(part for part in (found["dataset"], found["way"], outcome, found["started"]) if part)


choice = st.selectbox("Run", table["run"].tolist(), format_func=label)
st.caption(f"Run id `{choice}` (the command line's name for it).")
picked = next(r for r in every if r["run"] == choice)["run_dir"]
found = jobs.job_state(picked)
if found in jobs.UNFINISHED:
    follow(picked, f"Run {label(choice)}")
    st.stop()
if found in ("failed", "cancelled", "interrupted"):
    job_failed(picked)
    kept = kept_first(picked)
    if kept:
        show_kept(kept)
        download_first(kept, key=f"first:{choice}")
        if st.button("Open this run", help="Show its first model on the Results and Export pages (try it there)."):
            remember(run=choice)
            st.success(f"Run {label(choice)} is open: see the Results and Export pages.")
    if found != "failed" and st.button("Resume", help="Continue with the same data and settings; finished search "
                                                      "trials are read back."):
        request = json.loads((picked / "request.json").read_text(encoding="utf-8"))
        from tlcore.train.config import TrainConfig

        config = run_or_stop(lambda: TrainConfig.from_dict(request["request"]["config"]))
        dataset = jobs.job_info(picked).get("dataset")
        run_or_stop(lambda: jobs.submit_training(workspace(), dataset, config, run_id=choice))
        st.rerun()
    st.stop()
if st.button("Open this run", type="primary"):
    remember(run=choice)
    st.success(f"Run {label(choice)} is open: see the Results and Export pages.")
