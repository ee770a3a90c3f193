"""Data: a built-in sample, or an upload of images (a zip) or texts (a CSV/TSV, or a zip of .txt); what is in it.

Every name the user gave (an upload's file name, class names, file names, texts) is shown as text, never as
Markdown (`plain`), and every image is shown from TransferLab's own decoding (`shown`), or a placeholder.
"""

import html
import os

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import (
    current_analysis,
    current_dataset,
    next_step,
    plain,
    remember,
    run_or_stop,
    state,
    steps,
    stored_upload,
    workspace,
)
from tlcore.data import import_data
from tlcore.data.checks import FEW_PER_CLASS
from tlcore.data.versions import revise
from tlcore.errors import TLCoreError
from tlcore.image import gather
from tlcore.image.decode import thumbnail
from tlcore.modality import modality_of
from tlcore.samples import DEFAULT_SAMPLE, SAMPLES, sample_path
from tlcore.text.data import TABLE_SUFFIXES, table_columns

steps("Data")
st.title("Data")
limit_mb = st.get_option("server.maxUploadSize")
now = state()
choices = [f"sample:{name}" for name in SAMPLES] + ["upload", "gather"]
labels = {f"sample:{s.name}": f"Built-in: {s.title} ({s.description})" for s in SAMPLES.values()}
labels["upload"] = "Upload images (a zip of class folders) or texts (a CSV/TSV file, or a zip of .txt folders)"
labels["gather"] = "Gather images here: name your classes, add photos from your computer or your webcam"
default = now.choice if now.choice in choices else f"sample:{DEFAULT_SAMPLE}"
choice = st.radio("Dataset", choices, index=choices.index(default), format_func=labels.get)

MAX_NAMED = 5  # classes named in a warning; the rest are in a table folded below it
CLASSES_PER_PAGE = 20  # classes whose samples are shown at once
IMAGE_TYPES = ["jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff"]
@st.cache_data(max_entries=4096, show_spinner=False)
def _thumbnail(path: str, side: int, stamp: float) -> np.ndarray | None:
    try:
        return thumbnail(path, side)
    except TLCoreError:
        return None


