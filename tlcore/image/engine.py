"""The engine that runs the frozen base for feature extraction: TFLite with XNNPACK where it matches, else TF.

Measured with `benchmarks/bench_engines.py` on this 2-core machine (EfficientNet-Lite0, 224 px,
batches of 64): the base's `tf.function` 143-158 img/s, TFLite float32 with XNNPACK 169-170
img/s (features within 1.4e-5), TFLite with int8 weights 133-153 img/s (features off by 0.64: not
used), ONNX Runtime 88-126 img/s. TFLite needs a conversion (4.5 s per base and image size),
so the converted model is cached on disk beside the converted weights, and a conversion is kept
only if its features match the base's own to 1e-3 on a probe batch; otherwise, or if anything
fails, the base's compiled graph runs as before.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import paths, runs
from .bases import Backbone

log = logging.getLogger(__name__)
TOLERANCE = 1e-3
ENGINE_VERSION = 1
PROBE_IMAGES = 4

Forward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # uint8 batch -> (features, ImageNet logits)


def fastest_forward(backbone: Backbone) -> Forward:
    """TFLite (XNNPACK) for `backbone` where its cached, verified conversion exists or can be made; else TF."""
    try:
        blob = _converted(backbone)
    except Exception as error:  # a converter or interpreter that fails here must not stop extraction
        log.info("TFLite engine unavailable for %s (%s); using TensorFlow", backbone.spec.name, error)
        blob = None
    if blob is None:
        return backbone.forward_graph
    return _tflite_forward(blob, backbone.feature_dim)


def _cache_path(backbone: Backbone) -> Path:
    import tensorflow as tf

    name = f"{backbone.spec.name}-{backbone.image_size}px-v{ENGINE_VERSION}-tf{tf.__version__}"
    return paths.cache_dir("engines") / f"{name}.tflite"


def _converted(backbone: Backbone) -> bytes | None:
    """The verified TFLite model of the frozen extractor (cached), or None where it does not match."""
    path = _cache_path(backbone)
    refused = path.with_suffix(".refused")
    if refused.is_file():
        return None
    if path.is_file():
        return path.read_bytes()
    blob = _convert(backbone)
    probe = np.random.default_rng(0).integers(0, 256, (PROBE_IMAGES, backbone.image_size, backbone.image_size, 3),
                                              dtype=np.uint8)
    expected = np.asarray(backbone.forward_graph(probe)[0])
    found = _tflite_forward(blob, backbone.feature_dim)(probe)[0]
    difference = float(np.abs(found - expected).max())
    if not difference <= TOLERANCE:
        runs.write_atomic(refused, f"features differ by {difference:.2e} (over {TOLERANCE:g})\n")
        return None
    runs.write_atomic(path, blob)
    return blob


def _convert(backbone: Backbone) -> bytes:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as scratch:
        backbone.extractor.export(f"{scratch}/saved_model", format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(f"{scratch}/saved_model").convert()


def _tflite_forward(blob: bytes, feature_dim: int) -> Forward:
    """A forward pass over uint8 batches with one interpreter (resized when the batch's shape changes)."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the interpreter's notice that it moves to another package
        interpreter = tf.lite.Interpreter(model_content=blob, num_threads=os.cpu_count() or 1)
    entry = interpreter.get_input_details()[0]
    shape: list[tuple] = [()]

    def forward(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if shape[0] != batch.shape:
            interpreter.resize_tensor_input(entry["index"], batch.shape)
            interpreter.allocate_tensors()
            shape[0] = batch.shape
        interpreter.set_tensor(entry["index"], batch.astype(np.float32))
        interpreter.invoke()
        outputs = [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]
        features = next(o for o in outputs if o.shape[-1] == feature_dim)
        logits = next((o for o in outputs if o is not features), np.zeros((len(batch), 0), np.float32))
        return features.copy(), logits.copy()

    return forward
