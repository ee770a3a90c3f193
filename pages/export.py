"""Export and try: download the bundle, and see what it says about new images."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import (
    current_run,
    download_first,
    follow,
    job_failed,
    kept_first,
    no_final_bundle,
    no_worker_warning,
    plain,
    run_or_stop,
    show_kept,
    state,
    steps,
    word_table,
    workspace,
)
from tlcore import jobs
from tlcore.export import install_command, tflite_seconds, tflite_warning
from tlcore.image.bundle import predict_bytes
from tlcore.modality import get_modality
from tlcore.predict import load_bundle, predict
from tlcore.progress import duration

steps("Export")
st.title("Export and try")
run = current_run()
kept = None
if run is None:
    run_dir = state().folder(workspace(), "runs")
    if run_dir is not None and run_dir.is_dir() and jobs.job_state(run_dir) in jobs.UNFINISHED:
        st.caption("The run below is training; its bundle appears here when it is ready.")
        follow(run_dir, f"Run {run_dir.name}")
        st.stop()
    kept = kept_first(run_dir)  # a run that stopped after its first model: that model is what there is to export
    if kept is None:
        st.info("Train a model on the Train page first (or open an earlier run on the Runs page).")
        st.stop()
    run = kept

st.caption(f"Dataset: **{plain(run['report'].get('source', ''))}**. Run {run['run_dir'].name}.")
if kept:
    job_failed(kept["run_dir"])
    show_kept(kept)
    archive = kept["archive"]
    download_first(kept, key="first", primary=True)
else:
    archive = run["run_dir"] / "bundle.zip"
    building = not archive.is_file() and follow(run["run_dir"], "Building the bundle") != "complete"
    if not archive.is_file():
        if building:
            st.info("The bundle is being built.")
        else:
            no_final_bundle(run["run_dir"])
        st.stop()
    st.download_button("Download the trained model (bundle.zip)", archive.read_bytes(), file_name="bundle.zip",
                       mime="application/zip", type="primary")


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def opened(path: str, changed: int):
    """The bundle at `path`, loaded once while it is unchanged (`changed`: its mtime; zipped again with TFLite copies,
    it is loaded anew). Every rerun of this page had unzipped it and loaded its Keras model again, about 2 s, so each
    press of a button and each image tried waited that long before the page answered."""
    return load_bundle(path)


bundle = run_or_stop(lambda: opened(str(archive), archive.stat().st_mtime_ns))
modality = get_modality(bundle.modality)


def offer_tflite(run_dir) -> None:
    """TFLite copies of the model, for phones and small devices: converted on request, in the background (the
    final bundle does not wait for them)."""
    folder = run_dir / jobs.TFLITE_DIR
    found = jobs.job_state(folder) if folder.is_dir() else None
    if found in jobs.UNFINISHED:
        follow(folder, "Adding TFLite copies to the bundle")
        return
    if found in ("failed", "cancelled", "interrupted"):
        job_failed(folder)
    if st.button(f"Add TFLite copies for phones (about {duration(tflite_seconds(bundle.manifest))})", key="tflite",
                 help="model.tflite (float32) and model_int8.tflite (a quarter of the size), checked against "
                      "model.keras on your test images; the bundle above is zipped again with them."):
        run_or_stop(lambda: jobs.submit_tflite(workspace(), run_dir))
        st.rerun()
    no_worker_warning()


if not kept and modality.makes_tflite and not bundle.manifest.get("tflite"):
    offer_tflite(run["run_dir"])


def answer_words(result: dict) -> str:
    """The answer in words: the class and its probability, or, when the input looks like none of the classes,
    that first, with the nearest class after it."""
    if result["unknown"]:
        return f"probably none of these classes (nearest: **{result['label']}**, {result['prob']:.0%})"
    return f"**{result['label']}** ({result['prob']:.0%})"


def needs() -> str:
    """What predict.py needs, as the model card says it (`pip install ...`)."""
    return f"predict.py, which runs after `{install_command(bundle.manifest)}`"


def show(result: dict, where, key: str) -> None:
    if result["unknown"]:
        where.warning(f"This looks like none of your classes (unknown score {result['unknown_score']:.1f}: above 1, "
                      "it is further from every class than 95% of the held-out inputs its line was set on). Treat "
                      "the answer below with care.")
    chart = px.bar(pd.DataFrame(result["top"])[::-1], x="prob", y="label", orientation="h", range_x=[0, 1])
    where.plotly_chart(chart, width="stretch", key=key)  # keyed: the same photo twice draws the same chart twice


def try_texts() -> None:
    st.caption("Inside: model.keras (takes the tokenizer's word-piece ids), tokenizer/ (its vocabulary), "
               f"labels.json, manifest.json, a model card and {needs()}.")
    typed = st.text_area("Try it on a text", placeholder="Type or paste a text, then press Ctrl+Enter")
    if typed.strip():
        (result,) = run_or_stop(lambda: predict(bundle, [typed]))
        said = answer_words(result)
        st.markdown(said[:1].upper() + said[1:])
        show(result, st, "typed")
        explanation = run_or_stop(lambda: modality.explain(bundle, typed))
        st.caption(f"Which words it read for {result['label']}, by {explanation.method}:")
        st.dataframe(word_table(explanation.words), hide_index=True, width="stretch")


def try_images() -> None:
    tflite = "model.tflite and model_int8.tflite, " if bundle.manifest.get("tflite") else ""  # made on request
    st.caption(f"Inside: model.keras (takes raw images), {tflite}labels.json, manifest.json, a model card and "
               f"{needs()}.")
    if warning := tflite_warning(bundle.manifest):
        st.warning(warning)
    uploads = st.file_uploader("Try it on images", type=["jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff"],
                               accept_multiple_files=True)
    for index, upload in enumerate(uploads or []):
        result = run_or_stop(lambda upload=upload: predict_bytes(bundle, upload.getvalue(), upload.name))
        explanation = run_or_stop(lambda upload=upload: modality.explain(bundle, upload.getvalue()))
        left, right = st.columns([1, 2])
        left.image(upload.getvalue(), caption=f"{upload.name}: {answer_words(result).replace('**', '')}", width=200)
        left.image(explanation.picture, caption=f"Where it looks for {result['label']}", width=200)
        show(result, right, f"upload:{index}")
    st.caption("Red marks where the model looks: the parts of the image that raised its answer's score most "
               "(Grad-CAM on the base's last convolution block). The base's own ImageNet classes for any image: see "
               "the Try the base page.")


TRY = {"image": try_images, "text": try_texts}  # kind of data -> how a user gives the model an input
if not bundle.manifest.get("unknown"):
    st.caption("This model carries no \"none of my classes\" score (the Results page says why): every input gets "
               "one of your classes, however unrelated.")
TRY[bundle.modality]()
