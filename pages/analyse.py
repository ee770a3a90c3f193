"""Analyse: how the data relates to the base, and which way of reusing it fits best."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import ProgressPanel, current_analysis, need_dataset, run_or_stop, set_analysis, set_strategy
from tlcore.analysis import analyze
from tlcore.backbones import DEFAULT_BACKBONE, REGISTRY

st.title("Analyse")
_, dataset, _ = need_dataset()
available = {name: spec.availability() for name, spec in REGISTRY.items()}
base = st.selectbox("Base model", list(REGISTRY), index=list(REGISTRY).index(DEFAULT_BACKBONE),
                    format_func=lambda n: f"{REGISTRY[n].title}" + ("" if available[n][0] else " (unavailable)"))
if not available[base][0]:
    st.warning(f"{REGISTRY[base].title} is not available offline: {available[base][1]}")
    st.stop()

stored = current_analysis()
if stored is None or stored[1].backbone != base:
    if not st.button("Analyse", type="primary"):
        st.info("Press Analyse: one pass of the base over your images, then a few seconds of measuring.")
        st.stop()
    set_analysis(run_or_stop(lambda: analyze(dataset, base, progress=ProgressPanel())))
analysis = current_analysis()[1]

advice, gap, measures = analysis.recommendation, analysis.domain_gap, analysis.transferability
st.subheader(f"Recommended: {advice.strategy} (confidence {advice.confidence:.0%})")
for reason in advice.reasons:
    st.markdown(f"- {reason}")
cols = st.columns(4)
cols[0].metric("Images per class to learn from", f"{analysis.dataset['per_class_known_median']:.0f}")
cols[1].metric("Class names known to ImageNet", analysis.label_overlap.matched_classes)
cols[2].metric("BatchNorm shift from ImageNet", f"{gap.bn_shift:.2f}")
cols[3].metric("ImageNet top-1 confidence", f"{gap.mean_top1:.2f}")
expected = pd.DataFrame([{"strategy": k, "expected accuracy": v} for k, v in advice.expected_accuracy.items()])
st.dataframe(expected, hide_index=True)
shift = pd.DataFrame(gap.per_block)
st.plotly_chart(px.line(shift, x="block", y="shift", markers=True,
                        title="Where your data stops looking like ImageNet (BatchNorm shift per block)"),
                width="stretch")
with st.expander("All measures"):
    st.json(measures.to_dict())
    st.dataframe(pd.DataFrame(analysis.label_overlap.per_class), hide_index=True)
options = ["predict", "extract", "finetune"]
choice = st.radio("Strategy to train", options, index=options.index(advice.strategy), horizontal=True)
set_strategy(choice)
