"""Feature-extraction throughput: tlcore's pipeline against a plain Pillow + model.predict loop.

Both runs use the same base on the same JPEG files of ../shared/datasets/hymenoptera, in one
process, with the feature cache off. Prints the engine tlcore chose for the forward pass on this
machine (`tlcore.image.engine`; chosen during the warm-up if this machine has not measured yet), images
per second for each, the fraction of this machine's dense-matmul bound that tlcore reaches, and, last,
the ratio (with `--runs N`, each run's and their median).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_engines import MULTIPLY_ADDS, peak_multiply_adds  # noqa: E402
from PIL import Image  # noqa: E402

from tlcore.image.bases import load_backbone  # noqa: E402
from tlcore.image.decode import load_rgb  # noqa: E402
from tlcore.image.engine import cores, engine_for  # noqa: E402
from tlcore.image.extract import extract_features  # noqa: E402


def baseline(files: list[Path], model, size: int) -> np.ndarray:
    """What a tutorial does: open and resize one by one, stack, then model.predict(batch_size=32)."""
    images = [np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)) for f in files]
    features, _logits = model.predict(np.stack(images), batch_size=32, verbose=0)
    return features


def timed(label: str, run, count: int) -> float:
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(f"{label:<10} {count} images in {seconds:6.2f} s = {count / seconds:6.1f} img/s")
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "hymenoptera")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=1, help="timed runs of both; the median ratio is printed last")
    args = parser.parse_args()
    files = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        sys.exit(f"no JPEG files under {args.data}; pass --data FOLDER")
    backbone = load_backbone(image_size=args.image_size)
    size = backbone.image_size
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores ({cores()} usable); "
        f"base {backbone.spec.name} at {size} px; {len(files)} JPEG files; load average {os.getloadavg()[0]:.2f}"
    )
    # The engine extract_features will use (measured here once per machine, then read from its cache).
    seen = []
    chosen = engine_for(backbone, np.stack([load_rgb(f, size) for f in files[:64]]), progress=seen.append)
    how = "measured now" if seen else "read from this machine's engine cache"
    print(f"engine: {chosen.name} ({how}): {chosen.note}")
    # Warm both paths (graph tracing, thread start-up) on a few images so the figures are steady-state.
    baseline(files[:8], backbone.model, size)
    extract_features(files[:8], backbone, use_cache=False)

    ratios, rates = [], []
    for _ in range(args.runs):
        plain = timed("baseline", lambda: baseline(files, backbone.model, size), len(files))
        ours = timed("tlcore", lambda: extract_features(files, backbone, use_cache=False), len(files))
        rates.append(ours)
        ratios.append(ours / plain)
        print(f"ratio tlcore/baseline: {ours / plain:.2f}")
    if backbone.spec.name == "efficientnet_lite0":
        bound = peak_multiply_adds() / (MULTIPLY_ADDS * (size / 224) ** 2)
        print(
            f"dense-matmul bound here: {bound:.0f} img/s; tlcore ({chosen.name}) reaches "
            f"{statistics.median(rates) / bound:.0%} of it"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.runs > 1:
        print(f"median ratio tlcore/baseline over {args.runs} runs: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
