"""Does ranking the bases on the user's own data pick the base that does best on test? Image and text bases.

For each shared image set (../shared/datasets: hymenoptera, eurosat200, mnist100), imported and split as the
app does, and each shared text set (sst2, sms_spam, trec6, germeval2018: `TEXT_PER_CLASS` training texts a class,
a fifth more for validation, and up to `TEXT_TEST_CAP` of the rest as the test split, given by a split column),
the analysis's own ranking (`Modality.rank_bases`, on at most its `RANK_ITEMS` training and validation items)
measures every installed base of the set's kind (cross-validated linear probe, LogME, forward seconds per item).
Then, per base, the held-out figure the ranking is meant to predict: a logistic regression (the probe's own
pipeline) fitted on all the train+val features and scored once on the test split. Printed per set and base:
probe %, LogME, test %, seconds per item, the rank given; then the share of sets where the recommended base is the
best on test or within 1 point of it, the points it gains or loses against always using the kind's default base
(EfficientNet-Lite0; all-MiniLM-L6-v2), and its time ratio against the default, all from the same process.

    .venv/bin/python benchmarks/bench_bases.py [--sets hymenoptera sst2 germeval2018 ...]
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
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tlcore.data import import_data  # noqa: E402
from tlcore.modality import BaseChoice, modality_of  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
IMAGE_SETS = ("hymenoptera", "eurosat200", "mnist100")
TEXT_SETS = ("sst2", "sms_spam", "trec6", "germeval2018")
SETS = IMAGE_SETS + TEXT_SETS
TEXT_PER_CLASS, TEXT_TEST_CAP = 150, 600
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


def text_source(name: str, folder: Path, seed: int = 0) -> Path:
    """A CSV of one shared text set with a split column: `TEXT_PER_CLASS` training texts a class, a fifth of that
    for validation, up to `TEXT_TEST_CAP` of the rest for test (stratified, seeded, duplicates dropped)."""
    frame = pd.read_csv(SHARED / "text" / f"{name}.csv").dropna().drop_duplicates("text")
    rng = np.random.default_rng(seed)
    parts = []
    for _, rows in frame.groupby("label"):
        rows = rows.iloc[rng.permutation(len(rows))]
        val = TEXT_PER_CLASS // 5
        parts += [rows.iloc[:TEXT_PER_CLASS].assign(split="train"),
                  rows.iloc[TEXT_PER_CLASS:TEXT_PER_CLASS + val].assign(split="val"),
                  rows.iloc[TEXT_PER_CLASS + val:].assign(split="test")]
    table = pd.concat(parts)
    test = table[table["split"] == "test"]
    if len(test) > TEXT_TEST_CAP:  # the same share of each class
        keep = test.groupby("label").sample(frac=TEXT_TEST_CAP / len(test), random_state=seed)
        table = pd.concat([table[table["split"] != "test"], keep])
    path = folder / f"{name}.csv"
    table[["text", "label", "split"]].to_csv(path, index=False)
    return path


def source_of(name: str, folder: Path) -> Path | None:
    if name in TEXT_SETS:
        return text_source(name, folder) if (SHARED / "text" / f"{name}.csv").is_file() else None
    return SHARED / name if (SHARED / name).is_dir() else None


def measure(name: str, workspace: Path, source: Path) -> list[dict]:
    """Every installed base's figures on one set, ranked as the analysis ranks them."""
    dataset = import_data(source, workspace)
    modality = modality_of(dataset)
    choice = modality.resolve_base(dataset)
    start = time.perf_counter()
    features = modality.features(dataset, choice).features
    ranking = modality.rank_bases(dataset, choice, features, seed=0, progress=None)
    ranked_in = time.perf_counter() - start
    splits, labels = dataset.records["split"].to_numpy(dtype=object), dataset.labels()
    rows = []
    for row in ranking.rows:
        size = row.get("image_size")
        base = BaseChoice(row["base"], size) if size else modality.resolve_base(dataset, row["base"])
        test = held_out_accuracy(modality.features(dataset, base).features, labels, splits)  # cached
        rows.append({"set": name, "base": row["base"], "title": row["title"], "rank": row["rank"], "size": size,
                     "probe": row["probe_accuracy"], "logme": row["logme"], "test": test,
                     "seconds": row["seconds_per_item"], "n": len(dataset), "sizes": dataset.split_sizes(),
                     "sentence": ranking.sentence, "recommended": row["base"] == ranking.recommended,
                     "default": row["base"] == modality.default_base, "ranked_in": ranked_in,
                     "noun": modality.noun})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    args = parser.parse_args()
    print(f"# bench_bases: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n{machine()}\n", flush=True)
    results: dict[str, list[dict]] = {}
    os.environ.setdefault("TRANSFERLAB_HOME", tempfile.mkdtemp(prefix="bench-bases-"))
    with tempfile.TemporaryDirectory() as folder:
        for name in args.sets:
            source = source_of(name, Path(folder))
            if source is None:
                print(f"{name}: skipped, it is absent from {SHARED}")
                continue
            results[name] = measure(name, Path(folder) / name, source)
            first = results[name][0]
            print(f"{name}: {first['n']} {first['noun']} {first['sizes']}, ranked in {first['ranked_in']:.0f} s "
                  f"(features, probes and timing of every base). {first['sentence']}", flush=True)
    summarise(results)


def summarise(results: dict[str, list[dict]]) -> None:
    """The per-base table, the per-set verdicts and the totals, as Markdown for docs/bases.md."""
    print("\n| set | base | px | rank | probe % (train+val, 5-fold) | LogME | test % | ms per item | "
          "time vs default |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in results.values():
        default = next(r for r in rows if r["default"])
        for r in sorted(rows, key=lambda r: r["base"]):
            print(f"| {r['set']} | {r['title']} | {r['size'] or ''} | {r['rank']} | {100 * r['probe']:.1f} "
                  f"| {r['logme']:.3f} | {100 * r['test']:.1f} | {1000 * r['seconds']:.1f} "
                  f"| {r['seconds'] / default['seconds']:.2f}x |")

    hits, gains, ratios, accuracy_ratios = [], [], [], []
    print("\n| set | recommended | its test % | best on test | best test % | within 1 point | vs default (points) |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        first = next(r for r in rows if r["recommended"])  # texts: the language's base unless another leads clearly
        best = max(rows, key=lambda r: r["test"])
        default = next(r for r in rows if r["default"])
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
    print(f"\nrecommended base best on test or within {WITHIN:.0f} point: {sum(hits)} of {len(hits)} sets "
          f"({np.mean(hits):.0%})")
    print(f"recommended against always the kind's default: {np.mean(gains):+.2f} points on test "
          f"on average, worst {min(gains):+.1f}")
    print(f"ratio recommended/default (geometric means over {len(gains)} sets): test accuracy "
          f"{np.exp(np.mean(np.log(accuracy_ratios))):.3f}, seconds per image {np.exp(np.mean(np.log(ratios))):.2f}")


if __name__ == "__main__":
    main()
