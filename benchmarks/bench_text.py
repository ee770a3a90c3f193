"""The text path, measured: embedding speed, accuracy per strategy, and the recommendation's regret.

1. Speed on sms_spam: texts/s of `embed_texts` (length-sorted batches, each padded to its own
   longest text) against the plain way (every text padded to the full 128 tokens), in the same
   process, on the same texts, no cache.
2. For each text dataset in ../shared/datasets/text: `analyze` recommends a strategy, then
   `train` runs all three (the recommended fine-tuning settings) and reports each strategy's
   test accuracy. The plain baseline, in the same run: a logistic regression on the same
   embeddings, on the same splits (the data README's reference recipe). Regret = best test
   accuracy minus the recommended strategy's, in points.

The split follows the references' protocol: a 25% stratified test split (`--test-fraction`), so
the plain baseline is the reference recipe itself (fitted on the other 75%) and each accuracy can
be set beside the reference figure. TransferLab's strategies train on 60% and choose on 15%.

    .venv/bin/python benchmarks/bench_text.py [DATASET ...] [--budget-seconds N] [--speed-texts N]
        [--save SCORES.json] [--scores SCORES.json]

`--save` writes each dataset's test accuracy per strategy; `--scores` reads such a file and
skips training for the datasets it holds, so a change to the recommendation rule can be
scored again in minutes (analysis only) against the strategies' measured accuracies.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from regret import STRATEGIES, best, regret, summarise  # noqa: E402  (benchmarks/regret.py)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tlcore.analysis import analyze  # noqa: E402
from tlcore.data import SplitConfig  # noqa: E402
from tlcore.text.data import import_text_dataset  # noqa: E402
from tlcore.text.embed import embed_texts  # noqa: E402
from tlcore.text.encoder import load_text_encoder  # noqa: E402
from tlcore.train import FinetuneConfig, TrainConfig, train  # noqa: E402

DATASETS = ("sms_spam", "trec6", "sst2", "germeval2018")
# ../shared/datasets/text/README.md: logistic regression on the embeddings, 25% stratified test, one split
REFERENCES = {"sms_spam": 0.985, "trec6": 0.859, "sst2": 0.815, "germeval2018": 0.712}


def speed(root: Path, n_texts: int) -> None:
    with tempfile.TemporaryDirectory() as workspace:
        texts = import_text_dataset(root / "sms_spam.csv", Path(workspace)).texts()[:n_texts]
    encoder = load_text_encoder()
    embed_texts(texts[:64], encoder, use_cache=False)  # trace the graph once
    rates = {}
    for name, sort in (("fixed 128 tokens (baseline)", False), ("length-sorted, padded per batch", True)):
        start = time.perf_counter()
        embed_texts(texts, encoder, sort_by_length=sort, use_cache=False)
        rates[name] = len(texts) / (time.perf_counter() - start)
        print(f"  {name:<34} {rates[name]:7.1f} texts/s", flush=True)
    values = list(rates.values())
    print(f"  ratio {values[1] / values[0]:.2f} (target >= 3) on {len(texts)} SMS texts")


def plain_baseline(dataset, encoder) -> float:
    """Logistic regression on the embeddings: fitted on train + validation, scored on test."""
    x = embed_texts(dataset.texts(), encoder).features
    split = dataset.records["split"].to_numpy(dtype=object)
    y = dataset.labels()
    known = split != "test"
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    model.fit(x[known], y[known])
    return float(model.score(x[~known], y[~known]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--budget-seconds", type=float, default=1500)
    parser.add_argument("--speed-texts", type=int, default=1000)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "text")
    parser.add_argument("--save", type=Path, default=None, help="write the test accuracies per strategy here")
    parser.add_argument("--scores", type=Path, default=None, help="reuse the test accuracies stored in this file")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--test-fraction", type=float, default=0.25, help="the references' protocol: 0.25")
    args = parser.parse_args()
    stored = json.loads(args.scores.read_text()) if args.scores else {}
    split = SplitConfig(val_fraction=0.15, test_fraction=args.test_fraction)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; budget {args.budget_seconds:.0f} s per dataset; "
          f"split {1 - split.val_fraction - split.test_fraction:.0%} train, {split.val_fraction:.0%} validation, "
          f"{split.test_fraction:.0%} test")
    if not args.skip_speed:
        print("embedding speed:")
        speed(args.root, args.speed_texts)
    encoder = load_text_encoder()
    rows = []
    with tempfile.TemporaryDirectory() as workspace:
        for name in args.datasets:
            dataset = import_text_dataset(args.root / f"{name}.csv", Path(workspace), split=split)
            start = time.perf_counter()
            advice = analyze(dataset).recommendation
            analysis_seconds = time.perf_counter() - start
            plain = plain_baseline(dataset, encoder)
            chosen = {k: advice.settings[k] for k in ("unfreeze_blocks", "learning_rate") if k in advice.settings}
            start = time.perf_counter()
            reused = name in stored
            if reused:
                scores, models = stored[name]["accuracy"], stored[name]["model"]
            else:
                config = TrainConfig(strategies=STRATEGIES, budget_seconds=args.budget_seconds,
                                     finetune=dataclasses.replace(FinetuneConfig(), **chosen), stop_early=False)
                per_strategy = train(dataset, config, Path(workspace)).report["per_strategy"]
                scores = {s: per_strategy.get(s, {}).get("accuracy", float("nan")) for s in STRATEGIES}
                models = {s: per_strategy.get(s, {}).get("model", "-") for s in STRATEGIES}
                stored[name] = {"accuracy": scores, "model": models}
                if args.save:  # after each dataset: a failure later keeps the runs that finished
                    args.save.write_text(json.dumps(stored, indent=2))
            rows.append((name, advice.strategy, scores, best(scores), plain))
            print(f"{name}: {len(dataset)} texts, analysis {analysis_seconds:.0f} s, training "
                  f"{time.perf_counter() - start:.0f} s{' (stored scores)' if reused else ''}; recommended "
                  f"{advice.strategy} (confidence {advice.confidence}), settings {advice.settings}; models {models}",
                  flush=True)
    print(f"{'dataset':<13} {'recommended':<11} " + " ".join(f"{s:>9}" for s in STRATEGIES)
          + f" {'plain LR':>9} {'extract/LR':>10} {'reference':>9} {'best':<9} {'regret':>6}")
    for name, recommended, scores, chosen, plain in rows:
        print(f"{name:<13} {recommended:<11} " + " ".join(f"{scores[s]:>9.1%}" for s in STRATEGIES)
              + f" {plain:>9.1%} {scores['extract'] / plain:>10.3f} {REFERENCES.get(name, float('nan')):>9.1%}"
              + f" {chosen:<9} {regret(scores, recommended):>6.1f}")
    summarise([(scores, recommended) for _, recommended, scores, _, _ in rows])
    reached = [name for name, _, scores, _, _ in rows if scores["extract"] >= REFERENCES.get(name, 1.0)]
    print(f"extract reaches the reference on {len(reached)} of {len(rows)}: {', '.join(reached) or 'none'}")


if __name__ == "__main__":
    main()
