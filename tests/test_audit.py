"""The data audit: per-class facts, exact and near duplicates, leakage, and the `inspect` command."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from tests.conftest import shared_dataset
from tlcore.cli import main
from tlcore.data.audit import audit
from tlcore.image.data import import_dataset
from tlcore.image.extract import extract_features


@pytest.fixture
def planted(tmp_path):
    """20 ants and 20 bees in train/val folders, plus an exact copy and a re-saved copy of train images in val."""
    source = shared_dataset("hymenoptera")
    root = tmp_path / "planted"
    for split in ("train", "val"):
        for cls in ("ants", "bees"):
            (root / split / cls).mkdir(parents=True)
            for path in sorted((source / split / cls).glob("*.jpg"))[:10]:
                shutil.copy(path, root / split / cls / path.name)
    train_ants = sorted((root / "train" / "ants").glob("*.jpg"))
    shutil.copy(train_ants[0], root / "val" / "ants" / "copy_of_first.jpg")  # exact duplicate across splits
    Image.open(train_ants[1]).save(root / "val" / "bees" / "resaved.jpg", quality=80)  # near, and mislabelled
    return root, train_ants


def test_planted_duplicate_in_the_held_out_split_is_leakage(planted, tmp_path):
    root, train_ants = planted
    dataset = import_dataset(root, tmp_path / "ws")
    report = audit(dataset)
    (group,) = report.duplicates
    assert sorted(group["files"]) == sorted([f"train/ants/{train_ants[0].name}", "val/ants/copy_of_first.jpg"])
    assert group["kinds"] == ["within one class", "across splits"] and group["leakage"]
    assert report.leakage == [group]
    assert report.near_duplicates is None
    assert any("both the training and a held-out split" in w for w in report.warnings)


def test_near_duplicates_come_from_the_features(planted, tmp_path, backbone):
    root, train_ants = planted
    dataset = import_dataset(root, tmp_path / "ws")
    features = extract_features(dataset.files(), backbone).features
    report = audit(dataset, features)
    resaved = [g for g in report.near_duplicates if "val/bees/resaved.jpg" in g["files"]]
    assert len(resaved) == 1
    (pair,) = resaved
    assert f"train/ants/{train_ants[1].name}" in pair["files"]
    assert pair["kinds"] == ["conflicting labels", "across splits"] and pair["leakage"]
    assert pair["similarity"] >= 0.95
    assert pair in report.leakage
    assert len(report.near_duplicates) <= 3  # distinct photos stay below the threshold


def test_per_class_table(tmp_path):
    dataset = import_dataset(shared_dataset("hymenoptera"), tmp_path / "ws")
    table = audit(dataset).per_class.set_index("class")
    assert table.loc["ants", "count"] == 193 and table.loc["bees", "count"] == 204
    assert table.loc["ants", "test"] == 70 and table.loc["bees", "test"] == 83
    assert table["share"].sum() == pytest.approx(1.0, abs=1e-3)
    assert table.loc["ants", "max_width"] <= 320


def test_inspect_json_on_hymenoptera(tmp_path, capsys, backbone):
    code = main(["inspect", str(shared_dataset("hymenoptera")), "--json", "--workspace", str(tmp_path / "ws")])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("n_images", "n_classes", "classes", "splits", "skipped", "duplicates", "near_duplicates",
                "leakage", "warnings"):
        assert key in report
    assert report["n_images"] == 397 and report["n_classes"] == 2
    assert report["classes"] == {"ants": 193, "bees": 204}
    assert report["splits"]["test"] == 153
    assert isinstance(report["near_duplicates"], list)


def test_inspect_mnist100_without_features(tmp_path, capsys):
    code = main(["inspect", str(shared_dataset("mnist100")), "--json", "--no-features",
                 "--workspace", str(tmp_path / "ws")])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_classes"] == 10 and report["splits"]["test"] == 1000 and report["near_duplicates"] is None
    assert any("under 32 px" in w for w in report["warnings"])


def test_inspect_refusal_is_one_line(tmp_path, capsys):
    (tmp_path / "one" / "cats").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (40, 40), (i, 0, 0)).save(tmp_path / "one" / "cats" / f"{i}.png")
    code = main(["inspect", str(tmp_path / "one"), "--no-features", "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: one: found 1 class") and err.count("\n") == 1


def test_sample_datasets_import_cleanly(tmp_path):
    from tlcore.data import import_data
    from tlcore.samples import SAMPLES, sample_path
    from tlcore.text.audit import audit_text

    for name in SAMPLES:
        dataset = import_data(sample_path(name), tmp_path / "ws")
        assert len(dataset.classes) >= 3 and not dataset.skipped
        checked = audit_text(dataset) if dataset.modality == "text" else audit(dataset)
        assert not checked.duplicates
    texts = import_data(sample_path("support"), tmp_path / "ws")
    assert texts.modality == "text" and len(texts) == 120
    from tlcore.text.embed import embed_texts
    from tlcore.text.encoder import load_text_encoder

    assert not audit_text(texts, embed_texts(texts.texts(), load_text_encoder()).features).near_duplicates
