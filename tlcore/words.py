"""Plain words for the numbers: what the app and the CLI show a person who is not an ML expert.

Internal names (`rbf_svm`, `finetune_top12`, `loo_accuracy`) stay in the JSON reports; this module
turns them into names, units and one-line meanings, and says on which split each number was
measured. Nothing here computes a metric.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from .progress import duration

STRATEGY_WORDS = {
    "predict": ("Use the pretrained model as it is",
                "its own answers (ImageNet classes, or text similarity to your class names) mapped to your labels; "
                "no training"),
    "extract": ("Train a small new model on what the pretrained model sees",
                "the pretrained model stays frozen; a new classifier learns from its features, in seconds to minutes"),
    "finetune": ("Retrain the top of the pretrained model",
                 "a new classifier first, then the top layers of the pretrained model adapt to your data at a low "
                 "learning rate; slowest, best when your data looks unlike the model's own"),
}

MODEL_WORDS = {
    "imagenet_names": "ImageNet's own classes, matched to your class names",
    "empirical_label_map": "ImageNet's own answers, mapped to your labels by your examples",
    "zero_shot_names": "Similarity to your class names (zero-shot)",
    "ridge": "Ridge classifier (linear, one quick solve)",
    "logistic_regression": "Logistic regression",
    "rbf_svm": "Support vector machine (RBF kernel)",
    "linear_svm": "Linear support vector machine",
    "knn": "k nearest neighbours",
    "extra_trees": "Extra trees (a random forest)",
    "keras_head": "Small neural network (Keras Tuner)",
}

MEASURE_WORDS = {
    "probe_accuracy": ("Linear probe accuracy",
                       "A simple classifier on the frozen model's features, 5-fold cross-validated on your training "
                       "and validation data: what 'extract' is worth."),
    "loo_accuracy": ("Leave-one-out probe accuracy",
                     "The same idea measured exactly, one example left out at a time (a ridge classifier)."),
    "asis_accuracy": ("As-is accuracy",
                      "The pretrained model's own answers mapped to your labels, cross-validated: what 'predict' "
                      "would score."),
    "slope": ("Learning slope",
              "How much the probe gains from half of your data to all of it: a big gain says more data would pay."),
    "logme": ("LogME", "A transferability score from the research literature (higher is better); it ranks "
              "pretrained models for one dataset, its raw value does not compare across datasets."),
    "leep": ("LEEP", "Another transferability score (log-likelihood of the model's label map; closer to 0 is "
             "better); for ranking pretrained models on one dataset."),
}


def strategy_title(strategy: str) -> str:
    return STRATEGY_WORDS.get(strategy, (strategy, ""))[0]


def model_title(strategy: str, name: str, base: str = "") -> str:
    """A model's name in words: "Logistic regression", "Fine-tuned EfficientNet-Lite0 (top 12 blocks)"."""
    found = re.fullmatch(r"finetune_top(\d+)", name)
    if found:
        return f"Fine-tuned {base or 'base'} (top {found.group(1)} {'layers' if 'MiniLM' in base else 'blocks'})"
    return MODEL_WORDS.get(name, name.replace("_", " ").capitalize())


def base_title(name: str) -> str:
    """The base's short title: EfficientNet-Lite0, all-MiniLM-L6-v2 (the registry's title without its notes)."""
    from .modality import REGISTRY, get_modality

    for kind in REGISTRY:
        try:
            spec = get_modality(kind).bases().get(name)
        except NotImplementedError:  # a kind of data plugged in without a registry of bases
            continue
        if spec is not None:
            return spec.title.split(" (")[0]
    return name


def base_at_size(name: str, image_size: int | None = None) -> str:
    """A base and the input size it was timed or trained at, in words: "EfficientNet-Lite0 at 192 px" (the title
    `BaseChoice.describe` gives by its registry name)."""
    return base_title(name) + (f" at {image_size} px" if image_size else "")


def percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    return f"{100 * value:.{digits}f}%"


def megabytes(size_bytes: float) -> str:
    return f"{size_bytes / 1e6:.1f} MB"


def milliseconds(ms: float) -> str:
    return f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms"


seconds = duration  # a duration in words: "8 s", "2 min 5 s"


UNTESTED = "not tested"  # short: the Train page's table was cut in the middle of a longer cell at 1280 px (walk 7)
UNTESTED_WHY = "Not tested: only each way's chosen model is scored on the test split, once, after the choice."


