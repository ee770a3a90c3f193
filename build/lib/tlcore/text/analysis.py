"""One pass over a text dataset that measures what the shared recommendation needs.

Training and validation texts only (never the test split); one pass of the encoder, whose
embeddings are cached for `train`. The zero-shot classifier's cross-validated accuracy plays
the part the ImageNet name map plays for images: the expected accuracy of "predict".
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import transferability
from ..backbones.text import DEFAULT_TEXT_BACKBONE, load_text_encoder
from ..progress import ProgressCallback, report
from ..strategy import recommend
from .embed import embed_texts
from .measures import text_gap
from .zeroshot import cv_accuracy, prototypes

RAW_SCALE = 20.0  # cosines -> logits for LEEP (the calibrated scale is fitted per fold in cv_accuracy)


def dataset_size(dataset) -> dict:
    from ..analysis import class_sizes

    return {"n_texts": len(dataset), **class_sizes(dataset), "median_chars": float(dataset.records["n_chars"].median())}


def analyze_text(
    dataset,
    backbone: str | None = None,
    *,
    seed: int = 0,
    descriptions: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
):
    from ..analysis import Analysis

    name = backbone or DEFAULT_TEXT_BACKBONE
    encoder = load_text_encoder(name)
    size = dataset_size(dataset)
    known = dataset.records["split"].to_numpy(dtype=object) != "test"
    labels = dataset.labels()[known]
    features = embed_texts(dataset.texts(), encoder, progress=progress).features  # all splits: `train` reuses it
    x = features[known]
    report(progress, "analysis", 0, 3, "tokenizer measures")
    gap = text_gap(encoder, [t for t, keep in zip(dataset.texts(), known, strict=True) if keep], seed=seed)
    report(progress, "analysis", 1, 3, "transferability")
    cosines = x @ prototypes(encoder, dataset.classes, descriptions).T
    measures = transferability.measure(x, RAW_SCALE * cosines, labels, seed)
    zero_shot = cv_accuracy(cosines, labels, seed)
    report(progress, "analysis", 2, 3, "recommendation")
    advice = recommend(size, None, gap, measures, encoder.spec, None, zero_shot)
    report(progress, "analysis", 3, 3, f"recommended: {advice.strategy}")
    return Analysis(size, None, gap, measures, advice, name, None)


def zero_shot_accuracy(dataset, encoder, descriptions=None, seed: int = 0) -> float:
    """Cross-validated accuracy of calibrated zero-shot on the training and validation texts."""
    known = dataset.records["split"].to_numpy(dtype=object) != "test"
    x = embed_texts(dataset.texts(), encoder).features[known]
    return cv_accuracy(x @ prototypes(encoder, dataset.classes, descriptions).T, dataset.labels()[known], seed)
