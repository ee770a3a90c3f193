"""Is the recommendation right on data it was not fitted on? Leave-one-dataset-out regret over the calibration set.

Reads the calibration tables (`benchmarks/calibration.py` collects them; by default every image
table, `calibration.IMAGE_TABLES`, or with `--texts` every text table: per variant of an offline
set, the measures the analysis takes before
training and each strategy's test accuracy and seconds after training all three). For each origin
dataset, the expected-gain model (`tlcore.gain`) is fitted on the rows of every *other* origin, and
`tlcore.strategy.recommend` decides each held-out row with it, for both aims ("best" accuracy, "fast": good and fast).
Regret = the best strategy's test accuracy minus the chosen one's, in points.

Where the table has the pilot's columns (`calibration.py --pilot`), four more policies, the pilot
read by the product's own `tlcore.pilot.decided_by`: "best + pilot" where the held-out
recommendation is a close call (confidence under `tlcore.pilot.CLOSE_CALL`: where the Analyse page
offers one; the pilot weighed with the expected gain), "pilot always" on every call between extract
and fine-tuning (`analyze --pilot`), "pilot alone" the pilot's own winner on every such call (the
one-standard-error rule, no estimate: what the rule's calls got until December 2026), and "old rule
+ pilot", the threshold rule's calls with a pilot run on each (the rule estimates no gain, so the
pilot overturns a call only by leading the other way by `tlcore.pilot.CLEAR_LEAD` standard errors:
what texts get from `analyze --pilot`).

The advice says what its call between extract and fine-tuning is expected to lose against the other
way (`tlcore.gain.expected_loss`, from the held-out estimate and its typical error); printed beside
it, what those calls lost on test: an honest figure has the same mean.

Printed in the same run: the regret of always extracting, of always fine-tuning, and of the old
threshold rule (images: fitted by hand on hymenoptera, eurosat200 and mnist100, not held out); the
threshold rule's shape with its thresholds refitted leave-one-dataset-out; for "fast", the seconds
saved and the points the extra minutes of fine-tuning would have bought. And "all three trained":
what a run of every strategy keeps (`train --strategy all`: the simplest within one standard error
of the best on validation), which sees more than any advice before training can; its regret is
what choosing on a small validation split costs at these sizes. `--fit` prints the model
fitted on every row (for images, `tlcore.image.gain.IMAGE_GAIN` must equal it; texts have no gain
model in the product: held out over all eight text sets it did no better than the text rule with the
pilot).

`--check PATH...` adds the rows of tables collected later: each is decided by what was fitted on
`--table`'s rows of the other origins, and they are summed apart, so a choice made while looking at
the main table is measured on rows it never saw (`images_origins4.csv`: Fashion-MNIST, collected
after the refit on the nine origins of `calibration.IMAGE_TABLES`, and `images_origins5.csv`:
Wesnoth's unit sprites, after the switch to the two-term form; `texts_origins2.csv`,
`texts_origins3.csv`, `texts_origins4.csv`: text origins collected after the text rule was set).
The image tables now in the fit were each such a check once: `images_check.csv` of the pilot's
weighing chosen on `images.csv`, each `images_origins*.csv` of the fit before it. `--table` takes
several tables, joined.

`--features` fits another form of the gain model (some of `tlcore.gain.FEATURES`) everywhere the
product's is fitted, to compare the two on the same rows (images default to the product's two terms,
distance and images per class; texts to all four).

    .venv/bin/python benchmarks/bench_recommend.py [--texts] [--table PATH...] [--check PATH...] [--fit]
                                                   [--features NAME,...]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from calibration import IMAGE_TABLES, TEXT_TABLES, read_tables  # noqa: E402  (benchmarks/calibration.py)
from regret import STRATEGIES, regret  # noqa: E402  (benchmarks/regret.py)

from tlcore.gain import FEATURES, FOUR_TERMS, TIME_COLUMNS, fit_gain  # noqa: E402
from tlcore.image.gain import IMAGE_GAIN  # noqa: E402
from tlcore.pilot import Pilot, decided_by, pilot_offer  # noqa: E402
from tlcore.strategy import PREDICT_MARGIN, GapReading, Recommendation, recommend  # noqa: E402
from tlcore.train.select import within_one_standard_error  # noqa: E402


def scores_of(row: dict) -> dict[str, float]:
    return {s: row[f"test_{s}"] for s in STRATEGIES}


def seconds_of(row: dict, strategy: str, gain) -> float:
    """Training seconds of `strategy` as the product spends them (extract: its scikit-learn heads); rows
    collected before that column existed get the table's median rate per training item."""
    value = row.get(TIME_COLUMNS[strategy])
    return value if isinstance(value, int | float) else gain.seconds(strategy, row["n_train"])


