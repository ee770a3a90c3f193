"""One pass over a dataset that measures everything the recommendation needs, for any kind of data.

Uses only the training and validation data (never the test split) and one forward pass of the
base (features are cached, so a later `train` reuses them). What is measured and how the domain
gap reads is the dataset's modality's business (`tlcore.modality`); the rule that turns the
measures into advice is shared (`tlcore.strategy`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from . import runs
from .costs import Rates, RunParts, expected_for
from .data.label_issues import find_label_issues
from .modality import BaseChoice, BaseRanking, modality_of
from .pilot import PILOT_SECONDS, Pilot, decided_by, run_pilot
from .progress import ProgressCallback, report
from .strategy import DEFAULT_AIM, Recommendation, recommend
from .transferability import Transferability

ANALYSIS_FILE = "analysis.json"


@dataclass(frozen=True, eq=False)
class Analysis:
    modality: str  # "image" or "text"
    base: BaseChoice  # resolved once here; `TrainConfig.from_analysis` carries it into training
    dataset: dict
    label_overlap: object | None  # images only: class names against ImageNet's
    domain_gap: object  # the modality's own gap measures (images: similarity.DomainGap)
    transferability: Transferability
    recommendation: Recommendation
    label_issues: list[dict] = dataclasses.field(default_factory=list)  # likely mislabelled items, all splits
    pilot: Pilot | None = None  # a short run of both ways that measured a close call (`tlcore.pilot`)
    rates: Rates | None = None  # what this machine takes per item (`tlcore.costs`): the expected times' source
    # The installed bases of this kind measured on the data, best first (None: only one base to choose from).
    # Advice only: `base` is still what everything above was measured with and what training uses by default.
    bases: BaseRanking | None = None
    # each way's expected seconds in parts (`tlcore.costs.RunParts`): what a run of several ways is expected to take
    expected: RunParts | None = None

    def to_dict(self) -> dict:
        return {
            "modality": self.modality,
            "backbone": self.base.name,
            "image_size": self.base.image_size,
            "dataset": self.dataset,
            "label_overlap": self.label_overlap.to_dict() if self.label_overlap else None,
            "domain_gap": self.domain_gap.to_dict(),
            "transferability": self.transferability.to_dict(),
            "recommendation": self.recommendation.to_dict(),
            "label_issues": self.label_issues,
            "pilot": self.pilot.to_dict() if self.pilot else None,
            "rates": self.rates.to_dict() if self.rates else None,
            "bases": self.bases.to_dict() if self.bases else None,
            "expected_parts": self.expected.to_dict() if self.expected else None,
        }


def base_ranking(analysis: dict) -> BaseRanking | None:
    """The ranking of bases in a saved analysis (`Analysis.to_dict()`), or None (one base, or an older analysis)."""
    found = analysis.get("bases")
    return BaseRanking.from_dict(found) if found else None


def analyze(
    dataset,
    backbone: str | None = None,
    image_size: int | None = None,
    *,
    seed: int = 0,
    descriptions: dict[str, str] | None = None,
    progress: ProgressCallback | None = None,
    pilot_in: Path | None = None,
    pilot_seconds: float = PILOT_SECONDS,
    aim: str = DEFAULT_AIM,
) -> Analysis:
    """Measure `dataset` against `backbone` (default: its kind's offline base) and recommend a strategy.

    Where its kind has more than one installed base, each is also ranked on the data (`Analysis.bases`,
    the modality's `rank_bases`: images are ranked on at most `tlcore.image.ranking.RANK_ITEMS` training and
    validation images, so this adds seconds on a large dataset; on the 180 drawn shapes, cold, the analysis
    took 24 s without it and about 45 s with it). The ranking advises; `backbone` still decides what
    everything else here measures.

    `descriptions` of the classes (texts) help the zero-shot measure; `image_size` (images)
    overrides the size chosen from the images' own. `aim` is "best" (accuracy) or "fast" (good and
    fast: fine-tuning only where it is expected to pay for its time). With `pilot_in` (a workspace), a recommendation
    between extract and fine-tuning is measured by a short pilot run of both (`tlcore.pilot`: weighed with
    the estimate of the gain where there is one, deciding alone where there is none).
    """
    modality = modality_of(dataset)
    choice = modality.resolve_base(dataset, backbone, image_size)
    measured = modality.measure(dataset, choice, seed=seed, descriptions=descriptions, progress=progress)
    ranking = modality.rank_bases(dataset, choice, measured.features, seed=seed, progress=progress)
    report(progress, "analysis", 2, 3, "how long each way takes on this machine")
    rates, parts = expected_for(modality, dataset, choice, measured)
    report(progress, "analysis", 2, 3, "weighing the ways")
    settings = {"image_size": choice.image_size} if choice.image_size else {}
    can_finetune = "finetune" in modality.strategies(choice.name)  # a base outside Keras cannot be fine-tuned
    advice = recommend(measured.size, measured.transferability, measured.reading, measured.as_is_accuracy,
                       modality.domain, settings, gain=modality.finetune_gain(choice), aim=aim, seconds=parts.each(),
                       can_finetune=can_finetune)
    pilot = None
    if pilot_in is not None and can_finetune and advice.strategy in ("extract", "finetune"):
        report(progress, "analysis", 2, 3, f"pilot: fine-tuning against a frozen head for {pilot_seconds:.0f} s")
        pilot = run_pilot(dataset, choice.name, choice.image_size, measured.reading.settings, pilot_in,
                          seconds=pilot_seconds, seed=seed)
        advice = decided_by(advice, pilot, modality.noun, measured.reading.settings)
    issues = find_label_issues(measured.features.astype("float64"), dataset.labels(), dataset.classes,
                               [str(item) for item in dataset.records[modality.item_column]], seed)
    report(progress, "analysis", 3, 3, f"recommended: {advice.strategy}")
    return Analysis(modality.name, choice, measured.size, measured.label_overlap, measured.domain_gap,
                    measured.transferability, advice, issues, pilot, rates, ranking, parts)


def save_analysis(analysis: Analysis, dataset) -> Path | None:
    """Keep `analysis` beside the stored dataset, so a later `train` of the same data can follow it."""
    if dataset.stored_in is None:
        return None
    path = Path(dataset.stored_in) / ANALYSIS_FILE
    runs.write_json(path, analysis.to_dict() | {"analysed_at": time.strftime("%Y-%m-%d %H:%M")})
    return path


def stored_analysis(dataset) -> dict | None:
    """The last analysis saved for this stored dataset (`save_analysis`), or None."""
    return _saved_in(dataset.stored_in)


def _saved_in(stored_in: Path | None) -> dict | None:
    """The analysis saved beside the dataset stored in `stored_in`, or None."""
    return (runs.read_json(Path(stored_in) / ANALYSIS_FILE) or None) if stored_in is not None else None


def expected_seconds_for(stored_in: Path | None, config) -> dict[str, float]:
    """What the saved analysis of the dataset stored in `stored_in` expected each way this run asks for to take
    alone, from pressing Train to its final bundle (its budget at most), where the analysis measured the run's base
    at the run's size; {} where it said nothing of them. What the report sets beside the measured time."""
    analysis = _timed_for(stored_in, config)
    said = (analysis.get("recommendation") or {}).get("expected_seconds") or {}
    asked = _asked(config, said)
    return {way: min(float(seconds), config.budget_seconds) for way, seconds in said.items() if way in asked}


