"""The frozen base's engine: chosen by measurement, checked against tf.function, cached per machine, rebuilt when
damaged or stale, and tf.function when a conversion fails.

The cache and choice logic run on a stand-in candidate ("fake": tf.function under another name, with made-up
model bytes, and fixed rates), so those tests convert nothing; the real TFLite conversion is done once for the
module and compared with tf.function on real photos.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from tests.conftest import shared_dataset
from tlcore.errors import UnknownNameError
from tlcore.image import engine
from tlcore.image.decode import load_rgb
from tlcore.image.extract import extract_features


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A fresh TransferLab home (so a fresh engine cache), no engine loaded, no engine forced."""
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(engine.ENV, raising=False)
    engine.forget()
    yield
    engine.forget()


@pytest.fixture(scope="module")
def real_files() -> list:
    folder = shared_dataset("hymenoptera")
    return sorted((folder / "val" / "ants").glob("*.jpg"))[:6] + sorted((folder / "val" / "bees").glob("*.jpg"))[:6]


@pytest.fixture(scope="module")
def real_batch(real_files) -> np.ndarray:
    return np.stack([load_rgb(f, 224) for f in real_files])


class Fake:
    """A candidate that counts its conversions; its 'model' is some bytes, its runner tf.function's."""

    BLOB = b"fake model bytes " * 64

    def __init__(self, fail: Exception | None = None) -> None:
        self.conversions = 0
        self.fail = fail

    def convert(self, _backbone) -> bytes:
        self.conversions += 1
        if self.fail is not None:
            raise self.fail
        return self.BLOB

    @staticmethod
    def load(backbone, blob):
        assert blob == Fake.BLOB, "a damaged model was loaded"
        return engine._tf_runner(backbone)


@pytest.fixture
def fake(monkeypatch) -> Fake:
    """Only tf.function and the stand-in are candidates; the stand-in measures 4x faster; any job chooses."""
    counter = Fake()
    monkeypatch.setattr(engine, "CANDIDATES", {
        "tf": engine.CANDIDATES["tf"],
        "fake": engine.Candidate("fake engine", counter.convert, Fake.load, suffix=".fake"),
    })  # fmt: skip
    monkeypatch.setattr(engine, "_rates", lambda runners, batch: {n: 100.0 if n == "fake" else 25.0 for n in runners})
    monkeypatch.setattr(engine, "PAYS_SECONDS", 0.0)
    return counter


def stored(suffix: str):
    return next((engine.paths.cache_dir("engines")).glob(f"*{suffix}"))


# --- the real engines on real images -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tflite_blob(backbone) -> bytes:
    return engine.convert_tflite(backbone)


