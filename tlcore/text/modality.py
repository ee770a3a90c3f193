"""Texts as a kind of data: what the shared flow asks of them (see `tlcore.modality`).

The text stack (keras-hub) is imported inside the methods, when a text dataset first needs it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import BundleError
from ..modality import BaseChoice, Measurements, Modality


class TextModality(Modality):
    name = "text"
    noun = "texts"
    input_name = "TEXT"
    domain = "general English"
    unfreeze_word = "transformer layers"
    describes_classes = True
    item_column = "text"
    gap_words = {  # noqa: RUF012 (read-only)
        "unknown_share": ("Unknown word pieces", "Share of word pieces the encoder has no entry for."),
        "pieces_per_word": ("Word pieces per word", "How much the encoder cuts your words up (English: 1.0-1.3)."),
        "non_english_share": ("Not English", "Share of texts in another language (py3langid, 20 languages)."),
        "cut_share": ("Texts cut", "Share of texts longer than the encoder reads (128 word pieces)."),
        "median_tokens": ("Median length", "Word pieces in the median text."),
    }

    @property
    def default_base(self) -> str:
        from .encoder import DEFAULT_TEXT_BACKBONE

        return DEFAULT_TEXT_BACKBONE

    # -- data
    def claims(self, source: Path, options: dict) -> bool:
        from .data import is_text_source

        return bool(options.get("text_column") or options.get("label_column")) or is_text_source(source)

    def import_data(self, source, workspace, *, name, limits, split, progress, options):
        from .data import TextColumns, import_text_dataset

        columns = TextColumns(options.get("text_column"), options.get("label_column"))
        return import_text_dataset(source, workspace, name=name, columns=columns, limits=limits, split=split,
                                   progress=progress)

    def load_dataset(self, folder: Path):
        from .data import TextDataset

        return TextDataset.load(folder)

    def audit(self, dataset, features=None):
        from .audit import audit_text

        return audit_text(dataset, features)

    # -- bases and features
    def bases(self) -> dict:
        from .encoder import TEXT_REGISTRY

        return TEXT_REGISTRY

    def resolve_base(self, dataset, name=None, image_size=None) -> BaseChoice:
        """The named base, else the one the texts' language calls for: the multilingual base a bundle can carry for
        texts mostly not in English (`tlcore.text.ranking.preferred_base`), the default otherwise."""
        from .ranking import resolve

        return resolve(dataset, name)

    def rank_bases(self, dataset, choice, features, *, seed, progress):
        """Every installed text base on at most `RANK_ITEMS` training and validation texts (`tlcore.text.ranking`);
        the analysed base's features are reused."""
        from .ranking import RANK_ITEMS, rank_bases

        return rank_bases(dataset, choice, features, seed=seed, max_items=RANK_ITEMS, progress=progress)

    def finetune_defaults(self, choice: BaseChoice) -> tuple[int, int, float]:
        from .encoder import DEFAULT_LEARNING_RATE, DEFAULT_UNFREEZE, get_text_spec

        return DEFAULT_UNFREEZE, get_text_spec(choice.name).n_blocks, DEFAULT_LEARNING_RATE

    def timing_tag(self, dataset) -> str:
        """Texts: a step's time grows with their length, so it is timed per length class (`finetune.length_class`)."""
        from .finetune import length_class

        return f":len{length_class(dataset.texts('train'))}"

    def time_step(self, dataset, choice, blocks):
        """(forward, fine-tuning step, tokenising) seconds per text and the step's tracing; a base that cannot
        fine-tune has no step."""
        from .finetune import time_step

        encoder = self.load_base(choice)
        if not encoder.spec.finetunable:
            return encoder.latency_ms(dataset.texts("train")[:64]) / 1000, 0.0, 0.0, 0.0
        return time_step(encoder, dataset.texts("train"), len(dataset.classes), blocks)

    def load_base(self, choice: BaseChoice):
        from .encoder import load_text_encoder

        return load_text_encoder(choice.name)

    def features(self, dataset, choice: BaseChoice, progress=None):
        from .embed import embed_texts

        return embed_texts(dataset.texts(), self.load_base(choice), progress=progress)

    def measure(self, dataset, choice, *, seed, descriptions, progress) -> Measurements:
        from .analysis import measure_texts

        return measure_texts(dataset, self.load_base(choice), seed=seed, descriptions=descriptions,
                             progress=progress)

    def gap_summary(self, analysis: dict) -> list[tuple[str, str, str]]:
        gap = analysis["domain_gap"]
        return [
            ("Not English", f"{gap['non_english_share']:.0%}", "Share of your texts in another language than the "
             "encoder's (py3langid over 20 common languages)."),
            ("Word pieces per word", f"{gap['pieces_per_word']:.2f}",
             "How much the encoder must cut your words up (English prose: 1.0-1.3)."),
            ("Unknown word pieces", f"{gap['unknown_share']:.1%}", "Pieces the encoder has no entry for."),
        ]

    def gap_chart(self, gap: dict) -> dict | None:
        rows = [{"language": k, "share of texts": v} for k, v in gap["languages"].items()]
        return {"kind": "bar", "rows": rows, "x": "language", "y": "share of texts",
                "title": "Languages of your texts (py3langid, over 20 common languages)"} if rows else None

    # -- training
    def prepare(self, dataset, config, progress):
        from ..train.candidate import Prepared

        choice = self.resolve_base(dataset, config.backbone)
        config = dataclasses.replace(config, backbone=choice.name, image_size=None)
        encoder = self.load_base(choice)
        features = self.features(dataset, choice, progress)
        latency = encoder.latency_ms(dataset.texts("val")[:32] or dataset.texts()[:32])
        return Prepared(config, encoder, features, latency, encoder.size_bytes)

    def strategies(self, base: str | None = None) -> dict:
        """The ways to train; with `base`, only those it supports (a base outside Keras cannot fine-tune)."""
        from ..train import extract
        from . import zeroshot
        from .encoder import get_text_spec

        ways = {"predict": (zeroshot.run, 0.02), "extract": (extract.run, 0.4),
                "finetune": (finetune_if_possible, 0.58)}
        if base is not None and not get_text_spec(base).finetunable:
            del ways["finetune"]
        return ways

    # -- bundles
    def bundle_graph(self, candidate, base, n_classes):
        from .bundle import bundle_graph
        from .multilingual import check_bundle

        check_bundle(base.spec.name)
        return bundle_graph(candidate, base, n_classes)

    def write_bundle_extras(self, model, result, folder, *, tflite):
        from .bundle import write_extras

        return write_extras(model, result, folder)  # no TFLite: the tokenizer runs outside the model

    def predict_script(self) -> str:
        from .bundle import predict_script

        return predict_script()

    def card_use(self, manifest: dict) -> tuple[list[str], str]:
        from .bundle import BERT, CARD_USES

        return CARD_USES.get(manifest.get("tokenizer_kind"), CARD_USES[BERT]), \
            f"reading up to {manifest['sequence_length']} word pieces per text"

    def open_bundle(self, folder: Path, manifest: dict, model):
        """The bundle's tokenizer, checked."""
        from .bundle import TOKENIZER_FOLDER, load_tokenizer

        if not isinstance(manifest.get("sequence_length"), int):
            raise BundleError(f"{folder.name}: manifest.json lacks the text model's sequence_length; download it again")
        try:
            return load_tokenizer(folder)
        except Exception as error:  # keras-hub and sentencepiece raise several kinds for missing or altered files
            raise BundleError(f"{folder.name}/{TOKENIZER_FOLDER} could not be loaded as its tokenizer "
                              f"({str(error).splitlines()[0][:200]}); download the bundle again") from None

    def check_inputs(self, inputs):
        return [str(text) for text in inputs]

    def explain(self, bundle, item, class_index=None):
        from ..modality import Explanation
        from .explain import word_weights

        weights, index = word_weights(bundle, str(item), class_index)
        return Explanation(index, "leaving each word out: how much this class's probability drops without it",
                           words=weights)

    def bundle_outputs(self, bundle, item):
        """One text at a time, as predict.py does: the padding then matches to the last bit."""
        from .bundle import encode

        return bundle.model.predict(encode(bundle.extra, [item], bundle.manifest["sequence_length"]), verbose=0)


def finetune_if_possible(ctx) -> list:
    """Fine-tuning when the run's base is a Keras network; none (and a note why) when it runs in its own engine."""
    from ..progress import report
    from . import finetune

    if not ctx.base.spec.finetunable:
        report(ctx.progress, "finetune", 0, 0, f"skipped: {ctx.base.spec.title} cannot be fine-tuned (not a Keras "
               "network); extract and predict use it")
        return []
    return finetune.run(ctx)


MODALITY = TextModality()
