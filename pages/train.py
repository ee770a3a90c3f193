"""Train: the chosen strategy (or all three) within a time budget, as a background job followed live."""

import dataclasses
import json
from functools import partial

import streamlit as st

from pages.common import (
    DEFAULT_BUDGET,
    chosen_strategy,
    current_analysis,
    dataset_folder,
    descriptions,
    download_first,
    follow,
    job_failed,
    kept_first,
    need_dataset,
    next_step,
    no_final_bundle,
    no_worker_warning,
    remember,
    run_or_stop,
    scores_in_context,
    show_kept,
    show_progress,
    state,
    steps,
    workspace,
)
from tlcore import jobs, runs, words
from tlcore.analysis import base_ranking, expected_run_seconds
from tlcore.errors import SettingError
from tlcore.modality import modality_of
from tlcore.train import FinetuneConfig, SearchConfig, TrainConfig

steps("Train")
st.title("Train")
_, dataset, _ = need_dataset()
modality = modality_of(dataset)
stored = current_analysis()
analysis = stored[1] if stored else None
recommended = TrainConfig.from_analysis(analysis) if analysis else TrainConfig()
ranking = base_ranking(analysis) if analysis else None
registry = modality.bases()
run_dir = state().folder(workspace(), "runs")
if run_dir is not None and jobs.job_info(run_dir).get("dataset") != str(dataset_folder()):
    run_dir = None  # the run on show belongs to another dataset
# the base of the run on show, else the one the advice measured: its way, expected accuracy and time belong to it
# (walk 9 went from Analyse to Train, found the ranking's first base preselected, and had no expected time)
asked = ((runs.read_json(run_dir / runs.REQUEST_FILE).get("request") or {}).get("config") or {}) \
    if run_dir is not None else {}
trained = asked.get("backbone")
ranked = ranking.recommended if ranking else None
analysed = analysis.get("backbone") if analysis else None
preselected = trained or analysed or ranked or modality.default_base
usable = [name for name, spec in registry.items() if spec.availability()[0]] or [preselected]
measured = {row["base"]: row for row in ranking.rows} if ranking else {}
foreseen = ((analysis or {}).get("recommendation") or {}).get("expected_accuracy") or {}  # each way's, before training
marks = {ranked: "ranked first", analysed: "the advice's base"}  # one base both: the advice's
base = st.selectbox("Base model", usable, index=usable.index(preselected) if preselected in usable else 0, key="base",
                    format_func=lambda n: registry[n].title + (f", {marks[n]}" if n in marks else ""),
                    help=ranking.sentence if ranking else "The pretrained model your model is built on.")
if base in measured:
    row = measured[base]
    # the ranking's probe, the same measure for every base; beside it the advice's own where they differ (Shapes:
    # the ranking's 99.3% here had read as a contradiction of the advice's 100.0%), each saying what it is (walk 8
    # had read the two side by side as two scores for one base)
    advised = foreseen.get("extract") if base == analysed else None
    also = (f" The analysis measured this base more closely, as the Analyse page says: {words.percent(advised)} "
            "for a new head on its features." if advised is not None
            and words.percent(advised) != words.percent(row["probe_accuracy"]) else "")
    st.caption(f"On your {modality.noun}, in the ranking of bases (one quick linear probe, the same for every base): "
               f"{words.percent(row['probe_accuracy'])} right, at {row['seconds_per_item']:.3f} seconds per "
               f"{modality.noun.rstrip('s')} on this machine.{also}")
# The analysis's size belongs to the base it measured; another base gets its own (`resolve_base`).
choice = modality.resolve_base(dataset, base, recommended.image_size if base == recommended.backbone else None)
blocks_default, most_blocks, rate_default = modality.finetune_defaults(choice)
# a base outside Keras (the multilingual ones) cannot be fine-tuned: no such way, no settings for it
tunable = "finetune" in modality.strategies(choice.name)
options = [way for way in ("predict", "extract", "finetune") if way != "finetune" or tunable] + ["all"]
if not tunable:
    st.caption(f"{registry[base].title} cannot be fine-tuned (it runs outside Keras): predict and extract only.")
way = chosen_strategy(recommended.strategies[0])
strategy = st.radio("Way of reusing the pretrained model", options,
                    index=options.index(way if way in options else "extract"), horizontal=True,
                    format_func=lambda s: f"{words.strategy_title(s)} ({s})" if s != "all" else
                    "All three, compared" if tunable else "Both, compared",  # walk 9: "all three" with two ways
                    help="The Analyse page recommends one; 'all' trains the three and compares them on test.")
