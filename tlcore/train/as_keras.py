"""Extract's models as Keras layers on features, exactly, so whichever wins can be downloaded.

Each form maps features to the run's logits (`baselines.logits_of` for the baselines) with
Keras's own layers only, so the bundle loads in safe mode. The searched head is Keras already.
The linear baselines become one Dense layer; the RBF SVM becomes a kernel block: squared
distances to its support vectors from a Dense layer and a Dot product
(|x - c|^2 = |x|^2 - 2 x.c + |c|^2), `exp`, then one Dense layer of dual coefficients. A
baseline without an exact form (k-nearest neighbours, extra trees) is not here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .baselines import BASELINES, EPS
from .candidate import Candidate


def _placement(classes: np.ndarray, scores: np.ndarray, scores_bias: np.ndarray, n_classes: int, decision: bool):
    """Kernel and bias of logits over all classes from scores (rows: inputs, columns: one per score).

    Binary classifiers give one score m for class 1; the run's logits are (-m/2, m/2) for margins
    and log-softmax(0, m) (up to a constant) for probabilities. Classes the classifier never saw
    get a very low logit, as in `logits_of`.
    """
    if scores.shape[1] == 1:
        half = np.array([[-0.5, 0.5]]) if decision else np.array([[0.0, 1.0]])
        scores, scores_bias = scores @ half, scores_bias @ half
    kernel = np.zeros((scores.shape[0], n_classes), np.float32)
    bias = np.full(n_classes, np.log(EPS), np.float32)
    kernel[:, classes] = scores
    bias[classes] = scores_bias
    return kernel, bias


def _dense(name: str, kernel: np.ndarray, bias: np.ndarray | None = None):
    import keras

    layer = keras.layers.Dense(kernel.shape[1], use_bias=bias is not None, name=name)
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel.astype(np.float32)] + ([bias.astype(np.float32)] if bias is not None else []))
    return layer


def linear(candidate: Candidate, n_classes: int) -> Callable:
    """StandardScaler + linear classifier as one Dense layer (the scaling folded into its weights)."""
    scaler, classifier = candidate.model.named_steps["scale"], candidate.model.named_steps["clf"]
    # two classes: one row of weights (a ridge classifier gives it as a vector, its intercept as a number)
    weights = np.atleast_2d(classifier.coef_) / scaler.scale_  # undo the scaling inside the weights
    bias = np.atleast_1d(classifier.intercept_) - weights @ scaler.mean_
    decision = BASELINES[candidate.name].scores == "decision"
    kernel, full_bias = _placement(classifier.classes_, weights.T, bias, n_classes, decision)
    return _dense("linear_head", kernel, full_bias)


def rbf_svm(candidate: Candidate, n_classes: int) -> Callable:
    """StandardScaler + one-vs-rest RBF SVMs as a kernel block over the union of their support vectors."""
    import keras

    scaler, ovr = candidate.model.named_steps["scale"], candidate.model.named_steps["clf"]
    machines = ovr.estimators_  # one for two classes (class 1 against 0), else one per class
    gammas = {float(m._gamma) for m in machines}  # gamma="scale": the same training matrix, the same value
    if len(gammas) != 1:
        raise ValueError(f"the SVMs of one model should share gamma; found {sorted(gammas)}")
    gamma = gammas.pop()
    vectors: dict[int, np.ndarray] = {}
    for machine in machines:
        vectors.update(zip(machine.support_.tolist(), machine.support_vectors_, strict=True))
    rows = {index: row for row, index in enumerate(sorted(vectors))}
    centres = np.stack([vectors[i] for i in sorted(vectors)]).astype(np.float64)
    dual = np.zeros((len(rows), len(machines)))
    for column, machine in enumerate(machines):
        dual[[rows[i] for i in machine.support_], column] = machine.dual_coef_[0]
    intercepts = np.array([m.intercept_[0] for m in machines])
    kernel, bias = _placement(ovr.classes_, dual, intercepts, n_classes, decision=True)

    def head(features):
        x = keras.layers.Normalization(mean=scaler.mean_, variance=scaler.scale_**2, name="svm_standardise")(features)
        squared = keras.layers.Dot(axes=1, name="svm_squared_norm")([x, x])
        cross = _dense("svm_cross", 2 * gamma * centres.T, -gamma * (centres**2).sum(axis=1))(x)
        norm = _dense("svm_norm", -gamma * np.ones((1, len(centres))))(squared)
        similarity = keras.layers.Activation("exponential", name="svm_kernel")(keras.layers.Add()([cross, norm]))
        return _dense("svm_head", kernel, bias)(similarity)

    return head


def keras_head(candidate: Candidate, n_classes: int) -> Callable:
    """The searched head as it is, in inference mode."""
    return lambda features: candidate.model(features, training=False)


# extract model name -> fitted candidate, number of classes -> features-to-logits callable (a layer or a function)
KERAS_FORMS: dict[str, Callable[[Candidate, int], Callable]] = {
    "keras_head": keras_head,
    "ridge": linear,
    "logistic_regression": linear,
    "linear_svm": linear,
    "rbf_svm": rbf_svm,
}
