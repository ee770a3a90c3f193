"""The frozen base's engine: TFLite where its cached conversion matches the base to 1e-3, else the base's graph."""

from __future__ import annotations

import numpy as np
import pytest

from tlcore.image import engine
from tlcore.image.bases import build_backbone


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    return build_backbone("efficientnet_lite0", 64)


def _batch(n: int = 5) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


def test_the_tflite_engine_matches_the_base_and_is_converted_once(base, monkeypatch):
    forward = engine.fastest_forward(base)
    assert forward is not base.forward_graph
    features, logits = forward(_batch())
    expected, expected_logits = (np.asarray(a) for a in base.forward_graph(_batch()))
    assert np.abs(features - expected).max() <= engine.TOLERANCE
    assert np.abs(logits - expected_logits).max() <= 1e-2 and features.shape == (5, base.feature_dim)
    assert engine._cache_path(base).is_file()
    monkeypatch.setattr(engine, "_convert", lambda b: (_ for _ in ()).throw(AssertionError("converted again")))
    again = engine.fastest_forward(base)  # read from the cache: no second conversion
    np.testing.assert_allclose(again(_batch(3))[0], features[:3], atol=1e-5)


def test_a_conversion_that_does_not_match_or_fails_falls_back_to_the_base(base, monkeypatch):
    real = engine._convert
    monkeypatch.setattr(engine, "_tflite_forward", lambda blob, dim: lambda batch: (
        np.ones((len(batch), dim), np.float32), np.zeros((len(batch), 1000), np.float32)))
    monkeypatch.setattr(engine, "_convert", lambda b: b"not checked: the probe decides")
    assert engine.fastest_forward(base) is base.forward_graph  # features off: refused, and remembered
    assert engine._cache_path(base).with_suffix(".refused").is_file()
    monkeypatch.setattr(engine, "_convert", real)
    assert engine.fastest_forward(base) is base.forward_graph  # refused once is refused for good
    engine._cache_path(base).with_suffix(".refused").unlink()
    monkeypatch.setattr(engine, "_convert", lambda b: (_ for _ in ()).throw(RuntimeError("converter broke")))
    assert engine.fastest_forward(base) is base.forward_graph
