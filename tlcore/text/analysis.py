"""What the shared recommendation needs, measured on a text dataset.

Training and validation texts only (never the test split); one pass of the encoder, whose
embeddings are cached for `train`. The zero-shot classifier's cross-validated accuracy plays
the part the ImageNet name map plays for images: the expected accuracy of "predict".
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import transferability
from ..modality import Measurements
from ..progress import ProgressCallback, report
from .embed import embed_texts
from .measures import read_text_gap, text_gap
from .zeroshot import cv_accuracy, prototypes

RAW_SCALE = 20.0  # cosines -> logits for LEEP (the calibrated scale is fitted per fold in cv_accuracy)


def measure_texts(dataset, encoder, *, seed: int = 0, descriptions: Mapping[str, str] | None = None,
                  progress: ProgressCallback | None = None) -> Measurements:
    size = {"n_texts": len(dataset), **dataset.class_sizes(),
            "median_chars": float(dataset.records["n_chars"].median())}
    known = dataset.records["split"].to_numpy(dtype=object) != "test"
    labels = dataset.labels()[known]
    features = embed_texts(dataset.texts(), encoder, progress=progress).features  # all splits: `train` reuses it
    x = features[known]
    report(progress, "analysis", 0, 3, "how your texts split into the encoder's words")
    gap = text_gap(encoder, [t for t, keep in zip(dataset.texts(), known, strict=True) if keep], seed=seed)
    report(progress, "analysis", 1, 3, "how well the base tells your classes apart")
    cosines = x @ prototypes(encoder, dataset.classes, descriptions).T
    groups = dataset.groups()
    measures = transferability.measure(x, RAW_SCALE * cosines, labels, seed, None if groups is None else groups[known])
    zero_shot = cv_accuracy(cosines, labels, seed)
    reading = read_text_gap(gap, encoder.spec, size["per_class_known_median"], False, measures)
    return Measurements(size, gap, measures, reading, zero_shot, features)


def zero_shot_accuracy(dataset, encoder, descriptions=None, seed: int = 0) -> float:
    """Cross-validated accuracy of calibrated zero-shot on the training and validation texts."""
    known = dataset.records["split"].to_numpy(dtype=object) != "test"
    x = embed_texts(dataset.texts(), encoder).features[known]
    return cv_accuracy(x @ prototypes(encoder, dataset.classes, descriptions).T, dataset.labels()[known], seed)
