"""How many threads the BLAS of NumPy, SciPy and scikit-learn use in TransferLab's working processes: one.

OpenBLAS's threads wait for work by spinning. Beside TensorFlow's thread pool in the same process, and a second
worker process on the same cores (`serve` starts one per core), two spinning threads per process slow every job
down. On a 2-core machine (2026-12-05, `benchmarks/bench_threads.py`): three 1280 x 1280 eigendecompositions took
0.57 s alone with two threads, 0.85 s with one, but 2.0-2.1 s each with two processes at once against 0.86-0.90 s
with one thread each; the digits sample's extract run took 97 s beside a second one against 68-69 s with one
thread each, and alone 55-64 s with one thread against 61-73 s with two (three draws, each faster with one).
TensorFlow keeps its own threads: its pool shares the cores well (two processes at once took the same time with one
thread each or its default). `TRANSFERLAB_BLAS_THREADS` sets another number.
"""

from __future__ import annotations

from .environment import number

THREADS_VARIABLE = "TRANSFERLAB_BLAS_THREADS"
DEFAULT_THREADS = 1


def blas_threads() -> int:
    """The threads asked for (`TRANSFERLAB_BLAS_THREADS`, else `DEFAULT_THREADS`)."""
    return int(number(THREADS_VARIABLE, "a whole number of threads", int, lambda: DEFAULT_THREADS, "2"))


def limit_blas_threads() -> int:
    """Set every BLAS this process uses to `blas_threads()` threads; returns that number. NumPy, SciPy and
    scikit-learn are imported first: the limit reaches only the libraries already loaded."""
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    threads = blas_threads()
    threadpool_limits(threads, user_api="blas")
    return threads
