"""Analyse: how the data relates to the base, and which way of reusing it fits best (a background job)."""

import pandas as pd
import plotly.express as px
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
    workspace,
)
from tlcore import jobs, runs
from tlcore.backbones import DEFAULT_BACKBONE, REGISTRY
from tlcore.backbones.text import DEFAULT_TEXT_BACKBONE, TEXT_REGISTRY

st.title("Analyse")
_, dataset, _ = need_dataset()
text = dataset.modality == "text"
registry, default = (TEXT_REGISTRY, DEFAULT_TEXT_BACKBONE) if text else (REGISTRY, DEFAULT_BACKBONE)
available = {name: spec.availability() for name, spec in registry.items()}
stored = current_analysis()
shown = jobs.job_info(stored[0]).get("backbone") if stored else None
base = st.selectbox("Base model", list(registry), index=list(registry).index(shown or default),
                    format_func=lambda n: f"{registry[n].title}" + ("" if available[n][0] else " (unavailable)"))
if not available[base][0]:
    st.warning(f"{registry[base].title} is not available offline: {available[base][1]}")
    st.stop()
if text:
    with st.expander("Describe your classes (optional: helps 'predict', which compares texts with these words)"):
        typed = {name: st.text_input(name, descriptions().get(name, ""), placeholder=name)
                 for name in dataset.classes}
    typed = {k: v for k, v in typed.items() if v.strip()}
    if typed != descriptions():
        remember(descriptions=typed)

if stored is None or shown != base or runs.state(stored[0]) in ("failed", "cancelled", "interrupted"):
    if stored is not None and shown == base:
        job_failed(stored[0])
    if not st.button("Analyse", type="primary"):
        st.info(f"Press Analyse: one pass of the base over your {'texts' if text else 'images'}, then a few seconds "
                "of measuring. It runs in the background: you can leave this page and come back.")
        no_worker_warning()
        st.stop()
    folder = run_or_stop(lambda: jobs.submit_analysis(workspace(), dataset_folder(), base, descriptions()))
    remember(analysis=folder.name)
    st.rerun()
if follow(stored[0], "Analysis") != "complete" or stored[1] is None:
    st.stop()

analysis = stored[1]
advice, gap, measures = analysis["recommendation"], analysis["domain_gap"], analysis["transferability"]
st.subheader(f"Recommended: {advice['strategy']} (confidence {advice['confidence']:.0%})")
for reason in advice["reasons"]:
    st.markdown(f"- {reason}")
cols = st.columns(4)
cols[0].metric(f"{'Texts' if text else 'Images'} per class to learn from",
               f"{analysis['dataset']['per_class_known_median']:.0f}")
if text:
    cols[1].metric("Not English", f"{gap['non_english_share']:.0%}")
    cols[2].metric("Word pieces per word", f"{gap['pieces_per_word']:.2f}")
    cols[3].metric("Unknown word pieces", f"{gap['unknown_share']:.1%}")
else:
    cols[1].metric("Class names known to ImageNet", analysis["label_overlap"]["matched_classes"])
    cols[2].metric("BatchNorm shift from ImageNet", f"{gap['bn_shift']:.2f}")
    cols[3].metric("ImageNet top-1 confidence", f"{gap['mean_top1']:.2f}")
expected = pd.DataFrame([{"strategy": k, "expected accuracy": v} for k, v in advice["expected_accuracy"].items()])
st.dataframe(expected, hide_index=True)
if text:
    languages = pd.DataFrame([{"language": k, "share of texts": v} for k, v in gap["languages"].items()])
    if not languages.empty:
        st.plotly_chart(px.bar(languages, x="language", y="share of texts", title="Languages of your texts "
                               "(py3langid, over 20 common languages)"), width="stretch")
else:
    shift = pd.DataFrame(gap["per_block"])
    st.plotly_chart(px.line(shift, x="block", y="shift", markers=True,
                            title="Where your data stops looking like ImageNet (BatchNorm shift per block)"),
                    width="stretch")
with st.expander("All measures"):
    st.json(measures | ({"text": gap} if text else {}))
    if analysis["label_overlap"]:
        st.dataframe(pd.DataFrame(analysis["label_overlap"]["per_class"]), hide_index=True)
options = ["predict", "extract", "finetune"]
chosen = chosen_strategy(advice["strategy"])
choice = st.radio("Strategy to train", options, index=options.index(chosen) if chosen in options else
                  options.index(advice["strategy"]), horizontal=True)
if choice != chosen:
    remember(strategy=choice)