def decide(row: dict, gain, aim: str):
    """The Recommendation `recommend` gives for the row's measures, with `gain` fitted elsewhere."""
    measures = SimpleNamespace(probe_accuracy=row["probe"], loo_accuracy=row["loo"], asis_accuracy=row["asis"],
                               slope=row["slope"])
    reading = GapReading(far=bool(row["far"]), text="", settings={}, settings_reason="", asis="{:.1%}",
                         distance=row["distance"])
    size = {"per_class_known_median": row["per_class"], "splits": {"train": row["n_train"]}}
    return recommend(size, measures, reading, 0.0, "the base's domain", gain=gain, aim=aim)


def after_training(row: dict) -> str:
    """The strategy a run of all three would keep (`train --strategy all`): the simplest (STRATEGIES is in
    order of complexity) whose validation accuracy is within one standard error of the best, by
    `tlcore.train.select`'s own rule (read from each strategy's best validation score). No advice before
    training sees as much."""
    return within_one_standard_error(list(STRATEGIES), lambda s: row[f"val_{s}"], row["val_items"])[0]


def with_pilot(row: dict, advice: Recommendation, when: str) -> str | None:
    """What the pilot makes of `advice`, run `when`: "offered" (where the page offers it) or "always" (every
    call between extract and fine-tuning, as `analyze --pilot`), both by the product's own `decided_by`;
    or "alone" (every such call, the pilot's own one-standard-error winner: advice and estimate ignored).
    None where the table has no pilot for the row."""
    winner = row.get("pilot_winner", "")
    if winner in ("", None):
        return None
    between = advice.strategy in ("extract", "finetune") and winner in ("extract", "finetune")
    if not between or (when == "offered" and not pilot_offer(advice.to_dict())):
        return advice.strategy
    if when == "alone":
        return winner
    pilot = Pilot(row["pilot_extract"], row["pilot_finetune"], row["val_items"], row["pilot_seconds"], None, winner)
    return decided_by(advice, pilot, "items", {}).strategy


# The threshold rule as a family (the old rule's shape: finetune when the probe is under a ceiling, the data
# is far and there are enough examples per class), its three thresholds refitted leave-one-dataset-out: a
# fairer comparison than the old rule's hand-set thresholds, set on three of these origins.
THRESHOLDS = list(itertools.product((0.05, 0.1, 0.15, 0.2, 0.3, 0.4), (0.95, 0.97, 0.99, 1.01),
                                    (10, 25, 40, 50, 75, 100)))


def by_thresholds(row: dict, far: float, ceiling: float, per_class: float) -> str:
    if row["asis"] >= max(row["probe"], row["loo"]) - PREDICT_MARGIN:
        return "predict"
    enough = max(row["probe"], row["loo"]) < ceiling and row["distance"] >= far and row["per_class"] >= per_class
    return "finetune" if enough else "extract"


