"""What a working process keeps alive for its whole life, kept out of the cyclic garbage collector's full passes.

A worker keeps its imports (TensorFlow, Keras, scikit-learn) and the bases it loaded: most of the
0.7-1 million objects that every full collection (generation 2) walks again. A digits extract run
triggers about 19 of them (the head search builds many small Keras models). In one process on
2026-12-05 (2 cores), they took 6.2 s of a 57.6 s run in a fresh process and 11.2 s of 66.2 s once
it had also served three other sets; with what was alive frozen first, 0.2 s of 49.0 s
(`benchmarks/bench_heap.py` measures it against the plain process).

Freezing moves what is alive now to a permanent generation the collector skips. Reference counting
still frees objects as before; only cycles among frozen objects that die later (a base dropped from
a cache) wait for the next `settle`, which unfreezes, collects and freezes again between jobs.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect what earlier work left, then freeze what is alive (imports, loaded bases, caches) so later full
    collections skip it; returns how many objects are frozen. For a process between jobs: the collection takes a
    fraction of a second on a worker's heap."""
    gc.unfreeze()  # what was frozen before and has died since is collected now
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
