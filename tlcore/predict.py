"""Load a bundle safely and predict with it: the same model file a user downloads.

A bundle is checked before its model is touched: a manifest of the right format with readable
versions, a list of labels, and a model that loads in Keras's safe mode (no Lambda layers, no
classes Keras does not know) whose output size matches the labels. Before Keras builds anything,
the model's own configuration (`config.json` inside `model.keras`) is read as data: only the layers
TransferLab's bundles are made of, inputs no larger than the base's image size or sequence length,
and no more weights than its weights file holds (`check_model_config`). Anything else is refused.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.archive import unpack_zip
from .data.limits import MAX_PIXELS, ImportLimits
from .data.store import check_source
from .errors import BundleError, DataError, SettingError
from .modality import DEFAULT_MODALITY, get_modality
from .progress import ProgressCallback, report

REQUIRED_FILES = ("manifest.json", "labels.json", "model.keras")
# A bundle is a model and a few small files: these caps refuse a zip bomb, or a model.keras whose
# weights inflate far past their packed size, before anything is unpacked or loaded.
BUNDLE_LIMITS = ImportLimits(max_files=10_000, max_total_bytes=2 * 1024**3, max_ratio=50.0)
MAX_JSON_BYTES = 16 * 1024**2
# What a bundle's model configuration may ask Keras to build (`check_model_config`).
MAX_IMAGE_SIDE = 1024  # the largest image size training accepts (the CLI's --image-size)
MAX_SEQUENCE = 4096  # tokens a text model may read
MAX_WIDTH = 65_536  # units, filters or channels of one layer
MAX_KERNEL = 15  # a convolution's or pooling's window, strides and padding
MAX_LAYERS = 64  # transformer blocks; models nested in models
MAX_ELEMENTS = 50_000_000  # values in one reshaped tensor of one input
WEIGHTS_SLACK = 1.25  # the weights the configuration asks for, at most this many times its weights file's bytes ...
WEIGHTS_SLACK_BYTES = 16 * 1024**2  # ... plus this much


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
    model = _load_model(path / "model.keras", manifest)
    shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
    outputs = shapes[0][-1]
    if outputs != len(labels) or len(shapes) > 2 or (len(shapes) == 2 and shapes[1][-1] != 1):
        raise BundleError(f"{path.name}: the model gives {outputs} probabilities but labels.json names "
                          f"{len(labels)} classes; the files do not belong together, download the bundle again")
    extra = get_modality(manifest.get("modality", DEFAULT_MODALITY)).open_bundle(path, manifest, model)
    _check_vocabulary(path, model, extra)
    return Bundle(model, labels, manifest, path, extra)


def _check_vocabulary(path: Path, model, extra) -> None:
    """A tokenizer (any bundle part with `vocabulary_size()`) must have as many word pieces as the model's token
    embedding has rows: more would index past it at the first rare word (a traceback), fewer shift every id
    (answers wrong without a word). The token embedding is the model's largest Embedding layer."""
    import keras

    if not callable(getattr(extra, "vocabulary_size", None)):
        return
    rows = [layer.input_dim for layer in _all_layers(model) if isinstance(layer, keras.layers.Embedding)]
    if rows and (found := int(extra.vocabulary_size())) != max(rows):
        raise BundleError(f"{path.name}: tokenizer/vocabulary.txt holds {found:,} word pieces but the model was "
                          f"built for {max(rows):,}; the files do not belong together (edited?), download the "
                          "bundle again")


def _all_layers(model) -> list:
    """Every layer of `model`, nested models and layers included."""
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack += [child for child in getattr(layer, "_layers", []) if child is not layer]
    return found


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


def _load_model(path: Path, manifest: dict | None = None):
    import keras

    check_model_archive(path)
    check_model_config(path, manifest or {})
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises ValueError, TypeError or its own errors for unsafe content
        text = str(error).splitlines()[0][:300]
        raise BundleError(f"{path.parent.name}/model.keras was refused in safe mode ({text}); TransferLab "
                          "only loads models made of Keras's own layers") from None


