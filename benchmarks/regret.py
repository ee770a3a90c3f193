"""The recommendation's regret, scored alike by bench_recommend (images) and bench_text (texts).

Regret = the best strategy's test accuracy minus the chosen one's, in points. The plain policies
in the same run, "always extract" and "always fine-tune", are the baselines it is compared with.
"""

from __future__ import annotations

STRATEGIES = ("predict", "extract", "finetune")
POLICIES = {"recommended": None, "always extract": "extract", "always fine-tune": "finetune"}


def best(scores: dict[str, float]) -> str:
    return max(scores, key=lambda s: scores[s])


def regret(scores: dict[str, float], chosen: str) -> float:
    """Points of test accuracy lost by `chosen` against the best strategy."""
    return 100 * (scores[best(scores)] - scores[chosen])


def summarise(rows: list[tuple[dict[str, float], str]]) -> dict[str, float]:
    """Print and return the mean regret of each policy over (scores, recommended strategy) rows."""
    means = {policy: sum(regret(scores, strategy or recommended) for scores, recommended in rows) / len(rows)
             for policy, strategy in POLICIES.items()}
    print(f"baselines: always extract {means['always extract']:.1f} points, "
          f"always fine-tune {means['always fine-tune']:.1f} points of mean regret")
    print(f"mean regret: {means['recommended']:.1f} points")
    return means
