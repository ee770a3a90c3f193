"""Is a text set mostly not English? A cheap vote of function words and scripts, no model, no download.

Function words (articles, pronouns, prepositions) are the most frequent words of every language
and nearly disjoint between languages, so counting them is enough to tell English from the other
languages the multilingual bases read, even on tweets. A text written mostly in letters outside
the Latin script (Cyrillic, Arabic, CJK, ...) is not English whatever its words. A text with no
function word and Latin letters has no vote. `measures.language_of` (py3langid) names the
language precisely; this answers only the routing question, and in microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "a the and is are was were of to in that it for on with as this be have has not you i he she they we "
              "what which who how do does did at by from or but an my your me there their will would can",
        "de": "der die das und ist sind nicht ein eine einen dem den des zu mit sich auf für von auch es ich du "
              "wir ihr sie er wie was wer noch nur aber oder wenn dass bei aus nach vor hat haben wird kann mal "
              "schon doch jetzt mir mich dir uns euch kein keine diese dieser",
        "fr": "le la les et est sont un une des du de en que qui pas pour dans sur avec ce cette il elle nous vous "
              "ils je tu mais ou au aux par plus ne se son sa ses",
        "es": "el la los las y es son un una de del en que por para con no se su sus lo como pero más este esta "
              "yo tú él ella nosotros muy hay",
        "it": "il lo la gli le e è sono un una di del della che per con non si come ma più questo questa io tu "
              "noi voi loro anche",
        "nl": "de het een en is zijn van in dat die niet met voor op ook er maar om als bij ik je jij wij hij "
              "zij wat nog wel geen",
        "pt": "o a os as e é são um uma de do da dos das em que não para com por se mas como mais isso este "
              "esta eu você ele ela nós",
    }.items()
}
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
                  "pt": "Portuguese", "other": "a non-Latin script"}
LATIN = re.compile(r"[A-Za-zÀ-ɏ]")
LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def guess_language(text: str) -> str | None:
    """"en", another code of `FUNCTION_WORDS`, "other" (a non-Latin script), or None when there is no vote."""
    letters = LETTER.findall(text)
    if not letters:
        return None
    if sum(bool(LATIN.match(c)) for c in letters) < len(letters) / 2:
        return "other"
    words = [w.lower() for w in WORD.findall(text)]
    counts = {lang: sum(w in vocab for w in words) for lang, vocab in FUNCTION_WORDS.items()}
    best = max(counts, key=lambda lang: (counts[lang], lang == "en"))  # a tie goes to English
    return best if counts[best] else None


@dataclass(frozen=True)
class LanguageVote:
    english_share: float  # of texts with a vote
    voted: int  # texts with a vote
    languages: dict[str, float]  # code -> share of voted texts

    @property
    def mostly_not_english(self) -> bool:
        return self.voted > 0 and self.english_share < 0.5


def language_vote(texts: Iterable[str], sample: int = 2000) -> LanguageVote:
    """The languages of up to `sample` texts (evenly spread over the set) by `guess_language`."""
    texts = list(texts) if not isinstance(texts, Sequence) else texts
    step = max(1, len(texts) // sample)
    found = [g for g in (guess_language(str(t)) for t in texts[::step][:sample]) if g is not None]
    shares = {lang: found.count(lang) / len(found) for lang in sorted(set(found))} if found else {}
    return LanguageVote(shares.get("en", 0.0) if found else 1.0, len(found), shares)


def mostly_not_english(texts: Iterable[str]) -> bool:
    """True when most texts that vote are not English: such a set belongs on a multilingual base."""
    return language_vote(texts).mostly_not_english
