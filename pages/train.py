"""Train: the chosen strategy (or all three) within a time budget, as a background job followed live."""

import json

import pandas as pd
import streamlit as st

from pages.common import (
    chosen_strategy,
    current_analysis,
    dataset_folder,
    descriptions,
    follow,
    job_failed,
    need_dataset,
    no_worker_warning,
    remember,
    run_or_stop,
    show_progress,
    state,
    workspace,
)
from tlcore import jobs
from tlcore.train import FinetuneConfig, SearchConfig, TrainConfig

FINETUNE_DEFAULTS = {"image": (12, 16, 2e-4), "text": (3, 6, 5e-5)}  # blocks, most blocks, learning rate

st.title("Train")
_, dataset, _ = need_dataset()
stored = current_analysis()
analysis = stored[1] if stored else None
settings = analysis["recommendation"]["settings"] if analysis else {}
blocks_default, most_blocks, rate_default = FINETUNE_DEFAULTS[dataset.modality]
options = ["predict", "extract", "finetune", "all"]
strategy = st.radio("Strategy", options, index=options.index(chosen_strategy()), horizontal=True,
                    help="The Analyse page recommends one; 'all' trains the three and compares them on test.")
budget = st.slider("Time budget (seconds)", 30, 1800, 300, step=30)
with st.expander("Advanced settings"):
    size = 0
    if dataset.modality == "image":
        size = st.number_input("Image size (px, 0 = automatic)", 0, 224, settings.get("image_size", 0), step=32)
    trials = st.number_input("Keras Tuner trials", 0, 50, SearchConfig().max_trials)
    blocks = st.number_input("Blocks to unfreeze when fine-tuning" if dataset.modality == "image" else
                             "Transformer layers to unfreeze when fine-tuning", 1, most_blocks,
                             settings.get("unfreeze_blocks", blocks_default))
    epochs = st.number_input("Fine-tuning epochs (at most)", 1, 50, FinetuneConfig().epochs)
    rate = st.number_input("Fine-tuning learning rate", 1e-6, 1e-2, settings.get("learning_rate", rate_default),
                           format="%.6f")

run_dir = state().folder(workspace(), "runs")
if run_dir is not None and jobs.job_info(run_dir).get("dataset") != str(dataset_folder()):
    run_dir = None  # the run on show belongs to another dataset
if run_dir is not None and jobs.job_state(run_dir) in jobs.UNFINISHED:
    follow(run_dir, f"Run {run_dir.name}")
    st.stop()

if st.button("Train", type="primary"):
    config = TrainConfig(
        strategies=(strategy,), image_size=int(size) or None, budget_seconds=float(budget),
        backbone=analysis["backbone"] if analysis else None,
        search=SearchConfig(max_trials=int(trials)),
        finetune=FinetuneConfig(unfreeze_blocks=int(blocks), epochs=int(epochs), learning_rate=float(rate)),
        class_descriptions=descriptions(),
    )
    run_dir = run_or_stop(lambda: jobs.submit_training(workspace(), dataset_folder(), config))
    remember(run=run_dir.name, strategy=strategy)
    st.rerun()
if run_dir is None:
    st.info("Press Train: the work runs in the background, so you can leave this page, reload it or close the tab; "
            "the Runs page lists every run.")
    no_worker_warning()
    st.stop()

found = jobs.job_state(run_dir)
if found != "complete":
    job_failed(run_dir)
    st.stop()
show_progress(run_dir, f"Run {run_dir.name}", found)
report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
selected, test = report["selected"], report["test"]
st.success(f"Done: {selected['strategy']}/{selected['model']} selected on validation; "
           f"test accuracy {test['accuracy']:.1%}. See Results.")
st.dataframe(pd.DataFrame(report["leaderboard"]), hide_index=True)
