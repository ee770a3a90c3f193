"""The app's pages run headless: normal paths on built-in data, error paths shown as messages."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


def page(name: str) -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=120)


def test_app_navigation_opens_on_the_data_page():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "Data"


def test_data_page_starts_on_the_sample_dataset():
    at = page("data").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "180" and metrics["Classes"] == "3"
    assert "circle" in at.get("plotly_chart")[0].proto.spec


def test_data_page_offers_a_text_sample():
    at = page("data").run()
    at.radio[0].set_value("sample:support").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Texts"] == "120" and metrics["Classes"] == "3"
    from tlcore.samples import SAMPLE_TEXTS

    lines = {f.stem: set(f.read_text(encoding="utf-8").splitlines()) for f in SAMPLE_TEXTS.glob("*.txt")}
    shown = {t for frame in at.dataframe if "text" in frame.value for t in frame.value["text"]}
    assert shown & lines["billing"] and shown <= set().union(*lines.values())  # the sample's own messages


def test_data_page_shows_a_refused_zip_as_a_message():
    at = page("data").run()
    at.radio[0].set_value("upload").run()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("cats/a.png", b"not really a png")
    at.file_uploader[0].upload("one.zip", buffer.getvalue(), "application/zip")
    at.run()
    assert not at.exception
    assert "found no usable images" in at.error[0].value


@pytest.fixture
def imagenet_page(backbone):  # the shared base is built once, before the page asks for it
    return page("imagenet").run()


def test_imagenet_page_asks_for_an_image(imagenet_page):
    assert not imagenet_page.exception
    assert "Upload a photo" in imagenet_page.info[0].value


def test_uploaded_photo_shows_its_imagenet_classes(imagenet_page, photos):
    imagenet_page.file_uploader[0].upload("chelsea.jpg", photos["chelsea"].read_bytes(), "image/jpeg")
    imagenet_page.run()
    assert not imagenet_page.exception
    assert "Egyptian cat" in imagenet_page.get("plotly_chart")[0].proto.spec


def test_broken_upload_shows_a_message_not_a_traceback(imagenet_page):
    imagenet_page.file_uploader[0].upload("broken.png", b"this is not a png", "image/png")
    imagenet_page.run()
    assert not imagenet_page.exception
    assert "not a readable image" in imagenet_page.error[0].value


def test_the_whole_path_through_the_pages(tmp_path):
    """Data (Shapes sample) -> Analyse -> Train (predict) -> Results -> Export -> Runs, in one session."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
    assert not at.exception

    at.switch_page("pages/analyse.py").run()
    assert "Press Analyse" in at.info[0].value
    at.button(key="analyse").click().run()
    assert not at.exception
    assert at.subheader[0].value.startswith("Our advice: ") and at.radio(key="aim").value == "fast"  # the default
    ways = at.table[0].value  # every way in points and minutes, side by side
    assert {"Expected accuracy", "Time to a downloadable model"} <= set(ways.columns) and len(ways) == 3
    times = list(ways["Time to a downloadable model"])
    assert times[0].endswith(" s")  # the base as it is
    # the drawn shapes are all right on validation: the trained ways stop after their first head, and say so
    assert all(t.endswith(" s (stops after its first model: it already gets validation as right as validation "
                          "can tell)") for t in times[1:]), times
    at.radio(key="aim").set_value("best").run()  # another aim: a new analysis, asked for
    assert "Press Analyse" in at.info[0].value
    at.button(key="analyse").click().run()
    assert at.subheader[0].value.startswith("Our advice: ") and at.radio(key="aim").value == "best"
    at.radio(key="pick").set_value("predict").run()

    at.switch_page("pages/train.py").run()
    assert at.radio[0].value == "predict"  # the choice made on the Analyse page
    at.button(key="train").click().run()
    assert not at.exception
    assert "held-out test split" in at.success[0].value
    assert any(c.value.startswith("The advice expected about ") for c in at.caption)  # beside the test score

    at.switch_page("pages/results.py").run()
    assert not at.exception
    assert float(at.metric[0].value.rstrip("%")) > 50
    assert len(at.get("plotly_chart")) == 3  # confusion, per class, reliability

    at.switch_page("pages/export.py").run()
    assert not at.exception
    assert at.get("download_button")
    inside = next(c.value for c in at.caption if c.value.startswith("Inside: "))
    assert "model.tflite" not in inside  # the final bundle does not wait for the conversions: asked for here
    offer = at.button(key="tflite")
    assert offer.label.startswith("Add TFLite copies for phones (about ")
    offer.click().run()  # the job runs in-process here, then the page shows the bundle zipped again
    assert not at.exception
    assert "model.tflite" in next(c.value for c in at.caption if c.value.startswith("Inside: "))
    assert not [b for b in at.button if b.key == "tflite"]
    from tlcore import workspaces
    from tlcore.export import INT8_AGREEMENT_FLOOR
    from tlcore.predict import load_bundle

    ws = at.query_params["ws"][0] if isinstance(at.query_params["ws"], list) else at.query_params["ws"]
    parity = load_bundle(next(workspaces.open_workspace(ws).glob("runs/*/bundle.zip"))).manifest["tflite"]
    warned = any(w.value.startswith("model_int8.tflite gave the same answer") for w in at.warning)
    assert warned == (parity["int8_top1_agreement"] < INT8_AGREEMENT_FLOOR)  # the page says what the manifest does

    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert at.dataframe[0].value["bundle"].tolist() == [True]
    assert at.dataframe[0].value["base"].tolist() == ["EfficientNet-Lite0"]  # walk 9 could not tell two runs apart


