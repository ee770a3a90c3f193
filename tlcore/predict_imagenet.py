"""The base as it is: ImageNet classes for images, with no training at all."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from . import imagenet
from .backbones import DEFAULT_BACKBONE, Backbone, load_backbone
from .errors import SettingError
from .features import extract_features
from .images import require_files
from .progress import ProgressCallback


def imagenet_probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the 1000 ImageNet logits, row by row."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def predict_imagenet(
    images: Sequence[str | os.PathLike],
    backbone: str | Backbone = DEFAULT_BACKBONE,
    *,
    top: int = 5,
    progress: ProgressCallback | None = None,
) -> list[dict]:
    """Top-`top` ImageNet classes per image file: [{"file", "top": [{"index", "name", "prob"}]}]."""
    if not backbone_has_head(backbone):
        raise SettingError(f"base {_name(backbone)!r} has no ImageNet head; choose another base")
    files = require_files(images)
    model = load_backbone(backbone) if isinstance(backbone, str) else backbone
    features = extract_features(files, model, use_cache=False, progress=progress)
    ranked = imagenet.top_k(imagenet_probabilities(features.logits), top)
    return [{"file": str(path), "top": entries} for path, entries in zip(images, ranked, strict=True)]


def backbone_has_head(backbone: str | Backbone) -> bool:
    from .backbones import get_spec

    spec = get_spec(backbone) if isinstance(backbone, str) else backbone.spec
    return spec.has_imagenet_head


def _name(backbone: str | Backbone) -> str:
    return backbone if isinstance(backbone, str) else backbone.spec.name
