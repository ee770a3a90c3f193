"""Which engine runs the frozen base fastest here: today's `tf.function` against TFLite and ONNX Runtime.

The frozen extractor of the default base (EfficientNet-Lite0 at 224 px) on one batch of 64 real
images from hymenoptera, after one warm-up batch, per engine:

- tf.function: `Backbone.forward_graph`, what `extract_features` runs today (the baseline);
- TFLite float32 with XNNPACK (one thread per core), converted the way the bundle's model.tflite is;
- TFLite int8 (dynamic-range quantised weights, as the bundle's model_int8.tflite);
- ONNX Runtime (CPU, one thread per core), from Keras's own ONNX export, if `onnxruntime` and `tf2onnx` import
  (they are not among TransferLab's requirements; the script says so when they are missing).

Printed: images per second, the largest feature difference from tf.function (an engine is
adoptable only within 1e-4), and the ratio engine/tf.function. A lower bound on the time per
image is also printed: the base's multiply-adds over the peak this machine reached in a dense
matrix product, which says how far from the hardware each engine is (its fraction of that bound).
Last, the engine `tlcore.image.engine` runs here for `extract_features` (measured now, or read from
its cache under TRANSFERLAB_HOME when this machine has measured before).

    .venv/bin/python benchmarks/bench_engines.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tlcore.image.bases import build_backbone  # noqa: E402
from tlcore.image.decode import load_rgb  # noqa: E402
from tlcore.image.engine import cores, engine_for  # noqa: E402

BATCH = 64
SIZE = 224
MULTIPLY_ADDS = 0.385e9  # EfficientNet-Lite0 at 224 px (its paper's figure)


REPEATS = 3


def timed(run, batch: np.ndarray) -> tuple[float, np.ndarray]:
    """Images per second over REPEATS calls on the whole batch, after one warm-up call of the same shape
    (tracing, memory, the CPU library's kernels for that shape)."""
    run(batch)
    start = time.perf_counter()
    for _ in range(REPEATS):
        features = run(batch)
    return REPEATS * BATCH / (time.perf_counter() - start), features


def tflite_runner(blob: bytes):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=blob, num_threads=cores())
    entry = interpreter.get_input_details()[0]

    def run(batch: np.ndarray) -> np.ndarray:
        if tuple(entry["shape"]) != batch.shape:  # resized once per shape, as a batched extractor would
            interpreter.resize_tensor_input(entry["index"], batch.shape)
            interpreter.allocate_tensors()
            entry.update(shape=np.array(batch.shape))
        interpreter.set_tensor(entry["index"], batch.astype(np.float32))
        interpreter.invoke()
        outputs = [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]
        return next(o for o in outputs if o.shape[-1] != 1000)  # the features, not the ImageNet logits

    return run


def onnx_runner(extractor, scratch: Path):
    import onnxruntime

    path = scratch / "extractor.onnx"
    extractor.export(str(path), format="onnx", verbose=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = cores()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    image = session.get_inputs()[0].name
    # Keras's export leaves the Normalization layer's statistics as inputs: fed here as the constants they are
    norm = extractor.get_layer("normalize")
    fixed = {
        i.name: np.asarray(norm.mean if "Sub" in i.name else norm.variance, np.float32).reshape(i.shape)
        for i in session.get_inputs()[1:]
    }

    def run(batch: np.ndarray) -> np.ndarray:
        outputs = session.run(None, {image: batch.astype(np.float32), **fixed})
        return next(o for o in outputs if o.shape[-1] != 1000)

    return run


def peak_multiply_adds() -> float:
    """Multiply-adds per second this machine reaches in a dense float32 matrix product (TensorFlow's)."""
    import tensorflow as tf

    a = tf.random.normal((2048, 2048))
    tf.linalg.matmul(a, a)
    start = time.perf_counter()
    for _ in range(5):
        tf.linalg.matmul(a, a).numpy()
    return 5 * 2048**3 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    import tensorflow as tf

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores ({cores()} usable); EfficientNet-Lite0 at {SIZE} px, "
        f"batch {BATCH}; load average {os.getloadavg()[0]:.2f}"
    )
    files = sorted((args.root / "hymenoptera").rglob("*.jpg"))[:BATCH]
    batch = np.stack([load_rgb(f, SIZE) for f in files])
    base = build_backbone("efficientnet_lite0", SIZE)
    peak = peak_multiply_adds()
    bound = peak / MULTIPLY_ADDS
    print(
        f"dense matmul peak here: {peak / 1e9:.0f} G multiply-adds/s; the base needs {MULTIPLY_ADDS / 1e9:.3f} G per "
        f"image, so at most {bound:.0f} img/s even at dense-matmul efficiency"
    )
    rate, reference = timed(lambda b: base.forward_graph(b)[0].numpy(), batch)
    print(f"tf.function (the baseline): {rate:.1f} img/s, {rate / bound:.0%} of the bound")
    engines = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, quantised in (("TFLite float32 (XNNPACK)", False), ("TFLite int8 weights", True)):
            start = time.perf_counter()
            base.extractor.export(f"{scratch}/saved_model", format="tf_saved_model", verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(f"{scratch}/saved_model")
            if quantised:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            engines[name] = tflite_runner(converter.convert())
            print(f"{name}: converted in {time.perf_counter() - start:.1f} s (once per base and image size)")
        try:
            engines["ONNX Runtime"] = onnx_runner(base.extractor, Path(scratch))
        except ImportError as missing:
            print(f"ONNX Runtime: not measured ({missing.name} is not installed; pip install onnxruntime tf2onnx)")
        for name, run in engines.items():
            engine_rate, features = timed(run, batch)
            difference = float(np.abs(features - reference).max())
            print(
                f"{name}: {engine_rate:.1f} img/s ({engine_rate / bound:.0%} of the bound), largest feature difference "
                f"{difference:.2e} ({'within' if difference <= 1e-4 else 'over'} 1e-4), "
                f"ratio to tf.function {engine_rate / rate:.2f}"
            )
    seen = []
    chosen = engine_for(base, batch, progress=seen.append)
    how = "measured now" if seen else "read from this machine's engine cache"
    print(f"extract_features runs here: {chosen.name} ({how}): {chosen.note}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
