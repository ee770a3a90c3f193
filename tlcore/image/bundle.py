"""The image bundle's model: raw RGB images of any size in, class probabilities out, Keras layers only.

Everything between a decoded image (uint8, any size) and the probabilities lives in `model.keras`:
one resize to the base's size, its normalisation, the frozen base (BatchNorm folded where it can
be), the head and the temperature. Beside it the bundle carries a `predict.py` whose image decoding
is TransferLab's own function, copied in, so both decode alike, and, when the user asks for them
(`tlcore.export.add_tflite`), TFLite copies (float32 and int8 weights) with their measured agreement.
"""

from __future__ import annotations

import inspect
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from .. import runs
from ..progress import ProgressCallback, report
from ..train.as_keras import KERAS_FORMS
from ..train.candidate import Candidate
from . import decode
from .bases import Backbone

CARD_USE = [
    "```sh", "pip install keras tensorflow pillow", "python predict.py photo.jpg [more.jpg ...] [--json]", "```",
    "", "Or in Python: `keras.saving.load_model('model.keras', safe_mode=True)` takes one RGB image as",
    "an array (height x width x 3, values 0-255, any size) and returns the probabilities of the",
    "classes in `labels.json`.",
]  # fmt: skip


def bundle_graph(candidate: Candidate, base: Backbone, n_classes: int):
    """Raw RGB image (uint8, any size) -> class scores and the head's features, for any exportable candidate."""
    import keras

    from ..modality import BundleGraph

    images, resized = base.raw_input()
    if candidate.strategy == "finetune":
        feature_model, head = candidate.parts
        features = feature_model(resized, training=False)
        return BundleGraph(images, features, logits=head(features, training=False))
    features, imagenet_logits = base.extractor(resized)
    if candidate.strategy == "predict":
        source = keras.layers.Softmax(name="imagenet_probabilities")(imagenet_logits)
        mix = keras.layers.Dense(n_classes, use_bias=False, name="label_map")
        mix.build((None, source.shape[-1]))
        mix.set_weights([candidate.model.astype(np.float32)])
        return BundleGraph(images, features, probabilities=mix(source))
    return BundleGraph(images, features, logits=KERAS_FORMS[candidate.name](candidate, n_classes)(features))


def traced(model):
    """`model` traced once as a graph for one RGB image of any height and width (no retracing per size)."""
    import tensorflow as tf

    return tf.function(lambda image: model(image, training=False),
                       input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])


def predict_array(bundle, image: np.ndarray):
    """The bundle model's outputs for one decoded RGB image (H x W x 3, 0-255, full size: the model resizes)."""
    import keras

    return keras.tree.map_structure(lambda tensor: tensor.numpy(), bundle.extra(image[None].astype(np.float32)))


def predict_bytes(bundle, data: bytes, name: str = "uploaded image", top: int = 5) -> dict:
    """One prediction for an uploaded image given as bytes (the app's upload widget hands over bytes)."""
    from ..predict import answer, check_top

    return {"file": name, **answer(predict_array(bundle, decode.load_rgb(data)), bundle.labels, check_top(top))}


def write_extras(model, result, folder: Path, *, tflite: bool) -> dict:
    """The manifest's image keys, and with `tflite` the TFLite copies (`write_tflite`)."""
    manifest = {"image_size": result.base.image_size,
                "input": "one RGB image, uint8 (or float 0-255), any size: the model resizes and normalises it"}
    if tflite:
        manifest |= write_tflite(model, folder, result.dataset.files("test"))
    return manifest


def write_tflite(model, folder: Path, files: list[Path], progress: ProgressCallback | None = None) -> dict:
    """`model.tflite` and `model_int8.tflite` in `folder`, and their agreement with the Keras model on `files`
    (the run's test images) for the manifest (key `tflite`)."""
    steps = 1 + len(files[:TFLITE_PARITY_IMAGES])  # the conversions, then each image checked
    report(progress, "tflite", 0, steps, "converting the model to TFLite (float32 and int8, at once)")
    with tempfile.TemporaryDirectory() as scratch:
        blobs = tflite_models(model, Path(scratch))
    parity = tflite_parity(model, blobs, files, progress)  # before any file: a cancel here leaves the bundle as it was
    for name, blob in blobs.items():
        runs.write_atomic(folder / name, blob)
    return {"tflite": parity}


