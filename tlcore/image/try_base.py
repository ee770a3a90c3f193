"""The base as it is: ImageNet classes for images, with no training at all."""

from __future__ import annotations

import os
from collections.abc import Sequence

from scipy.special import softmax

from ..errors import SettingError
from ..progress import ProgressCallback
from . import imagenet
from .bases import DEFAULT_BACKBONE, Backbone, get_spec, load_backbone
from .decode import load_rgb, require_files
from .extract import Images, extract_features


def rank_imagenet(
    images: Images,
    backbone: str | Backbone = DEFAULT_BACKBONE,
    *,
    top: int = 5,
    progress: ProgressCallback | None = None,
) -> list[list[dict]]:
    """Per image (file paths or an N x H x W x 3 array), the `top` likeliest classes as {index, name, prob}."""
    spec = get_spec(backbone) if isinstance(backbone, str) else backbone.spec
    if not spec.has_imagenet_head:
        raise SettingError(f"base {spec.name!r} has no ImageNet head; choose another base")
    model = load_backbone(backbone) if isinstance(backbone, str) else backbone
    logits = extract_features(images, model, use_cache=False, progress=progress).logits
    return imagenet.top_k(softmax(logits, axis=1), top)


def predict_imagenet(
    files: Sequence[str | os.PathLike],
    backbone: str | Backbone = DEFAULT_BACKBONE,
    *,
    top: int = 5,
    progress: ProgressCallback | None = None,
) -> list[dict]:
    """Top-`top` ImageNet classes per image file: [{"file", "top": [{"index", "name", "prob"}]}]."""
    paths = require_files(files)
    ranked = rank_imagenet(paths, backbone, top=top, progress=progress)
    return [{"file": str(path), "top": entries} for path, entries in zip(files, ranked, strict=True)]


def predict_imagenet_bytes(data: bytes, backbone: str | Backbone = DEFAULT_BACKBONE, *, top: int = 5) -> list[dict]:
    """Top classes of one uploaded image given as bytes (the app's upload widget hands over bytes)."""
    size = (get_spec(backbone) if isinstance(backbone, str) else backbone.spec).input_size
    return rank_imagenet(load_rgb(data, size)[None], backbone, top=top)[0]
