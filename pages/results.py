"""Results: the leaderboard and honest held-out numbers of the selected model."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import current_run

st.title("Results")
run = current_run()
if run is None:
    st.info("Train a model on the Train page first (or open an earlier run on the Runs page).")
    st.stop()

report = run["report"]
test, classes, selected = report["test"], report["classes"], report["selected"]
st.caption(f"Dataset: **{report.get('source', '')}**. Run {run['run_dir'].name}. Selected on validation: "
           f"{selected['strategy']}/{selected['model']}. The test split was used once, for these numbers only.")
cols = st.columns(4)
cols[0].metric("Test accuracy", f"{test['accuracy']:.1%}")
cols[1].metric("Macro-F1", f"{test['macro_f1']:.3f}")
cols[2].metric("Calibration error", f"{test['ece_after']:.3f}", f"{test['ece_after'] - test['ece_before']:+.3f}",
               delta_color="inverse")
cols[3].metric("Temperature", f"{test['temperature']:.2f}")
st.dataframe(pd.DataFrame(report["leaderboard"]), hide_index=True)

left, right = st.columns(2)
left.plotly_chart(px.imshow(test["confusion"], x=classes, y=classes, text_auto=True, labels={"x": "predicted",
                  "y": "true"}, title="Confusion matrix"), width="stretch")
per_class = pd.DataFrame(test["per_class"]).melt(id_vars="class", value_vars=["precision", "recall", "f1"])
right.plotly_chart(px.bar(per_class, x="class", y="value", color="variable", barmode="group",
                          title="Per class"), width="stretch")
reliability = pd.concat([pd.DataFrame(test["reliability_before"]).assign(model="before"),
                         pd.DataFrame(test["reliability_after"]).assign(model="after temperature scaling")])
chart = px.line(reliability, x="confidence", y="accuracy", color="model", markers=True, range_x=[0, 1],
                range_y=[0, 1], title="Reliability: a calibrated model sits on the diagonal")
chart.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot"})
st.plotly_chart(chart, width="stretch")

st.subheader("Most confident mistakes")
mistakes = test["misclassified"][:12]
if not mistakes:
    st.write("No mistakes on the test split.")
    st.stop()
captions = [f"{m['true']} → {m['predicted']} ({m['confidence']:.0%})" for m in mistakes]
if report.get("modality") == "text":
    st.dataframe(pd.DataFrame({"text": [m["file"] for m in mistakes], "true → predicted": captions}),
                 hide_index=True, width="stretch")
else:
    st.image([str(run["root"] / m["file"]) for m in mistakes], width=120, caption=captions)
