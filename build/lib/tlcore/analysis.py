"""One pass over a dataset that measures everything the recommendation needs.

Uses only the training and validation images (never the test split), one forward pass of the
base (features are cached, so a later `train` reuses them) and one pass of a sample of images
for the BatchNorm statistics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from . import similarity, transferability
from .backbones import DEFAULT_BACKBONE, load_backbone
from .data import Dataset
from .features import extract_features, load_images
from .progress import ProgressCallback, report
from .strategy import Recommendation, recommend
from .train.config import auto_image_size
from .train.predict import name_map_matrix, name_mapping

BN_SAMPLE = 128  # images whose activations are compared with ImageNet's BatchNorm statistics


@dataclass(frozen=True, eq=False)
class Analysis:
    dataset: dict
    label_overlap: similarity.LabelOverlap | None  # images only: class names against ImageNet's
    domain_gap: object  # similarity.DomainGap (images) or text.measures.TextGap
    transferability: transferability.Transferability
    recommendation: Recommendation
    backbone: str
    image_size: int | None  # images only

    @property
    def modality(self) -> str:
        return "image" if self.image_size else "text"

    def to_dict(self) -> dict:
        return {
            "modality": self.modality,
            "backbone": self.backbone,
            "image_size": self.image_size,
            "dataset": self.dataset,
            "label_overlap": self.label_overlap.to_dict() if self.label_overlap else None,
            "domain_gap": self.domain_gap.to_dict(),
            "transferability": self.transferability.to_dict(),
            "recommendation": self.recommendation.to_dict(),
        }


def class_sizes(dataset) -> dict:
    """Counts per class that images and texts share: what the recommendation's data-size rule reads."""
    counts = dataset.records["label"].value_counts()
    known = dataset.records.loc[dataset.records["split"] != "test", "label"].value_counts()
    return {
        "n_classes": len(dataset.classes),
        "per_class_median": float(counts.median()),
        "per_class_min": int(counts.min()),
        "per_class_known_median": float(known.median()),  # training + validation: what a model can learn from
        "imbalance": float(counts.max() / counts.min()),
        "splits": dataset.split_sizes(),
    }


def dataset_size(dataset: Dataset) -> dict:
    return {"n_images": len(dataset), **class_sizes(dataset),
            "median_side": float(np.median(dataset.records[["width", "height"]].min(axis=1)))}


def name_map_accuracy(dataset: Dataset, logits: np.ndarray, labels: np.ndarray) -> float | None:
    """Accuracy of the ImageNet head with the class names mapped to its classes, if every name maps.

    The same map the "predict" strategy trains and exports (`name_map_matrix`).
    """
    mapping = name_mapping(dataset.classes)
    if mapping is None:
        return None
    mixed = softmax(logits.astype(np.float64), axis=1) @ name_map_matrix(dataset.classes, mapping)
    return float(np.mean(np.argmax(mixed, axis=1) == labels))


def analyze(
    dataset: Dataset,
    backbone: str | None = None,
    image_size: int | None = None,
    *,
    seed: int = 0,
    descriptions: dict[str, str] | None = None,
    progress: ProgressCallback | None = None,
) -> Analysis:
    """Measure `dataset` against `backbone` (default: the kind's offline base) and recommend a strategy.

    Text datasets go to `tlcore.text.analysis.analyze_text` (`descriptions` of the classes help its
    zero-shot measure); images are measured as the module docstring says.
    """
    if dataset.modality == "text":
        from .text.analysis import analyze_text

        return analyze_text(dataset, backbone, seed=seed, descriptions=descriptions, progress=progress)
    backbone = backbone or DEFAULT_BACKBONE
    size = dataset_size(dataset)
    image_size = image_size or auto_image_size(backbone, size["median_side"])
    base = load_backbone(backbone, image_size)
    known = dataset.records["split"].to_numpy(dtype=object) != "test"
    files = [f for f, keep in zip(dataset.files(), known, strict=True) if keep]
    labels = dataset.labels()[known]
    features = extract_features(dataset.files(), base, progress=progress)  # all splits: `train` reuses the cache
    x, logits = features.features[known], features.logits[known]
    report(progress, "analysis", 0, 3, "BatchNorm statistics")
    sample = np.random.default_rng(seed).permutation(len(files))[:BN_SAMPLE]
    gap = similarity.domain_gap(base, load_images([files[i] for i in sorted(sample)], image_size), logits)
    report(progress, "analysis", 1, 3, "transferability")
    overlap = similarity.label_overlap(dataset.classes, logits, labels)
    measures = transferability.measure(x, logits, labels, seed)
    report(progress, "analysis", 2, 3, "recommendation")
    advice = recommend(size, overlap, gap, measures, base.spec, image_size, name_map_accuracy(dataset, logits, labels))
    report(progress, "analysis", 3, 3, f"recommended: {advice.strategy}")
    return Analysis(size, overlap, gap, measures, advice, backbone, image_size)


def replace_settings(analysis: Analysis, **settings) -> Analysis:
    """A copy with some recommended settings overridden (the app's "pick another" path)."""
    advice = dataclasses.replace(analysis.recommendation, settings=analysis.recommendation.settings | settings)
    return dataclasses.replace(analysis, recommendation=advice)
