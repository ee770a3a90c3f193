"""Pooled features of the frozen base, computed once per image and cached on disk.

The base's forward pass is the expensive step of the whole flow: analysis, scikit-learn
baselines and every Keras Tuner trial reuse these features. Decoding runs in a thread pool
ahead of the forward pass (Pillow releases the GIL), one thread per core, and the forward pass is
run by the engine chosen by measurement on this machine (`tlcore.image.engine`: `tf.function` or
TFLite with XNNPACK), kept loaded in the process between calls.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import paths
from ..cache import read_arrays, write_arrays
from ..features import Features
from ..progress import ProgressCallback, report
from . import engine
from .bases import Backbone
from .decode import load_rgb

FORMAT_VERSION = 1  # bump when the way features are computed changes, to retire old cache files
DEFAULT_BATCH_SIZE = 64


Images = Sequence[str | os.PathLike] | np.ndarray


def extract_features(
    images: Images,
    backbone: Backbone,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    distribution: str = "default",
) -> Features:
    """Run `images` (file paths, or an N x H x W x 3 uint8 array) through the frozen base.

    With the cache on, the result is stored under a key made of the images' bytes, the base
    and the image size, and a second call with the same images reads it back instead.
    `distribution` names a tf.distribute strategy (`tlcore.devices`) that spreads each batch
    over its devices; the loader, the batches and the cache stay the same.
    """
    key = cache_key(images, backbone)
    path = (cache_dir or paths.cache_dir("features")) / f"{key}.npz"
    if use_cache:
        stored, note = read_arrays(path, ("features", "logits"), len(images))
        if stored is not None:
            report(progress, "features", len(images), len(images), "already read (kept since the analysis)")
            return Features(stored["features"], stored["logits"], key, from_cache=True)
        if note:
            report(progress, "features", 0, len(images), note)

    total = len(images)
    feature_parts, logit_parts, done = [], [], 0
    if distribution == "default":
        forward = engine.engine_for(backbone, choose=False, progress=progress)  # known, forced, or tf.function
        undecided = not engine.decided(backbone)
    else:
        forward, undecided = _distributed_forward(backbone, distribution), False
    seconds_per_image = None  # tf.function's, timed on this job's batches while the engine is undecided
    report(progress, "features", 0, total)
    for batch in _batches(images, backbone.image_size, batch_size):
        if undecided and engine.worth_choosing(seconds_per_image, total - done):
            # measured on the user's own batch, while the next ones decode
            forward, undecided = engine.engine_for(backbone, batch, progress=progress), False
        started = time.perf_counter()
        features, logits = forward(batch)
        if undecided and done:  # the first batch may trace the graph: not timed
            seconds_per_image = (time.perf_counter() - started) / len(batch)
        feature_parts.append(np.asarray(features))
        logit_parts.append(np.asarray(logits))
        done += len(batch)
        report(progress, "features", done, total)
    dim = backbone.feature_dim
    result = Features(
        np.concatenate(feature_parts) if feature_parts else np.zeros((0, dim), np.float32),
        np.concatenate(logit_parts) if logit_parts else np.zeros((0, 1000), np.float32),
        key,
    )
    if use_cache:
        write_arrays(path, features=result.features, logits=result.logits)
    return result


def load_images(files: Sequence[str | os.PathLike], size: int, progress: ProgressCallback | None = None) -> np.ndarray:
    """Decode `files` to one N x size x size x 3 uint8 array, in background threads (for fine-tuning)."""
    parts, done = [], 0
    for batch in _batches(files, size, DEFAULT_BATCH_SIZE):
        parts.append(batch)
        done += len(batch)
        report(progress, "load images", done, len(files))
    return np.concatenate(parts) if parts else np.zeros((0, size, size, 3), np.uint8)


def cache_key(images: Images, backbone: Backbone) -> str:
    """A digest of the images' content, the base and the image size."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}|{backbone.spec.name}|{backbone.image_size}".encode())
    if isinstance(images, np.ndarray):
        digest.update(str(images.shape).encode())
        digest.update(np.ascontiguousarray(images).tobytes())
    else:
        for image in images:
            digest.update(hashlib.sha256(Path(image).read_bytes()).digest())
    return digest.hexdigest()[:32]


def _distributed_forward(backbone: Backbone, distribution: str):
    """The base rebuilt inside the strategy's scope; Keras's predict splits each batch over its replicas."""
    from ..devices import get_strategy
    from .bases import build_backbone

    with get_strategy(distribution).scope():
        replicated = build_backbone(backbone.spec.name, backbone.image_size).extractor
    return lambda batch: replicated.predict(batch.astype(np.float32), batch_size=len(batch), verbose=0)


def _batches(images: Images, size: int, batch_size: int, prefetch: int = 2) -> Iterator[np.ndarray]:
    """Yield uint8 batches, decoding up to `prefetch` batches ahead in background threads (one per core)."""
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), batch_size):
            yield _resized_array(images[start : start + batch_size], size)
        return
    with ThreadPoolExecutor(max_workers=engine.cores()) as pool:
        pending: deque[list[Future]] = deque()
        starts = iter(range(0, len(images), batch_size))

        def submit_next() -> None:
            start = next(starts, None)
            if start is not None:
                pending.append([pool.submit(load_rgb, p, size) for p in images[start : start + batch_size]])

        for _ in range(prefetch + 1):
            submit_next()
        while pending:
            batch = np.stack([future.result() for future in pending.popleft()])
            submit_next()
            yield batch


def _resized_array(batch: np.ndarray, size: int) -> np.ndarray:
    if batch.shape[1:3] == (size, size):
        return batch.astype(np.uint8, copy=False)
    from PIL import Image

    return np.stack(
        [
            np.asarray(Image.fromarray(image.astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR))
            for image in batch
        ]
    )