def shown(path, side: int = 240) -> np.ndarray:
    """The image at `path` as RGB that fits in side x side (any mode Pillow reads), or a grey placeholder."""
    try:
        stamp = os.stat(path).st_mtime
    except OSError:
        stamp = 0.0
    image = _thumbnail(str(path), side, stamp)
    return image if image is not None else np.full((side // 2, side // 2, 3), 200, dtype=np.uint8)


def gather_panel() -> None:
    """Classes and their images, gathered here (files or the webcam), then made into a dataset."""
    st.caption(f"Name at least two classes, add at least {gather.MIN_PER_CLASS} images to each (several files at "
               "once, or photos from your webcam), then create the dataset. It is checked and stored like an upload.")
    draft = gather.open_draft(workspace())
    version = st.session_state.setdefault("gather_version", 0)  # a new key empties the upload and camera widgets
    with st.form("new_class", clear_on_submit=True, border=False):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        typed = left.text_input("New class", placeholder="e.g. cat")
        pressed = right.form_submit_button("Add class")
    if pressed and _attempt(lambda: gather.add_class(workspace(), typed)) is not None:  # an empty name is refused too
        st.rerun()
    if not draft.classes:
        return
    names = list(draft.classes)
    camera, into = st.columns([2, 1])
    target = into.radio("Photos from the webcam go to", names, key="gather_target", format_func=plain)
    photo = camera.camera_input("Take a photo", key=f"camera:{version}")
    if photo is not None:
        _add(target, [(f"webcam photo {version}", photo.getvalue())])
    for index, name in enumerate(names):
        files = draft.files(name)
        st.markdown(f"**{plain(name)}**: {len(files)} image{'' if len(files) == 1 else 's'}")
        added = st.file_uploader(f"Add images to {plain(name)}", type=IMAGE_TYPES, accept_multiple_files=True,
                                 key=f"files:{index}:{version}")
        if added:
            _add(name, [(f.name, f.getvalue()) for f in added])
        if files:
            st.image([shown(f, 144) for f in files[-8:]], width=72)
    ready, missing = draft.ready()
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    title = left.text_input("Dataset name", value="gathered")
    if right.button("Create the dataset", type="primary", disabled=not ready, help=missing or None):
        with st.spinner("Checking every image..."):
            made = run_or_stop(lambda: gather.create_dataset(workspace(), title))
        remember(choice="gather", dataset=made.stored_in.name, dataset_key=f"gather:{made.stored_in.name}",
                 analysis="", strategy="", run="")
        st.rerun()


def _attempt(action):
    """Run a gathering step and return its result, or None when it is refused: the refusal is shown where the step
    was asked for and the panel around it stays whole (`run_or_stop` would end the page there, hiding the classes,
    the uploaders and "Create the dataset")."""
    try:
        return action()
    except TLCoreError as error:
        st.error(plain(str(error)))
        return None


def _add(name: str, images: list[tuple[str, bytes]]) -> None:
    added = _attempt(lambda: gather.add_images(workspace(), name, images))
    if added is None:
        return
    _, refused = added
    for line in refused:
        st.warning(f"Not added: {plain(line)}")
    st.session_state["gather_version"] += 1
    if not refused:
        st.rerun()


def _removed(key: str) -> None:
    """A removed upload gets a fresh uploader: the browser's file input keeps the removed file's name, and choosing
    the same file again then changes nothing, so the uploader stayed empty (issue 35, item 13)."""
    if st.session_state.get(key) is None:
        st.session_state["upload_version"] += 1


key, source, options = None, None, {}  # options: import_data keywords (the upload's own name, the table's columns)
if choice == "upload":
    st.caption(
        f"Up to {limit_mb} MB. Images: a zip with one folder per class (`cats/1.jpg`, `dogs/1.jpg`), optionally "
        "inside `train/` and `val/` or `test/` folders, or with a `labels.csv` (`path,label`). Images that belong "
        "together (frames of one video, one session) go in a sub-folder of their class (`cats/video-3/1.jpg`), "
        "which is kept whole in one split so the scores are on new ones. Texts: a CSV or TSV with a text column "
        "and a label column (and an optional `group` column), or a zip of class folders of `.txt` files."
    )
    upload_key = f"dataset_file:{st.session_state.setdefault('upload_version', 0)}"
    upload = st.file_uploader("Dataset file", type=["zip", "csv", "tsv"], key=upload_key, on_change=_removed,
                              args=(upload_key,))
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
elif choice == "gather":
    gather_panel()
    if now.choice != "gather" or current_dataset() is None:
        st.stop()  # nothing created yet; a gathered dataset created earlier stays on show below
else:
    key, source = choice, sample_path(choice.split(":", 1)[1])

loaded = current_dataset()
if source is not None and (loaded is None or loaded[0] != key):
    with st.spinner("Checking every file..."):
        imported = run_or_stop(lambda: import_data(source, workspace(), **options))
    remember(choice=choice, dataset=imported.stored_in.name, dataset_key=key, analysis="", strategy="", run="")
    st.rerun()  # the steps at the top name the new dataset
_, dataset, report = current_dataset()
noun = modality_of(dataset).noun.capitalize()
st.success(f"Loaded: **{plain(dataset.source)}**. It stays loaded while you go on to the next steps.")
next_step("Data")

cols = st.columns(4)
cols[0].metric(noun, len(dataset))
cols[1].metric("Classes", len(dataset.classes))
sizes = dataset.split_sizes()
cols[2].metric("Train / val / test", f"{sizes['train']} / {sizes['val']} / {sizes['test']}",
               help="Training teaches the model, validation chooses between models, test measures the chosen one "
                    "once, at the end.")
cols[3].metric("Skipped", len(dataset.skipped), help="Files that could not be used; the list is below.")
few = dataset.records["label"].value_counts().sort_index()
few = few[few < FEW_PER_CLASS]
for line in dict.fromkeys(report.warnings):  # each said once; what is only a note is shown as one
    if line.startswith(f"few {noun.lower()} in ") and len(few) > MAX_NAMED:  # a summary, the list folded below
        named = ", ".join(f"{plain(repr(name))} ({count})" for name, count in few.head(MAX_NAMED).items())
        st.warning(f"{len(few)} classes have fewer than {FEW_PER_CLASS} {noun.lower()}, e.g. {named}; "
                   f"{FEW_PER_CLASS} or more per class give steadier results")
        with st.expander(f"The {len(few)} classes with fewer than {FEW_PER_CLASS} {noun.lower()}"):
            st.dataframe(few.rename_axis("class").reset_index(name=noun.lower()), hide_index=True)
        continue
    (st.info if line in dataset.notes else st.warning)(plain(line))
if dataset.modality == "image" and st.button("Add images to this dataset",
                                             help="Opens the gathering panel with these images in it; creating the "
                                                  "dataset then makes a new one, and this one stays as it is."):
    run_or_stop(lambda: gather.start_from(workspace(), dataset))
    remember(choice="gather")
    st.rerun()

per_class = report.per_class.melt(id_vars="class", value_vars=["train", "val", "test"], var_name="split",
                                  value_name=noun.lower())
per_class["class"] = per_class["class"].map(lambda name: html.escape(str(name), quote=False))  # Plotly reads tags
st.plotly_chart(px.bar(per_class, x="class", y=noun.lower(), color="split", title=f"{noun} per class"),
                width="stretch")

st.subheader("Samples")


def image_samples(name: str, rows) -> None:
    files = rows["path"].head(6)
    st.image([shown(dataset.root / f, 192) for f in files], caption=[plain(short(f.rsplit("/", 1)[-1])) for f in files],
             width=96)


def review_label_issues() -> None:
    """The analysis's likely label mistakes, each to keep, exclude or relabel; the choices make a new version."""
    analysed = current_analysis()
    issues = (analysed[1] or {}).get("label_issues") if analysed else None
    if not issues:
        st.caption("Likely label mistakes are listed here once the data is analysed (the Analyse step)."
                   if issues is None else "The analysis found no likely label mistakes.")
        return
    modality = modality_of(dataset)
    st.subheader(f"Probably mislabelled: {len(issues)}")
    st.caption("Each label was compared with what a simple model, trained without that item, predicts (confident "
               "learning, cleanlab). Review them: your choices make a new version of the dataset, stored beside "
               "this one, which stays as it is.")
    choices = {}
    for index, issue in enumerate(issues[:MAX_REVIEWED]):
        left, right = st.columns([1, 2], vertical_alignment="center")
        SHOW_ITEM[modality.name](left, issue["file"])
        options = ["keep", "exclude", *[f"relabel as {c}" for c in dataset.classes if c != issue["given"]]]
        suggested = f"relabel as {issue['suggested']}"
        choices[issue["file"]] = right.radio(
            f"Labelled **{plain(issue['given'])}**; looks like **{plain(issue['suggested'])}** (the check gives its "
            f"label a {1 - issue['score']:.0%} chance)", options, key=f"review:{index}", horizontal=True,
            format_func=plain, help=f"'{plain(suggested)}' is what the check suggests.")
    excluded = {item for item, choice in choices.items() if choice == "exclude"}
    relabelled = {item: choice.removeprefix("relabel as ") for item, choice in choices.items()
                  if choice.startswith("relabel as ")}
    if st.button("Make the reviewed version", key="make_version", disabled=not (excluded or relabelled),
                 help="Stored as a new dataset; the next steps use it."):
        version = run_or_stop(lambda: revise(dataset, workspace(), modality.item_column, exclude=excluded,
                                             relabel=relabelled))
        remember(dataset=version.stored_in.name, dataset_key=f"version:{version.stored_in.name}", analysis="",
                 strategy="", run="")
        st.rerun()


MAX_REVIEWED = 24
# An image is captioned with its path inside the upload, so the user can find it in their own folders.
SHOW_ITEM = {"image": lambda where, item: where.image(shown(dataset.root / item), width=120, caption=plain(item)),
             "text": lambda where, item: where.markdown(plain(item))}  # kind of data -> how one item is shown


def short(name: str, keep: int = 11) -> str:
    """A file name that fits under a thumbnail whole: long ones keep their start and end around an ellipsis."""
    return name if len(name) <= keep else f"{name[: keep - 7]}…{name[-6:]}"


def text_samples(name: str, rows) -> None:
    st.dataframe(rows[["text"]].head(4), hide_index=True, width="stretch")


SHOW_SAMPLES = {"image": image_samples, "text": text_samples}  # kind of data -> how a few of its items are shown
shown_classes = list(dataset.classes)
if len(shown_classes) > CLASSES_PER_PAGE:  # hundreds of rows of samples would bury the rest of the page
    pages = -(-len(shown_classes) // CLASSES_PER_PAGE)
    page = st.number_input(f"Page of samples (1 to {pages})", min_value=1, max_value=pages, value=1, step=1,
                           key="samples_page")
    first = (int(page) - 1) * CLASSES_PER_PAGE
    shown_classes = shown_classes[first:first + CLASSES_PER_PAGE]
    st.caption(f"Classes {first + 1} to {first + len(shown_classes)} of {len(dataset.classes)}, in name order.")
for name in shown_classes:
    st.markdown(f"**{plain(name)}**")  # the class name above its own row of samples
    SHOW_SAMPLES[dataset.modality](name, dataset.records.loc[dataset.records["label"] == name])

review_label_issues()
skipped_files = {s.file for s in dataset.skipped}
duplicates = [d for d in report.duplicates if not set(d["files"]) <= skipped_files]  # dropped ones are listed below
with st.expander(f"Per-class details, formats ({plain(', '.join(report.formats))}), duplicates: {len(duplicates)}"):
    st.dataframe(report.per_class, hide_index=True)
    if duplicates:
        st.dataframe(pd.DataFrame(duplicates), hide_index=True)
if dataset.skipped:
    with st.expander(f"Skipped ({len(dataset.skipped)})"):
        st.dataframe(pd.DataFrame([s.__dict__ for s in dataset.skipped]), hide_index=True)
