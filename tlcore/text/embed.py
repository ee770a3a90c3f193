"""Sentence embeddings of the frozen text base, computed once per text and cached on disk.

The encoder computes (`encoder.encode`: any base of `TEXT_REGISTRY`, each in its own runtime);
this module keys the result by the texts and the base, and keeps it.
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
from .encoder import padded  # noqa: F401 (imported from here by fine-tuning, bundles and tests)

FORMAT_VERSION = 1
DEFAULT_BATCH_SIZE = 64


def embed_texts(
    texts: Sequence[str],
    encoder,
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
            report(progress, "embeddings", len(texts), len(texts), "already read (kept since the analysis)")
            return Features(stored["features"], np.zeros((len(texts), 0), np.float32), key, from_cache=True)
        if note:
            report(progress, "embeddings", 0, len(texts), note)

    result = encoder.encode(texts, batch_size=batch_size, sort_by_length=sort_by_length, progress=progress)
    if use_cache:
        write_arrays(path, features=result)
    return Features(result, np.zeros((len(texts), 0), np.float32), key)


def cache_key(texts: Sequence[str], encoder) -> str:
    """A digest of the texts, the base and its sequence length."""
    digest = hashlib.sha256(f"text-v{FORMAT_VERSION}|{encoder.spec.name}|{encoder.spec.sequence_length}".encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()[:32]
