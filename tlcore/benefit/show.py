"""What transfer saved, in rows and sentences for the Results page and the command line.

Everything here reads the stored dict (`report["benefit"]`, `Benefit.to_dict()`), so a page or a terminal shows
a comparison measured earlier, by a worker, without the library objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..progress import duration

WITH, WITHOUT = "with transfer", "without transfer"


@dataclass(frozen=True)
class Score:
    """One test score beside the others: a label, the value in words, and what it is."""

    label: str
    value: str
    help: str


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def transfer_score(benefit: dict, report: dict) -> tuple[float, str, float | None]:
    """(accuracy, what model, seconds) of the transferred model: the one the curve retrained on all of the
    training split where there is a curve, else the run's selected model."""
    transfer = benefit.get("transfer") or {}
    if transfer.get("accuracy") is not None:
        return transfer["accuracy"], f"{transfer.get('way', '')}: {transfer.get('model', '')}", transfer.get("seconds")
    selected = report.get("selected") or {}
    return report["test"]["accuracy"], f"the run's {selected.get('strategy', '')}/{selected.get('model', '')}", None


def scores(benefit: dict, report: dict) -> list[Score]:
    """The two test scores beside always answering the largest class, on the same test split, with their times."""
    scratch = benefit["scratch"]
    accuracy, model, seconds = transfer_score(benefit, report)
    items = scratch.get("test_items")
    where = f"on the {items} test items" if items else "on the test split"
    found = [Score("With transfer", _percent(accuracy),
                   f"{model}, {where}" + (f"; trained in {duration(seconds)}" if seconds is not None else "")),
             Score("Without transfer", _percent(scratch["accuracy"]),
                   f"{scratch['model']}, {where}; trained in {duration(scratch['seconds'])}"
                   + (f" (95% interval {_percent(scratch['low'])}-{_percent(scratch['high'])})"
                      if scratch.get("low") is not None else ""))]
    largest = report.get("largest_class")
    if largest and "test_accuracy" in largest:
        found.append(Score("Always the largest class", _percent(largest["test_accuracy"]),
                           f"always answering \"{largest['class']}\", {where}: what any model must beat"))
    return found


def curve_rows(benefit: dict) -> list[dict]:
    """The measured points of both curves, one row per model and fraction (the chart's data): accuracy with the
    distance to its 95% interval's ends."""
    rows = []
    for point in benefit.get("curve") or []:
        if point.get("skipped"):
            continue
        for model, prefix in ((WITH, ""), (WITHOUT, "scratch_")):
            accuracy = point[f"{prefix}accuracy"]
            low, high = point.get(f"{prefix}low"), point.get(f"{prefix}high")
            rows.append({"model": model, "fraction": point["fraction"],
                         "share of the training split": f"{point['fraction']:.0%}",
                         "per class": point["per_class"], "accuracy": accuracy,
                         "below": accuracy - low if low is not None else 0.0,
                         "above": high - accuracy if high is not None else 0.0,
                         "seconds": point.get(f"{prefix}seconds", 0.0)})
    return rows


def skipped(benefit: dict) -> list[str]:
    """Why each skipped point of the curve has no accuracy, in words."""
    return [point["skipped"] for point in benefit.get("curve") or [] if point.get("skipped")]


def sentences(benefit: dict) -> list[str]:
    """What the comparison says in plain words: the summary, then whether more data would pay."""
    return [text for text in (benefit.get("summary"), benefit.get("more_data")) if text]


def benefit_lines(benefit: dict) -> list[str]:
    """The comparison as lines for a terminal."""
    scratch = benefit["scratch"]
    lines = [f"without transfer: {_percent(scratch['accuracy'])} on the test split ({scratch['model']}, "
             f"{duration(scratch['seconds'])})"]
    transfer = benefit.get("transfer") or {}
    if transfer.get("accuracy") is not None:
        lines.append(f"with transfer, retrained beside it: {_percent(transfer['accuracy'])} ({transfer['way']}: "
                     f"{transfer['model']}, {duration(transfer['seconds'] or 0)})")
    for point in benefit.get("curve") or []:
        if not point.get("skipped"):
            lines.append(f"{point['fraction']:>4.0%} of the training split ({point['per_class']} per class): "
                         f"{_percent(point['accuracy'])} with transfer, {_percent(point['scratch_accuracy'])} "
                         "without")
    return lines + [f"skipped: {reason}" for reason in skipped(benefit)] + sentences(benefit)
