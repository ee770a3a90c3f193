"""The downloadable bundle: a model that takes raw images and runs with Keras and Pillow alone.

`model.keras` holds everything between a decoded RGB image (uint8, any size) and the class
probabilities: resizing, normalisation, the base, the head and the temperature. It is built only
from Keras's own layers, so `keras.saving.load_model(path, safe_mode=True)` loads it without
TransferLab. Beside it: `labels.json`, `manifest.json`, a model card `README.md` and `predict.py`,
whose image decoding is TransferLab's own function, copied in, so both decode alike.
"""

from __future__ import annotations

import inspect
import io
import platform
import shutil
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np

from . import images as images_module
from . import runs
from .backbones import Backbone
from .errors import SettingError
from .train import RunResult
from .train.as_keras import KERAS_FORMS
from .train.candidate import Candidate

BUNDLE_FORMAT = "transferlab-bundle"
BUNDLE_VERSION = 1


def exportable(candidate: Candidate) -> bool:
    """Whether the candidate becomes one Keras model: label maps, Keras heads, fine-tuned, most baselines."""
    return candidate.strategy in ("predict", "finetune") or candidate.name in KERAS_FORMS


def _preprocessed(backbone: Backbone, images):
    """The base's own resize + normalise + frozen (BatchNorm-folded) body, as layers on `images`."""
    import keras

    size, spec = backbone.image_size, backbone.spec
    x = keras.layers.Resizing(size, size, name="resize")(images)
    x = keras.layers.Normalization(mean=list(spec.pixel_mean), variance=[s * s for s in spec.pixel_std],
                                   name="normalize")(x)
    body = backbone.extractor.layers[-2]  # the folded body when the base has one: same features, faster
    return body(x, training=False)


def build_model(candidate: Candidate, backbone: Backbone, n_classes: int, temperature: float):
    """Raw RGB image (uint8, any size) -> class probabilities, for any exportable candidate."""
    import keras

    images = keras.Input((None, None, 3), name="image")
    if candidate.strategy == "finetune":
        size = backbone.image_size
        x = keras.layers.Resizing(size, size, name="resize")(images)
        logits = candidate.model(x, training=False)
    elif candidate.strategy == "predict":
        features = _preprocessed(backbone, images)
        source = keras.layers.Softmax(name="imagenet_probabilities")(backbone.extractor.layers[-1](features))
        mix = keras.layers.Dense(n_classes, use_bias=False, name="label_map")
        mix.build((None, source.shape[-1]))
        mix.set_weights([candidate.model.astype(np.float32)])
        return keras.Model(images, mix(source), name="transferlab")
    else:
        logits = KERAS_FORMS[candidate.name](candidate, n_classes)(_preprocessed(backbone, images))
    scaled = keras.layers.Rescaling(1.0 / temperature, name="temperature")(logits)
    return keras.Model(images, keras.layers.Softmax(name="probabilities")(scaled), name="transferlab")


def choose(result: RunResult) -> tuple[Candidate, str]:
    """The selected model if exportable, else the best exportable one, with a note saying so."""
    if exportable(result.selected):
        return result.selected, ""
    fallback = next((c for c in result.candidates if exportable(c)), None)
    if fallback is None:
        raise SettingError("no model of this run can be exported as one Keras model (k-nearest neighbours and "
                           "extra trees cannot); train with logistic_regression or the Keras head as well")
    note = (f"The run selected {result.selected.strategy}/{result.selected.name}, which has no exact Keras form; "
            f"this bundle holds the best exportable model, {fallback.strategy}/{fallback.name}.")
    return fallback, note


TFLITE_PARITY_IMAGES = 100


def tflite_models(model, scratch: Path) -> dict[str, bytes]:
    """The model as TFLite: float32, and int8 weights with dynamic-range quantisation."""
    import tensorflow as tf

    model.export(scratch / "saved_model", format="tf_saved_model", verbose=False)
    blobs = {}
    for name, optimise in (("model.tflite", False), ("model_int8.tflite", True)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(scratch / "saved_model"))
        if optimise:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        blobs[name] = converter.convert()
    return blobs