def expected_run_seconds(stored_in: Path | None, config) -> float | None:
    """What the saved analysis expected this run to take as a whole, from pressing Train to its final bundle (its
    budget at most): one way's time, or several ways' as one run (`tlcore.costs.RunParts`); None where it said
    nothing of them. What the run's bar keeps pace with from its first write (read before the dataset is)."""
    analysis = _timed_for(stored_in, config)
    if analysis.get("expected_parts"):
        parts = RunParts.from_dict(analysis["expected_parts"])
        return parts.seconds(_asked(config, parts.work), config.budget_seconds)
    each = expected_seconds_for(stored_in, config)  # an analysis saved before the parts were
    return next(iter(each.values())) if len(each) == 1 else None


def _timed_for(stored_in: Path | None, config) -> dict:
    """The saved analysis where it timed the run's base at the run's size, else {}."""
    analysis = _saved_in(stored_in) or {}
    if any(asked is not None and asked != analysis.get(key)
           for key, asked in (("backbone", config.backbone), ("image_size", config.image_size))):
        return {}  # another base or size than the analysis timed
    return analysis


def _asked(config, offered) -> set[str]:
    return set(offered) if "all" in config.strategies else set(config.strategies)


def replace_settings(analysis: Analysis, **settings) -> Analysis:
    """A copy with some recommended settings overridden (the app's "pick another" path)."""
    advice = dataclasses.replace(analysis.recommendation, settings=analysis.recommendation.settings | settings)
    return dataclasses.replace(analysis, recommendation=advice)

