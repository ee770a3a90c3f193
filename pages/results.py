"""Results: the leaderboard and honest held-out numbers of the selected model."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import (
    current_run,
    follow,
    job_failed,
    kept_first,
    next_step,
    no_worker_warning,
    plain,
    scores_in_context,
    show_kept,
    state,
    steps,
    workspace,
)
from tlcore import jobs, words
from tlcore.benefit import show as benefit_view
from tlcore.benefit.job import plan_for_run
from tlcore.errors import TLCoreError
from tlcore.explain import stored_explanations, top_words
from tlcore.progress import duration
from tlcore.train.evaluate import temperature_sentence
from tlcore.unknown import MIN_HELD_OUT

steps("Results")
st.title("Results")
run = current_run()
if run is None:
    run_dir = state().folder(workspace(), "runs")
    found = jobs.job_state(run_dir) if run_dir is not None and run_dir.is_dir() else None
    if found in jobs.UNFINISHED:  # training now: its progress here, its results when it completes
        st.caption("The run below is training; its results appear here when it completes.")
        follow(run_dir, f"Run {run_dir.name}")
        st.stop()
    if found in ("failed", "cancelled", "interrupted"):
        job_failed(run_dir)
    kept = kept_first(run_dir)
    if kept:  # its full results are the final model's; the first model's score and download are here and on Export
        show_kept(kept, st.info)
        st.caption("Its bundle, and a place to try it, are on the Export page.")
        next_step("Results")
        st.stop()
    st.info("Train a model on the Train page first (or open an earlier run on the Runs page).")
    st.stop()

report = run["report"]
test, classes, selected = report["test"], report["classes"], report["selected"]
n_test = sum(r["support"] for r in test["per_class"])
title = words.model_title(selected["strategy"], selected["model"], words.base_title(report["backbone"]))
st.caption(f"Run {run['run_dir'].name}. Selected on the validation split: **{title}**. Every number below was "
           f"measured on the held-out test split ({n_test} items), used once, for these numbers only.")
cols = st.columns(4)
cols[0].metric("Test accuracy", words.percent(test["accuracy"]),
               help="Share of the test items the model labels right.")
cols[1].metric("Macro-F1", f"{test['macro_f1']:.3f}",
               help="F1 (the balance of precision and recall) averaged over the classes, each class counting "
                    "the same however many items it has: low when a small class is often missed.")
change = test["ece_after"] - test["ece_before"]
cols[2].metric("Calibration error", f"{test['ece_after']:.3f}",
               f"{change:+.3f} from {test['ece_before']:.3f} before scaling",
               delta_color="inverse" if round(change, 3) else "off",
               help="How far the model's confidence is from how often it is right (0 = honest), after temperature "
                    "scaling; below it, the change from before temperature scaling (green: closer to honest).")
cols[3].metric("Temperature", f"{test['temperature']:.2f}",
               help="Divides the model's scores before they become probabilities: above 1 softens over-confident "
                    "answers, below 1 sharpens them; 1 leaves them as they are. Where it came from: below.")
if test.get("temperature_fitted_on"):
    (low_b, high_b), (low_a, high_a) = test["ece_before_interval"], test["ece_after_interval"]
    st.caption(f"Calibration error on the test split: {test['ece_before']:.3f} (95% interval {low_b:.3f}-{high_b:.3f}) "
               f"before temperature scaling, {test['ece_after']:.3f} ({low_a:.3f}-{high_a:.3f}) after. "
               + temperature_sentence(test["temperature_fitted_on"], test.get("temperature_note", "")))
scores_in_context(report, st.info)
if report.get("anytime"):
    st.caption(words.anytime_note(report["anytime"]))

left, right = st.columns(2)
left.plotly_chart(px.imshow(test["confusion"], x=classes, y=classes, text_auto=True, labels={"x": "predicted",
                  "y": "true"}, title="Confusion matrix (test split)"), width="stretch")
per_class = pd.DataFrame(test["per_class"]).melt(id_vars="class", value_vars=["precision", "recall", "f1"])
right.plotly_chart(px.bar(per_class, x="class", y="value", color="variable", barmode="group",
                          title="Per class (test split)"), width="stretch")
reliability = pd.concat([pd.DataFrame(test["reliability_before"]).assign(model="before"),
                         pd.DataFrame(test["reliability_after"]).assign(model="after temperature scaling")])
chart = px.line(reliability, x="confidence", y="accuracy", color="model", markers=True, range_x=[-0.02, 1.02],
                range_y=[-0.02, 1.05], title="Reliability (test split): a calibrated model sits on the diagonal")
chart.update_traces(cliponaxis=False)  # a point at 100% stays whole at the chart's edge
chart.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot"})
st.plotly_chart(chart, width="stretch")
unknown = report.get("unknown")
if unknown and "test_flagged" in unknown:
    set_on = unknown.get("threshold_set_on", "validation split").rsplit(": ", 1)[0]  # "validation split (37 items)"
    st.caption(f"\"None of my classes\": inputs further from every class than 95% of the {set_on} are flagged as "
               f"unknown on Export and in predictions. On the test split it flagged {unknown['test_flagged']:.0%} of "
               f"your own {unknown['test_items']} items (about 5% is expected).")
elif not unknown:
    val_items = (report.get("largest_class") or {}).get("val_items")
    st.caption("\"None of my classes\": not available for this model, so every input gets one of your classes, "
               "however unrelated. " + (f"The validation split holds {val_items} items, too few to set the line "
                                        f"(at least {MIN_HELD_OUT} are needed); add data to get it."
                                        if val_items is not None and val_items < MIN_HELD_OUT else ""))
st.subheader("Most confident mistakes (test split)")
mistakes = test["misclassified"][:12]
explained = {e["file"]: e for e in stored_explanations(run["run_dir"])}
captions = [f"{m['true']} → {m['predicted']} ({m['confidence']:.0%})" for m in mistakes]


def image_mistakes() -> None:
    pictures = [run["run_dir"] / "explain" / explained[m["file"]]["picture"] if m["file"] in explained
                else run["root"] / m["file"] for m in mistakes]
    st.image([str(p) for p in pictures], width=160, caption=captions)
    if explained:
        method = next(iter(explained.values()))["method"]
        st.caption(f"Red marks where the model looked for the class it gave ({method}); shown for the "
                   f"{len(explained)} most confident mistakes.")


def text_mistakes() -> None:
    st.dataframe(pd.DataFrame({"text": [m["file"] for m in mistakes], "true → predicted": captions,
                               "words that argued for it": [top_words(explained[m["file"]]["words"])
                                                            if m["file"] in explained else "" for m in mistakes]}),
                 hide_index=True, width="stretch")


SHOW_MISTAKES = {"image": image_mistakes, "text": text_mistakes}  # kind of data -> how its inputs are shown
if mistakes:
    SHOW_MISTAKES[report.get("modality", "image")]()
else:
    st.write("No mistakes on the test split.")


def benefit_chart(benefit: dict):
    rows = pd.DataFrame(benefit_view.curve_rows(benefit))
    chart = px.line(rows, x="fraction", y="accuracy", color="model", markers=True, error_y="above",
                    error_y_minus="below", hover_data=["share of the training split", "per class", "seconds"],
                    range_y=[0, 1.05], title="Test accuracy against the share of the training split (95% intervals)",
                    labels={"fraction": "share of the training split used"})
    chart.update_xaxes(tickformat=".0%")
    chart.update_yaxes(tickformat=".0%")
    return chart


def what_transfer_saved() -> None:
    """The no-transfer model and the learning curve of this run: its own background job, asked for here."""
    st.subheader("What transfer saved you")
    run_dir, benefit = run["run_dir"], report.get("benefit")
    folder = run_dir / jobs.BENEFIT_DIR
    found = jobs.job_state(folder) if folder.is_dir() else None
    if found in jobs.UNFINISHED:
        follow(folder, "What transfer saved")
        return
    if benefit:
        cols = st.columns(3)
        for col, score in zip(cols, benefit_view.scores(benefit, report), strict=False):
            col.metric(score.label, score.value)
            col.caption(score.help)
        if benefit_view.curve_rows(benefit):
            st.plotly_chart(benefit_chart(benefit), width="stretch")
        for sentence in benefit_view.sentences(benefit):
            st.write(sentence)
        for reason in benefit_view.skipped(benefit):
            st.caption(f"Skipped: {reason}.")
        if benefit.get("curve"):
            return
    if found in ("failed", "cancelled", "interrupted"):
        job_failed(folder)
    try:  # a run whose folder cannot be measured says why here; the rest of the page (Next) still shows
        plan = plan_for_run(run_dir)
    except (TLCoreError, OSError) as error:
        st.caption(f"What transfer saved cannot be measured for this run: {plain(error)}")
        return
    st.caption("Trains what you would have had without transfer (a model that sees only your data) and retrains "
               "both on 10%, 25%, 50% and all of your training split, on the same test split. It needs at least "
               f"{duration(plan.needed.seconds)} here ({plan.needed.words()}) and is given at most "
               f"{duration(plan.budget_seconds)}; it runs in the background.")
    if st.button(f"Measure what transfer saved (about {duration(plan.budget_seconds)} at most)", key="benefit"):
        try:
            jobs.submit_benefit(workspace(), run_dir, plan.budget_seconds)
        except TLCoreError as error:
            st.error(plain(str(error)))
            return
        st.rerun()
    no_worker_warning()


what_transfer_saved()
next_step("Results")