def test_pages_without_a_run_point_the_way():
    for name in ("results", "export"):
        at = page(name).run()
        assert not at.exception and "Train a model" in at.info[0].value


def test_analyse_page_names_an_unavailable_base_instead_of_failing():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300).run()
    at.switch_page("pages/analyse.py").run()
    at.selectbox[0].set_value("mobilenet_v2").run()
    assert not at.exception
    assert "not available offline" in at.warning[0].value and "mobilenet_v2_weights" in at.warning[0].value


def test_pages_without_data_point_to_the_data_page():
    for name in ("analyse", "train"):
        at = page(name).run()
        assert not at.exception and "Data page" in at.info[0].value


def test_a_restarted_app_finds_the_runs_of_its_workspace(tmp_path):
    """The workspace's name travels in the address (?ws=...): a new session with it sees the old runs."""
    first = AppTest.from_file(str(REPO / "app.py"), default_timeout=300).run()
    name = first.query_params["ws"][0] if isinstance(first.query_params["ws"], list) else first.query_params["ws"]
    from tlcore import paths, runs

    run_dir = paths.home() / "sessions" / name / "runs" / "20260101-000000-abcd"
    runs.write_json(run_dir / "report.json", {"source": "old", "strategy": "extract", "seconds": 1,
                                              "selected": {"strategy": "extract", "model": "knn"},
                                              "test": {"accuracy": 0.5}})
    runs.set_status(run_dir, "complete")
    again = AppTest.from_file(str(REPO / "pages" / "runs.py"), default_timeout=300)
    again.query_params["ws"] = name
    again.run()
    assert not again.exception
    assert again.dataframe[0].value["run"].tolist() == ["20260101-000000-abcd"]
    fresh = page("runs").run()  # another browser, another workspace: nothing to see
    assert "No finished runs yet" in fresh.info[0].value


def test_layers_stay_apart():
    """tlcore never imports streamlit; pages and app.py never import tensorflow, keras or sklearn."""
    import ast

    def imported(path):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield from (alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield node.module.split(".")[0]

    library = {m for path in (REPO / "tlcore").rglob("*.py") for m in imported(path)}
    ui = {m for path in [REPO / "app.py", *(REPO / "pages").glob("*.py")] for m in imported(path)}
    assert "streamlit" not in library
    assert not ui & {"tensorflow", "keras", "sklearn", "keras_tuner"}
    assert "tlcore" in ui and "streamlit" in ui  # the check looks at the right files


def test_the_text_path_through_the_pages(tmp_path):
    """Upload a CSV -> Analyse -> Train (extract) -> Results -> Export and try a typed text."""
    from tests.test_text import texts_csv

    source = texts_csv(tmp_path)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].upload("messages.csv", source.read_bytes(), "text/csv")
    at.run()
    assert not at.exception
    assert [s.value for s in at.selectbox] == ["text", "label"]  # the columns found by name
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Texts"] == "80" and metrics["Classes"] == "2"

    at.switch_page("pages/analyse.py").run()
    at.text_input[1].input("an advert or a scam that asks you to call or reply").run()  # describe "spam"
    at.button(key="analyse").click().run()
    assert not at.exception
    assert at.subheader[0].value.startswith("Our advice: ")
    assert {m.label for m in at.metric} >= {"Not English", "Word pieces per word"}
    at.radio(key="pick").set_value("extract").run()

    at.switch_page("pages/train.py").run()
    assert at.radio[0].value == "extract"
    at.number_input[0].set_value(1).run()  # one Keras Tuner trial
    at.button(key="train").click().run()
    assert not at.exception
    assert "held-out test split" in at.success[0].value

    at.switch_page("pages/results.py").run()
    assert not at.exception
    assert float(at.metric[0].value.rstrip("%")) > 80

    at.switch_page("pages/export.py").run()
    assert not at.exception and at.get("download_button")
    assert not [b for b in at.button if b.key == "tflite"]  # a text model reads word-piece ids: no TFLite copy
    at.text_area[0].input("You have won a free laptop! Call now to claim").run()
    assert not at.exception
    assert "**spam**" in at.markdown[-1].value


def test_a_workspace_id_the_server_did_not_make_is_refused():
    """A link that names a workspace (?ws=...) the server never made must not create or open it."""
    from tlcore import workspaces

    planted = "00000000000000000000000000c0ffee"
    at = AppTest.from_file(str(REPO / "pages" / "runs.py"), default_timeout=300)
    at.query_params["ws"] = planted
    at.run()
    assert not at.exception
    assert "no workspace with the id in the address" in at.warning[0].value
    given = at.query_params["ws"]
    given = given[0] if isinstance(given, list) else given
    assert given != planted and workspaces.open_workspace(given).is_dir()
    assert not (workspaces.root() / planted).exists()


