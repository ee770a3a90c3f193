""""None of my classes": the unknown score, its line on validation, and the same score inside the bundle's model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlcore.unknown import PASS_SHARE, fit_detector


def _clusters(rng, n, means, shift=0.0):
    y = rng.integers(0, len(means), n)
    return means[y] + rng.normal(size=(n, means.shape[1])) + shift, y


def test_inputs_far_from_every_class_are_flagged_and_validation_passes():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(4, 48)) * 2
    train, labels = _clusters(rng, 400, means)
    val, _ = _clusters(rng, 200, means)
    test, _ = _clusters(rng, 400, means)
    other = rng.normal(size=(200, 48)) * 2 + rng.normal(size=48) * 3  # none of the four classes
    detector = fit_detector(train, labels, val)
    assert np.mean(detector.scores(val) <= 1.0) >= PASS_SHARE  # the line lets 95% of validation through
    assert np.mean(detector.scores(test) > 1.0) <= 0.12
    assert np.mean(detector.scores(other) > 1.0) >= 0.95
    summary = detector.describe(test)
    assert summary["test_items"] == 400 and summary["test_flagged"] == pytest.approx(np.mean(detector.scores(test) > 1))


def test_the_keras_layers_compute_the_same_score_and_load_in_safe_mode(tmp_path):
    rng = np.random.default_rng(1)
    means = rng.normal(size=(3, 32)) * 2
    train, labels = _clusters(rng, 150, means)
    val, _ = _clusters(rng, 60, means)
    detector = fit_detector(train, labels, val)
    inputs = keras.Input((32,))
    keras.Model(inputs, detector.output(inputs)).save(tmp_path / "m.keras")
    model = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    probe = np.vstack([val, rng.normal(size=(20, 32)) * 5]).astype(np.float32)
    np.testing.assert_allclose(model.predict(probe, verbose=0)[:, 0], detector.scores(probe), rtol=1e-3, atol=1e-4)


def test_too_little_data_gives_no_detector():
    rng = np.random.default_rng(2)
    assert fit_detector(rng.normal(size=(10, 8)), np.array([0, 1] * 5), rng.normal(size=(3, 8))) is None
    assert fit_detector(rng.normal(size=(10, 8)), np.zeros(10, int), rng.normal(size=(8, 8))) is None


def test_a_run_reports_how_often_it_flags_its_own_test_split(tmp_path):
    from tlcore.export import export_bundle
    from tlcore.image.data import import_dataset
    from tlcore.predict import load_bundle, predict
    from tlcore.samples import sample_path
    from tlcore.train import SearchConfig, TrainConfig, train

    shapes = import_dataset(sample_path("shapes"), tmp_path)
    result = train(shapes, TrainConfig(strategies=("extract",), image_size=96, baselines=("logistic_regression",),
                                       search=SearchConfig(max_trials=0)), tmp_path)
    unknown = result.report["unknown"]
    assert unknown["test_items"] == len(shapes.files("test")) and 0.0 <= unknown["test_flagged"] <= 0.3
    bundle = load_bundle(export_bundle(result, tflite=False))
    assert bundle.manifest["format_version"] == 2 and bundle.manifest["unknown"] == unknown
    answers = predict(bundle, shapes.files("test"))
    assert np.mean([a["unknown"] for a in answers]) == pytest.approx(unknown["test_flagged"])
    assert "unknown score" in (result.run_dir / "bundle" / "README.md").read_text()
