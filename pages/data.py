"""Data: a built-in sample, or an upload of images (a zip) or texts (a CSV/TSV, or a zip of .txt); what is in it."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import current_dataset, remember, run_or_stop, state, stored_upload, workspace
from tlcore.data import import_data
from tlcore.samples import DEFAULT_SAMPLE, SAMPLES, sample_path
from tlcore.text.data import TABLE_SUFFIXES, table_columns

st.title("Data")
limit_mb = st.get_option("server.maxUploadSize")
now = state()
choices = [f"sample:{name}" for name in SAMPLES] + ["upload"]
labels = {f"sample:{s.name}": f"Built-in: {s.title} ({s.description})" for s in SAMPLES.values()}
labels["upload"] = "Upload images (a zip of class folders) or texts (a CSV/TSV file, or a zip of .txt folders)"
default = now.choice if now.choice in choices else f"sample:{DEFAULT_SAMPLE}"
choice = st.radio("Dataset", choices, index=choices.index(default), format_func=labels.get)

key, source, options = None, None, {}  # options: import_data keywords (the upload's own name, the table's columns)
if choice == "upload":
    st.caption(
        f"Up to {limit_mb} MB. Images: a zip with one folder per class (`cats/1.jpg`, `dogs/1.jpg`), optionally "
        "inside `train/` and `val/` or `test/` folders, or with a `labels.csv` (`path,label`). Texts: a CSV or TSV "
        "with a text column and a label column, or a zip of class folders of `.txt` files."
    )
    upload = st.file_uploader("Dataset file", type=["zip", "csv", "tsv"])
    if upload is not None:
        stored = stored_upload(upload)
        source, options["name"] = stored.path, stored.name
        if source.suffix.lower() in TABLE_SUFFIXES:
            found, text, label = run_or_stop(lambda: table_columns(source))
            left, right = st.columns(2)
            options["text_column"] = left.selectbox("Text column", found, index=found.index(text) if text else 0)
            options["label_column"] = right.selectbox("Label column", found,
                                                      index=found.index(label) if label else min(1, len(found) - 1))
        key = f"upload:{stored.path.name}:{sorted(options.items())}"
    elif now.choice != "upload" or current_dataset() is None:
        st.stop()  # nothing uploaded yet; an upload loaded earlier stays on show below
else:
    key, source = choice, sample_path(choice.split(":", 1)[1])

loaded = current_dataset()
if source is not None and (loaded is None or loaded[0] != key):
    with st.spinner("Checking every file..."):
        imported = run_or_stop(lambda: import_data(source, workspace(), **options))
    remember(choice=choice, dataset=imported.stored_in.name, dataset_key=key, analysis="", strategy="", run="")
_, dataset, report = current_dataset()
noun = "Texts" if dataset.modality == "text" else "Images"
st.success(f"Loaded: **{dataset.source}**. The next step is Analyse (in the sidebar); it stays loaded while you go.")

cols = st.columns(4)
cols[0].metric(noun, len(dataset))
cols[1].metric("Classes", len(dataset.classes))
sizes = dataset.split_sizes()
cols[2].metric("Train / val / test", f"{sizes['train']} / {sizes['val']} / {sizes['test']}")
cols[3].metric("Skipped", len(dataset.skipped))
for warning in report.warnings:
    st.warning(warning)

per_class = report.per_class.melt(id_vars="class", value_vars=["train", "val", "test"], var_name="split",
                                  value_name=noun.lower())
st.plotly_chart(px.bar(per_class, x="class", y=noun.lower(), color="split", title=f"{noun} per class"),
                width="stretch")

st.subheader("Samples")
for name in dataset.classes:
    rows = dataset.records.loc[dataset.records["label"] == name]
    if dataset.modality == "text":
        st.caption(name)
        st.dataframe(rows[["text"]].head(4), hide_index=True, width="stretch")
        continue
    files = rows["path"].head(6)
    st.image([str(dataset.root / f) for f in files], caption=list(files.map(lambda p: p.rsplit("/", 1)[-1])),
             width=96)
    st.caption(name)

with st.expander(f"Per-class details, formats ({', '.join(report.formats)}), duplicates: {len(report.duplicates)}"):
    st.dataframe(report.per_class, hide_index=True)
    if report.duplicates:
        st.dataframe(pd.DataFrame(report.duplicates), hide_index=True)
if dataset.skipped:
    with st.expander(f"Skipped ({len(dataset.skipped)})"):
        st.dataframe(pd.DataFrame([s.__dict__ for s in dataset.skipped]), hide_index=True)