TFLITE_PARITY_IMAGES = 100


def tflite_models(model, scratch: Path) -> dict[str, bytes]:
    """The model as TFLite: float32, and int8 weights with dynamic-range quantisation (both converted at once: the
    converter runs outside Python's lock, and the bundle is what the user waits for)."""
    from concurrent.futures import ThreadPoolExecutor

    import tensorflow as tf

    model.export(scratch / "saved_model", format="tf_saved_model", verbose=False)

    def convert(optimise: bool) -> bytes:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(scratch / "saved_model"))
        if optimise:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()

    with ThreadPoolExecutor(2) as pool:
        blobs = dict(zip(("model.tflite", "model_int8.tflite"), pool.map(convert, (False, True)), strict=True))
    return blobs


class TFLiteRunner:
    """One TFLite interpreter for one model, reused for images of any size (resized only when the size changes)."""

    def __init__(self, blob: bytes) -> None:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the interpreter's deprecation notice
            self.interpreter = tf.lite.Interpreter(model_content=blob)
        self.entry = self.interpreter.get_input_details()[0]
        self.shape: tuple | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Probabilities of one image (H x W x 3)."""
        if image.shape != self.shape:
            self.interpreter.resize_tensor_input(self.entry["index"], (1, *image.shape))
            self.interpreter.allocate_tensors()
            self.shape = image.shape
        self.interpreter.set_tensor(self.entry["index"], image[None].astype(np.float32))
        self.interpreter.invoke()
        outputs = [self.interpreter.get_tensor(o["index"])[0] for o in self.interpreter.get_output_details()]
        return max(outputs, key=len)  # the probabilities (the unknown score is one number)


def tflite_parity(model, blobs: dict[str, bytes], files: list[Path], progress: ProgressCallback | None = None) -> dict:
    """Largest probability difference (float) and top-1 agreement (int8) against the Keras model."""
    from ..predict import probabilities_of

    reference_of, float32, int8 = traced(model), TFLiteRunner(blobs["model.tflite"]), \
        TFLiteRunner(blobs["model_int8.tflite"])
    float_diff, agree = 0.0, []
    checked = files[:TFLITE_PARITY_IMAGES]
    for done, path in enumerate(checked):
        report(progress, "tflite", 1 + done, 1 + len(checked), "checking the copies against the Keras model")
        image = decode.load_rgb(path)
        outputs = reference_of(image[None].astype(np.float32))
        reference = np.asarray(probabilities_of(outputs))[0]
        float_diff = max(float_diff, float(np.abs(float32(image) - reference).max()))
        agree.append(int(np.argmax(int8(image)) == np.argmax(reference)))
    return {"images": len(agree), "float32_max_abs_diff": float_diff,
            "int8_top1_agreement": float(np.mean(agree)) if agree else None}


def predict_script() -> str:
    """A standalone predict.py: Keras, NumPy and Pillow only, with TransferLab's decoding and answer copied in."""
    from ..predict import answer

    decoding = "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in (decode._to_rgb, decode._shrunk))
    answering = textwrap.dedent(inspect.getsource(answer))
    return f'''"""Predict with this bundle: python predict.py IMAGE... [--json]. Needs keras, tensorflow, pillow."""

import contextlib
import json
import sys
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
UNKNOWN = "\\t(looks like none of these classes)"
FULL_SIDE = {decode.FULL_SIDE}  # a larger photo is shrunk while decoding: the model resizes it to a few hundred pixels


{decoding}


{answering}


def load(path):
    with Image.open(path) as image:
        if max(image.size) > FULL_SIDE:
            image = _shrunk(image, FULL_SIDE)
        return np.asarray(_to_rgb(ImageOps.exif_transpose(image)), dtype=np.uint8)


def main(argv):
    as_json = "--json" in argv
    files = [a for a in argv if a != "--json"]
    model = keras.saving.load_model(HERE / "model.keras", safe_mode=True)
    labels = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
    results = [dict(file=file, **answer(model.predict(load(file)[None], verbose=0), labels)) for file in files]
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{{r['file']}}\\t{{r['label']}}\\t{{r['prob']:.4f}}{{UNKNOWN if r['unknown'] else ''}}")


if __name__ == "__main__":
    main(sys.argv[1:])
'''
