"""How close the user's texts are to the encoder's own domain (general English), from its tokenizer.

- Unknown tokens: the share of word pieces the vocabulary has no piece for ([UNK]): scripts and
  symbols the encoder never saw.
- Word pieces per word: an English word is usually one piece of the English vocabulary; words of
  another language, misspellings and jargon break into several. English measures 1.0-1.3.
- Non-English share: the language of each text by py3langid (langid.py's model, shipped in its
  wheel, read without pickle), restricted to 20 common languages: over all 97 it called 6.5% of
  the English SMS texts something else; over these 20, 2.1% (SST-2 0.7%, TREC 0.2%), while the
  German tweets of GermEval 2018 read 99.9% German. The function-word vote it replaced misread
  short technical English (commit messages) as Portuguese.
- Texts cut: the share of texts longer than the encoder's window, whose end it never reads.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

from ..strategy import GapReading

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "no", "pl", "cs", "ru", "uk", "zh", "ja", "ko",
             "ar", "tr", "hi")


@cache
def _identifier():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def language_of(text: str) -> str | None:
    """The language of `text` (an ISO 639-1 code of `LANGUAGES`), or None when it holds no letters."""
    if not WORD.search(text):
        return None
    return str(_identifier().classify(text)[0])


@dataclass(frozen=True)
class TextGap:
    unknown_share: float  # of word pieces
    pieces_per_word: float
    non_english_share: float  # of texts with a detectable language
    languages: dict  # language code -> share of texts
    cut_share: float  # texts longer than the encoder's window
    median_tokens: float

    def to_dict(self) -> dict:
        return asdict(self)


def text_gap(encoder, texts: list[str], sample: int = 2000, seed: int = 0) -> TextGap:
    """The measures above, on up to `sample` texts."""
    rng = np.random.default_rng(seed)
    chosen = [texts[i] for i in sorted(rng.permutation(len(texts))[:sample])]
    tokenizer = encoder.tokenizer
    unknown_id = tokenizer.token_to_id(tokenizer.oov_token)
    pieces = [np.asarray(p) for p in tokenizer(chosen)] if chosen else []
    n_pieces = sum(len(p) for p in pieces)
    n_words = sum(len(tokenizer_words(t)) for t in chosen)
    found = [language_of(t) for t in chosen]
    detected = [f for f in found if f is not None]
    shares = {lang: detected.count(lang) / len(detected) for lang in sorted(set(detected))} if detected else {}
    limit = encoder.spec.sequence_length - 2
    return TextGap(
        unknown_share=float(sum(int(np.sum(p == unknown_id)) for p in pieces) / max(n_pieces, 1)),
        pieces_per_word=float(n_pieces / max(n_words, 1)),
        non_english_share=float(1 - shares.get("en", 0.0)) if detected else 0.0,
        languages={k: round(v, 4) for k, v in shares.items()},
        cut_share=float(np.mean([len(p) > limit for p in pieces])) if pieces else 0.0,
        median_tokens=float(np.median([len(p) for p in pieces])) if pieces else 0.0,
    )


def tokenizer_words(text: str) -> list[str]:
    """Words as BERT's basic tokenizer splits them before word pieces: runs of letters/digits, single symbols."""
    return re.findall(r"\w+|[^\w\s]", text, re.UNICODE)


FAR_NON_ENGLISH = 0.3
FAR_PIECES_PER_WORD = 1.4  # measured: English sets 1.07-1.15, German tweets 1.87
FAR_UNKNOWN = 0.01
# A sentence encoder is trained to place texts by meaning; when a linear probe on its embeddings
# stays under this, the labels hang on something it was not trained to keep (sentiment, the form
# of a question, style), and reshaping the encoder pays. Measured: SMS spam's probe 98.9% (extract
# within 0.2 points of fine-tuning), TREC's 85.9% (fine-tuning +5.6 points).
TASK_PROBE = 0.90


def read_text_gap(gap: TextGap, spec, per_class: float, name_map_used: bool, measures=None):
    """Far from the encoder when the language is not its own, or its embeddings do not carry the labels."""
    others = ", ".join(f"{lang} {share:.0%}" for lang, share in sorted(gap.languages.items(), key=lambda x: -x[1])
                       if lang != "en" and share >= 0.05)
    language_far = (gap.non_english_share >= FAR_NON_ENGLISH or gap.pieces_per_word >= FAR_PIECES_PER_WORD
                    or gap.unknown_share >= FAR_UNKNOWN)
    probe = max(measures.probe_accuracy, measures.loo_accuracy) if measures is not None else 1.0
    task_far = probe < TASK_PROBE
    layers = spec.n_blocks if gap.non_english_share >= 0.5 else max(1, spec.n_blocks // 2)
    text = (f"{gap.non_english_share:.0%} of your texts are not English{f' ({others})' if others else ''}, a word "
            f"breaks into {gap.pieces_per_word:.2f} word pieces (English: 1.0-1.3) and "
            f"{gap.unknown_share:.1%} of the pieces are unknown to the encoder")
    if task_far and not language_far:  # the reason first: walk 9 read "far from general English: 0% ... not English"
        text = (f"the language is the encoder's own ({text}), but its embeddings, trained to place texts by meaning, "
                f"carry your labels only to {probe:.1%} (under {TASK_PROBE:.0%}): the labels depend on something "
                "they were not trained to keep")
    return GapReading(
        far=language_far or task_far,
        text=text,
        settings={"unfreeze_blocks": layers, "learning_rate": 5e-5},
        settings_reason=f"unfreeze the top {layers} of its {spec.n_blocks} transformer layers",
        asis="the encoder's similarity to your class names (calibrated on training texts) scores {:.1%} "
             "(cross-validated)",
        margin=max(gap.non_english_share - FAR_NON_ENGLISH, gap.pieces_per_word - FAR_PIECES_PER_WORD,
                   TASK_PROBE - probe),
        distance=gap.non_english_share,
    )
