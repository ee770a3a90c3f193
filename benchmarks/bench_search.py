"""Keras Tuner head search: naive (the frozen base inside every trial) against tlcore's cached features.

The same search, 3 trials x 2 epochs of kt.RandomSearch with the same head space, on
../shared/datasets/hymenoptera, twice in one process:
- naive: what a user writes first: images from `image_dataset_from_directory`, the frozen base
  inside each trial's model, so every epoch of every trial runs every image through the base;
- tlcore: `extract_features` once (cache off, so its cost is counted), then the search on features.
Prints both times and, last, the ratio. The gap grows with trials x epochs: the naive cost is
about trials x epochs x (train + val images) forward passes, tlcore's is one pass per image
plus trials that take a second or two each.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
import numpy as np  # noqa: E402

from tlcore.image.bases import build_backbone  # noqa: E402
from tlcore.image.extract import extract_features  # noqa: E402
from tlcore.train.config import SearchConfig  # noqa: E402
from tlcore.train.search import HeadHyperModel  # noqa: E402

TRIALS, EPOCHS, SIZE = 3, 2, 224


def files_and_labels(folder: Path) -> tuple[list[Path], np.ndarray]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files, labels = [], []
    for index, name in enumerate(classes):
        found = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
        files += found
        labels += [index] * len(found)
    return files, keras.utils.to_categorical(labels, len(classes))


def search(hypermodel, x, y, validation, directory: str) -> None:
    tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=TRIALS, seed=0,
                            directory=directory, project_name="bench", overwrite=True)
    tuner.search(x, y, epochs=EPOCHS, validation_data=validation, verbose=0)


class NaiveHyperModel(kt.HyperModel):
    """The same head space, on top of the frozen base, fed with images."""

    def __init__(self, backbone, head: HeadHyperModel) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def build(self, hp):
        images = keras.Input((SIZE, SIZE, 3))
        head = self.head.build(hp)
        model = keras.Model(images, head(self.backbone.model(images)[0]))
        model.compile(optimizer=keras.optimizers.Adam(hp.get("learning_rate")), loss=head.loss, metrics=["accuracy"])
        return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "hymenoptera")
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        sys.exit(f"no train/ folder under {args.data}; pass --data FOLDER")
    train_files, y_train = files_and_labels(args.data / "train")
    val_files, y_val = files_and_labels(args.data / "val")
    backbone = build_backbone(image_size=SIZE)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; base {backbone.spec.name} at {SIZE} px; "
          f"{len(train_files)} train + {len(val_files)} val images; {TRIALS} trials x {EPOCHS} epochs")
    config = SearchConfig(max_epochs=EPOCHS)
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        train_ds = keras.utils.image_dataset_from_directory(args.data / "train", image_size=(SIZE, SIZE),
                                                            label_mode="categorical", seed=0, verbose=False)
        val_ds = keras.utils.image_dataset_from_directory(args.data / "val", image_size=(SIZE, SIZE),
                                                          label_mode="categorical", shuffle=False, verbose=False)
        dim = backbone.feature_dim
        naive_head = HeadHyperModel(np.zeros(dim), np.ones(dim), y_train.shape[1], config)
        search(NaiveHyperModel(backbone, naive_head), train_ds, None, val_ds, scratch + "/naive")
        naive = time.perf_counter() - start
        print(f"naive    {naive:7.1f} s  (the base runs in every epoch of every trial)")

        start = time.perf_counter()
        x_train = extract_features(train_files, backbone, use_cache=False).features
        x_val = extract_features(val_files, backbone, use_cache=False).features
        head = HeadHyperModel.for_features(x_train, y_train.shape[1], config)
        search(head, x_train, y_train, (x_val, y_val), scratch + "/tlcore")
        ours = time.perf_counter() - start
        print(f"tlcore   {ours:7.1f} s  (features once, cache off, then the search on features)")
    print(f"ratio naive/tlcore: {naive / ours:.2f}")


if __name__ == "__main__":
    main()
