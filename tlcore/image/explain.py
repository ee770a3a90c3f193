"""Where an image model looks: Grad-CAM (Selvaraju et al., 2017), as in Keras's own example.

The gradient of the class score with respect to the last convolution block's activations, averaged
over the image, weighs each channel; their weighted sum, with negative parts dropped, is the map
of what raised that class's score. It works on a bundle's own model (the one a user downloads):
the last layer with a spatial output is found by walking the nested models, and its activation
and the class logits (the input of the final softmax) are recorded while the model runs under a
`tf.GradientTape`.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import SettingError

OVERLAY_STRENGTH = 0.6  # how much of the red shows where the map is hottest


def grad_cam(model, image: np.ndarray, class_index: int | None = None) -> tuple[np.ndarray, int]:
    """(heatmap at the image's height x width, from 0 to 1; the class it explains: `class_index` or the top one)."""
    import tensorflow as tf

    from ..predict import probabilities_of

    spatial, scores = _taps(model)
    batch = tf.convert_to_tensor(image[None].astype(np.float32))
    with _recording(spatial) as activation, _recording(scores, inputs=True) as logits, tf.GradientTape() as tape:
        outputs = model(batch, training=False)
        probabilities = probabilities_of(outputs)
        index = int(np.argmax(probabilities[0])) if class_index is None else class_index
        # the class's logit against the others' mean (what the softmax sees) where the model ends in a softmax;
        # else (a label map over ImageNet's probabilities) the log of its probability
        score = logits[0][:, index] - tf.reduce_mean(logits[0], axis=1) if logits else \
            tf.math.log(probabilities[:, index] + 1e-9)
    grads = tape.gradient(score, activation[0])
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * activation[0], axis=-1))[0]
    cam = tf.image.resize(cam[..., None], image.shape[:2], method="bilinear")[..., 0].numpy()
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam), index


def overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The image with the heatmap laid over it in red (uint8, same size)."""
    alpha = OVERLAY_STRENGTH * heatmap[..., None]
    red = np.array([255.0, 0.0, 0.0])
    return np.clip(image.astype(np.float64) * (1 - alpha) + red * alpha, 0, 255).astype(np.uint8)


def _taps(model):
    """(the last layer with a spatial output, the final softmax or None), nested models walked in order."""
    import keras

    layers = list(_walk(model, keras.Model))
    spatial = [layer for layer in layers if len(_output_shape(layer)) == 4]
    if not spatial:
        raise SettingError("this model has no convolution layer, so Grad-CAM cannot show where it looks")
    softmax = [layer for layer in layers if isinstance(layer, keras.layers.Softmax) and layer.name == "probabilities"]
    return spatial[-1], (softmax[-1] if softmax else None)


def _output_shape(layer) -> tuple:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # a layer never called, or called more than once
        return ()


def _walk(model, model_type):
    for layer in model.layers:
        if isinstance(layer, model_type):
            yield from _walk(layer, model_type)
        else:
            yield layer


@contextmanager
def _recording(layer, inputs: bool = False):
    """Record what `layer` returns (or, with `inputs`, what it is given) each time it runs, into the list yielded."""
    seen: list = []
    if layer is None:
        yield seen
        return
    original = layer.call

    def call(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(args[0] if inputs else out)
        return out

    layer.call = call  # on this instance only, and only while recording
    try:
        yield seen
    finally:
        del layer.call
