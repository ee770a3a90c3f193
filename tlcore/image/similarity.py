"""How close the user's images are to the base's own domain (ImageNet), measured three ways.

- Label overlap: which class names are ImageNet classes, and how the ImageNet head's answers
  concentrate per user class (a class whose images all get the same ImageNet answer is one the
  base already "knows", under some name).
- Confidence: the ImageNet head's mean top-1 probability and mean normalised entropy; photos of
  ImageNet-like things get confident answers, satellite tiles and digits do not.
- BatchNorm shift: every BatchNormalization layer of the base stores the mean and variance of its
  input over ImageNet. Comparing them with the same statistics over the user's images (the KL
  divergence between the two per-channel Gaussians, averaged over channels) measures, layer by
  layer and with no ImageNet image at hand, where the user's data stops looking like ImageNet.
  Early layers see edges and colours, late layers object parts: a shift that grows late says
  the top blocks need retraining, one that starts early says more of the base does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.special import softmax

from ..strategy import FAR_SHIFT, GapReading, unfreeze_blocks
from . import imagenet
from .bases import Backbone
from .label_map import match_class


@dataclass(frozen=True)
class LabelOverlap:
    per_class: list[dict]  # class, imagenet_matches, top_imagenet_class, concentration
    matched_classes: int
    concentration: float  # mean share of a class's images that get its most common ImageNet answer

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DomainGap:
    mean_top1: float
    mean_entropy: float  # normalised to 0..1 by log(1000)
    bn_shift: float  # mean KL over every BatchNorm layer
    per_block: list[dict]  # block, shift
    shift_starts_at: int  # first block whose shift reaches half of the largest block's

    def to_dict(self) -> dict:
        return asdict(self)


def label_overlap(classes: tuple[str, ...], imagenet_logits: np.ndarray, labels: np.ndarray) -> LabelOverlap:
    probs = softmax(imagenet_logits.astype(np.float64), axis=1)
    top = np.argmax(probs, axis=1)
    names = imagenet.class_names()
    rows = []
    for index, cls in enumerate(classes):
        answers = top[labels == index]
        modal = int(np.bincount(answers, minlength=imagenet.NUM_CLASSES).argmax()) if len(answers) else 0
        rows.append({
            "class": cls,
            "imagenet_matches": [names[i] for i in match_class(cls)],
            "top_imagenet_class": names[modal],
            "concentration": float(np.mean(answers == modal)) if len(answers) else 0.0,
        })  # fmt: skip
    return LabelOverlap(rows, sum(bool(r["imagenet_matches"]) for r in rows),
                        float(np.mean([r["concentration"] for r in rows])))


def confidence(imagenet_logits: np.ndarray) -> tuple[float, float]:
    """(mean top-1 probability, mean entropy / log 1000) of the ImageNet head."""
    probs = softmax(imagenet_logits.astype(np.float64), axis=1)
    entropy = -np.sum(probs * np.log(probs + 1e-12), axis=1) / np.log(imagenet.NUM_CLASSES)
    return float(probs.max(axis=1).mean()), float(entropy.mean())


def batchnorm_shift(backbone: Backbone, images: np.ndarray, batch_size: int = 16) -> pd.DataFrame:
    """Per BatchNorm layer of the base: its block and the mean per-channel KL(user data || ImageNet)."""
    import keras
    import tensorflow as tf

    body, spec = backbone.body, backbone.spec
    norms = [layer for layer in body.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(body.input, [layer.input for layer in norms])

    @tf.function
    def moments(batch):
        outputs = probe(backbone.preprocess(batch), training=False)
        axes = lambda t: list(range(len(t.shape) - 1))  # noqa: E731
        return [(tf.reduce_sum(o, axes(o)), tf.reduce_sum(o * o, axes(o)), tf.cast(tf.size(o[..., 0]), tf.float32))
                for o in outputs]

    sums = None
    for start in range(0, len(images), batch_size):
        batch = moments(images[start : start + batch_size])
        batch = [(s.numpy(), q.numpy(), float(n.numpy())) for s, q, n in batch]
        if sums is None:
            sums = batch
        else:
            sums = [(a + s, b + q, c + n) for (a, b, c), (s, q, n) in zip(sums, batch, strict=True)]
    rows = []
    for layer, (total, squares, count) in zip(norms, sums, strict=True):
        data_mean = total / count
        data_var = np.maximum(squares / count - data_mean**2, 1e-6)
        ref_mean, ref_var = (np.asarray(w) for w in (layer.moving_mean, layer.moving_variance))
        ref_var = np.maximum(ref_var, 1e-6)
        kl = 0.5 * (np.log(ref_var / data_var) + (data_var + (data_mean - ref_mean) ** 2) / ref_var - 1)
        block = spec.block_of(layer.name) if spec.block_of else round(16 * norms.index(layer) / len(norms))
        rows.append({"layer": layer.name, "block": block, "shift": float(np.mean(kl))})
    return pd.DataFrame(rows)


def domain_gap(backbone: Backbone, images: np.ndarray, imagenet_logits: np.ndarray) -> DomainGap:
    top1, entropy = confidence(imagenet_logits)
    layers = batchnorm_shift(backbone, images)
    blocks = layers.groupby("block", sort=True)["shift"].mean()
    starts = int(blocks.index[np.argmax(blocks.to_numpy() >= 0.5 * blocks.max())])
    return DomainGap(
        mean_top1=top1,
        mean_entropy=entropy,
        bn_shift=float(layers["shift"].mean()),
        per_block=[{"block": int(b), "shift": float(v)} for b, v in blocks.items()],
        shift_starts_at=starts,
    )


def read_image_gap(gap, spec, per_class: float, name_map_used: bool, measures=None) -> GapReading:
    """The BatchNorm shift: far from ImageNet at FAR_SHIFT; unfreeze from where the shift starts."""
    blocks = unfreeze_blocks(gap.shift_starts_at, spec.n_blocks or 16, per_class)
    return GapReading(
        far=gap.bn_shift >= FAR_SHIFT,
        text=(f"the mean BatchNorm shift from ImageNet is {gap.bn_shift:.2f} (photos like ImageNet's measure "
              f"below 0.10) and the ImageNet head's mean top-1 probability is {gap.mean_top1:.2f}"),
        settings={"unfreeze_blocks": blocks, "learning_rate": 2e-4 if blocks >= 8 else 1e-4},
        settings_reason=(f"unfreeze the top {blocks} blocks (the base starts to see your images differently from "
                         f"ImageNet's at block {gap.shift_starts_at} of {(spec.n_blocks or 16) + 1}: where the "
                         "BatchNorm shift reaches half its peak)"),
        asis=("the ImageNet head with your class names mapped to its own scores {:.1%}" if name_map_used
              else "the ImageNet head's answers mapped to your labels score {:.1%} (cross-validated)"),
        margin=gap.bn_shift - FAR_SHIFT,
        distance=gap.bn_shift,
    )