def run_tflite(blob: bytes, image: np.ndarray) -> np.ndarray:
    """Probabilities of one image (H x W x 3) from a TFLite model with a dynamic input size."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_content=blob)
    entry = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(entry["index"], (1, *image.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(entry["index"], image[None].astype(np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]


def tflite_parity(model, blobs: dict[str, bytes], files: list[Path]) -> dict:
    """Largest probability difference (float) and top-1 agreement (int8) against the Keras model."""
    from .images import load_rgb

    float_diff, agree = 0.0, []
    for path in files[:TFLITE_PARITY_IMAGES]:
        image = load_rgb(path)
        reference = model.predict(image[None].astype(np.float32), verbose=0)[0]
        float_diff = max(float_diff, float(np.abs(run_tflite(blobs["model.tflite"], image) - reference).max()))
        agree.append(int(np.argmax(run_tflite(blobs["model_int8.tflite"], image)) == np.argmax(reference)))
    return {"images": len(agree), "float32_max_abs_diff": float_diff,
            "int8_top1_agreement": float(np.mean(agree)) if agree else None}


def export_bundle(result: RunResult, destination: Path | None = None, *, tflite: bool = True) -> Path:
    """Write the bundle folder (default `<run>/bundle`) and `bundle.zip` beside it; return the zip.

    With `tflite`, also `model.tflite` and `model_int8.tflite`, their agreement with the Keras
    model measured on the run's test images and written into the manifest.
    """
    import keras
    import tensorflow as tf

    from . import __version__

    candidate, note = choose(result)
    classes = result.report["classes"]
    temperature = result.test.temperature if candidate is result.selected else 1.0
    text = result.dataset.modality == "text"
    if text:
        from .text import export as text_export

        model = text_export.build_text_model(candidate, result.backbone, len(classes), temperature)
    else:
        model = build_model(candidate, result.backbone, len(classes), temperature)
    folder = destination or result.run_dir / "bundle"
    if folder.exists():
        shutil.rmtree(folder)
    runs.save_keras(model, folder / "model.keras")
    if text:
        text_export.save_tokenizer(result.backbone, folder)
    metrics = result.per_strategy.get(candidate.strategy) if candidate is not result.selected else result.test
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "transferlab": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "modality": result.dataset.modality,
        "base": result.backbone.spec.name,
        "strategy": candidate.strategy,
        "model": candidate.name,
        "temperature": temperature,
        "classes": len(classes),
        "output": "class probabilities, in the order of labels.json",
        "metrics": {"test_accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1,
                    "ece_before": metrics.ece_before, "ece_after": metrics.ece_after} if metrics else {},
        "split_hash": result.report["split_hash"],
        "note": note,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if text:
        manifest |= {"sequence_length": result.backbone.spec.sequence_length, "tokenizer": text_export.TOKENIZER_FOLDER,
                     "input": "token_ids and padding_mask from the tokenizer in tokenizer/ (see predict.py)"}
    else:
        manifest |= {"image_size": result.backbone.image_size,
                     "input": "one RGB image, uint8 (or float 0-255), any size: the model resizes and normalises it"}
    if tflite and not text:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            blobs = tflite_models(model, Path(scratch))
        for name, blob in blobs.items():
            runs.write_atomic(folder / name, blob)
        manifest["tflite"] = tflite_parity(model, blobs, result.dataset.files("test"))
    runs.write_json(folder / "labels.json", classes)
    runs.write_json(folder / "manifest.json", manifest)
    runs.write_atomic(folder / "README.md", model_card(result, manifest, metrics))
    runs.write_atomic(folder / "predict.py", text_export.predict_script() if text else predict_script())
    archive = folder.with_suffix(".zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(folder).as_posix())
    runs.write_atomic(archive, buffer.getvalue())
    return archive


CARD_USE = {
    "image": [
        "```sh", "pip install keras tensorflow pillow", "python predict.py photo.jpg [more.jpg ...] [--json]", "```",
        "", "Or in Python: `keras.saving.load_model('model.keras', safe_mode=True)` takes one RGB image as",
        "an array (height x width x 3, values 0-255, any size) and returns the probabilities of the",
        "classes in `labels.json`.",
    ],
    "text": [
        "```sh", "pip install keras tensorflow keras-hub", 'python predict.py "a text" ["another text" ...] [--json]',
        "```", "", "Or in Python: `keras_hub.models.BertTokenizer.from_preset('tokenizer')` turns texts into",
        "word-piece ids; framed by [CLS] and [SEP] and padded (`encode` in predict.py), they go into",
        "`keras.saving.load_model('model.keras', safe_mode=True)`, which returns the probabilities of the",
        "classes in `labels.json`.",
    ],
}  # fmt: skip


def model_card(result: RunResult, manifest: dict, metrics) -> str:
    classes = result.report["classes"]
    modality = manifest["modality"]
    where = f"at {manifest['image_size']} px" if modality == "image" else \
        f"reading up to {manifest['sequence_length']} word pieces per text"
    lines = [
        f"# {modality.capitalize()} classifier: {', '.join(classes[:8])}{' ...' if len(classes) > 8 else ''}",
        "",
        f"Made with TransferLab {manifest['transferlab']} from the base {manifest['base']} "
        f"({manifest['strategy']}: {manifest['model']}), {where}.",
        "",
        "## Use",
        "",
        *CARD_USE[modality],
        "",
        "## Data",
        "",
        f"Trained on the dataset `{result.report['source']}` (split {manifest['split_hash']}).",
    ]
    if metrics:
        lines += ["", "## Held-out test results", "",
                  f"Accuracy {metrics.accuracy:.1%}, macro-F1 {metrics.macro_f1:.3f}. Calibration error (ECE) "
                  f"{metrics.ece_before:.3f} before and {metrics.ece_after:.3f} after temperature scaling "
                  f"(temperature {metrics.temperature:.2f}, fitted on validation images).", "",
                  "| class | precision | recall | F1 | test images |", "|---|---|---|---|---|"]
        lines += [f"| {r['class']} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | {r['support']} |"
                  for r in metrics.per_class]
    lines += ["", "## Known limits", "",
              f"- It only knows the classes above: any {modality} gets one of them, however unrelated.",
              f"- It was tested on {modality}s like the training {modality}s; other sources, subjects or wording may "
              "lower its accuracy."]
    if manifest["note"]:
        lines += [f"- {manifest['note']}"]
    return "\n".join(lines) + "\n"


def predict_script() -> str:
    """A standalone predict.py: Keras, NumPy and Pillow only, with TransferLab's decoding copied in."""
    decode = "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in (images_module._to_rgb,))
    return f'''"""Predict with this bundle: python predict.py IMAGE... [--json]. Needs keras, tensorflow, pillow."""

import json
import sys
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent


{decode}


def load(path):
    with Image.open(path) as image:
        return np.asarray(_to_rgb(ImageOps.exif_transpose(image)), dtype=np.uint8)


def main(argv):
    as_json = "--json" in argv
    files = [a for a in argv if a != "--json"]
    model = keras.saving.load_model(HERE / "model.keras", safe_mode=True)
    labels = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
    results = []
    for file in files:
        probs = model.predict(load(file)[None], verbose=0)[0]
        order = np.argsort(-probs)[:5]
        results.append({{"file": file, "label": labels[order[0]], "prob": float(probs[order[0]]),
                        "top": [{{"label": labels[i], "prob": float(probs[i])}} for i in order]}})
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{{r['file']}}\\t{{r['label']}}\\t{{r['prob']:.4f}}")


if __name__ == "__main__":
    main(sys.argv[1:])
'''
