"""What a frozen base gives for each input, whatever the kind of data: the unit every strategy reuses.

Images fill it in `tlcore.image.extract`, texts in `tlcore.text.embed`; analysis, the baselines
and every Keras Tuner trial read it, so the base's forward pass runs once per input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Features:
    """Features (N x D) and the base's own class logits (N x K; K = 0 where it has no head), in input order."""

    features: np.ndarray
    logits: np.ndarray
    key: str  # the cache key: a digest of the inputs, the base and its settings
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.features)

    def rows(self, mask: np.ndarray) -> Features:
        """The features of the inputs where `mask` is true (one split of a dataset)."""
        return Features(self.features[mask], self.logits[mask], self.key, self.from_cache)