def check_model_config(path: Path, manifest: dict) -> None:
    """Refuse a model whose configuration asks for layers no bundle has, inputs past the base's size, tensors
    or weights past the bounds above (weights: no more than its weights file holds): read as data, before Keras
    builds (and allocates) anything."""
    where = f"{path.parent.name}/{path.name}"
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > MAX_JSON_BYTES:
                raise BundleError(f"{where}: its config.json is {info.file_size / 1e6:.0f} MB, far larger than a "
                                  "model's configuration; download the bundle again")
            config = json.loads(zf.read(info).decode("utf-8"))
            stored = sum(i.file_size for i in zf.infolist() if i.filename.endswith(".h5"))
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BundleError(f"{where} holds no readable config.json ({type(error).__name__}); download the bundle "
                          "again") from None
    try:
        counter = _ConfigWeights(manifest)
        counter.model(config, 0)
    except _Refused as refused:
        raise BundleError(f"{where} was refused before building: its configuration {refused}; TransferLab did not "
                          "make this model, download the bundle again") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as error:
        raise BundleError(f"{where} was refused before building: its config.json is not a Keras model "
                          f"configuration TransferLab reads ({type(error).__name__}: {str(error)[:80]}); download "
                          "the bundle again") from None
    if counter.bytes > WEIGHTS_SLACK * stored + WEIGHTS_SLACK_BYTES:
        raise BundleError(f"{where} was refused before building: its configuration asks for {counter.params:,} "
                          f"weights ({counter.bytes / 1e9:,.1f} GB) but its weights file holds "
                          f"{stored / 1e6:,.0f} MB, so the configuration was edited; download the bundle again")


class _Refused(Exception):
    """What in a model configuration is beyond a bundle's bounds (completes "its configuration ...")."""


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise _Refused(what)


def _count(value, name: str, most: int, least: int = 1) -> int:
    """`value` as a whole number within [least, most], or a refusal naming `name`."""
    _need(isinstance(value, int) and not isinstance(value, bool) and least <= value <= most,
          f"sets {name} to {value!r} (expected {least} to {most:,})")
    return value


def _window(value, name: str) -> list[int]:
    """A kernel's, stride's or pool's sizes (an int, or a tuple of one to three ints), each within MAX_KERNEL."""
    values = value if isinstance(value, list | tuple) else [value]
    _need(0 < len(values) <= 3, f"sets {name} to {value!r}")
    return [_count(v, name, MAX_KERNEL) for v in values]


def _keras_tensors(node) -> list[dict]:
    """The `__keras_tensor__` entries of a node's arguments, in order."""
    found: list[dict] = []

    def visit(item) -> None:
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                found.append(item["config"])
            else:
                for value in item.values():
                    visit(value)
        elif isinstance(item, list):
            for value in item:
                visit(value)

    visit([node.get("args"), node.get("kwargs")])
    return found


def _dtype(config: dict) -> str:
    """The name of a layer's dtype (or dtype policy): "float32", "int32", "mixed_float16"..."""
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return dtype if isinstance(dtype, str) else ""


def _shapes(value) -> list:
    """A build_config's input_shape as a list of shapes (one input, or several)."""
    if not isinstance(value, list) or not value:
        return []
    return value if isinstance(value[0], list) else [value]


# A tensor as the check sees it: its channels (last dimension; None where no layer with weights may read it,
# e.g. token ids) and upper bounds on its other sides per item (height and width, a sequence's length).
Tensor = tuple[int | None, tuple[int, ...]]
MAX_VALUES = 128 * 1024**2  # values in one tensor of one input: 512 MB as float32 (a 40-megapixel image is 120 M)
_PASS = {"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Dropout", "SpatialDropout1D",
         "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "Rescaling", "UnitNormalization", "Identity",
         "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast", "RandomTranslation", "RandomBrightness",
         "Cast", "ZerosLike", "OnesLike", "StochasticDepth", "Add", "Subtract", "Multiply", "Maximum", "Minimum",
         "Average", "Concatenate"}  # fmt: skip
