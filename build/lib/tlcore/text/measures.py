"""How close the user's texts are to the encoder's own domain (general English), from its tokenizer.

- Unknown tokens: the share of word pieces the vocabulary has no piece for ([UNK]): scripts and
  symbols the encoder never saw.
- Word pieces per word: an English word is usually one piece of the English vocabulary; words of
  another language, misspellings and jargon break into several. English measures 1.0-1.3.
- Non-English share: a text counts as English when English function words outnumber those of the
  other common Latin-script languages in it (a stop-word vote: no language-ID model needed).
- Texts cut: the share of texts longer than the encoder's window, whose end it never reads.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
FUNCTION_WORDS = {
    "en": "the of and to in is it that was for on are with as his they be at this have from or had by not but what "
          "all were when we there can an your which their said if do will each about how up out them then she many "
          "some so these would other into has her two like him see time could no make than been its who now my over "
          "did down only way find use may long very after just where most know get through back much before go "
          "good new also any our me too does here why well you i am im",
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er "
          "hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur oder aber vor "
          "zur bis mehr durch man sein wurde sei ich du wir ihr mich mir dich dir euch uns kein keine ja nein doch "
          "schon wenn weil denn hier jetzt immer",
    "fr": "le la les de des et un une du en est que qui dans pour pas sur au avec ce il elle ne se sont par plus son "
          "sa ses mais ou nous vous ils être cette comme aux",
    "es": "el la los las de del y en un una que es por con no para se al lo como más pero sus le ya o este sí porque "
          "esta entre cuando muy sin sobre también",
    "it": "il lo la i gli le di da in con su per tra fra e che non è un una del della dei delle al alla sono ma come",
    "nl": "de het een en van ik te dat die in is niet op zijn met hij voor maar er om ook als dan bij nog wat naar "
          "was aan wel",
    "pt": "o a os as de do da dos das e em um uma que não para com por se mais na no ao como mas foi ele ela",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in FUNCTION_WORDS.items()}


def language_of(text: str) -> str | None:
    """The language whose function words are most frequent in `text`, or None when none appear."""
    words = [w.lower() for w in WORD.findall(text)]
    votes = {lang: sum(w in vocab for w in words) for lang, vocab in _WORDS.items()}
    best = max(votes, key=lambda lang: votes[lang])
    if votes[best] == 0:
        return None
    return "en" if votes["en"] == votes[best] else best


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
    from ..strategy import GapReading

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
    if task_far and not language_far:
        text += (f"; the language is the encoder's own, but its embeddings, trained to place texts by meaning, "
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
    )
