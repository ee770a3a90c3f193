"""Does ranking the bases on the user's own images pick the base that does best on test? The offline image bases.

For each shared image set (../shared/datasets: hymenoptera, eurosat200, mnist100), imported and split as the
app does, `tlcore.image.ranking.rank_bases` measures every installed image base on the training and validation
images (5-fold linear probe, LogME, forward seconds per image). Then, per base, the held-out figure the ranking
is meant to predict: a logistic regression (the probe's own pipeline) fitted on the train+val features and scored
once on the test split. Printed per set and base: probe %, LogME, test %, seconds per image, the rank given; then
the share of sets where the ranked-first base is the best on test or within 1 point of it, the points it gains or
loses against always using the default base (EfficientNet-Lite0), and its time ratio against the default, all
from the same process.

    .venv/bin/python benchmarks/bench_bases.py [--sets hymenoptera eurosat200 mnist100]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tlcore.data import import_data  # noqa: E402
from tlcore.image.bases import DEFAULT_BACKBONE, load_backbone  # noqa: E402
from tlcore.image.extract import extract_features  # noqa: E402
from tlcore.image.ranking import rank_bases  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
SETS = ("hymenoptera", "eurosat200", "mnist100")
WITHIN = 1.0  # points: "the ranked-first base is the best or within this of it"


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    vector = "AVX-512" if "avx512f" in info else "AVX2 or less"
    return f"{cpu}, {os.cpu_count()} cores, {vector}; {platform.system()} {platform.release()}, Python " \
           f"{platform.python_version()}"


def held_out_accuracy(features: np.ndarray, labels: np.ndarray, splits: np.ndarray) -> float:
    """The probe's pipeline fitted on train+val, scored once on test."""
    fit, held = splits != "test", splits == "test"
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.03, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(features[fit], labels[fit])
    return float(model.score(features[held], labels[held]))


def measure(name: str, workspace: Path, source: Path | None = None) -> list[dict]:
    """Every installed base's figures on one set (`source`, default the shared set of that name)."""
    dataset = import_data(source or SHARED / name, workspace)
    start = time.perf_counter()
    table = rank_bases(dataset)
    ranked_in = time.perf_counter() - start
    splits, labels = dataset.records["split"].to_numpy(dtype=object), dataset.labels()
    rows = []
    for row in table.itertuples():
        features = extract_features(dataset.files(), load_backbone(row.base, row.image_size)).features  # cached
        test = held_out_accuracy(features, labels, splits)
        rows.append({"set": name, "base": row.base, "title": row.title, "rank": row.rank, "size": row.image_size,
                     "probe": row.probe_accuracy, "logme": row.logme, "test": test, "seconds": row.seconds_per_image,
                     "n": len(dataset), "sizes": dataset.split_sizes(), "sentence": table.attrs["sentence"],
                     "ranked_in": ranked_in})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    args = parser.parse_args()
    print(f"# bench_bases: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n{machine()}\n", flush=True)
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.sets:
            if not (SHARED / name).is_dir():
                print(f"{name}: skipped, {SHARED / name} is absent")
                continue
            results[name] = measure(name, Path(folder) / name)
            first = results[name][0]
            print(f"{name}: {first['n']} images {first['sizes']}, ranked in {first['ranked_in']:.0f} s "
                  f"(features, probes and timing of every base). {first['sentence']}", flush=True)
    summarise(results)


def summarise(results: dict[str, list[dict]]) -> None:
    """The per-base table, the per-set verdicts and the totals, as Markdown for docs/bases.md."""
    print("\n| set | base | px | rank | probe % (train+val, 5-fold) | LogME | test % | ms per image | "
          "time vs default |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in results.values():
        default = next(r for r in rows if r["base"] == DEFAULT_BACKBONE)
        for r in sorted(rows, key=lambda r: r["base"]):
            print(f"| {r['set']} | {r['title']} | {r['size']} | {r['rank']} | {100 * r['probe']:.1f} "
                  f"| {r['logme']:.3f} | {100 * r['test']:.1f} | {1000 * r['seconds']:.1f} "
                  f"| {r['seconds'] / default['seconds']:.2f}x |")

    hits, gains, ratios, accuracy_ratios = [], [], [], []
    print("\n| set | ranked first | its test % | best on test | best test % | within 1 point | vs default (points) |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        first = next(r for r in rows if r["rank"] == 1)
        best = max(rows, key=lambda r: r["test"])
        default = next(r for r in rows if r["base"] == DEFAULT_BACKBONE)
        hit = 100 * (best["test"] - first["test"]) <= WITHIN + 1e-9  # 93.0 - 92.0 is 1.0000000000000009 in floats
        gain = 100 * (first["test"] - default["test"])
        hits.append(hit)
        gains.append(gain)
        ratios.append(first["seconds"] / default["seconds"])
        accuracy_ratios.append(first["test"] / default["test"])
        print(f"| {name} | {first['title']} | {100 * first['test']:.1f} | {best['title']} | {100 * best['test']:.1f} "
              f"| {'yes' if hit else 'no'} | {gain:+.1f} |")
    if not results:
        return
    print(f"\nranked-first base best on test or within {WITHIN:.0f} point: {sum(hits)} of {len(hits)} sets "
          f"({np.mean(hits):.0%})")
    print(f"ranked-first against always the default ({DEFAULT_BACKBONE}): {np.mean(gains):+.2f} points on test "
          f"on average, worst {min(gains):+.1f}")
    print(f"ratio ranked-first/default (geometric means over {len(gains)} sets): test accuracy "
          f"{np.exp(np.mean(np.log(accuracy_ratios))):.3f}, seconds per image {np.exp(np.mean(np.log(ratios))):.2f}")


if __name__ == "__main__":
    main()