_STRIDED = {"Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
            "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"}
_GLOBAL = {"GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Dot"}
_NORMALISING = {"BatchNormalization": 4, "LayerNormalization": 2, "Normalization": 2, "LayerScale": 1}


def _conv(config: dict, fan_in: int) -> tuple[int, int]:
    filters = _count(config.get("filters"), "a convolution's filters", MAX_WIDTH)
    groups = _count(config.get("groups", 1), "a convolution's groups", fan_in)
    kernel = math.prod(_window(config.get("kernel_size"), "kernel_size"))
    return kernel * (fan_in // groups) * filters + filters, filters


def _depthwise(config: dict, fan_in: int) -> tuple[int, int]:
    multiplier = _count(config.get("depth_multiplier", 1), "a depthwise convolution's multiplier", 64)
    kernel = math.prod(_window(config.get("kernel_size"), "kernel_size"))
    return (kernel + 1) * fan_in * multiplier, fan_in * multiplier


def _separable(config: dict, fan_in: int) -> tuple[int, int]:
    multiplier = _count(config.get("depth_multiplier", 1), "a separable convolution's multiplier", 64)
    filters = _count(config.get("filters"), "a convolution's filters", MAX_WIDTH)
    kernel = math.prod(_window(config.get("kernel_size"), "kernel_size"))
    return kernel * fan_in * multiplier + fan_in * multiplier * filters + filters, filters


def _dense(config: dict, fan_in: int) -> tuple[int, int]:
    units = _count(config.get("units"), "a Dense layer's units", MAX_WIDTH)
    return (fan_in + 1) * units, units


def _embedding(config: dict, fan_in: int) -> tuple[int, int]:
    rows = _count(config.get("input_dim"), "an embedding's input_dim", 1_000_000)
    width = _count(config.get("output_dim"), "an embedding's output_dim", MAX_WIDTH)
    return rows * width, width


def _normalising(kind: str):
    return lambda config, fan_in: (_NORMALISING[kind] * fan_in, fan_in)


# layer -> (its config, input channels) -> (weights, output channels)
_WEIGHTED = {"Dense": _dense, "Conv1D": _conv, "Conv2D": _conv, "DepthwiseConv1D": _depthwise,
             "DepthwiseConv2D": _depthwise, "SeparableConv1D": _separable, "SeparableConv2D": _separable,
             "Embedding": _embedding} | {kind: _normalising(kind) for kind in _NORMALISING}  # fmt: skip
_READ = _PASS | _STRIDED | _GLOBAL | set(_WEIGHTED) | {"InputLayer", "Reshape", "Resizing", "CenterCrop",
                                                        "ZeroPadding2D"}


class _ConfigWeights:
    """Walks a Keras model configuration as data, from its inputs on: each tensor's channels and sides, and the
    weights each layer asks for. Only the layers bundles are made of are read; a layer's input channels are
    the most of what its producer makes and what its build_config names (Keras builds it with the latter)."""

    def __init__(self, manifest: dict) -> None:
        size, length = manifest.get("image_size"), manifest.get("sequence_length")
        self.image_side = MAX_IMAGE_SIDE if size is None else _count(size, "the manifest's image_size",
                                                                     MAX_IMAGE_SIDE)
        self.sequence = MAX_SEQUENCE if length is None else _count(length, "the manifest's sequence_length",
                                                                   MAX_SEQUENCE)
        self.params = 0
        self.bytes = 0

    def model(self, layer: dict, depth: int) -> list[Tensor]:
        """A (nested) model's outputs; its layers' weights are counted."""
        _need(depth <= MAX_LAYERS, "nests models too deep")
        config = layer["config"]
        if layer["class_name"] == "Sequential":
            tensor: Tensor = (None, ())
            for inner in config["layers"]:
                tensor = self.layer(inner, [[tensor]], depth)[0][0]
            return [tensor]
        produced: dict[tuple, Tensor] = {}
        pending = list(config["layers"])
        while pending:
            ready = [item for item in pending if all(tuple(t["keras_history"]) in produced
                                                     for n in item.get("inbound_nodes") or []
                                                     for t in _keras_tensors(n))]
            _need(bool(ready), "connects layers in a way that cannot be followed")
            for item in ready:
                pending.remove(item)
                nodes = [[produced[tuple(t["keras_history"])] for t in _keras_tensors(n)]
                         for n in item.get("inbound_nodes") or []]
                calls = self.layer(item, nodes, depth)
                if item["class_name"] in ("Functional", "Sequential", "BertBackbone"):
                    calls = calls[:1] + calls  # a model's node 0 is its own making: its calls count from 1
                for index, outputs in enumerate(calls):
                    for position, tensor in enumerate(outputs):
                        produced[(item["name"], index, position)] = tensor
        outputs = config["output_layers"]
        outputs = [outputs] if outputs and isinstance(outputs[0], str) else outputs
        return [produced[tuple(o)] for o in outputs]

    def layer(self, layer: dict, nodes: list[list[Tensor]], depth: int) -> list[list[Tensor]]:
        """The outputs of each call (node) of `layer`; its weights are counted once."""
        kind, config = layer["class_name"], layer.get("config") or {}
        if kind in ("Functional", "Sequential") and isinstance(config.get("layers"), list):
            outputs = self.model(layer, depth + 1)
            return [outputs for _ in nodes] or [outputs]
        if kind == "BertBackbone":
            outputs = [(self.bert(config), (self.sequence,))] * 2
            return [outputs for _ in nodes] or [outputs]
        _need(kind in _READ, f"names a layer {kind!r}, which no TransferLab bundle is made of")
        if kind == "InputLayer":
            return [[self.input(config)]]
        shapes = _shapes((layer.get("build_config") or {}).get("input_shape"))
        built = shapes[0][-1] if shapes and isinstance(shapes[0], list) and shapes[0] else None
        calls = nodes or [[(built if isinstance(built, int) else None, ())]]
        channels = None
        if kind in _WEIGHTED:
            widths = [w for w in (calls[0][0][0] if calls[0] else None, built) if w is not None]
            _need(bool(widths) or kind == "Embedding", f"gives a {kind} layer inputs of no known size")
            fan_in = _count(max(widths, default=1), f"the input channels of a {kind} layer", MAX_WIDTH)
            weights, channels = _WEIGHTED[kind](config, fan_in)
            self.params += weights
            self.bytes += weights * (8 if _dtype(config).endswith("64") else 4)
        return [[self.output(kind, config, ins, channels)] for ins in calls]

    def input(self, config: dict) -> Tensor:
        shape = config.get("batch_shape") or config.get("batch_input_shape") or [None]
        _need(isinstance(shape, list) and 1 <= len(shape) <= 5, f"gives an input of shape {shape!r}")
        if "int" in _dtype(config):  # token ids: (batch, length)
            for length in shape[1:]:
                if length is not None:
                    _count(length, "an input's length", self.sequence)
            return None, (self.sequence,)
        image = len(shape) >= 4  # (batch, height, width, channels): any size where None, up to MAX_PIXELS
        most = self.image_side if image else self.sequence
        sides = tuple(math.isqrt(MAX_PIXELS) if side is None and image else most if side is None
                      else _count(side, "an input's size", most) for side in shape[1:-1])
        return (None if shape[-1] is None else _count(shape[-1], "an input's channels", MAX_WIDTH)), sides

    def output(self, kind: str, config: dict, ins: list[Tensor], channels: int | None) -> Tensor:
        """What `kind` makes of `ins` (channels given for layers with weights): channels and sides, checked."""
        known = [c for c, _ in ins if c is not None]
        rank = max((len(s) for _, s in ins), default=0)
        sides = tuple(max(s[i - rank + len(s)] if i - rank + len(s) >= 0 else 1 for _, s in ins)
                      for i in range(rank))  # broadcast: the largest of each side, aligned on the right
        if kind in _STRIDED:
            for key in ("kernel_size", "pool_size", "dilation_rate"):
                if config.get(key) is not None:
                    _window(config[key], key)
            strides = _window(config.get("strides") or config.get("pool_size") or 1, "strides")
            strides = strides * len(sides) if len(strides) == 1 else strides
            sides = tuple(-(-side // stride) for side, stride in zip(sides, strides[-len(sides):], strict=False))
        elif kind in _GLOBAL:
            sides, channels = (), 1 if kind == "Dot" else channels
        elif kind in ("Resizing", "CenterCrop"):
            sides = (_count(config.get("height"), f"a {kind}'s height", self.image_side),
                     _count(config.get("width"), f"a {kind}'s width", self.image_side))
        elif kind == "ZeroPadding2D":
            pad = max((_count(v, "a padding", MAX_KERNEL, 0) for v in _flat(config.get("padding"))), default=0)
            sides = tuple(side + 2 * pad for side in sides)
        elif kind == "Reshape":
            target = config.get("target_shape")
            _need(isinstance(target, list) and 0 < len(target) <= 4 and all(isinstance(v, int) for v in target),
                  f"reshapes to {target!r}")
            sides, channels = tuple(abs(v) for v in target[:-1]), (target[-1] if target[-1] > 0 else None)
        if kind == "Concatenate":
            channels = sum(known) if known and len(known) == len(ins) and config.get("axis", -1) == -1 else None
        elif channels is None and kind not in ("Reshape", "Dot"):
            channels = max(known, default=None)
        values = (channels or 1) * math.prod(sides)
        _need(values <= MAX_VALUES, f"makes a tensor of {values:,} values per input in a {kind} layer (the most "
                                    f"is {MAX_VALUES:,})")
        return channels, sides

    def bert(self, config: dict) -> int:
        """A keras-hub BertBackbone's weights, from its settings alone; the channels of its outputs."""
        hidden = _count(config.get("hidden_dim"), "hidden_dim", MAX_WIDTH)
        inner = _count(config.get("intermediate_dim"), "intermediate_dim", MAX_WIDTH)
        layers = _count(config.get("num_layers"), "num_layers", MAX_LAYERS)
        heads = _count(config.get("num_heads"), "num_heads", hidden)
        _need(hidden % heads == 0, f"splits {hidden} channels into {heads} heads")
        vocabulary = _count(config.get("vocabulary_size"), "vocabulary_size", 1_000_000)
        length = _count(config.get("max_sequence_length"), "max_sequence_length", MAX_SEQUENCE)
        _need(self.sequence <= length, f"reads {length} tokens but the manifest asks for {self.sequence}")
        segments = _count(config.get("num_segments", 2), "num_segments", 16)
        values = self.sequence * max(inner, heads * self.sequence)  # the widest activation: feed-forward, attention
        _need(values <= MAX_VALUES, f"makes a tensor of {values:,} values per input in its transformer (the most is "
                                    f"{MAX_VALUES:,})")
        weights = (vocabulary + length + segments + 2) * hidden + hidden * hidden + hidden + layers * (
            4 * (hidden * hidden + hidden) + 2 * hidden * inner + inner + hidden + 4 * hidden)
        self.params += weights
        self.bytes += 4 * weights
        return hidden


def _flat(value) -> list:
    """The numbers in a nested list (a padding's settings)."""
    return [v for item in value for v in _flat(item)] if isinstance(value, list | tuple) else [value]


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
