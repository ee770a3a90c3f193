"""The downloadable bundle: a model that takes raw inputs, with what it needs to be used and trusted.

`model.keras` holds everything between a raw input (an RGB image of any size; for texts, the
tokenizer's ids) and the class probabilities, built by the data's modality from Keras's own
layers only, so `keras.saving.load_model(path, safe_mode=True)` loads it without TransferLab.
Beside it: `labels.json`, `manifest.json`, a model card `README.md`, `predict.py`, and what the
modality adds (the tokenizer for texts); then all of it zipped. TFLite copies of an image model are
added on request (`add_tflite`): converting took 8-19 s on 2 cores, where the Keras bundle takes
under a second to write, and a run's final bundle is what its user waits for.
"""

from __future__ import annotations

import io
import platform
import shutil
import time
import zipfile
from pathlib import Path

from . import costs, runs
from .errors import SettingError
from .modality import BundleGraph, get_modality
from .progress import ProgressCallback
from .train import RunResult
from .train.as_keras import KERAS_FORMS
from .train.candidate import Candidate
from .train.evaluate import temperature_sentence
from .unknown import PASS_SHARE, UnknownDetector

BUNDLE_FORMAT = "transferlab-bundle"
BUNDLE_VERSION = 2  # 2: the model gives [probabilities, unknown score]; 1 gave the probabilities alone


def exportable(candidate: Candidate) -> bool:
    """Whether the candidate becomes one Keras model: label maps, Keras heads, fine-tuned, most baselines."""
    return candidate.strategy in ("predict", "finetune") or candidate.name in KERAS_FORMS


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


def export_bundle(result: RunResult, destination: Path | None = None, *, tflite: bool = False) -> Path:
    """Write the bundle folder (default `<run>/bundle`) and `bundle.zip` beside it; return the zip.

    With `tflite` (images), also `model.tflite` and `model_int8.tflite`, their agreement with the
    Keras model measured on the run's test images and written into the manifest.
    """
    modality = get_modality(result.dataset.modality)
    candidate, note = choose(result)
    temperature = result.test.temperature if candidate is result.selected else 1.0
    model = bundle_model(modality.bundle_graph(candidate, result.base, len(result.report["classes"])), temperature,
                         candidate.unknown)
    folder = destination or result.run_dir / "bundle"
    if folder.exists():
        shutil.rmtree(folder)
    runs.save_keras(model, folder / "model.keras")
    metrics = result.per_strategy.get(candidate.strategy) if candidate is not result.selected else result.test
    unknown = (result.report.get("unknown") if candidate is result.selected else
               candidate.unknown.describe() if candidate.unknown else None)
    manifest = _manifest(result, candidate, temperature, metrics, note, unknown)
    manifest |= modality.write_bundle_extras(model, result, folder, tflite=tflite)
    runs.write_json(folder / "labels.json", result.report["classes"])
    runs.write_json(folder / "manifest.json", manifest)
    runs.write_atomic(folder / "README.md", model_card(result, manifest, metrics))
    runs.write_atomic(folder / "predict.py", modality.predict_script())
    return _zip(folder)


def add_tflite(run_dir: Path, progress: ProgressCallback | None = None) -> Path:
    """Add TFLite copies of a complete run's bundle model (images: float32 and int8, with their agreement with
    it on the run's test images in the manifest) and zip the bundle again; returns the zip. A bundle that has
    them already is left as it is."""
    import keras

    from .data.store import load_stored

    run_dir = Path(run_dir)
    folder = run_dir / "bundle"
    manifest = runs.read_json(folder / "manifest.json")
    if runs.state(run_dir) != "complete" or not manifest or not (folder / "model.keras").is_file():
        raise SettingError(f"run {run_dir.name} has no finished bundle to convert ({runs.state(run_dir)}); TFLite "
                           "copies are made of a complete run's bundle: wait for it, or train one")
    modality = get_modality(manifest["modality"])
    if not manifest.get("tflite"):
        watch = costs.Stopwatch()
        model = keras.saving.load_model(folder / "model.keras", safe_mode=True)
        manifest |= modality.write_tflite(model, folder, load_stored(run_dir / "dataset").files("test"), progress)
        runs.write_json(folder / "manifest.json", manifest)
        _zip(folder)
        costs.record(manifest["base"], manifest.get("image_size"), tflite_kind(manifest), watch.seconds)
    return folder.with_suffix(".zip")


