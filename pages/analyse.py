"""Analyse: how the data relates to the base, and which way of reusing it fits best (a background job)."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import (
    DEFAULT_BUDGET,
    STEPS,
    chosen_strategy,
    current_analysis,
    dataset_folder,
    descriptions,
    follow,
    go_to,
    job_failed,
    need_dataset,
    next_step,
    no_worker_warning,
    remember,
    run_or_stop,
    steps,
    workspace,
)
from tlcore import jobs, runs, words
from tlcore.analysis import base_ranking
from tlcore.modality import modality_of
from tlcore.pilot import PILOT_SECONDS, pilot_offer
from tlcore.strategy import DEFAULT_AIM
from tlcore.train import TrainConfig

steps("Analyse")
st.title("Analyse")
_, dataset, _ = need_dataset()
modality = modality_of(dataset)
registry, default = modality.bases(), modality.default_base
available = {name: spec.availability() for name, spec in registry.items()}
stored = current_analysis()
shown = jobs.job_info(stored[0]).get("backbone") if stored else None
base = st.selectbox("Base model", list(registry), index=list(registry).index(shown or default),
                    format_func=lambda n: f"{registry[n].title}" + ("" if available[n][0] else " (unavailable)"))
if not available[base][0]:
    st.warning(f"{registry[base].title} is not available offline: {available[base][1]}")
    st.stop()
if modality.describes_classes:
    with st.expander("Describe your classes (optional: helps 'predict', which compares texts with these words)"):
        typed = {name: st.text_input(name, descriptions().get(name, ""), placeholder=name)
                 for name in dataset.classes}
    typed = {k: v for k, v in typed.items() if v.strip()}
    if typed != descriptions():
        remember(descriptions=typed)

AIMS = {"fast": "Good and fast (fine-tune only where it clearly pays for its minutes)", "best": "The best accuracy"}
asked = jobs.job_info(stored[0]).get("aim", DEFAULT_AIM) if stored else DEFAULT_AIM
aim = st.radio("What matters most", list(AIMS), index=list(AIMS).index(asked), format_func=AIMS.get,
               horizontal=True, key="aim",
               help="Changes the advice between a new head on the frozen base and fine-tuning: fine-tuning usually "
                    "adds a little accuracy and takes minutes longer. Good and fast fine-tunes only where the gain "
                    "expected is clearly larger than the error of that estimate, or where fine-tuning is expected "
                    "to gain and to take at most 1.5 times as long as a new head.")

if stored is None or shown != base or asked != aim or runs.state(stored[0]) in ("failed", "cancelled", "interrupted"):
    if stored is not None and shown == base and asked == aim:
        job_failed(stored[0])
    if not st.button("Analyse", key="analyse", type="primary"):
        st.info(f"Press Analyse: one pass of the base over your {modality.noun}, then a few seconds "
                "of measuring. It runs in the background: you can leave this page and come back.")
        no_worker_warning()
        st.stop()
    folder = run_or_stop(lambda: jobs.submit_analysis(workspace(), dataset_folder(), base, descriptions(), aim=aim))
    remember(analysis=folder.name)
    st.rerun()
if follow(stored[0], "Analysis") != "complete" or stored[1] is None:
    st.stop()

analysis = stored[1]
advice, gap = analysis["recommendation"], analysis["domain_gap"]
strategy = advice["strategy"]
st.subheader(f"Our advice: {words.strategy_title(strategy).lower()}")
st.markdown(f"**{words.strategy_title(strategy)}** (`{strategy}`): {words.STRATEGY_WORDS[strategy][1]}. "
            f"How sure we are: {advice['confidence']:.0%} (50% is a coin toss between two ways).")
st.markdown("**Why**, from what we measured on your training and validation data (the test split is kept apart):")
for reason in advice["reasons"]:
    st.markdown(f"- {reason}")
offer = "" if analysis.get("pilot") else pilot_offer(advice)
if offer:
    st.warning(offer)
    if st.button(f"Run a {PILOT_SECONDS:.0f}-second pilot", key="pilot"):
        folder = run_or_stop(lambda: jobs.submit_analysis(workspace(), dataset_folder(), base, descriptions(),
                                                          pilot=True, aim=aim))
        remember(analysis=folder.name)
        st.rerun()
if analysis.get("label_issues"):
    st.info(f"{len(analysis['label_issues'])} of your {modality.noun} look mislabelled (their label disagrees with "
            "what a model trained without them predicts): review them on the Data page before training.")
recommended = TrainConfig.from_analysis(analysis, budget_seconds=DEFAULT_BUDGET, class_descriptions=descriptions())
expected = (advice.get("expected_seconds") or {}).get(strategy)
if st.button("Train the recommended model", key="train_recommended", type="primary",
             help=f"Trains '{strategy}' with the recommended settings in the background ("
                  + (f"about {words.seconds(min(expected, DEFAULT_BUDGET))} on this machine, " if expected else "")
                  + f"{DEFAULT_BUDGET:.0f} seconds at most, the bundle included), and takes you to the Train page "
                  "to follow it."):
    run_dir = run_or_stop(lambda: jobs.submit_training(workspace(), dataset_folder(), recommended))
    remember(run=run_dir.name, strategy=strategy)
    go_to(STEPS["Train"])

shown = [(f"{modality.noun.capitalize()} per class to learn from",
          f"{analysis['dataset']['per_class_known_median']:.0f}",
          "The median number per class in the training and validation splits: the rest (about 15%) is kept apart "
          "as the test split, to measure the final model honestly."), *modality.gap_summary(analysis)]
for start in range(0, len(shown), 2):  # two per row: the labels stay whole
    for col, (label, value, meaning) in zip(st.columns(2), shown[start : start + 2], strict=False):
        col.metric(label, value, help=meaning)
st.markdown("**Each way in points and minutes** (before any training): the accuracy it is expected to score, and "
            "the time from pressing Train to a model you can download, timed on this machine by the analysis, with "
            f"{words.base_at_size(analysis['backbone'], analysis.get('image_size'))}.")  # walk 8: which base?
st.table(words.expected_accuracy_table(analysis).set_index("Way"))
ranking = base_ranking(analysis)
if ranking:
    per = modality.noun.rstrip("s")
    capped = ("" if ranking.items == ranking.of_items
              else f" ({ranking.items} of them, a sample keeping each class's share)")
    st.markdown(f"**Which base reads your {modality.noun} best**, each measured on your training and validation "
                f"{modality.noun}{capped}: {ranking.sentence}")
    st.dataframe(pd.DataFrame([{
        "Base": row["title"] + (" (recommended)" if row["recommended"] else ""),
        "Linear probe accuracy": words.percent(row["probe_accuracy"]),
        "LogME (higher: better)": round(row["logme"], 2),
        f"Seconds per {per}": round(row["seconds_per_item"], 3),
    } for row in ranking.rows]), hide_index=True)
    if ranking.recommended != analysis["backbone"]:
        ranked, measured_with = registry[ranking.recommended].title, registry[analysis["backbone"]].title
        st.caption(f"The advice above, its times, its button and the Train page use {measured_with}, the base this "
                   f"analysis measured. To use {ranked}, choose it on the Train page (it has no expected time "
                   "there), or choose it above and analyse again to measure it in full.")
chart = modality.gap_chart(gap)
if chart:
    draw = px.line if chart["kind"] == "line" else px.bar
    st.plotly_chart(draw(pd.DataFrame(chart["rows"]), x=chart["x"], y=chart["y"], title=chart["title"],
                         **({"markers": True} if chart["kind"] == "line" else {})), width="stretch")
with st.expander("Details: every measure, for experts"):
    st.table(words.measures_table(analysis, modality.gap_words).set_index("Measure"))
    if analysis["label_overlap"]:
        st.markdown("Your class names against ImageNet's:")
        st.dataframe(pd.DataFrame(analysis["label_overlap"]["per_class"]), hide_index=True)
options = ["predict", "extract", "finetune"]
chosen = chosen_strategy(strategy)
choice = st.radio("Or pick another way to train on the next step", options,
                  index=options.index(chosen) if chosen in options else options.index(strategy), horizontal=True,
                  format_func=lambda s: f"{words.strategy_title(s)} ({s})", key="pick")
if choice != chosen:
    remember(strategy=choice)
next_step("Analyse")