def leaderboard(report: dict) -> pd.DataFrame:
    """The run's models, best on validation first, in words and units, with no empty cells; the accuracies before
    the rest, as the narrowest page shows the first columns (`UNTESTED_WHY` says what "not tested" means), and
    short headers (walk 8 at 1280 px: the last three columns needed a sideways scroll)."""
    base = base_title(report.get("backbone", ""))
    rows = []
    for row in report["leaderboard"]:
        tested = row["test_accuracy"] is not None
        rows.append({
            "Model": model_title(row["strategy"], row["model"], base),
            "Validation accuracy": percent(row["val_accuracy"]),
            "Test accuracy": percent(row["test_accuracy"]) if tested else UNTESTED,
            "Way": row["strategy"],
            "Trained in": f"{row['train_seconds']:.1f} s",
            "Size": megabytes(row["size_bytes"]),
            "Per input": milliseconds(row["latency_ms"]),
            "Selected": "yes" if row["selected"] else "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def largest_class_note(accuracy: float, largest: dict, split: str, items: int) -> tuple[bool, str]:
    """(warn, sentence): the score beside what always answering the largest class scores on the same split."""
    from .train.evaluate import resolvable_margin

    baseline = largest[f"{split}_accuracy"]
    margin = resolvable_margin(accuracy, items)
    name = {"val": "validation", "test": "test"}[split]
    sentence = (f"Always answering the largest class, \"{largest['class']}\", would score {percent(baseline)} on the "
                f"same {name} split ({items} items).")
    if accuracy - baseline > margin:
        return False, sentence + f" The model beats that by {100 * (accuracy - baseline):.1f} points."
    return True, (sentence + f" The model's {percent(accuracy)} is not clearly better: on {items} items a lead under "
                  f"{100 * margin:.1f} points can be luck. Add data, or check that the labels can be told apart.")


TIME_COLUMN = "Time to a downloadable model"
FIRST_HEAD_ENOUGH = "it already gets validation as right as validation can tell"


def expected_accuracy_table(analysis: dict) -> pd.DataFrame:
    """What each way of reusing the model is expected to score before training, and how long it takes from pressing
    Train to its bundle (timed on this machine by the analysis: `tlcore.costs`), side by side."""
    advice = analysis["recommendation"]
    expected, times = advice["expected_accuracy"], advice.get("expected_seconds") or {}
    how = {"predict": "cross-validated on your training and validation data, with no training",
           "extract": "a linear probe, cross-validated on your training and validation data",
           "finetune": "the probe plus the gain fine-tuning is expected to add (see Why), from a model fitted on "
                       "other datasets"}
    if analysis.get("pilot"):
        how["finetune"] = ("the probe plus the expected gain, weighed with a pilot's short fine-tuning run on your "
                           "validation data (see Why)" if advice.get("expected_gain") is not None else
                           "measured by a pilot: a short fine-tuning run, on your validation data")
    # at the ceiling every trained way stops after its first head: walk 9 read "3 s" for fine-tuning as implausible
    at_ceiling = (analysis.get("expected_parts") or {}).get("at_ceiling")
    stops = {way: f" (stops after its first model: {FIRST_HEAD_ENOUGH})" for way in ("extract", "finetune")} \
        if at_ceiling else {}
    rows = [{"Way": strategy_title(s), "Expected accuracy": percent(expected[s]), "How it was estimated": how[s]}
            | ({TIME_COLUMN: seconds(times[s]) + stops.get(s, "")} if times else {})
            for s in ("predict", "extract", "finetune") if s in expected]
    if "finetune" not in expected:
        rows.append({"Way": strategy_title("finetune"), "Expected accuracy": "measured by training",
                     "How it was estimated": "no honest estimate before training for this base: it depends on how "
                                             "far the model can adapt; usually at or above the probe when the data "
                                             "is far from the model's own and there is enough of it"}
                    | ({TIME_COLUMN: seconds(times["finetune"]) + stops.get("finetune", "")} if "finetune" in times
                       else {}))
    return pd.DataFrame(rows)


def measures_table(analysis: dict, gap_words: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Every measure of the analysis as a readable table (the expert view): name, value, meaning."""
    rows = []
    for key, value in analysis["transferability"].items():
        title, meaning = MEASURE_WORDS.get(key, (key, ""))
        shown = percent(value) if key.endswith("accuracy") or key == "slope" else f"{value:.3f}"
        rows.append({"Measure": title, "Value": shown, "What it means": meaning})
    for key, value in analysis["domain_gap"].items():
        if isinstance(value, int | float):
            title, meaning = gap_words.get(key, (key.replace("_", " "), "a domain gap measure (see the README)"))
            shown = percent(value) if key.endswith("share") else \
                f"{value:.2f}" if isinstance(value, float) else str(value)
            rows.append({"Measure": title, "Value": shown, "What it means": meaning})
    return pd.DataFrame(rows)


def _stage_words(stage: str) -> str:
    """A skipped stage in the user's words: "strategy finetune" -> "fine-tuning", model ids by their names."""
    if stage.startswith("strategy "):
        way = stage.removeprefix("strategy ")
        return {"finetune": "fine-tuning", "extract": "the new heads", "predict": "the base as it is"}.get(way, way)
    for name, title in MODEL_WORDS.items():
        stage = re.sub(rf"\b{name}\b", title.split(" (")[0].lower(), stage)
    return stage


# A job's steps as the progress line names them, in a newcomer's words
STEP_WORDS = {
    "starting": "starting", "unpack": "unpacking", "check images": "checking the images",
    "load images": "reading the images", "texts": "reading the texts", "engine": "preparing the base",
    "features": "reading each item through the base", "embeddings": "reading each text through the encoder",
    "analysis": "measuring", "rank bases": "comparing the bases", "strategies": "training each way",
    "predict": "the base's own answers", "first model": "the first model",
    "baselines": "fitting quick models on the features", "search": "training small networks",
    "finetune": "fine-tuning", "answers": "reading each item through the fine-tuned model",
    "bundle": "building the download", "explain": "explaining the mistakes",
    "tflite": "making the TFLite copies", "benefit": "what transfer saved", "transfer": "with transfer",
    "no transfer": "without transfer", "done": "done",
}
# What a step's count counts ("2 of 5 trials done"); a step not here says "2 of 5 done"
STEP_UNITS = {
    "unpack": "files", "check images": "images", "load images": "images", "features": "items",
    "embeddings": "texts", "rank bases": "bases", "strategies": "ways", "baselines": "models", "search": "trials",
    "finetune": "epochs", "answers": "items", "explain": "mistakes",
}


def step_words(stage: str) -> str:
    """A progress step in words ("rank bases" -> "comparing the bases"); what follows " (" (a base's name) is
    kept, an unknown step is shown as it is."""
    name, bracket, rest = stage.partition(" (")
    return STEP_WORDS.get(name, name) + (bracket + rest if bracket else "")


def step_line(stage: str, count: str = "") -> str:
    """A progress step and how far it is, in words: "training small networks, 2 of 5 trials done". A walk read the
    bare counter beside the job's share as a contradiction ("67% done; now quick models on the features 0/6") or as
    noise ("building the download 0/1"), so a count of one unit or less, a finished one (walk 6: "1% done; now
    reading each item through the base, 180 of 180 items done", the features read from the cache), or one that is
    not "done/total", is left out."""
    said = step_words(stage)
    done, slash, total = count.partition("/")
    if not (slash and done.isdigit() and total.isdigit()) or int(total) <= 1 or int(done) >= int(total):
        return said
    unit = STEP_UNITS.get(stage.partition(" (")[0])
    return f"{said}, {done} of {total}{f' {unit}' if unit else ''} done"


def expected_accuracy_note(expected: float, measured: float, items: int) -> str:
    """The advice's expected accuracy for a run's way beside what its test split measured, with that measurement's
    own noise: a walk read 94.5% expected against 90.0% on 80 test items, said without comment, as a promise
    broken, where 80 items measure to about 3 points. The error is the one the largest-class note reads
    (`resolvable_margin`: Agresti-Coull, so 80 of 80 is not read as exact), one standard error said, two allowed."""
    from .train.evaluate import resolvable_margin

    margin = 100 * resolvable_margin(measured, items)
    gap = 100 * (measured - expected)
    said = (f"The advice expected about {percent(expected)} for this way, estimated on your training and validation "
            f"data; the test split measured {percent(measured)}, give or take {margin / 2:.1f} points on its {items} "
            "items")
    if abs(gap) <= margin:
        return said + ": the two agree within what the test split can tell."
    return said + (f": {abs(gap):.1f} points {'above' if gap > 0 else 'below'} the estimate, more than the test "
                   "split's own noise explains.")


def wall_note(wall: dict | None, expected: float | None = None) -> str:
    """The user's time in words: to the first and the final bundle from the click, against the budget and what
    the advice expected."""
    if not wall or wall.get("seconds_to_final_bundle") is None:
        return ""
    waited = wall.get("seconds_waiting")  # a job's: from being submitted to its start
    lead, before = ("From the start", 0.0) if waited is None else ("From pressing Train", waited)
    note = (f"{lead}: the first model's bundle after {seconds(wall['seconds_to_first_bundle'] + before)}, "
            if wall.get("seconds_to_first_bundle") is not None else f"{lead}: ")
    note += (f"the final bundle after {seconds(wall['seconds_to_final_bundle'] + before)} "
             f"(budget {seconds(wall['budget_seconds'])}"
             + (f", from the job's start: it waited {seconds(before)} for a worker" if before >= 1 else "") + ")")
    if expected:  # the run as a whole (`tlcore.analysis.expected_run_seconds`): a walk missed it for "all"
        note += f"; the advice expected about {seconds(expected)}"
    return note + "."


CHART_STEPS = {"search": "trial", "finetune": "epoch"}


def chart_points(points: list[dict]) -> pd.DataFrame:
    """A run's live chart in words: the accuracies only, in percent, against "trial 3" and "epoch 5". Walks 7 and 8
    read losses and accuracies on one "value" axis against "search 1" and "finetune 3" as a puzzle; the status line
    and the table say the rest."""
    frame = pd.DataFrame(points, columns=["step", "metric", "value"])
    frame = frame[~frame["metric"].str.contains("loss")].copy()
    frame["value"] = 100 * frame["value"].astype(float)
    frame["step"] = [f"{CHART_STEPS.get(stage, stage)} {number}"
                     for stage, _, number in (str(step).rpartition(" ") for step in frame["step"])]
    return frame.rename(columns={"step": "trial or epoch", "metric": "measure", "value": "% right"})


def best_so_far_line(best: dict) -> str:
    """The run's model so far (`tlcore.train.anytime`'s record) in words, with when it came: walk 8 read "(first model
    after 2 s)" beside a fine-tuned model found after 3 minutes as that model's own time."""
    title = model_title(best["strategy"], best["model"], base_title(best.get("base") or ""))
    first, found = best.get("first_seconds"), best.get("seconds")
    when = (f"the run's first model, after {seconds(first)}" if found is None or found == first else
            f"found after {seconds(found)}; the run's first model came after {seconds(first)}")
    return (f"Best so far: **{title}**, {percent(best['val_accuracy'])} of the {best['val_items']} validation items "
            f"right ({when}). A later model replaces it only where it does better on validation (at the same score: "
            "where its probabilities fit better, as the run's selection ranks them).")


def expected_before_note(expected: float | None, budget: float, timed: dict | None) -> str:
    """What the page can say of a run's time before Train is pressed: the analysis's expectation for these
    settings, or, where it timed another base or size (`timed`: the saved analysis), which one it timed. A walk
    trained "All three" on the ranking's first base, which the advice had not timed, and never learnt how long to
    expect."""
    if expected is not None:
        if expected >= budget:
            return (f"Expected on this machine: the whole budget ({seconds(budget)}); the run stops there with the "
                    "best model it has.")
        return (f"Expected on this machine: about {seconds(expected)} from pressing Train to the final model's "
                f"download (the analysis's timing; the budget, {seconds(budget)}, caps it).")
    if not timed or not timed.get("backbone"):
        return ""
    timed_base = base_at_size(timed["backbone"], timed.get("image_size"))
    return (f"No expected time for this choice: the analysis timed {timed_base}. Choose it for one, or analyse again "
            "with this base.")


def anytime_note(anytime: dict | None) -> str:
    """When the first model came and the final one, and what was skipped because it could not pay, in words."""
    if not anytime or anytime.get("time_to_first_model") is None:
        return ""
    # counted from the run's start, not from pressing Train (`wall_note` says that): a walk read the two as one
    first, kept, end = (anytime.get(k) for k in ("time_to_first_model", "time_to_kept_model", "time_to_final_model"))
    replaced = (f" (replaced {anytime['replaced']} time{'s' if anytime['replaced'] != 1 else ''} by a better one)"
                if anytime["replaced"] else "")
    if kept is None:  # a report from before the kept model's time was recorded
        note = f"The run had its first model {seconds(first)} after it started and its final one after " \
               f"{seconds(end)}{replaced}."
    elif not anytime["replaced"]:
        note = f"The run had its first model {seconds(first)} after it started, kept it, and ended after " \
               f"{seconds(end)}."
    else:
        note = (f"The run had its first model {seconds(first)} after it started, the one it kept after "
                f"{seconds(kept)}{replaced}, and ended after {seconds(end)}.")
    for stop in anytime["stopped_early"]:
        note += f" Skipped {_stage_words(stop['skipped'])}: {stop['reason']}."
    if anytime["stopped_early"]:
        note += f" {seconds(anytime['unused_seconds'])} of the budget left unused."
    return note