INT8_AGREEMENT_FLOOR = 0.9  # below it, the int8 copy is not the model the run measured: say so where it is offered


def tflite_warning(manifest: dict) -> str | None:
    """A warning where the bundle's int8 copy often answers otherwise than model.keras (on Shapes it agreed on 48% of
    the test images while float32 matched to 1e-6): the manifest says it, but a user shipping it to a phone reads the
    page. None where the copies agree, or where there are none."""
    parity = manifest.get("tflite") or {}
    agreement = parity.get("int8_top1_agreement")
    if agreement is None or agreement >= INT8_AGREEMENT_FLOOR:
        return None
    return (f"model_int8.tflite gave the same answer as model.keras on only {agreement:.0%} of {parity['images']} "
            "test images: its smaller weights lose what this model relies on. Use model.tflite (float32: "
            f"within {parity['float32_max_abs_diff']:.0e} of model.keras) or model.keras instead.")


def tflite_kind(manifest: dict) -> str:
    """What the TFLite copies of this bundle are timed under (a fine-tuned base is converted whole)."""
    return f"{costs.TFLITE}:finetune" if manifest.get("strategy") == "finetune" else costs.TFLITE


def tflite_seconds(manifest: dict) -> float:
    """About how long `add_tflite` takes for this bundle on this machine (what it took last, or a first guess)."""
    return costs.guessed(manifest["modality"], manifest["base"], manifest.get("image_size"), tflite_kind(manifest))


def bundle_model(graph: BundleGraph, temperature: float, unknown: UnknownDetector | None = None):
    """The bundle's Keras model: raw inputs -> [class probabilities, unknown score] (the probabilities alone
    without a detector); the temperature divides the logits before the softmax."""
    import keras

    probabilities = graph.probabilities
    if probabilities is None:
        scaled = keras.layers.Rescaling(1.0 / temperature, name="temperature")(graph.logits)
        probabilities = keras.layers.Softmax(name="probabilities")(scaled)
    outputs = [probabilities, unknown.output(graph.features)] if unknown is not None else probabilities
    return keras.Model(graph.inputs, outputs, name=graph.name)


def _manifest(result: RunResult, candidate: Candidate, temperature: float, metrics, note: str,
              unknown: dict | None) -> dict:
    import keras
    import tensorflow as tf

    from . import __version__

    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "transferlab": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "modality": result.dataset.modality,
        "base": result.report["backbone"],
        "strategy": candidate.strategy,
        "model": candidate.name,
        "temperature": temperature,
        "classes": len(result.report["classes"]),
        "output": "class probabilities, in the order of labels.json" + (
            "; then the unknown score (above 1: the input looks like none of the classes)" if unknown else ""),
        "unknown": unknown,
        "metrics": {"test_accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1,
                    "ece_before": metrics.ece_before, "ece_after": metrics.ece_after} if metrics else {},
        "split_hash": result.report["split_hash"],
        "note": note,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def install_command(manifest: dict) -> str:
    """The command that installs what the bundle's `predict.py` imports: the model card's own line, so the app,
    the card and the script say the same."""
    use, _ = get_modality(manifest["modality"]).card_use(manifest)
    return next(line for line in use if line.startswith("pip install"))


STORED_SUFFIXES = (".keras", ".tflite", ".npz", ".h5")  # weights: deflate saves a few percent and took 8 of 11 s


