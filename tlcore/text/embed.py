"""Sentence embeddings of the frozen text base, computed once per text and cached on disk.

Texts are short next to the encoder's 128-token window (SMS messages average ~20 tokens), and a
transformer's cost grows with the padded length. So texts are sorted by length, each batch is
padded only to its own longest text, and the embeddings are put back in the caller's order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import paths
from ..cache import read_arrays, write_arrays
from ..features import Features
from ..progress import ProgressCallback, report
from .encoder import TextEncoder

FORMAT_VERSION = 1
DEFAULT_BATCH_SIZE = 64


def padded(ids: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(token_ids, padding_mask), both N x length (default: the longest of `ids`), zero-padded."""
    length = length or max((len(i) for i in ids), default=1)
    tokens = np.zeros((len(ids), length), np.int32)
    mask = np.zeros((len(ids), length), np.int32)
    for row, piece in enumerate(ids):
        piece = piece[:length]
        tokens[row, : len(piece)] = piece
        mask[row, : len(piece)] = 1
    return tokens, mask


def embed_texts(
    texts: Sequence[str],
    encoder: TextEncoder,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sort_by_length: bool = True,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Features:
    """Embed `texts` (N x feature_dim, unit length), in the order given.

    `sort_by_length=False` pads every batch to the encoder's full sequence length instead: the
    plain way, kept for the benchmark's baseline. With the cache on, a second call with the same
    texts and base reads the stored embeddings.
    """
    texts = list(texts)
    key = cache_key(texts, encoder)
    path = (cache_dir or paths.cache_dir("features")) / f"{key}.npz"
    if use_cache:
        stored, note = read_arrays(path, ("features",), len(texts))
        if stored is not None:
            report(progress, "embeddings", len(texts), len(texts), "read from cache")
            return Features(stored["features"], np.zeros((len(texts), 0), np.float32), key, from_cache=True)
        if note:
            report(progress, "embeddings", 0, len(texts), note)

    ids = encoder.token_ids(texts)
    order = np.argsort([len(i) for i in ids], kind="stable") if sort_by_length else np.arange(len(ids))
    fixed = None if sort_by_length else encoder.spec.sequence_length
    result = np.zeros((len(texts), encoder.feature_dim), np.float32)
    report(progress, "embeddings", 0, len(texts))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        tokens, mask = padded([ids[i] for i in rows], fixed)
        result[rows] = encoder.forward_graph(tokens, mask).numpy()
        report(progress, "embeddings", min(start + batch_size, len(texts)), len(texts))
    if use_cache:
        write_arrays(path, features=result)
    return Features(result, np.zeros((len(texts), 0), np.float32), key)


def cache_key(texts: Sequence[str], encoder: TextEncoder) -> str:
    """A digest of the texts, the base and its sequence length."""
    digest = hashlib.sha256(f"text-v{FORMAT_VERSION}|{encoder.spec.name}|{encoder.spec.sequence_length}".encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()[:32]
