"""Which words a text model reads: each word's weight is how much the class's probability drops without it.

Leaving one word out at a time (occlusion) needs nothing but the bundle's own model and tokenizer,
so it explains any text model the same way, fine-tuned or not.
"""

from __future__ import annotations

import numpy as np

MAX_WORDS = 120  # a longer text is explained on its first words; each word costs one more pass


def word_weights(bundle, text: str, class_index: int | None = None) -> tuple[list[tuple[str, float]], int]:
    """([(word, weight)] in the text's order, the class explained: `class_index` or the top one). A weight is
    the class's probability with the whole text minus without that word: positive words argued for it."""
    from ..predict import probabilities_of
    from .bundle import encode

    words = text.split()[:MAX_WORDS]
    variants = [" ".join(words)] + [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]
    outputs = bundle.model.predict(encode(bundle.extra, variants, bundle.manifest["sequence_length"]), verbose=0)
    probabilities = np.asarray(probabilities_of(outputs))
    index = int(np.argmax(probabilities[0])) if class_index is None else class_index
    return [(word, float(probabilities[0, index] - probabilities[i + 1, index])) for i, word in enumerate(words)], \
        index
