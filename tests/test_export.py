"""Bundles: every strategy round-trips, a fresh process gives the same numbers, tampering is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from tests.conftest import answered_and_tested, shared_dataset
from tlcore.cli import main
from tlcore.export import add_tflite, choose, export_bundle
from tlcore.image.data import import_dataset
from tlcore.predict import BundleError, load_bundle, predict
from tlcore.samples import sample_path
from tlcore.train import FinetuneConfig, SearchConfig, TrainConfig, train

CONFIGS = {
    "predict": TrainConfig(strategies=("predict",), image_size=96),
    "keras_head": TrainConfig(strategies=("extract",), image_size=96, baselines=(),
                              search=SearchConfig(max_trials=1, max_epochs=20)),
    "logistic_regression": TrainConfig(strategies=("extract",), image_size=96, baselines=("logistic_regression",),
                                       search=SearchConfig(max_trials=0)),
    "rbf_svm": TrainConfig(strategies=("extract",), image_size=96, baselines=("rbf_svm",),
                           search=SearchConfig(max_trials=0)),
    "finetune": TrainConfig(strategies=("finetune",), image_size=96, baselines=(),  # no first head
                            finetune=FinetuneConfig(epochs=1, unfreeze_blocks=2)),
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return import_dataset(sample_path("shapes"), tmp_path_factory.mktemp("ws"))


def _round_trip(shapes, tmp_path, kind):
    result = train(shapes, CONFIGS[kind], tmp_path)
    archive = export_bundle(result, tflite=False)
    bundle = load_bundle(archive)
    got, expected = answered_and_tested(bundle, predict(bundle, shapes.files("test")), result)
    return result, bundle, got, expected


@pytest.mark.parametrize("kind", ["predict", "keras_head", "logistic_regression", "rbf_svm",
                                  pytest.param("finetune", marks=pytest.mark.slow)])
def test_every_strategy_round_trips_through_its_bundle(shapes, tmp_path, kind):
    """The downloaded model gives the probabilities the run measured (96 px images at 96 px: no resize)."""
    result, bundle, got, expected = _round_trip(shapes, tmp_path, kind)
    assert kind in (result.selected.name, result.selected.strategy)  # predict's and finetune's models have own names
    assert bundle.manifest["model"] == result.selected.name
    assert bundle.labels == list(shapes.classes)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # the model's unknown score is the detector's, on the features the head reads (fine-tuned ones for finetune)
    scores = [r["unknown_score"] for r in predict(bundle, shapes.files("test"))]
    own = result.selected.own_features
    features = own["test"] if own else _frozen_test_features(result)
    np.testing.assert_allclose(scores, result.selected.unknown.scores(features), rtol=1e-3, atol=1e-4)


def _frozen_test_features(result):
    from tlcore.modality import modality_of

    modality = modality_of(result.dataset)
    choice = modality.resolve_base(result.dataset, result.report["backbone"], result.report["image_size"])
    features = modality.features(result.dataset, choice)
    return features.rows(result.dataset.records["split"].to_numpy() == "test").features


def test_linear_winner_becomes_one_dense_layer(shapes, tmp_path):
    result = train(shapes, CONFIGS["logistic_regression"], tmp_path)
    bundle = load_bundle(export_bundle(result, tflite=False))
    names = [layer.name for layer in bundle.model.layers]
    assert "linear_head" in names and bundle.model.get_layer("linear_head").units == 3


def test_non_exportable_winner_falls_back_with_a_note(shapes, tmp_path):
    result = train(shapes, TrainConfig(strategies=("extract",), image_size=96, baselines=("knn", "logistic_regression"),
                                       search=SearchConfig(max_trials=0), stop_early=False), tmp_path)
    knn = next(c for c in result.candidates if c.name == "knn")
    from dataclasses import replace

    chosen, note = choose(replace(result, selected=knn))
    assert chosen.name == "logistic_regression" and "knn" in note


@pytest.fixture(scope="module")
def hymenoptera_bundle(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("hymenoptera")
    dataset = import_dataset(shared_dataset("hymenoptera"), workspace)
    result = train(dataset, TrainConfig(strategies=("predict",)), workspace)
    export_bundle(result)
    return dataset, result, add_tflite(result.run_dir)  # the TFLite copies, as a user asks for them afterwards


def test_bundle_predicts_the_same_in_a_fresh_process_without_tlcore(hymenoptera_bundle, tmp_path):
    dataset, _, archive = hymenoptera_bundle
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    others = [str(p) for name in ("eurosat200", "mnist100")
              for p in sorted(p for p in shared_dataset(name).rglob("*") if p.suffix in (".jpg", ".png"))[::19][:10]]
    files = [str(p) for p in dataset.files("test")] + others
    assert "tlcore" not in (folder / "predict.py").read_text()
    # -I: isolated mode, so neither the repository nor PYTHONPATH is importable: Keras, NumPy, Pillow only.
    done = subprocess.run([sys.executable, "-I", str(folder / "predict.py"), "--json", *files],
                          capture_output=True, text=True, timeout=600, cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    outside = json.loads(done.stdout)
    inside = predict(load_bundle(archive), files)
    assert [r["label"] for r in outside] == [r["label"] for r in inside]
    for a, b in zip(outside, inside, strict=True):
        np.testing.assert_allclose([t["prob"] for t in a["top"]], [t["prob"] for t in b["top"]], atol=1e-5)
        assert a["unknown"] == b["unknown"] and a["unknown_score"] == pytest.approx(b["unknown_score"], rel=1e-4)
    own, foreign = inside[:len(dataset.files("test"))], inside[len(dataset.files("test")):]
    accuracy = np.mean([r["label"] == dataset.classes[y] for r, y in zip(own, dataset.labels("test"), strict=True)])
    assert accuracy >= 0.93
    # satellite tiles and handwritten digits are none of ants and bees; the test photos mostly are
    assert len(foreign) == 20 and np.mean([r["unknown"] for r in foreign]) >= 0.9
    assert np.mean([r["unknown"] for r in own]) <= 0.15


def test_tflite_models_agree_with_the_keras_model(hymenoptera_bundle):
    _, _, archive = hymenoptera_bundle
    parity = load_bundle(archive).manifest["tflite"]
    assert parity["images"] == 100
    assert parity["float32_max_abs_diff"] <= 1e-4
    assert parity["int8_top1_agreement"] >= 0.98
    with zipfile.ZipFile(archive) as zf:
        assert {"model.keras", "model.tflite", "model_int8.tflite", "labels.json", "manifest.json", "README.md",
                "predict.py"} <= set(zf.namelist())


def test_manifest_and_model_card(hymenoptera_bundle):
    _, result, archive = hymenoptera_bundle
    bundle = load_bundle(archive)
    manifest = bundle.manifest
    for key in ("transferlab", "keras", "tensorflow", "base", "image_size", "strategy", "metrics", "split_hash",
                "created_at"):
        assert manifest[key] not in (None, "")
    assert manifest["split_hash"] == result.dataset.split_hash()
    assert manifest["metrics"]["test_accuracy"] == pytest.approx(result.test.accuracy)
    card = (archive.parent / "bundle" / "README.md").read_text()
    assert "| ants |" in card and "Known limits" in card


def test_predict_command_json(hymenoptera_bundle, capsys):
    dataset, _, archive = hymenoptera_bundle
    files = [str(p) for p in dataset.files("test")[:2]]
    assert main(["predict", str(archive), *files, "--json", "--top", "2"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in results] == files
    assert set(results[0]) == {"file", "label", "prob", "top", "unknown", "unknown_score"}
    assert len(results[0]["top"]) == 2 and isinstance(results[0]["unknown"], bool)
    assert results[0]["unknown"] == (results[0]["unknown_score"] > 1)


# --- tampered bundles -------------------------------------------------------------------------------


@pytest.fixture
def bundle_copy(hymenoptera_bundle, tmp_path):
    _, _, archive = hymenoptera_bundle
    folder = tmp_path / "bundle"
    shutil.copytree(archive.parent / "bundle", folder)
    return folder


def test_lambda_layer_is_refused(bundle_copy):
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Lambda(lambda x: x[:, 0, 0, :2])(inputs)
    keras.Model(inputs, outputs).save(bundle_copy / "model.keras")
    with pytest.raises(BundleError, match="names a layer 'Lambda', which no TransferLab bundle is made of"):
        load_bundle(bundle_copy)  # refused from its configuration, before Keras would build (and run) it


def test_mismatched_labels_are_refused(bundle_copy):
    (bundle_copy / "labels.json").write_text(json.dumps(["ants", "bees", "wasps"]))
    with pytest.raises(BundleError, match=r"gives 2 probabilities but labels\.json names 3"):
        load_bundle(bundle_copy)


def test_missing_manifest_is_refused(bundle_copy):
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"lacks manifest\.json"):
        load_bundle(bundle_copy)


def test_foreign_manifest_is_refused(bundle_copy):
    (bundle_copy / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="does not describe a transferlab-bundle"):
        load_bundle(bundle_copy)