budget = st.slider("Time budget (seconds)", 30, 1800, int(DEFAULT_BUDGET), step=30,
                   help="Training stops by then and keeps the best model it has.")
with st.expander("Advanced settings"):
    size = 0
    if choice.image_size is not None:
        largest = max(registry[base].input_size, choice.image_size)  # the base's own size: no gain above it
        size = st.number_input("Image size (px, 0 = automatic)", 0, largest, choice.image_size, step=32,
                               key=f"size:{base}", help=f"{registry[base].title} was trained at {largest} px; smaller "
                               "images are quicker.")
    trials = st.number_input("Keras Tuner trials", 0, 50, recommended.search.max_trials)
    blocks, epochs, rate = recommended.finetune.unfreeze_blocks or blocks_default, recommended.finetune.epochs, \
        recommended.finetune.learning_rate or rate_default
    if tunable:
        blocks = st.number_input(f"{modality.unfreeze_word.capitalize()} to unfreeze when fine-tuning", 1,
                                 most_blocks, min(blocks, most_blocks))
        epochs = st.number_input("Fine-tuning epochs (at most)", 1, 50, epochs)
        rate = st.number_input("Fine-tuning learning rate", 1e-6, 1e-2, rate, format="%.6f")

if run_dir is not None and jobs.job_state(run_dir) in jobs.UNFINISHED:
    follow(run_dir, f"Run {run_dir.name}")
    st.stop()

config = dataclasses.replace(
    recommended, strategies=(strategy,), backbone=base, image_size=int(size) or None, budget_seconds=float(budget),
    search=SearchConfig(max_trials=int(trials)),
    finetune=FinetuneConfig(unfreeze_blocks=int(blocks), epochs=int(epochs), learning_rate=float(rate)),
    class_descriptions=descriptions(),
)
if analysis:  # how long to expect, before pressing Train (the same figure the bar and the end note use)
    st.caption(words.expected_before_note(expected_run_seconds(dataset.stored_in, config), budget, analysis))
if st.button("Train", key="train", type="primary"):
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
    kept = kept_first(run_dir)  # a run that stopped after its first model keeps that model's bundle
    if kept:
        show_kept(kept)
        download_first(kept, key="first", primary=True)
    st.stop()
show_progress(run_dir, f"Run {run_dir.name}", found)  # finished: the bar and the chart, nothing live
report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
selected, test = report["selected"], report["test"]
title = words.model_title(selected["strategy"], selected["model"], words.base_title(report["backbone"]))
tested = sum(r["support"] for r in test["per_class"])
st.success(f"Done. Selected on the validation split: **{title}**. Its accuracy on the held-out test split: "
           f"**{words.percent(test['accuracy'])}** ({tested} items).")
archive = run_dir / "bundle.zip"  # the final bundle (`tlcore.export.export_bundle`), as Export offers it
if archive.is_file():
    st.download_button(f"Download the trained model (bundle.zip, test accuracy {words.percent(test['accuracy'])})",
                       partial(archive.read_bytes), file_name="bundle.zip", mime="application/zip", key="bundle",
                       type="primary", on_click="ignore")  # read only when clicked
else:
    no_final_bundle(run_dir)
scores_in_context(report, st.caption)
if report.get("backbone") == (analysis or {}).get("backbone") and selected["strategy"] in foreseen:
    st.caption(words.expected_accuracy_note(foreseen[selected["strategy"]], test["accuracy"], tested))
# the rule said (walk 9 saw a simpler model kept 1.4 points below the best on validation, and read a contradiction)
st.caption("Validation accuracy chose the model: the simplest within one standard error of the best on validation, "
           "since a smaller lead is often luck. The test split was used once, afterwards, for the chosen models only. "
           + words.anytime_note(report.get("anytime")))
try:  # what the analysis expected of this run, for the base and size it timed (as the CLI's report says)
    expected = expected_run_seconds(dataset.stored_in, TrainConfig.from_dict(asked)) if asked else None
except SettingError:  # settings stored by an older version: the note goes without the expectation
    expected = None
st.caption(words.wall_note(report.get("wall"), expected))
next_step("Train")
