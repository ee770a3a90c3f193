"""Load a bundle safely and predict with it: the same model file a user downloads.

A bundle is checked before its model is touched: a manifest of the right format with readable
versions, a list of labels, and a model that loads in Keras's safe mode (no Lambda layers, no
classes Keras does not know) whose output size matches the labels. Anything else is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.archive import unpack_zip
from .data.limits import ImportLimits
from .data.store import check_source
from .errors import BundleError, DataError, SettingError
from .modality import DEFAULT_MODALITY, get_modality
from .progress import ProgressCallback, report

REQUIRED_FILES = ("manifest.json", "labels.json", "model.keras")
# A bundle is a model and a few small files: these caps refuse a zip bomb, or a model.keras whose
# weights inflate far past their packed size, before anything is unpacked or loaded.
BUNDLE_LIMITS = ImportLimits(max_files=10_000, max_total_bytes=2 * 1024**3, max_ratio=50.0)
MAX_JSON_BYTES = 16 * 1024**2


@dataclass(frozen=True, eq=False)
class Bundle:
    model: object  # keras.Model: raw RGB image (or, for text, token ids) -> probabilities
    labels: list[str]
    manifest: dict
    folder: Path
    extra: object = None  # what the modality keeps beside the model (`Modality.open_bundle`)

    @property
    def modality(self) -> str:
        return self.manifest.get("modality", DEFAULT_MODALITY)


def load_bundle(path: str | Path) -> Bundle:
    """Validate and load a bundle folder or zip; see the module docstring."""
    from .export import BUNDLE_FORMAT

    path = Path(path)
    try:
        check_source(path)
    except DataError:
        raise BundleError(f"{path}: no such bundle (or not a regular file); give the bundle's folder or its .zip") \
            from None
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise BundleError(f"{path.name} is not a zip; give the bundle's folder or the bundle.zip you downloaded")
        folder = Path(tempfile.mkdtemp(prefix="transferlab-bundle-"))
        try:
            unpack_zip(path, folder, BUNDLE_LIMITS)
            return load_bundle(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise BundleError(f"{path.name}: the bundle lacks {', '.join(missing)}; download the bundle again")
    manifest, labels = _read_json(path / "manifest.json"), _read_json(path / "labels.json")
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path.name}: manifest.json does not describe a {BUNDLE_FORMAT}; found "
                          f"format {manifest.get('format') if isinstance(manifest, dict) else manifest!r}")
    versions = {k: manifest.get(k) for k in ("transferlab", "keras", "tensorflow")}
    if not all(isinstance(v, str) and v for v in versions.values()):
        raise BundleError(f"{path.name}: manifest.json lacks readable versions; found {versions}")
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise BundleError(f"{path.name}: labels.json must be a list of class names; found {type(labels).__name__}")
    model = _load_model(path / "model.keras")
    shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
    outputs = shapes[0][-1]
    if outputs != len(labels) or len(shapes) > 2 or (len(shapes) == 2 and shapes[1][-1] != 1):
        raise BundleError(f"{path.name}: the model gives {outputs} probabilities but labels.json names "
                          f"{len(labels)} classes; the files do not belong together, download the bundle again")
    extra = get_modality(manifest.get("modality", DEFAULT_MODALITY)).open_bundle(path, manifest, model)
    return Bundle(model, labels, manifest, path, extra)


def _read_json(path: Path):
    """A small JSON file of the bundle; anything too large, too deep or not JSON is a `BundleError`."""
    if path.stat().st_size > MAX_JSON_BYTES:
        raise BundleError(f"{path.parent.name}/{path.name} is {path.stat().st_size / 1e6:.0f} MB, far larger than a "
                          "bundle's own files; download the bundle again")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BundleError(f"{path.parent.name}/{path.name} is not valid JSON ({type(error).__name__}: "
                          f"{str(error)[:120]}); download the bundle again") from None


def check_model_archive(path: Path, limits: ImportLimits = BUNDLE_LIMITS) -> None:
    """Refuse a .keras file (itself a zip) whose entries would unpack past `limits`, before Keras reads it."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise BundleError(f"{path.parent.name}/{path.name} is not a readable Keras model file ({error}); "
                          "download the bundle again") from None
    total = sum(info.file_size for info in infos)
    inflated = [i.filename for i in infos if not limits.ratio_allows(i.file_size, i.compress_size)]
    if total > limits.max_total_bytes or inflated or not limits.ratio_allows(total, path.stat().st_size):
        where = ", ".join(inflated[:3]) or "in all"
        raise BundleError(f"{path.parent.name}/{path.name} declares {total / 1e6:,.0f} MB of content in a "
                          f"{path.stat().st_size / 1e6:,.1f} MB file ({where}); a model's weights barely compress, "
                          "so it was refused unread. Download the bundle again")


def _load_model(path: Path):
    import keras

    check_model_archive(path)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises ValueError, TypeError or its own errors for unsafe content
        text = str(error).splitlines()[0][:300]
        raise BundleError(f"{path.parent.name}/model.keras was refused in safe mode ({text}); TransferLab "
                          "only loads models made of Keras's own layers") from None


def predict(
    bundle: Bundle | str | Path,
    inputs: Sequence[str | os.PathLike],
    *,
    top: int = 5,
    progress: ProgressCallback | None = None,
) -> list[dict]:
    """[{"file", "label", "prob", "top": [{"label", "prob"}], "unknown", "unknown_score"}] per input (image
    files, or texts for a text bundle, where "file" is the text), from the bundle's own model (`answer`)."""
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    modality = get_modality(bundle.modality)
    check_top(top)
    items = modality.check_inputs(inputs)
    results = []
    for done, item in enumerate(items, start=1):
        results.append({"file": str(item), **answer(modality.bundle_outputs(bundle, item), bundle.labels, top)})
        report(progress, "predict", done, len(items))
    return results


def answer(outputs, labels: list[str], top: int = 5) -> dict:
    """One input's answer from a bundle model's outputs (for a batch of one): its classes ranked, and
    whether it looks like none of them ("unknown", with "unknown_score": above 1 it does; both None for
    a bundle of format 1, whose model gives the probabilities alone).

    NumPy only: every bundle's predict.py carries a copy, so both answer alike.
    """
    if isinstance(outputs, list | tuple):
        probs, score = np.asarray(outputs[0])[0], float(np.asarray(outputs[1]).reshape(-1)[0])
    else:
        probs, score = np.asarray(outputs)[0], None
    order = np.argsort(-probs, kind="stable")[:top]
    return {"label": labels[order[0]], "prob": float(probs[order[0]]),
            "top": [{"label": labels[i], "prob": float(probs[i])} for i in order],
            "unknown": None if score is None else bool(score > 1.0), "unknown_score": score}


def probabilities_of(outputs):
    """The class probabilities among a bundle model's outputs (format 2: [probabilities, unknown score])."""
    return outputs[0] if isinstance(outputs, list | tuple) else outputs


def check_top(top) -> int:
    if not isinstance(top, int) or top < 1:
        raise SettingError(f"top (how many classes to list) must be a whole number of at least 1; got {top!r}")
    return top


def predict_texts(bundle: Bundle | str | Path, texts: Sequence[str], *, top: int = 5) -> list[dict]:
    """`predict` for a text bundle, refusing an image bundle in words."""
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    if bundle.modality != "text":
        raise BundleError(f"{bundle.folder.name} is an image bundle; give it images, not texts")
    return predict(bundle, texts, top=top)
