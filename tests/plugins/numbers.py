"""A third kind of data, as a test: rows of numbers, whose "base" is the identity.

Everything the shared flow needs is here, in one module; plugging it in is one registry entry
(see tests/test_modality.py). Nothing in tlcore knows it exists.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from tlcore import transferability
from tlcore.data.dataset import SplitRecords
from tlcore.data.splits import assign_splits
from tlcore.features import Features
from tlcore.modality import BaseChoice, Measurements, Modality
from tlcore.strategy import GapReading


@dataclass(frozen=True, eq=False)
class NumberDataset(SplitRecords):
    records: pd.DataFrame  # label, split, sha256, and one column per number
    classes: tuple[str, ...]
    source: str
    columns: tuple[str, ...]
    modality: str = "numbers"
    stored_in: Path | None = None
    warnings: tuple[str, ...] = field(default=())

    def matrix(self, split: str | None = None) -> np.ndarray:
        return self.subset(split)[list(self.columns)].to_numpy(np.float32)

    def items(self, split: str | None = None) -> list[str]:
        return [",".join(f"{v:g}" for v in row) for row in self.matrix(split)]

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.records.to_csv(folder / "dataset.csv", index=False)
        (folder / "dataset.json").write_text(json.dumps({"modality": self.modality, "source": self.source}))
        return folder


class NumberModality(Modality):
    name, noun, input_name, domain = "numbers", "rows", "ROW", "plain numbers"
    default_base, unfreeze_word = "identity", "layers"

    def claims(self, source, options):
        return source.suffix == ".npz"

    def import_data(self, source, workspace, *, name, limits, split, progress, options):
        with np.load(source, allow_pickle=False) as arrays:  # never an unpickled upload
            x, y = arrays["x"].astype(np.float32), arrays["y"].astype(str)
        columns = tuple(f"x{i}" for i in range(x.shape[1]))
        frame = pd.DataFrame(x, columns=list(columns))
        frame["label"] = y
        frame["path"] = [f"row{i}" for i in range(len(y))]
        frame["split"] = None
        frame["sha256"] = [hashlib.sha256(row.tobytes()).hexdigest() for row in x]
        frame["split"] = assign_splits(frame, split)
        return NumberDataset(frame, tuple(sorted(set(y))), name or source.stem, columns)

    def resolve_base(self, dataset, name=None, image_size=None):
        return BaseChoice(name or self.default_base)

    def measure(self, dataset, choice, *, seed, descriptions, progress):
        known = dataset.records["split"].to_numpy(dtype=object) != "test"
        x, labels = dataset.matrix()[known], dataset.labels()[known]
        measures = transferability.measure(x, np.zeros((len(x), 2)), labels, seed)
        reading = GapReading(far=False, text="numbers are their own features", settings={}, settings_reason="",
                             asis="guessing scores {:.1%}")
        gap = SimpleNamespace(to_dict=lambda: {"columns": len(dataset.columns)})
        return Measurements({"n_rows": len(dataset), **dataset.class_sizes()}, gap, measures, reading, 0.0,
                            dataset.matrix())

    def features(self, dataset, choice, progress=None):
        x = dataset.matrix()
        return Features(x, np.zeros((len(x), 0), np.float32), "numbers")

    def prepare(self, dataset, config, progress):
        import dataclasses

        from tlcore.train.candidate import Prepared

        features = self.features(dataset, BaseChoice("identity"))
        return Prepared(dataclasses.replace(config, backbone="identity", image_size=None), None, features, 0.0, 0)

    def strategies(self, base=None):
        from tlcore.train import extract

        return {"extract": (extract.run, 1.0)}  # no pretrained model to predict with or to fine-tune

    def bundle_graph(self, candidate, base, n_classes):
        import keras

        from tlcore.modality import BundleGraph
        from tlcore.train.as_keras import KERAS_FORMS

        rows = keras.Input((candidate.model.n_features_in_,), name="row")
        return BundleGraph(rows, rows, logits=KERAS_FORMS[candidate.name](candidate, n_classes)(rows))

    def write_bundle_extras(self, model, result, folder, *, tflite):
        return {"columns": len(result.dataset.columns)}

    def predict_script(self):
        return '"""Rows of numbers: load model.keras and call it on them."""\n'

    def card_use(self, manifest):
        return ["Call `model.keras` on rows of numbers."], f"reading {manifest['columns']} numbers per row"

    def check_inputs(self, inputs):
        return [str(row) for row in inputs]

    def bundle_outputs(self, bundle, item):
        row = np.array([float(v) for v in item.split(",")], np.float32)
        return bundle.model.predict(row[None], verbose=0)


MODALITY = NumberModality()
