"""Data: pick a built-in sample or upload a zip, and see what is in it before training."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import current_dataset, run_or_stop, set_dataset, workspace
from tlcore.data import import_dataset
from tlcore.data.audit import audit
from tlcore.samples import DEFAULT_SAMPLE, SAMPLES, sample_path

st.title("Data")
limit_mb = st.get_option("server.maxUploadSize")
choices = [f"sample:{name}" for name in SAMPLES] + ["upload"]
labels = {f"sample:{s.name}": f"Built-in: {s.title} ({s.description})" for s in SAMPLES.values()}
labels["upload"] = "Upload a zip of class folders"
choice = st.radio("Dataset", choices, index=choices.index(f"sample:{DEFAULT_SAMPLE}"), format_func=labels.get)

if choice == "upload":
    st.caption(
        f"A zip (up to {limit_mb} MB) with one folder per class: `cats/1.jpg`, `dogs/1.jpg`; optionally inside "
        "`train/` and `val/` or `test/` folders, or with a `labels.csv` (`path,label`)."
    )
    upload = st.file_uploader("Zip file", type=["zip"])
    if upload is None:
        st.stop()
    key = f"upload:{upload.name}:{upload.size}:{upload.file_id}"
    source = workspace() / "uploads" / upload.name
else:
    key, upload, source = choice, None, None

loaded = current_dataset()
if loaded is None or loaded[0] != key:
    with st.spinner("Checking every image..."):
        if upload is not None:
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(upload.getvalue())
        else:
            source = sample_path(choice.split(":", 1)[1])
        dataset = run_or_stop(lambda: import_dataset(source, workspace()))
        set_dataset(key, dataset, audit(dataset))
_, dataset, report = current_dataset()

cols = st.columns(4)
cols[0].metric("Images", len(dataset))
cols[1].metric("Classes", len(dataset.classes))
sizes = dataset.split_sizes()
cols[2].metric("Train / val / test", f"{sizes['train']} / {sizes['val']} / {sizes['test']}")
cols[3].metric("Skipped files", len(dataset.skipped))
for warning in report.warnings:
    st.warning(warning)

per_class = report.per_class.melt(id_vars="class", value_vars=["train", "val", "test"], var_name="split",
                                  value_name="images")
st.plotly_chart(px.bar(per_class, x="class", y="images", color="split", title="Images per class"), width="stretch")

st.subheader("Samples")
for name in dataset.classes:
    files = dataset.records.loc[dataset.records["label"] == name, "path"].head(6)
    st.image([str(dataset.root / f) for f in files], caption=list(files.map(lambda p: p.rsplit("/", 1)[-1])),
             width=96)
    st.caption(name)

with st.expander(f"Per-class details, formats ({', '.join(report.formats)}), duplicates: {len(report.duplicates)}"):
    st.dataframe(report.per_class, hide_index=True)
    if report.duplicates:
        st.dataframe(pd.DataFrame(report.duplicates), hide_index=True)
if dataset.skipped:
    with st.expander(f"Skipped files ({len(dataset.skipped)})"):
        st.dataframe(pd.DataFrame([s.__dict__ for s in dataset.skipped]), hide_index=True)
