"""How much of a row's regret is chance? The same variants drawn again, and their test images resampled.

A calibration row's regret is read off one draw (one validation split, one set of folds, one head
search, one initialisation of every model) and one sample of test images. This benchmark measures
how far each moves the regret, with nothing fitted, on variants collected more than once
(`calibration.py SPEC --seed S`: the same training and test images, everything the product draws at
random drawn anew; table `images_noise.csv`, seeds 1 to 3; the seed-0 row of the same spec in the
kind's other tables, collected by the code of its day, joins as one more draw where present).

Floors that advice made before training cannot be expected to go below, since they are chance that
the measures before training do not see:
- **another draw** ("hindsight"): train all three ways, keep the test winner, and score that choice
  on another draw of the same variant. Its regret is what the same choice loses when only the
  draw changes; averaged over every ordered pair of draws.
- **one way per variant** ("fixed"): the strategy with the best mean test accuracy over a variant's
  draws, scored on each draw. Advice before training picks one way for a variant; this is the
  best such pick, found with hindsight on the very draws it is scored on (so a little optimistic).
- **another test sample** ("resampled"): keep a draw's test winner and score it on bootstrap
  resamples of that draw's test images (each strategy's right and wrong answers on the same images,
  so the pairing is kept). Its mean regret is what a choice known to be right on this test sample
  still shows on another sample of the same size.
Beside them, in the same run, on every draw's row: the product's call and the plain policies. For
images the product's call is the expected gain's (best accuracy, no pilot), fitted leave-one-dataset-out
on `calibration.IMAGE_TABLES` without the row's origin; for texts (`--texts`, table `texts_noise.csv`)
it is the text rule's, as the collector recorded it for that draw; its mean regret on each seed's
draws shows how far one draw of a whole table moves. Last, the ratio of the product's mean regret to
the another-draw floor and to the one-way floor.

    .venv/bin/python benchmarks/bench_noise.py [--texts] [--table PATH] [--resamples N] [--features NAME,...]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from itertools import permutations
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_recommend import decide, scores_of  # noqa: E402  (benchmarks/bench_recommend.py)
from calibration import IMAGE_TABLES, TABLE, read_table, read_tables  # noqa: E402
from regret import STRATEGIES, best, regret  # noqa: E402

from tlcore.gain import fit_gain  # noqa: E402
from tlcore.image.gain import IMAGE_GAIN  # noqa: E402

NOISE_TABLES = {"images": TABLE.with_name("images_noise.csv"), "texts": TABLE.with_name("texts_noise.csv")}


def first_draws(kind: str, noise_table: Path) -> dict[str, dict]:
    """The seed-0 row of each spec, from every other table of the kind (the fit's and the later rounds')."""
    tables = sorted(p for p in TABLE.parent.glob(f"{kind}*.csv") if p.resolve() != noise_table.resolve())
    return {row["spec"]: row | {"seed": 0} for row in read_tables(tables)}


def product_call(kind: str, features: tuple[str, ...] = tuple(IMAGE_GAIN.weights)):
    """How the product decides a row of `kind`: images by the expected gain (of `features`, by default the
    product's) fitted on `calibration.IMAGE_TABLES` without the row's origin, texts by the text rule (the
    collector recorded its call for the row's own draw)."""
    if kind == "texts":
        return lambda row: row["rule_strategy"]
    fitted_rows, gains = read_tables(IMAGE_TABLES), {}

    def decided(row: dict) -> str:
        origin = row["origin"]
        if origin not in gains:
            gains[origin] = fit_gain([r for r in fitted_rows if r["origin"] != origin], features=features)
        return decide(row, gains[origin], "best").strategy

    return decided


def hindsight(draws: list[dict]) -> list[float]:
    """For every ordered pair of draws (a, b): what draw a's test winner loses on draw b, in points."""
    return [regret(scores_of(b), best(scores_of(a))) for a, b in permutations(draws, 2)]


MEASURES = {"fine-tuning's gain over extract": lambda d: d["test_finetune"] - d["test_extract"],
            "extract's test accuracy": lambda d: d["test_extract"],
            "fine-tuning's test accuracy": lambda d: d["test_finetune"]}


def spread(variants: list[list[dict]], value) -> tuple[float, int]:
    """The pooled standard deviation, in points, of `value(row)` between draws of one variant, and its degrees of
    freedom: what another draw moves and no measure before training can predict (differences between variants
    are not counted)."""
    squares, freedom = 0.0, 0
    for draws in variants:
        values = np.array([100 * value(d) for d in draws])
        squares += float(((values - values.mean()) ** 2).sum())
        freedom += len(values) - 1
    return (float(np.sqrt(squares / freedom)) if freedom else float("nan")), freedom


def best_fixed(draws: list[dict]) -> list[float]:
    """The regret on each draw of the one strategy with the highest mean test accuracy over all of them: the
    least that any advice choosing one way for the variant loses on these draws (chosen on the draws it is scored
    on, so optimistic)."""
    mean = {s: sum(scores_of(d)[s] for d in draws) / len(draws) for s in STRATEGIES}
    return [regret(scores_of(d), best(mean)) for d in draws]


def correct_matrix(row: dict) -> np.ndarray:
    """One row per test item, one column per strategy: 1 where the strategy answered it right."""
    right = np.ones((int(row["test_items"]), len(STRATEGIES)))
    for column, strategy in enumerate(STRATEGIES):
        wrong = str(row[f"wrong_{strategy}"]).split()
        right[[int(p) for p in wrong], column] = 0
    if not np.allclose(right.mean(axis=0), [row[f"test_{s}"] for s in STRATEGIES]):
        raise SystemExit(f"{row.get('spec', 'a row')}: its wrong_* columns do not give its test accuracies")
    return right


def resampled(row: dict, resamples: int, seed: int = 0) -> np.ndarray:
    """The regret, in points, of the row's test winner on `resamples` bootstrap samples of its test items."""
    right = correct_matrix(row)
    winner = STRATEGIES.index(best(scores_of(row)))
    picks = np.random.default_rng(seed).integers(0, len(right), size=(resamples, len(right)))
    accuracy = right[picks].mean(axis=1)  # resamples x strategies
    return 100 * (accuracy.max(axis=1) - accuracy[:, winner])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", action="store_true", help="the text variants (default: images)")
    parser.add_argument("--table", type=Path)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--features", help="images: the gain model's features, comma-separated (default: the "
                                           "product's)")
    args = parser.parse_args()
    kind = "texts" if args.texts else "images"
    args.table = args.table or NOISE_TABLES[kind]
    again = read_table(args.table)
    first = first_draws(kind, args.table)
    call = product_call(kind, tuple(args.features.split(",")) if args.features else tuple(IMAGE_GAIN.weights))
    specs = list(dict.fromkeys(row["spec"] for row in again))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {len(again)} rows of {len(specs)} variants "
          f"in {args.table.name} (seeds {sorted({row['seed'] for row in again})}), seed 0 from the fit's tables "
          f"where there; {args.resamples} test resamples per row")
    print(f"{'variant':<16} {'seed':>4} " + " ".join(f"{s:>8}" for s in STRATEGIES)
          + f" {'winner':<9} {'product':<9} {'regret':>6} {'resampled':>9} {'p95':>5}")
    regrets: dict[str, list[float]] = {p: [] for p in ("product", "always extract", "always fine-tune")}
    fresh: dict[str, list[float]] = {p: [] for p in regrets}  # the draws of this table only (no seed-0 row)
    by_seed: dict[int, list[float]] = {}  # the product's regret on each seed's draws
    floors: dict[str, list[float]] = {"hindsight": [], "hindsight max": [], "resampled": [], "fixed": []}
    flips = pairs = 0
    variants = []
    for spec in specs:
        shown = ([first[spec]] if spec in first else []) + [row for row in again if row["spec"] == spec]
        for row in shown:
            scores = scores_of(row)
            chosen = call(row)
            for policy, strategy in (("product", chosen), ("always extract", "extract"),
                                     ("always fine-tune", "finetune")):
                regrets[policy].append(regret(scores, strategy))
                if policy == "product":
                    by_seed.setdefault(row["seed"], []).append(regrets[policy][-1])
                if row["seed"] != 0:
                    fresh[policy].append(regrets[policy][-1])
            sampled = resampled(row, args.resamples) if "wrong_predict" in row else None  # seed-0 rows have none
            if sampled is not None:
                floors["resampled"].append(float(sampled.mean()))
            print(f"{spec:<16} {row['seed']:>4} " + " ".join(f"{scores[s]:>8.1%}" for s in STRATEGIES)
                  + f" {best(scores):<9} {chosen:<9} {regret(scores, chosen):>6.1f}"
                  + (f" {sampled.mean():>9.1f} {np.percentile(sampled, 95):>5.1f}" if sampled is not None else
                     f" {'-':>9} {'-':>5}"))
        variants.append(shown)
        floors["fixed"] += best_fixed(shown)
        lost = hindsight(shown)
        floors["hindsight"].append(sum(lost) / len(lost))
        floors["hindsight max"].append(max(lost))
        pairs += len(lost)
        flips += sum(best(scores_of(a)) != best(scores_of(b)) for a, b in permutations(shown, 2))
        print(f"{spec:<16} another draw: the winner of one draw loses {sum(lost) / len(lost):.1f} points on "
              f"another on average (at most {max(lost):.1f}), over {len(lost)} ordered pairs of {len(shown)} draws")
    rows = len(regrets["product"])
    for policy, values in regrets.items():
        print(f"{policy:<17} mean regret {sum(values) / rows:.2f} points, max {max(values):.1f} over {rows} draws; "
              f"{sum(fresh[policy]) / len(fresh[policy]):.2f}, max {max(fresh[policy]):.1f} over the "
              f"{len(fresh[policy])} of this table")
    print("the product's mean regret on each seed's draws: " + ", ".join(
        f"seed {seed} {sum(v) / len(v):.2f} ({len(v)})" for seed, v in sorted(by_seed.items())))
    hindsight_mean = sum(floors["hindsight"]) / len(specs)
    print(f"floor, another draw: the test winner of one draw, scored on another: mean {hindsight_mean:.2f} points "
          f"(per variant, over its pairs), max {max(floors['hindsight max']):.1f}; the winner changed in "
          f"{flips} of {pairs} ordered pairs")
    print(f"floor, one way per variant: the way with the best mean over a variant's draws, scored on each: mean "
          f"{sum(floors['fixed']) / rows:.2f} points, max {max(floors['fixed']):.1f} over {rows} draws (the least an "
          "advice that picks one way for a variant can lose here; picked on the draws it is scored on)")
    if floors["resampled"]:
        print(f"floor, another test sample: a draw's test winner on resampled test images: mean "
              f"{sum(floors['resampled']) / len(floors['resampled']):.2f} points over {len(floors['resampled'])} "
              f"draws, largest row mean {max(floors['resampled']):.1f}")
    for name, value in MEASURES.items():
        pooled, freedom = spread(variants, value)
        fresh, fresh_freedom = spread([[d for d in draws if d["seed"] != 0] for draws in variants], value)
        print(f"{name} moves between draws of one variant by {pooled:.1f} points (pooled standard deviation, "
              f"{freedom} degrees of freedom; {fresh:.1f} on this table's draws alone, {fresh_freedom})")
    if kind == "images":
        print(f"the image gain model's typical error, across variants: {IMAGE_GAIN.residual_points:.1f} points")
    product = sum(regrets["product"]) / rows
    fixed = sum(floors["fixed"]) / rows
    for name, floor in (("hindsight floor", hindsight_mean), ("one-way floor", fixed)):
        print(f"ratio: product {product:.2f} / {name} {floor:.2f} = "
              + (f"{product / floor:.2f}" if floor >= 0.005 else "no ratio (the floor is 0)"))


if __name__ == "__main__":
    main()
