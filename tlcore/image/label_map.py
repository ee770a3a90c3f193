"""Strategy "predict": the pretrained model as it is, its 1000 ImageNet classes mapped to the user's.

Two label maps, both without gradient training:
- by name, where every class name is an ImageNet class (or a synonym, or the head noun of several:
  "cat" gathers "Egyptian cat", "tiger cat", ...);
- learned from the training split as P(user class | ImageNet class), the empirical predictor of
  LEEP (Nguyen et al. 2020), which works for any labels.
"""

from __future__ import annotations

import re
import time
from functools import cache

import numpy as np
from scipy.special import softmax

from ..train.candidate import Candidate, Context
from ..transferability import empirical_predictor
from . import imagenet

EPS = 1e-9


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def _singulars(name: str) -> list[str]:
    forms = [name]
    if name.endswith("ies"):
        forms.append(name[:-3] + "y")
    if name.endswith("es"):
        forms.append(name[:-2])
    if name.endswith("s"):
        forms.append(name[:-1])
    return forms


def match_class(name: str) -> list[int]:
    """ImageNet classes that `name` denotes: by a name or synonym (or its singular), else by head noun."""
    names = _normalised_synonyms()
    forms = _singulars(_normalise(name))
    exact = [i for i, syn in enumerate(names) if any(f in syn for f in forms)]
    return exact or [i for i, syn in enumerate(names) if any(s.endswith(" " + f) for s in syn for f in forms)]


@cache
def _normalised_synonyms() -> list[list[str]]:
    return [[_normalise(n) for n in synonyms] for synonyms in imagenet.synonyms()]


def name_mapping(classes: tuple[str, ...]) -> dict[str, list[int]] | None:
    """ImageNet class indices for each user class by name, or None unless every class maps, disjointly."""
    mapping = {cls: match_class(cls) for cls in classes}
    if not all(mapping.values()):
        return None
    used = [i for indices in mapping.values() for i in indices]
    return mapping if len(used) == len(set(used)) else None


def name_map_matrix(classes: tuple[str, ...], mapping: dict[str, list[int]]) -> np.ndarray:
    """1000 x C: each mapped ImageNet class gives its probability to its user class.

    ImageNet classes outside the map spread their probability evenly: every row sums to 1, so
    the output is a probability distribution (and the exported model needs no logarithm).
    """
    matrix = np.full((imagenet.NUM_CLASSES, len(classes)), 1.0 / len(classes), np.float32)
    for column, cls in enumerate(classes):
        matrix[mapping[cls]] = 0.0
        matrix[mapping[cls], column] = 1.0
    return matrix


def name_map_accuracy(classes: tuple[str, ...], logits: np.ndarray, labels: np.ndarray) -> float | None:
    """Accuracy of the ImageNet head with the class names mapped to its classes, if every name maps.

    The same map the "predict" strategy trains and exports (`name_map_matrix`).
    """
    mapping = name_mapping(classes)
    if mapping is None:
        return None
    mixed = softmax(logits.astype(np.float64), axis=1) @ name_map_matrix(classes, mapping)
    return float(np.mean(np.argmax(mixed, axis=1) == labels))


def _mapped_logits(probabilities: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return np.log(probabilities @ matrix + EPS)


def run(ctx: Context) -> list[Candidate]:
    probs = {split: softmax(ctx.features[split].logits, axis=1) for split in ("train", "val", "test")}
    candidates = []
    mapping = name_mapping(ctx.dataset.classes)
    if mapping is not None:
        start = time.perf_counter()
        matrix = name_map_matrix(ctx.dataset.classes, mapping)
        candidates.append(_candidate(ctx, "imagenet_names", matrix, probs, time.perf_counter() - start,
                                     {"mapping": {c: [imagenet.class_names()[i] for i in v]
                                                  for c, v in mapping.items()}}))
    start = time.perf_counter()
    conditional = empirical_predictor(probs["train"], ctx.labels["train"], ctx.n_classes)
    candidates.append(_candidate(ctx, "empirical_label_map", conditional.astype(np.float32), probs,
                                 time.perf_counter() - start, {}))
    return candidates


def _candidate(ctx: Context, name: str, matrix: np.ndarray, probs: dict, seconds: float, params: dict) -> Candidate:
    return Candidate(
        strategy="predict",
        name=name,
        val_logits=_mapped_logits(probs["val"], matrix),
        test_logits=_mapped_logits(probs["test"], matrix),
        train_seconds=seconds,
        size_bytes=ctx.base_size_bytes + matrix.nbytes,
        latency_ms=ctx.base_latency_ms,
        params=params,
        model=matrix,
        complexity=0 if name == "imagenet_names" else 1,
        temperature_scaling=False,  # the exported model outputs the mixed probabilities themselves
    )