def test_tflite_gives_tf_functions_features_and_logits_within_1e4_on_real_photos(backbone, real_batch, tflite_blob):
    features, logits = engine._tf_runner(backbone)(real_batch)
    lite_features, lite_logits = engine.TFLiteRunner(backbone, tflite_blob)(real_batch)
    assert lite_features.shape == features.shape == (len(real_batch), backbone.feature_dim)
    assert lite_logits.shape == logits.shape == (len(real_batch), 1000)
    np.testing.assert_allclose(lite_features, features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(lite_logits, logits, rtol=1e-4, atol=1e-4)
    assert (lite_logits.argmax(1) == logits.argmax(1)).all()


def test_extract_features_with_tflite_forced_matches_tf_function(backbone, real_files, tflite_blob, monkeypatch):
    conversions = []
    lite = engine.CANDIDATES["tflite"]
    monkeypatch.setitem(engine.CANDIDATES, "tflite", dataclasses.replace(
        lite, convert=lambda b: conversions.append(1) or tflite_blob))  # fmt: skip
    monkeypatch.setenv(engine.ENV, "tf")
    reference = extract_features(real_files, backbone, batch_size=5, use_cache=False)
    monkeypatch.setenv(engine.ENV, "tflite")
    seen = []
    lite_run = extract_features(real_files, backbone, batch_size=5, use_cache=False, progress=seen.append)
    assert engine.engine_for(backbone).name == "tflite"
    np.testing.assert_allclose(lite_run.features, reference.features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(lite_run.logits, reference.logits, rtol=1e-4, atol=1e-4)
    assert lite_run.key == reference.key  # the feature cache key does not depend on the engine
    assert len(conversions) == 1 and any(p.stage == "engine" for p in seen)


@pytest.mark.slow
def test_the_measured_choice_on_real_photos_is_stored_and_honest(backbone, real_files):
    seen = []
    engine.engine_for(backbone, np.stack([load_rgb(f, 224) for f in real_files]), progress=seen.append)
    record = engine.json.loads(stored(".json").read_text())
    assert record["chosen"] in ("tf", "tflite") and set(record["rates"]) == {"tf", "tflite"}
    assert record["differences"]["tflite"]["features"] < 1e-4 and record["differences"]["tflite"]["logits"] < 1e-4
    faster = record["rates"]["tflite"] >= engine.MARGIN * record["rates"]["tf"]
    assert record["chosen"] == ("tflite" if faster else "tf")
    assert [p.stage for p in seen] == ["engine"] * 3 and "chosen" in seen[-1].message


# --- the choice and its cache (stand-in candidate) ------------------------------------------------------------------


def test_the_choice_is_made_once_per_key_in_memory_and_on_disk(backbone, real_files, fake):
    first, second = [], []
    extract_features(real_files, backbone, use_cache=False, progress=first.append)
    extract_features(real_files, backbone, use_cache=False, progress=second.append)
    assert fake.conversions == 1
    assert [p.stage for p in first if p.stage == "engine"] == ["engine"] * 3
    assert all(p.stage == "features" for p in second)  # no engine step once it is known

    engine.forget()  # a new process: the choice and the model are read back from disk
    result = extract_features(real_files, backbone, use_cache=False)
    assert fake.conversions == 1 and engine.engine_for(backbone).name == "fake"
    assert result.features.shape == (len(real_files), backbone.feature_dim)


def test_a_damaged_model_file_is_rebuilt_not_trusted(backbone, real_batch, fake, caplog):
    assert engine.engine_for(backbone, real_batch).name == "fake"
    stored(".fake").write_bytes(b"damaged" + Fake.BLOB[7:])
    engine.forget()
    with caplog.at_level(logging.WARNING, logger=engine.__name__):
        assert engine.engine_for(backbone, real_batch).name == "fake"
    assert fake.conversions == 2
    assert "does not match its digest" in caplog.text
    engine.forget()
    assert engine.engine_for(backbone, real_batch).name == "fake" and fake.conversions == 2  # the rebuilt one holds


def test_a_damaged_or_missing_choice_file_is_rebuilt(backbone, real_batch, fake):
    engine.engine_for(backbone, real_batch)
    stored(".json").write_text("{not json")
    engine.forget()
    engine.engine_for(backbone, real_batch)
    assert fake.conversions == 2
    stored(".fake").unlink()
    engine.forget()
    assert engine.engine_for(backbone, real_batch).name == "fake" and fake.conversions == 3


def test_another_machine_or_a_stale_entry_is_measured_again(backbone, real_batch, fake, monkeypatch):
    engine.engine_for(backbone, real_batch)
    old_json, old_model = stored(".json"), stored(".fake")
    import tlcore.costs

    monkeypatch.setattr(tlcore.costs, "machine_key", lambda: "another-machine")  # other flags, cores or versions
    engine.forget()
    new_key = engine.engine_key(backbone)
    assert new_key not in old_json.name
    engine.engine_for(backbone, real_batch)
    assert fake.conversions == 2

    # an entry written for the first machine, found under the second one's key, is not trusted
    folder = old_json.parent
    (folder / f"{new_key}.json").write_bytes(old_json.read_bytes())
    (folder / f"{new_key}.fake").write_bytes(old_model.read_bytes())
    engine.forget()
    engine.engine_for(backbone, real_batch)
    assert fake.conversions == 3


def test_a_failed_conversion_falls_back_to_tf_function_with_one_log_line(backbone, real_files, monkeypatch, caplog):
    lite = engine.CANDIDATES["tflite"]

    def broken(_backbone):
        raise RuntimeError("op FancyConv is not supported")

    monkeypatch.setitem(engine.CANDIDATES, "tflite", dataclasses.replace(lite, convert=broken))
    monkeypatch.setattr(engine, "PAYS_SECONDS", 0.0)
    with caplog.at_level(logging.WARNING, logger=engine.__name__):
        result = extract_features(real_files, backbone, use_cache=False)
    failures = [r for r in caplog.records if "conversion failed" in r.getMessage()]
    assert len(failures) == 1 and "FancyConv" in failures[0].getMessage()
    assert engine.engine_for(backbone).name == "tf"
    reference = engine._tf_runner(backbone)(np.stack([load_rgb(f, 224) for f in real_files]))[0]
    np.testing.assert_allclose(result.features, reference, rtol=1e-5, atol=1e-5)


def test_a_candidate_that_disagrees_is_refused(backbone, real_batch, fake, monkeypatch):
    def off(backbone, blob):
        run = engine._tf_runner(backbone)
        return lambda batch: tuple(x + 1e-3 for x in run(batch))

    monkeypatch.setitem(engine.CANDIDATES, "fake", dataclasses.replace(engine.CANDIDATES["fake"], load=off))
    chosen = engine.engine_for(backbone, real_batch)
    assert chosen.name == "tf" and "differs from tf.function" in chosen.note


def test_a_candidate_must_be_clearly_faster(backbone, real_batch, fake, monkeypatch):
    monkeypatch.setattr(engine, "_rates", lambda runners, batch: {n: 105.0 if n == "fake" else 100.0 for n in runners})
    assert engine.engine_for(backbone, real_batch).name == "tf"  # 5% is within the noise of a loaded machine


def test_a_job_measures_only_once_the_rest_of_it_would_take_long_enough_on_tf_function(
        backbone, real_files, fake, monkeypatch):
    monkeypatch.setattr(engine, "PAYS_SECONDS", 3600.0)  # a job far shorter than what measuring must pay back
    extract_features(real_files, backbone, batch_size=2, use_cache=False)
    assert fake.conversions == 0 and not engine.decided(backbone)
    assert engine.engine_for(backbone, choose=False).name == "tf"

    seen = []
    monkeypatch.setattr(engine, "PAYS_SECONDS", 1e-9)  # any job, once one batch after the first has been timed
    result = extract_features(real_files, backbone, batch_size=2, use_cache=False, progress=seen.append)
    stages = [p.stage for p in seen]
    assert fake.conversions == 1 and engine.decided(backbone)
    assert stages.index("engine") > 1 + stages.index("features")  # after two batches on tf.function
    assert result.features.shape == (len(real_files), backbone.feature_dim)


def test_small_jobs_decide_nothing_and_time_nothing_they_cannot_use():
    assert not engine.worth_choosing(None, 10_000)  # not timed yet
    assert not engine.worth_choosing(0.005, 180)  # the drawn shapes at 96 px: under a second
    assert engine.worth_choosing(1 / 40, 800)  # 20 s at tf.function's 40 images/s on an AVX2 machine


def test_the_environment_forces_an_engine(backbone, real_batch, fake, monkeypatch):
    monkeypatch.setenv(engine.ENV, "tf")
    assert engine.engine_for(backbone, real_batch).name == "tf" and fake.conversions == 0
    monkeypatch.setenv(engine.ENV, "fake")
    assert engine.engine_for(backbone, real_batch).name == "fake" and fake.conversions == 1
    monkeypatch.setenv(engine.ENV, "onnx")
    with pytest.raises(UnknownNameError, match="auto, fake, tf"):
        engine.engine_for(backbone, real_batch)
