"""One BLAS thread per process against the BLAS libraries' default (one per core), alone and two jobs at once.

`tlcore.threads` runs the BLAS of NumPy, SciPy and scikit-learn on one thread in the CLI's `train` and `analyze`
and in every worker process. The plain baseline is the libraries' default, one thread per core
(`TRANSFERLAB_BLAS_THREADS` set to the core count), in the same script. Measured: a `train --strategy extract`
of a set (default: the digits sample) as a command of its own, in a fresh home each time, its own
`seconds_to_final_bundle`, alone and as two commands started together (two users' jobs on two workers), the
two settings alternated `--draws` times; and three 1280 x 1280 eigendecompositions (the "none of my classes"
detector's), alone and two at once.

    .venv/bin/python benchmarks/bench_threads.py [--data sample:digits] [--draws 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EIGH = ("import time, numpy as np; from tlcore.threads import limit_blas_threads; limit_blas_threads(); "
        "c = np.cov(np.random.default_rng(0).standard_normal((600, 1280)), rowvar=False) + 1e-3 * np.eye(1280); "
        "t = time.perf_counter(); [np.linalg.eigh(c) for _ in range(3)]; print(time.perf_counter() - t)")


def started(command: list[str], threads: int, home: Path) -> subprocess.Popen:
    env = os.environ | {"TRANSFERLAB_BLAS_THREADS": str(threads), "TRANSFERLAB_HOME": str(home),
                        "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def seconds(processes: list[subprocess.Popen], read) -> list[float]:
    return [read(p.communicate()[0]) for p in processes]


def train_seconds(data: str, threads: int, together: int, scratch: Path) -> list[float]:
    """`together` trains started at once; each one's own seconds to its final bundle."""
    runs = []
    for _ in range(together):
        home = Path(tempfile.mkdtemp(dir=scratch))
        runs.append(started([sys.executable, "-m", "tlcore", "train", data, "--strategy", "extract",
                             "--budget-seconds", "180", "--workspace", str(home / "ws"), "--json"], threads, home))
    return seconds(runs, lambda out: json.loads(out)["seconds_to_final_bundle"])


def eigh_seconds(threads: int, together: int, scratch: Path) -> list[float]:
    return seconds([started([sys.executable, "-c", EIGH], threads, scratch) for _ in range(together)],
                   lambda out: float(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample:digits")
    parser.add_argument("--draws", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    settings = {"default": cores, "one": 1}
    print(f"machine: {platform.machine()}, {cores} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"data {args.data}; BLAS threads: default {cores} (the libraries' own), ours 1")
    found: dict[tuple[str, str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as scratch:
        for draw in range(args.draws):
            for name, threads in settings.items():  # alternated, so a slower spell of the machine hits both
                for together in (1, 2):
                    for what, measure in (("eigh x3", eigh_seconds), ("train", None)):
                        got = measure(threads, together, Path(scratch)) if measure else \
                            train_seconds(args.data, threads, together, Path(scratch))
                        found.setdefault((what, name, together), []).extend(got)
                        print(f"  draw {draw + 1}: {what}, {name} threads, {together} at once: "
                              + ", ".join(f"{s:.2f} s" for s in got), flush=True)
    print(f"\n{'measure':10} {'at once':>7} {'default threads s':>18} {'one thread s':>13} {'default / one':>14}")
    for what in ("eigh x3", "train"):
        for together in (1, 2):
            plain, ours = (statistics.median(found[(what, name, together)]) for name in settings)
            print(f"{what:10} {together:7d} {plain:18.2f} {ours:13.2f} {plain / ours:14.2f}")


if __name__ == "__main__":
    main()
