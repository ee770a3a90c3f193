"""Where the model looks, for the inputs a user most wants to understand: its most confident test mistakes.

Each kind of data explains in its own way (`Modality.explain`: Grad-CAM for images, leaving each
word out for texts), always with the bundle's own model, so what the page shows is what the
downloaded model does. The explanations are written into the run (`explain/`) by the job that
built the bundle, so the Results page only reads them.
"""

from __future__ import annotations

import io
from pathlib import Path

from . import runs
from .modality import get_modality
from .progress import ProgressCallback, report

FOLDER = "explain"
INDEX = "index.json"
MISTAKES = 6


def explain_mistakes(run_dir: Path, bundle, mistakes: list[dict], progress: ProgressCallback | None = None) -> list:
    """The first `MISTAKES` of the report's mistakes (most confident first) explained for the class the model gave;
    pictures as PNG files and everything listed in `explain/index.json`."""
    modality = get_modality(bundle.modality)
    folder = run_dir / FOLDER
    entries = []
    for number, mistake in enumerate(mistakes[:MISTAKES]):
        explanation = modality.explain(bundle, mistake["file"], bundle.labels.index(mistake["predicted"]))
        entry = _written(explanation, folder / f"mistake-{number}.png")
        entries.append({key: mistake[key] for key in ("file", "true", "predicted", "confidence")} | entry)
        report(progress, "explain", number + 1, min(len(mistakes), MISTAKES))
    runs.write_json(folder / INDEX, entries)
    return entries


def explain_inputs(bundle, inputs: list[str], out: Path) -> list[dict]:
    """Each input explained for the class the model gives it; pictures written into `out` (the CLI's `explain`)."""
    modality = get_modality(bundle.modality)
    entries = []
    for number, item in enumerate(modality.check_inputs(inputs)):
        explanation = modality.explain(bundle, item)
        entry = _written(explanation, out / f"{number:03d}-{Path(str(item)).stem[:60]}.png", full_path=True)
        entries.append({"file": str(item), "label": bundle.labels[explanation.class_index]} | entry)
    return entries


def explain_run(result, archive: Path, progress: ProgressCallback | None = None) -> list[dict]:
    """`explain_mistakes` for a finished run, with the bundle it just wrote."""
    from .predict import load_bundle

    return explain_mistakes(result.run_dir, load_bundle(archive), result.report["misclassified"], progress)


def stored_explanations(run_dir: Path) -> list[dict]:
    """What `explain_mistakes` wrote for this run ([] when nothing was)."""
    import json

    path = run_dir / FOLDER / INDEX
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def _written(explanation, picture_path: Path, full_path: bool = False) -> dict:
    """The explanation as JSON: its method, and its words or the name of its picture, written to `picture_path`."""
    entry = {"method": explanation.method}
    if explanation.picture is not None:
        runs.write_atomic(picture_path, png(explanation.picture))
        entry["picture"] = str(picture_path) if full_path else picture_path.name
    if explanation.words is not None:
        entry["words"] = explanation.words
    return entry


def png(picture) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def top_words(words: list[tuple[str, float]], count: int = 5) -> str:
    """The words that argued most for the class, in words: "free (+0.31), win (+0.12)"."""
    ranked = sorted((w for w in words if w[1] > 0), key=lambda w: -w[1])[:count]
    return ", ".join(f"{word} ({weight:+.2f})" for word, weight in ranked) or "no single word mattered"
