"""The guided flow a newcomer follows: steps, plain words, scores beside the largest class, gathering images."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tlcore import words
from tlcore.errors import DataError
from tlcore.image import gather
from tlcore.train.evaluate import evaluate, resolvable_margin

STEP_PAGES = ["pages/data.py", "pages/analyse.py", "pages/train.py", "pages/results.py", "pages/export.py"]


# --- scores in context ------------------------------------------------------------------------------


def test_a_score_is_set_beside_always_answering_the_largest_class():
    """68.9% against a largest class at 66.7% on 90 texts is no real lead; 95% is."""
    y_train = np.array([0] * 60 + [1] * 30)
    y = np.array([0] * 60 + [1] * 30)
    logits = np.zeros((90, 2))
    logits[:, 0] = 1.0  # always the largest class...
    logits[60:62, :] = [0.0, 1.0]  # ...except two right answers of the other one: 68.9%
    weak = evaluate(logits, y, ("other", "bug"), 1.0, [str(i) for i in range(90)], y_train)
    assert weak.largest_class == "other" and weak.largest_class_accuracy == pytest.approx(60 / 90)
    assert weak.accuracy == pytest.approx(62 / 90) and not weak.beats_largest_class
    strong_logits = np.eye(2)[y] * 3.0
    strong_logits[:4] = [0.0, 3.0]  # four mistakes: 95.6%
    strong = evaluate(strong_logits, y, ("other", "bug"), 1.0, [str(i) for i in range(90)], y_train)
    assert strong.beats_largest_class and strong.margin_needed == pytest.approx(resolvable_margin(86 / 90, 90))
    largest = {"class": "other", "test_accuracy": 60 / 90}
    warn, sentence = words.largest_class_note(62 / 90, largest, "test", 90)
    assert warn and "66.7%" in sentence and "not clearly better" in sentence
    warn, sentence = words.largest_class_note(86 / 90, largest, "test", 90)
    assert not warn and "beats that by 28.9 points" in sentence


def test_the_leaderboard_speaks_in_words_and_units_with_no_empty_cells():
    report = {"backbone": "efficientnet_lite0", "leaderboard": [
        {"strategy": "extract", "model": "rbf_svm", "val_accuracy": 0.9, "test_accuracy": None, "macro_f1": None,
         "train_seconds": 1.234, "size_bytes": 18581479, "latency_ms": 3.21, "selected": False},
        {"strategy": "finetune", "model": "finetune_top12", "val_accuracy": 0.95, "test_accuracy": 0.93,
         "macro_f1": 0.9, "train_seconds": 100.0, "size_bytes": 16e6, "latency_ms": 12.0, "selected": True},
    ]}
    table = words.leaderboard(report)
    assert table["Model"].tolist() == ["Support vector machine (RBF kernel)",
                                       "Fine-tuned EfficientNet-Lite0 (top 12 blocks)"]
    assert table["Size"].tolist() == ["18.6 MB", "16.0 MB"] and table["Per input"][0] == "3.2 ms"
    assert table["Test accuracy"].tolist() == [words.UNTESTED, "93.0%"]
    # the accuracies first: at 1280 px the page showed the first five columns and cut "Test accuracy" (walk 7)
    assert list(table.columns[:3]) == ["Model", "Validation accuracy", "Test accuracy"]
    assert max(map(len, table.columns[3:])) <= len("Trained in")  # the rest short: walk 8 scrolled for three
    assert not table.isna().any().any() and "None" not in table.to_string()


# --- gathering images ------------------------------------------------------------------------------


def _png(colour: tuple[int, int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.integers(-20, 20, (48, 48, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../etc", "a/b", "train", "Test", ".hidden", "", "x" * 65, "__MACOSX"])
def test_a_class_name_that_could_choose_a_path_is_refused(tmp_path, name):
    with pytest.raises(DataError):
        gather.add_class(tmp_path, name)
    assert not any(p.name != "draft.json" for p in (tmp_path / "gather").rglob("*") if p.is_file()) if \
        (tmp_path / "gather").exists() else True


def test_gathered_images_become_a_dataset_like_an_upload(tmp_path):
    gather.add_class(tmp_path, "red")
    gather.add_class(tmp_path, "blue")
    with pytest.raises(DataError, match="already a class"):
        gather.add_class(tmp_path, "Red")
    reds = [(f"r{i}.png", _png((200, 30, 30), i)) for i in range(8)]
    draft, refused = gather.add_images(tmp_path, "red", [*reds, ("notes.png", b"not an image"), reds[0]])
    assert refused == ["notes.png: " + refused[0].split(": ", 1)[1]] and len(draft.classes["red"]) == 8
    assert draft.ready() == (False, f"add at least {gather.MIN_PER_CLASS} images to blue")
    with pytest.raises(DataError, match="cannot make a dataset yet"):
        gather.create_dataset(tmp_path)
    gather.add_images(tmp_path, "blue", [(f"b{i}.png", _png((30, 30, 200), 100 + i)) for i in range(8)])
    dataset = gather.create_dataset(tmp_path, "colours")
    assert dataset.classes == ("blue", "red") and len(dataset) == 16 and dataset.source == "colours"
    assert set(dataset.split_sizes().values()) != {0} and dataset.split_sizes()["test"] > 0
    stored = list((tmp_path / "uploads").glob("*.zip"))  # the gathered data, downloadable as a zip
    with zipfile.ZipFile(stored[0]) as zf:
        assert sorted({n.split("/")[0] for n in zf.namelist()}) == ["blue", "red"]
    files = [p for p in (tmp_path / "gather" / "files").iterdir()]
    assert all(len(p.stem) == 32 for p in files)  # server-made names only


def test_more_images_added_to_a_loaded_dataset_make_a_new_version(tmp_path):
    from tlcore.data import import_data
    from tlcore.samples import sample_path

    original = import_data(sample_path("shapes"), tmp_path)
    draft = gather.start_from(tmp_path, original)
    assert {k: len(v) for k, v in draft.classes.items()} == {"circle": 60, "square": 60, "triangle": 60}
    gather.add_images(tmp_path, "circle", [(f"new{i}.png", _png((i * 20, 90, 10), 7 + i)) for i in range(6)])
    bigger = gather.create_dataset(tmp_path, "shapes plus")
    assert len(bigger) == 186 and bigger.stored_in != original.stored_in
    assert len(import_data(sample_path("shapes"), tmp_path)) == 180  # the original is unchanged


# --- the app ---------------------------------------------------------------------------------------


def _app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()


def test_every_step_names_the_loaded_dataset_and_next_goes_on():
    at = _app()
    assert not at.exception
    for title, following in [("Data", "Analyse"), ("Analyse", None)]:
        assert at.title[0].value == title
        assert any(m.value == "Dataset: **shapes**" for m in at.markdown)
        assert at.button(key=f"step:{title}").disabled  # the current step is marked
        if following:
            at.button(key="next").click().run()
            assert not at.exception
    for page in STEP_PAGES[2:]:
        at.switch_page(page).run()
        assert not at.exception and any(m.value == "Dataset: **shapes**" for m in at.markdown), page
    at.button(key="step:Data").click().run()
    assert at.title[0].value == "Data"


def test_train_the_recommended_model_submits_the_recommended_settings(monkeypatch):
    from tlcore import jobs, session, workspaces
    from tlcore.errors import TLCoreError

    asked = []

    def capture(workspace, dataset_folder, config):
        asked.append(config)
        raise TLCoreError("captured")

    at = _app()
    at.switch_page("pages/analyse.py").run()
    at.button(key="analyse").click().run()
    assert at.subheader[0].value.startswith("Our advice: ")
    monkeypatch.setattr(jobs, "submit_training", capture)
    at.button(key="train_recommended").click().run()
    assert "captured" in at.error[0].value  # the page showed the submission's refusal, in words
    ws = at.query_params["ws"]
    folder = workspaces.open_workspace(ws[0] if isinstance(ws, list) else ws)
    analysis = jobs.read_analysis(session.load(folder).folder(folder, "analyses"))
    (config,) = asked
    advice = analysis["recommendation"]
    assert config.strategies == (advice["strategy"],) and config.image_size == analysis["image_size"]
    assert config.backbone == analysis["backbone"] and config.budget_seconds == 300.0
    tuned = advice["settings"] if "unfreeze_blocks" in advice["settings"] else advice["finetune_settings"]
    assert (config.finetune.unfreeze_blocks, config.finetune.learning_rate) == (
        tuned["unfreeze_blocks"], tuned["learning_rate"])  # what the advice's fine-tuning time was for


def test_gather_images_on_the_data_page(tmp_path):
    at = _app()
    at.radio[0].set_value("gather").run()
    assert not at.exception
    for name in ("red", "blue"):
        at.text_input[0].input(name)
        next(b for b in at.button if b.label == "Add class").click().run()
        assert not at.exception
    assert [r.options for r in at.radio][1] == ["red", "blue"]  # where webcam photos go
    create = next(b for b in at.button if b.label == "Create the dataset")
    assert create.disabled
    for index, colour in enumerate([(200, 30, 30), (30, 30, 200)]):
        uploader = at.file_uploader[index]
        for i in range(6):
            uploader.upload(f"{index}_{i}.png", _png(colour, 10 * index + i), "image/png")
        at.run()
        assert not at.exception
    next(b for b in at.button if b.label == "Create the dataset").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "12" and metrics["Classes"] == "2"
    assert any(m.value == "Dataset: **gathered**" for m in at.markdown)


def test_cli_train_prints_plain_names_and_the_largest_class(tmp_path, capsys):
    from tlcore.cli import main

    assert main(["train", "sample:shapes", "--strategy", "predict", "--workspace", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ImageNet's own answers, mapped to your labels by your examples" in out  # not empirical_label_map
    assert "Always answering the largest class" in out and "on the same test split" in out
