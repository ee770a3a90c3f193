"""Strategy "extract", the same for every kind of data: new heads on the frozen base's cached features.

scikit-learn baselines first (at most 40% of the strategy's share), then the Keras Tuner head
search with what is left, unless the baselines already score what validation can resolve
(`Context.stop_before`); the search's best head is left for fine-tuning's first stage.
"""

from __future__ import annotations

import time

from . import baselines, search
from .candidate import Candidate, Context

BASELINE_SHARE = 0.4


def run(ctx: Context) -> list[Candidate]:
    stage_end = ctx.deadline
    ctx.deadline = time.monotonic() + BASELINE_SHARE * ctx.seconds_left()
    found = baselines.run(ctx)
    ctx.deadline = stage_end
    if ctx.stop_before("the Keras head search"):
        return found
    heads = search.run(ctx)
    if heads:
        ctx.shared["keras_head"] = heads[0].model
    return found + heads
