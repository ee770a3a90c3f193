"""Strategy "predict" for text: the encoder as it is, by cosine similarity to the class names.

Each class is represented by the embedding of its name (underscores and case tidied), or of the
description the user typed for it. A text's logits are `scale * cosine + bias[class]`: the two
kinds of numbers are fitted on the training split (C + 1 values, no encoder weights), which turns
raw cosines into calibrated probabilities and corrects names that attract every text. The whole
model is one Dense layer on the embedding, so it exports like a trained head.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.model_selection import StratifiedKFold

from ..train.candidate import Candidate, Context
from .embed import embed_texts


def class_prompt(name: str, descriptions: Mapping[str, str] | None = None) -> str:
    """What stands for a class: the user's description if given, else its name in plain words."""
    described = (descriptions or {}).get(name, "").strip()
    return described or re.sub(r"[_\-]+", " ", name).strip().lower()


def prototypes(encoder, classes: tuple[str, ...], descriptions: Mapping[str, str] | None = None) -> np.ndarray:
    """C x D unit embeddings of the class prompts."""
    prompts = [class_prompt(c, descriptions) for c in classes]
    return embed_texts(prompts, encoder, use_cache=False).features


def fit_calibration(cosines: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(scale, per-class bias) minimising the negative log-likelihood of softmax(scale * cos + bias)."""
    n_classes = cosines.shape[1]
    onehot = np.eye(n_classes)[labels]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        scale, bias = params[0], params[1:]
        logp = log_softmax(scale * cosines + bias, axis=1)
        error = (np.exp(logp) - onehot) / len(labels)
        return -np.sum(onehot * logp) / len(labels), np.concatenate([[np.sum(error * cosines)], error.sum(axis=0)])

    start = np.concatenate([[20.0], np.zeros(n_classes)])
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0.0, 500.0)] + [(-50.0, 50.0)] * n_classes)
    return float(found.x[0]), found.x[1:]


def cv_accuracy(cosines: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Cross-validated accuracy of the calibrated zero-shot classifier: what "predict" should score."""
    folds = int(min(5, np.bincount(labels).min()))
    if folds < 2:
        scale, bias = fit_calibration(cosines, labels)
        return float(np.mean(np.argmax(scale * cosines + bias, axis=1) == labels))
    hits = []
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(cosines, labels):
        scale, bias = fit_calibration(cosines[fit], labels[fit])
        hits.append(np.argmax(scale * cosines[held] + bias, axis=1) == labels[held])
    return float(np.mean(np.concatenate(hits)))


def head(protos: np.ndarray, scale: float, bias: np.ndarray):
    """The calibrated zero-shot classifier as a Keras model on embeddings: one Dense layer."""
    import keras

    inputs = keras.Input((protos.shape[1],), name="embedding")
    dense = keras.layers.Dense(len(protos), name="class_similarity")
    model = keras.Model(inputs, dense(inputs), name="zero_shot")
    dense.set_weights([(scale * protos.T).astype(np.float32), bias.astype(np.float32)])
    return model


def run(ctx: Context) -> list[Candidate]:
    start = time.perf_counter()
    protos = prototypes(ctx.base, ctx.dataset.classes, ctx.config.class_descriptions)
    cos = {s: ctx.features[s].features @ protos.T for s in ("train", "val", "test")}
    scale, bias = fit_calibration(cos["train"], ctx.labels["train"])
    model = head(protos, scale, bias)
    return [Candidate(
        strategy="predict",
        name="zero_shot_names",
        val_logits=scale * cos["val"] + bias,
        test_logits=scale * cos["test"] + bias,
        train_seconds=time.perf_counter() - start,
        size_bytes=ctx.base_size_bytes + protos.nbytes,
        latency_ms=ctx.base_latency_ms,
        params={"scale": scale, "prompts": [class_prompt(c, ctx.config.class_descriptions)
                                            for c in ctx.dataset.classes]},
        model=model,
        complexity=0,
        temperature_scaling=False,  # already calibrated on the training split
    )]  # fmt: skip