def _ws_of(at: AppTest) -> str:
    given = at.query_params["ws"]
    return given[0] if isinstance(given, list) else given


def test_a_new_session_with_the_link_finds_the_loaded_dataset_and_analysis():
    """What a session chose lives in its workspace: a reload (a new session with ?ws=) restores it."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
    at.radio[0].set_value("sample:support").run()
    at.switch_page("pages/analyse.py").run()
    at.button(key="analyse").click().run()
    assert at.subheader[0].value.startswith("Our advice: ")
    ws = _ws_of(at)

    again = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    again.query_params["ws"] = ws
    again.run()
    assert not again.exception and _ws_of(again) == ws
    metrics = {m.label: m.value for m in again.metric}
    assert metrics["Texts"] == "120"  # the loaded dataset, not the default sample
    assert again.radio[0].value == "sample:support"
    again.switch_page("pages/analyse.py").run()
    assert again.subheader[0].value.startswith("Our advice: ")  # the analysis, not a new button
    assert "Dataset: **support**" in again.caption[0].value


def press_train(strategy: str) -> AppTest:
    """A new session on the Shapes sample: the Train page, `strategy`, Train pressed."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
    at.switch_page("pages/train.py").run()
    at.radio[0].set_value(strategy).run()
    at.button(key="train").click().run()
    assert not at.exception
    return at


def test_a_failed_job_shows_its_message_on_the_train_and_runs_pages(monkeypatch):
    from tlcore.errors import SettingError
    from tlcore.train import extract as extract_strategy

    def refuse(ctx):
        raise SettingError("the classes need more images; add some")

    monkeypatch.setattr(extract_strategy, "run", refuse)
    at = press_train("extract")
    assert "It failed: the classes need more images; add some" in at.error[0].value
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert at.dataframe[0].value["state"].tolist() == ["failed"]
    assert "the classes need more images" in at.error[0].value


def test_pages_say_when_no_worker_would_run_the_job(monkeypatch, tmp_path):
    from tlcore import jobs

    monkeypatch.setenv("TRANSFERLAB_QUEUE", "sqlite")
    jobs.queue.cache_clear()
    try:
        at = press_train("predict")
        assert any("No job worker is running" in w.value and "python -m tlcore worker" in w.value for w in at.warning)
        assert "waiting in the queue" in at.info[0].value and "starting in a moment" not in at.info[0].value
        at.switch_page("pages/runs.py").run()
        assert not at.exception
        assert at.dataframe[0].value[["state", "jobs ahead"]].values.tolist() == [["queued", "0"]]
    finally:
        jobs.queue.cache_clear()


def test_a_base_that_cannot_be_fine_tuned_offers_predict_and_extract_and_no_fine_tuning_settings():
    """The Train page drew an error (a number input from 1 to 0 blocks) when the text ranking preselected the
    multilingual encoder, which runs outside Keras; now it offers only the ways that base has, and says why."""
    from tlcore.text.encoder import get_text_spec

    if not get_text_spec("use_multilingual").availability()[0]:
        pytest.skip("the multilingual encoder's package is not installed here")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    at.radio[0].set_value("sample:support").run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="base").set_value("use_multilingual").run()
    assert not at.exception
    way = next(r for r in at.radio if r.label == "Way of reusing the pretrained model")
    assert way.options[:2] == ["Use the pretrained model as it is (predict)",
                               "Train a small new model on what the pretrained model sees (extract)"]
    assert len(way.options) == 3 and not any("(finetune)" in o for o in way.options)
    assert way.options[2] == "Both, compared"  # walk 9 read "All three, compared" beside two ways
    assert any("cannot be fine-tuned" in c.value for c in at.caption)
    assert not any("unfreeze" in n.label for n in at.number_input)

    at.selectbox(key="base").set_value("minilm_l6").run()  # a Keras encoder: fine-tuning and its settings are back
    way = next(r for r in at.radio if r.label == "Way of reusing the pretrained model")
    assert any("(finetune)" in o for o in way.options) and any("unfreeze" in n.label for n in at.number_input)
    assert way.options[-1] == "All three, compared"


def test_the_server_imports_tensorflow_and_keras_in_the_background_on_its_first_visit(tmp_path):
    """A fresh server process (its own Python here): the Data page needs no TensorFlow, so the first visit starts
    the import in a background thread, and the Train page's first visit does not wait 2.7 s for it."""
    code = ("import sys, threading; from streamlit.testing.v1 import AppTest; "
            "at = AppTest.from_file('app.py', default_timeout=120).run(); assert not at.exception; "
            "[t.join(120) for t in threading.enumerate() if t.name == 'transferlab-warm-up']; "
            "print(all(m in sys.modules for m in ('keras', 'tensorflow', 'sklearn.linear_model')))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO,
                           env=os.environ | {"TRANSFERLAB_HOME": str(tmp_path)})
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip().splitlines()[-1] == "True"
