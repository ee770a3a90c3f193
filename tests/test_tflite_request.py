"""TFLite copies are made on request, after the run: the final bundle holds the Keras model and does not wait
for two conversions (8-18 s here, against under a second for the Keras model)."""

from __future__ import annotations

import json
import zipfile

import pytest

from tlcore import cli, costs, jobs, runs
from tlcore.data import import_data
from tlcore.errors import SettingError
from tlcore.export import add_tflite, export_bundle, tflite_seconds, tflite_warning
from tlcore.predict import load_bundle
from tlcore.samples import sample_path
from tlcore.train import SearchConfig, TrainConfig, train


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return import_data(sample_path("shapes"), tmp_path_factory.mktemp("ws"))


def _names(archive) -> set[str]:
    with zipfile.ZipFile(archive) as zf:
        return set(zf.namelist())


def test_the_final_bundle_is_keras_only_and_the_copies_are_added_to_it_on_request(shapes, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))
    config = TrainConfig(strategies=("extract",), image_size=96, baselines=("logistic_regression",),
                         search=SearchConfig(max_trials=0))
    result = train(shapes, config, tmp_path)
    archive = export_bundle(result)
    assert "model.keras" in _names(archive) and not {n for n in _names(archive) if n.endswith(".tflite")}
    manifest = load_bundle(archive).manifest
    assert "tflite" not in manifest
    assert tflite_seconds(manifest) == costs.TFLITE_GUESS["image"]  # nothing converted on this machine yet

    assert add_tflite(result.run_dir) == archive  # the same bundle, zipped again with the copies
    assert {"model.keras", "model.tflite", "model_int8.tflite", "manifest.json"} <= _names(archive)
    parity = load_bundle(archive).manifest["tflite"]
    assert parity["images"] == len(shapes.files("test"))  # checked on the run's own test images
    # the float32 copy answers as the Keras model does; the int8 one's agreement is measured and said (on Shapes'
    # drawn figures it is low: test_export checks it on photos)
    assert parity["float32_max_abs_diff"] <= 1e-4 and 0.0 <= parity["int8_top1_agreement"] <= 1.0
    took = costs.measured(manifest["base"], manifest["image_size"], costs.TFLITE)
    assert took is not None and tflite_seconds(manifest) == took  # the next offer says what it took here

    before = archive.stat().st_mtime_ns
    add_tflite(result.run_dir)  # asked again: nothing to do
    assert archive.stat().st_mtime_ns == before


def test_an_int8_copy_that_often_answers_otherwise_is_warned_of_in_words():
    parity = {"images": 27, "float32_max_abs_diff": 1e-6, "int8_top1_agreement": 13 / 27}
    said = tflite_warning({"tflite": parity})
    assert said.startswith("model_int8.tflite gave the same answer as model.keras on only 48% of 27 test images")
    assert "Use model.tflite (float32: within 1e-06 of model.keras)" in said
    assert tflite_warning({"tflite": parity | {"int8_top1_agreement": 0.98}}) is None  # photos: 98-100% here
    assert tflite_warning({}) is None  # no copies yet: nothing to warn of


def test_copies_are_refused_in_words_for_a_run_without_a_finished_bundle(tmp_path):
    run_dir = tmp_path / "runs" / "20261205-000000-abcd"
    runs.set_status(run_dir, "running")
    with pytest.raises(SettingError, match=r"no finished bundle to convert \(running\); TFLite copies are made of a "
                                           r"complete run's bundle"):
        add_tflite(run_dir)
    with pytest.raises(jobs.JobError, match="is running; TFLite copies are made of a complete run"):
        jobs.submit_tflite(tmp_path, run_dir)
    assert not (run_dir / jobs.TFLITE_DIR).exists()  # refused before any job folder was made


def test_train_refuses_tflite_for_texts_before_training(capsys, tmp_path):
    code = cli.main(["train", "sample:support", "--workspace", str(tmp_path), "--tflite"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_REFUSED and err.startswith("error: --tflite: TFLite copies are made of image models")
    assert not list(tmp_path.glob("runs/*"))


@pytest.mark.slow
def test_train_with_tflite_adds_the_copies_after_the_bundle(capsys, tmp_path):
    code = cli.main(["train", "sample:shapes", "--workspace", str(tmp_path), "--strategy", "predict", "--tflite",
                     "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["tflite"]["images"] > 0
    assert {"model.tflite", "model_int8.tflite"} <= _names(printed["bundle"])
    assert load_bundle(printed["bundle"]).manifest["tflite"] == printed["tflite"]
