"""Images as a kind of data: what the shared flow asks of them (see `tlcore.modality`).

Heavy imports (TensorFlow, Keras) happen inside the methods, so asking which kind of data a
source holds stays cheap.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..modality import BaseChoice, Measurements, Modality
from .bases import DEFAULT_LEARNING_RATE, DEFAULT_UNFREEZE, median_side

BN_SAMPLE = 128  # images whose activations are compared with ImageNet's BatchNorm statistics


class ImageModality(Modality):
    name = "image"
    noun = "images"
    input_name = "IMAGE"
    domain = "ImageNet"
    unfreeze_word = "blocks"
    gap_words = {  # noqa: RUF012 (read-only)
        "mean_top1": ("ImageNet head's confidence", "Mean top probability of the base's ImageNet answers on your "
                      "images: everyday photos get sure answers, satellite tiles do not."),
        "mean_entropy": ("ImageNet head's uncertainty", "Mean entropy of its answers, 0 (sure) to 1 (no idea)."),
        "bn_shift": ("BatchNorm shift", "How differently your images make the base's layers fire than ImageNet "
                     "did (a KL divergence; under 0.10: ImageNet-like)."),
        "shift_starts_at": ("Shift starts at block", "The first block whose shift reaches half of the largest: "
                            "fine-tuning unfreezes from about there."),
    }

    @property
    def default_base(self) -> str:
        from .bases import DEFAULT_BACKBONE

        return DEFAULT_BACKBONE

    # -- data
    def claims(self, source: Path, options: dict) -> bool:
        return source.is_dir() or source.suffix.lower() == ".zip"

    def import_data(self, source, workspace, *, name, limits, split, progress, options):
        from .data import import_dataset

        return import_dataset(source, workspace, name=name, limits=limits, split=split, progress=progress)

    def load_dataset(self, folder: Path):
        from ..data.dataset import Dataset

        return Dataset.load(folder)

    def audit(self, dataset, features=None):
        from ..data.audit import audit

        return audit(dataset, features)

    # -- bases and features
    def bases(self) -> dict:
        from .bases import REGISTRY

        return REGISTRY

    def resolve_base(self, dataset, name=None, image_size=None) -> BaseChoice:
        """The base (default EfficientNet-Lite0) at the given size, else at twice the images' median side."""
        from .bases import auto_image_size, get_spec

        name = name or self.default_base
        get_spec(name)  # an unknown name fails here, before anything loads
        return BaseChoice(name, image_size or auto_image_size(name, median_side(dataset)))

    def rank_bases(self, dataset, choice, features, *, seed, progress):
        """Every installed image base on at most `RANK_ITEMS` training and validation images (`tlcore.image.ranking`);
        the analysed base's features are reused when it was analysed at its automatic size."""
        from .bases import installed_bases
        from .ranking import RANK_ITEMS, as_ranking
        from .ranking import rank_bases as rank

        names = installed_bases()
        if len(names) < 2:
            return None
        automatic = self.resolve_base(dataset, choice.name).image_size == choice.image_size
        table = rank(dataset, names, progress, seed=seed, max_items=RANK_ITEMS,
                     given={choice.name: features} if automatic and choice.name in names else None)
        return as_ranking(table)

    def finetune_gain(self, choice: BaseChoice):
        from .gain import IMAGE_GAIN

        return IMAGE_GAIN if choice.name == IMAGE_GAIN.base else None

    def finetune_defaults(self, choice: BaseChoice) -> tuple[int, int, float]:
        from .bases import get_spec

        return DEFAULT_UNFREEZE, get_spec(choice.name).n_blocks or 16, DEFAULT_LEARNING_RATE

    def time_step(self, dataset, choice, blocks):
        from .finetune import time_step

        return time_step(self.load_base(choice), dataset.files("train"), len(dataset.classes), blocks)

    def load_base(self, choice: BaseChoice):
        from .bases import load_backbone

        return load_backbone(choice.name, choice.image_size)

    def features(self, dataset, choice: BaseChoice, progress=None):
        from .extract import extract_features

        return extract_features(dataset.files(), self.load_base(choice), progress=progress)

    def measure(self, dataset, choice, *, seed, descriptions, progress) -> Measurements:
        """Features of every image (cached for `train`), BatchNorm statistics of a sample, the probes."""
        from .. import transferability
        from ..progress import report
        from .extract import load_images
        from .label_map import name_map_accuracy
        from .similarity import domain_gap, label_overlap, read_image_gap

        base = self.load_base(choice)
        size = {"n_images": len(dataset), **dataset.class_sizes(), "median_side": median_side(dataset)}
        known = dataset.records["split"].to_numpy(dtype=object) != "test"
        files = [f for f, keep in zip(dataset.files(), known, strict=True) if keep]
        labels = dataset.labels()[known]
        features = self.features(dataset, choice, progress)  # all splits: `train` reuses the cache
        x, logits = features.features[known], features.logits[known]
        report(progress, "analysis", 0, 3, "how far your images are from ImageNet's")
        sample = np.random.default_rng(seed).permutation(len(files))[:BN_SAMPLE]
        gap = domain_gap(base, load_images([files[i] for i in sorted(sample)], choice.image_size), logits)
        report(progress, "analysis", 1, 3, "how well the base tells your classes apart")
        overlap = label_overlap(dataset.classes, logits, labels)
        groups = dataset.groups()
        measures = transferability.measure(x, logits, labels, seed, None if groups is None else groups[known])
        name_map = name_map_accuracy(dataset.classes, logits, labels)
        name_map_used = name_map is not None and name_map >= measures.asis_accuracy
        reading = read_image_gap(gap, base.spec, size["per_class_known_median"], name_map_used, measures)
        return Measurements(size, gap, measures, reading, name_map or 0.0, features.features, overlap)

    def gap_summary(self, analysis: dict) -> list[tuple[str, str, str]]:
        gap = analysis["domain_gap"]
        return [
            ("Class names ImageNet knows", f"{analysis['label_overlap']['matched_classes']} of "
             f"{analysis['dataset']['n_classes']}",
             "How many of your class names are also classes of the base's own ImageNet head: those it can "
             "answer without any training."),
            ("Difference from ImageNet's photos", f"{gap['bn_shift']:.2f}",
             "How differently your images make the base's layers respond than ImageNet's photos did (the mean "
             "BatchNorm shift, a KL divergence): under 0.10 they look alike; satellite tiles measure about 0.23."),
            ("How sure the base is of what it sees", f"{gap['mean_top1']:.0%}",
             "The mean top probability of the base's own ImageNet answers on your images: everyday photos get "
             "sure answers, unfamiliar images do not."),
        ]

    def gap_chart(self, gap: dict) -> dict | None:
        return {"kind": "line", "rows": gap["per_block"], "x": "block", "y": "shift",
                "title": "How differently the base sees your images from ImageNet's, layer by layer (0: edges; "
                         "the last: object parts)"}

    # -- training
    def prepare(self, dataset, config, progress):
        from ..train.candidate import Prepared
        from .extract import extract_features

        choice = self.resolve_base(dataset, config.backbone, config.image_size)
        config = dataclasses.replace(config, backbone=choice.name, image_size=choice.image_size)
        base = self.load_base(choice)
        features = extract_features(dataset.files(), base, progress=progress, distribution=config.distribution)
        return Prepared(config, base, features, _base_latency_ms(base),
                        sum(w.nbytes for w in base.extractor.get_weights()))

    def strategies(self, base: str | None = None) -> dict:  # every image base is a Keras network: all three ways
        from ..train import extract
        from . import finetune, label_map

        return {"predict": (label_map.run, 0.02), "extract": (extract.run, 0.4), "finetune": (finetune.run, 0.58)}

    # -- bundles
    def bundle_graph(self, candidate, base, n_classes):
        from .bundle import bundle_graph

        return bundle_graph(candidate, base, n_classes)

    def write_bundle_extras(self, model, result, folder, *, tflite):
        from .bundle import write_extras

        return write_extras(model, result, folder, tflite=tflite)

    makes_tflite = True

    def write_tflite(self, model, folder, test_items, progress=None):
        from .bundle import write_tflite

        return write_tflite(model, folder, test_items, progress)

    def predict_script(self) -> str:
        from .bundle import predict_script

        return predict_script()

    def card_use(self, manifest: dict) -> tuple[list[str], str]:
        from .bundle import CARD_USE

        return CARD_USE, f"at {manifest['image_size']} px"

    def check_inputs(self, inputs):
        from .decode import require_files

        return require_files(inputs)

    def open_bundle(self, folder: Path, manifest: dict, model):
        """The model traced once for single images of any height and width (no retracing per size)."""
        from .bundle import traced

        return traced(model)

    def explain(self, bundle, item, class_index=None):
        from ..modality import Explanation
        from .decode import load_rgb
        from .explain import grad_cam, overlay

        image = load_rgb(item)
        heatmap, index = grad_cam(bundle.model, image, class_index)
        return Explanation(index, "Grad-CAM: red where the last convolution block's features raised this class's "
                           "score most", picture=overlay(image, heatmap))

    def bundle_outputs(self, bundle, item):
        from .bundle import predict_array
        from .decode import load_rgb

        return predict_array(bundle, load_rgb(item))


def _base_latency_ms(base) -> float:
    """Milliseconds for one image through the frozen base (the cost every feature-based model pays), run by the
    engine extract_features uses on this machine."""
    from .engine import forward_seconds

    image = np.zeros((1, base.image_size, base.image_size, 3), np.uint8)
    return 1000 * float(np.mean(forward_seconds(base, image, 5)))


MODALITY = ImageModality()