def _zip(folder: Path) -> Path:
    """`folder` zipped beside it (written whole, then renamed into place); model files stored as they are."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            kind = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            zf.write(path, path.relative_to(folder).as_posix(), compress_type=kind)
    archive = folder.with_suffix(".zip")
    runs.write_atomic(archive, buffer.getvalue())
    return archive


def model_card(result: RunResult, manifest: dict, metrics) -> str:
    classes = result.report["classes"]
    modality = manifest["modality"]
    use, where = get_modality(modality).card_use(manifest)
    lines = [
        f"# {modality.capitalize()} classifier: {', '.join(classes[:8])}{' ...' if len(classes) > 8 else ''}",
        "",
        f"Made with TransferLab {manifest['transferlab']} from the base {manifest['base']} "
        f"({manifest['strategy']}: {manifest['model']}), {where}.",
        "",
        "## Use",
        "",
        *use,
        "",
        "## Data",
        "",
        f"Trained on the dataset `{result.report['source']}` (split {manifest['split_hash']}).",
    ]
    if metrics:
        lines += ["", "## Held-out test results", "",
                  f"Accuracy {metrics.accuracy:.1%}, macro-F1 {metrics.macro_f1:.3f}. Calibration error (ECE) "
                  f"{metrics.ece_before:.3f} before and {metrics.ece_after:.3f} after temperature scaling "
                  f"(temperature {metrics.temperature:.2f}). "
                  + temperature_sentence(metrics.temperature_fitted_on, metrics.temperature_note), "",
                  "| class | precision | recall | F1 | test images |", "|---|---|---|---|---|"]
        lines += [f"| {r['class']} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | {r['support']} |"
                  for r in metrics.per_class]
    if (line := benefit_line(result.report.get("benefit"))) is not None:
        lines += ["", line]
    lines += ["", "## Known limits", "",
              f"- It only knows the classes above: any {modality} gets one of them, however unrelated. "
              + ("The unknown score says when an input looks like none of them (above 1); its line lets "
                 f"{PASS_SHARE:.0%} of the validation {modality}s pass, so about 1 ordinary {modality} in "
                 f"{round(1 / (1 - PASS_SHARE))} is flagged too." if manifest.get("unknown") else ""),
              f"- It was tested on {modality}s like the training {modality}s; other sources, subjects or wording may "
              "lower its accuracy."]
    if manifest["note"]:
        lines += [f"- {manifest['note']}"]
    return "\n".join(lines) + "\n"


BENEFIT_START = "Without transfer, the same data scored"


def benefit_line(benefit: dict | None) -> str | None:
    """The model card's line on what transfer saved (`report["benefit"]`, issue 33), or None before it is measured."""
    scratch = (benefit or {}).get("scratch")
    if not scratch:
        return None
    transfer = (benefit.get("transfer") or {}).get("accuracy")
    return (f"{BENEFIT_START} {scratch['accuracy']:.1%} on the same test split ({scratch['model']}, "
            f"{scratch['seconds']:.0f} s of training)"
            + (f", against {transfer:.1%} for the same way with transfer retrained beside it. " if transfer is not None
               else ". ") + (benefit.get("summary") or "")).rstrip()


def add_benefit_to_card(run_dir: Path, benefit: dict) -> bool:
    """Put (or replace) the benefit line in the card of the run's bundle, built before it was measured, and zip
    the bundle again; False when the run has no bundle."""
    card, line = Path(run_dir) / "bundle" / "README.md", benefit_line(benefit)
    if line is None or not card.is_file():
        return False
    kept = [old for old in card.read_text(encoding="utf-8").split("\n\n") if not old.startswith(BENEFIT_START)]
    at = next((i for i, part in enumerate(kept) if part.startswith("## Known limits")), len(kept))
    runs.write_atomic(card, "\n\n".join([*kept[:at], line, *kept[at:]]))
    _zip(card.parent)
    return True
