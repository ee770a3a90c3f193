"""No transfer for texts: TF-IDF of word and character n-grams with a logistic regression (scikit-learn).

The classic strong baseline without pretraining. Its regularisation strength is chosen by cross-validation on the
training items only (`tlcore.folds`, the folds every baseline uses); the vectorisers are fitted once per fold and
reused for every strength tried, and no strength is tried after the deadline (the first always is).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

from ..folds import folds
from ..progress import ProgressCallback, report
from .config import BenefitConfig, Fitted

FOLDS = 3
# Seconds per training text of one vectorise-and-fit (both vectorisers and one logistic regression), for the budget
# check: 10 fits on the 84 support texts took 0.35 s here (0.0004 s per text and fit), counted 2.5 times over.
FIT_SECONDS_PER_TEXT = 0.001
MODEL = "TF-IDF of words (1-2) and characters (2-5) with a logistic regression"


def vectoriser() -> FeatureUnion:
    """Word unigrams and bigrams beside character 2-5-grams inside word boundaries, sublinear term frequencies."""
    return FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=50_000)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, max_features=100_000)),
    ])  # fmt: skip


def classifier(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced")


@dataclass(frozen=True, eq=False)
class Texts:
    texts: dict[str, np.ndarray]  # object arrays, so rows can be picked by position
    labels: dict[str, np.ndarray]


class TextScratch:
    """The no-transfer model of texts (`tlcore.benefit.scratch.SCRATCH["text"]`)."""

    def seconds_needed(self, dataset, config: BenefitConfig, items: int) -> float:
        """One fit per fold and strength, then the final fit."""
        return (FOLDS * len(config.scratch.text_c) + 1) * items * FIT_SECONDS_PER_TEXT

    def least_words(self, config: BenefitConfig) -> str:
        return f"{len(config.scratch.text_c)} strengths cross-validated"

    def prepare_seconds(self, dataset, config: BenefitConfig) -> float:
        return 0.0

    def prepare(self, dataset, config: BenefitConfig, progress: ProgressCallback | None = None) -> Texts:
        splits = ("train", "val", "test")
        return Texts({s: np.array(dataset.texts(s), dtype=object) for s in splits},
                     {s: dataset.labels(s) for s in splits})

    def fit(self, data: Texts, rows: np.ndarray, deadline: float, config: BenefitConfig,
            progress: ProgressCallback | None = None) -> Fitted:
        """Choose C by cross-validation on the training texts at `rows`, refit on all of them, answer test."""
        start = time.perf_counter()
        x, y = data.texts["train"][rows], data.labels["train"][rows]
        strengths = config.scratch.text_c
        correct = np.zeros(len(strengths))
        tried = len(strengths)
        # One BLAS thread: these sparse problems are small, and with more threads L-BFGS ran 40x slower (0.35 s
        # against 14 s on the support texts) while another process kept both cores busy.
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            splits = folds(y, FOLDS, config.seed)  # leave-one-out on a tiny set, as every baseline's
            for number, (fit, held) in enumerate(splits):
                report(progress, "no transfer", number, len(splits), "TF-IDF: cross-validating the regularisation")
                union = vectoriser().fit(x[fit])
                train, test = union.transform(x[fit]), union.transform(x[held])
                for index, c in enumerate(strengths[:tried]):
                    if index and time.monotonic() >= deadline:
                        tried = index  # no later strength is tried on any fold
                        break
                    correct[index] += np.sum(classifier(c).fit(train, y[fit]).predict(test) == y[held])
            best = int(np.argmax(correct[:tried]))
            model = Pipeline([("tfidf", vectoriser()), ("clf", classifier(strengths[best]))]).fit(x, y)
        return Fitted(
            predictions=model.predict(data.texts["test"]),
            seconds=time.perf_counter() - start,
            model=f"{MODEL} (C={strengths[best]:g})",
            params={"C": strengths[best], "tried": list(strengths[:tried]),
                    "features": len(model.named_steps["tfidf"].get_feature_names_out())},
        )


SCRATCH = TextScratch()