def fit_thresholds(rows: list[dict]) -> tuple[float, float, float]:
    """The thresholds with the least total regret on `rows` (ties: the most examples per class asked)."""
    return min(THRESHOLDS, key=lambda t: (sum(regret(scores_of(r), by_thresholds(r, *t)) for r in rows), -t[2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", action="store_true", help="the text table (default: images)")
    parser.add_argument("--table", type=Path, nargs="+", help="one or more tables, joined")
    parser.add_argument("--check", type=Path, nargs="+", default=[],
                        help="tables collected later: their rows are decided by what was fitted on --table's "
                             "other origins, and summed apart")
    parser.add_argument("--fit", action="store_true", help="print the model fitted on every row")
    parser.add_argument("--features", help="the gain model's features, comma-separated (default: images the "
                                           "product's, tlcore.image.gain.IMAGE_GAIN's; texts all four)")
    args = parser.parse_args()
    args.table = args.table or list(TEXT_TABLES if args.texts else IMAGE_TABLES)
    rows, check = read_tables(args.table), read_tables(args.check)
    features = tuple(args.features.split(",")) if args.features else FOUR_TERMS if args.texts else \
        tuple(IMAGE_GAIN.weights)
    if unknown := set(features) - set(FEATURES):
        parser.error(f"unknown features {sorted(unknown)}: expected some of {', '.join(FEATURES)}")
    piloted = all(row.get("pilot_winner", "") != "" for row in rows + check)
    origins = sorted({r["origin"] for r in rows + check})
    fitted = sorted({r["origin"] for r in rows})
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {len(rows)} variants of "
          f"{len(fitted)} datasets ({', '.join(fitted)}) from {_shown(*args.table)}"
          + (f"; {len(check)} more to check from {_shown(*args.check)} (marked *)" if check else ""))
    names = ("best", "fast", *(("best + pilot", "pilot always", "pilot alone", "old rule + pilot") if piloted else ()),
             "old rule", "thresholds refitted", "always extract", "always fine-tune", "all three trained")
    policies: dict[str, dict[str, list[float]]] = {part: {p: [] for p in names} for part in ("table", "check")}
    saved, bought = [], []
    losses: dict[str, list[tuple[float, float]]] = {"table": [], "check": []}  # (said, lost) per call between two ways
    everything = fit_gain(rows, rows[0]["base"], features)
    shown_policies = ("best", "fast", *(("best + pilot",) if piloted else ()), "old rule",
                      *(("old rule + pilot",) if piloted else ()))
    print(f"{'variant':<18} " + " ".join(f"{s:>8}" for s in STRATEGIES) + " confidence" +
          "".join(f" {p:<12} {'regret':>6}" for p in shown_policies))
    for origin in origins:
        fitted_on = [r for r in rows if r["origin"] != origin]  # never a row of the origin decided, nor a check row
        gain, thresholds = fit_gain(fitted_on, features=features), fit_thresholds(fitted_on)
        decided = [("table", r) for r in rows if r["origin"] == origin] + \
                  [("check", r) for r in check if r["origin"] == origin]
        for part, row in decided:
            scores = scores_of(row)
            advice = {aim: decide(row, gain, aim) for aim in ("best", "fast")}
            chosen = {aim: a.strategy for aim, a in advice.items()}
            if piloted:
                # the rule estimates no gain: no pilot is offered; asked for, it must lead clearly to overturn
                rule = Recommendation(row["rule_strategy"], row["rule_confidence"], [], {}, {})
                chosen |= {"best + pilot": with_pilot(row, advice["best"], "offered"),
                           "pilot always": with_pilot(row, advice["best"], "always"),
                           "pilot alone": with_pilot(row, advice["best"], "alone"),
                           "old rule + pilot": with_pilot(row, rule, "always")}
            for policy, strategy in (*((aim, chosen[aim]) for aim in chosen),
                                     ("old rule", row["rule_strategy"]),
                                     ("thresholds refitted", by_thresholds(row, *thresholds)),
                                     ("always extract", "extract"),
                                     ("always fine-tune", "finetune"),
                                     ("all three trained", after_training(row))):
                policies[part][policy].append(regret(scores, strategy))
            if advice["best"].expected_loss is not None:
                other = "extract" if chosen["best"] == "finetune" else "finetune"
                lost = max(0.0, 100 * (scores[other] - scores[chosen["best"]]))
                losses[part].append((advice["best"].expected_loss, lost))
            if chosen["fast"] != chosen["best"] and part == "table":
                saved.append(seconds_of(row, chosen["best"], everything) - seconds_of(row, chosen["fast"], everything))
                bought.append(100 * (scores[chosen["best"]] - scores[chosen["fast"]]))
            shown = [chosen[p] if p in chosen else row["rule_strategy"] for p in shown_policies]
            print(f"{row['spec'] + (' *' if part == 'check' else ''):<18} "
                  + " ".join(f"{scores[s]:>8.1%}" for s in STRATEGIES) + f" {advice['best'].confidence:>10.2f}"
                  + "".join(f" {c:<12} {regret(scores, c):>6.1f}" for c in shown))
    by_hand = (" (thresholds set by hand with these four sets in view: not held out)" if args.texts else
               " (thresholds set by hand on hymenoptera, eurosat200, mnist100: not held out)")
    summarise(policies["table"], by_hand)
    said_and_lost(losses["table"])
    if saved:
        print(f"fast instead of best: {len(saved)} variants, {sum(saved) / len(saved):.0f} s of training saved on "
              f"average; the extra minutes of fine-tuning would have bought {sum(bought) / len(bought):+.1f} points "
              f"on average (from {min(bought):+.1f} to {max(bought):+.1f})")
    if check:
        print(f"on the {len(check)} rows of {_shown(*args.check)} only (each decided by what the other origins' rows "
              f"of {_shown(*args.table)} fit):")
        summarise(policies["check"], by_hand)
        said_and_lost(losses["check"])
    if args.fit:
        print(f"fitted on every row: {everything}")


def _shown(*paths: Path) -> str:
    resolved = [p.resolve() for p in paths]
    return " + ".join(str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p in resolved)


def summarise(policies: dict[str, list[float]], by_hand: str) -> None:
    """Each policy's mean and maximum regret, then the ratios against the plain policies."""
    held_out = " (leave-one-dataset-out)"
    notes = {"best": held_out, "fast": held_out, "best + pilot": held_out, "pilot always": held_out,
             "pilot alone": " (the predict test is the held-out gain model's)", "thresholds refitted": held_out,
             "old rule": by_hand, "old rule + pilot": by_hand,
             "all three trained": " (every strategy trained, then the run's choice on validation)"}
    for policy, regrets in policies.items():
        print(f"{policy:<19} mean regret {sum(regrets) / len(regrets):.2f} points, max {max(regrets):.1f}"
              f"{notes.get(policy, '')}")
    mean = {p: sum(r) / len(r) for p, r in policies.items()}
    print(f"ratio: always fine-tune {mean['always fine-tune']:.2f} / best aim {mean['best']:.2f} = "
          f"{_ratio(mean['always fine-tune'], mean['best'])}; always extract / best aim = "
          f"{_ratio(mean['always extract'], mean['best'])}")
    if "best + pilot" in mean:
        print(f"ratio: always fine-tune {mean['always fine-tune']:.2f} / best + pilot {mean['best + pilot']:.2f} = "
              f"{_ratio(mean['always fine-tune'], mean['best + pilot'])}")


def said_and_lost(calls: list[tuple[float, float]]) -> None:
    """The advice's expected loss (`tlcore.gain.expected_loss`, best aim) beside what its calls between extract and
    fine-tuning lost against the other of the two on test: an honest figure has the same mean."""
    if calls:
        said, lost = (sum(c[i] for c in calls) / len(calls) for i in (0, 1))
        print(f"expected loss, best aim: said {said:.2f} points per call, lost {lost:.2f} against the other way on "
              f"test, over {len(calls)} calls between extract and fine-tuning")


def _ratio(baseline: float, policy: float) -> str:
    """baseline / policy, or what it means when the policy lost nothing (a ratio would be a division by 0)."""
    if policy < 0.005:
        return "no ratio (the policy lost nothing)" if baseline >= 0.005 else "no ratio (neither lost anything)"
    return f"{baseline / policy:.2f}"


if __name__ == "__main__":
    main()
