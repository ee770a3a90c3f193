"""Text datasets: tables and folders of .txt read, bad input refused with the fix, nothing lost silently."""

from __future__ import annotations

import io
import zipfile

import pytest

from tlcore.data import import_data
from tlcore.errors import DataError
from tlcore.text.data import TextColumns, TextDataset, import_text_dataset, is_text_source, table_columns

SPAM = ["win a free prize now", "claim your cash reward today", "free ringtone, reply yes", "you won a holiday",
        "urgent: call to claim 1000 pounds", "text WIN to enter the draw"]
HAM = ["see you at lunch", "running late, sorry", "can you buy milk", "happy birthday mum", "call me when home",
       "the film starts at eight"]


def _csv(path, rows, header="text,label", sep=","):
    lines = [header] + [sep.join(f'"{v}"' for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows():
    return [(t, "spam") for t in SPAM] + [(t, "ham") for t in HAM]


def test_csv_columns_are_found_by_name_and_splits_cover_every_class(tmp_path):
    source = _csv(tmp_path / "sms.csv", [(label, text) for text, label in _rows()], header="category,message")
    dataset = import_text_dataset(source, tmp_path / "ws")
    assert dataset.classes == ("ham", "spam") and len(dataset) == 12
    assert set(dataset.texts()) == set(SPAM + HAM)
    for split in ("train", "val", "test"):
        assert set(dataset.subset(split)["label"]) == {"ham", "spam"}
    assert any("column 'message'" in note for note in dataset.notes)
    reloaded = TextDataset.load(tmp_path / "ws" / "datasets" / next(p.name for p in (tmp_path / "ws" /
                                                                                       "datasets").iterdir()))
    assert reloaded.split_hash() == dataset.split_hash() and reloaded.texts() == dataset.texts()


def test_a_group_column_keeps_each_group_in_one_split(tmp_path):
    rows = [(f"{label} message {g}-{k}", label, f"{label}{g}") for label in ("ham", "spam") for g in range(8)
            for k in range(4)]
    dataset = import_text_dataset(_csv(tmp_path / "threads.csv", rows, header="text,label,group"), tmp_path / "ws")
    spans = dataset.records.groupby("group")["split"].nunique()
    assert len(spans) == 16 and (spans == 1).all()
    assert set(dataset.subset("test")["label"]) == {"ham", "spam"}
    assert any("16 groups" in note for note in dataset.notes)
    reloaded = TextDataset.load(dataset.stored_in)
    assert reloaded.records["group"].tolist() == dataset.records["group"].tolist()


def test_tsv_and_columns_chosen_by_the_user(tmp_path):
    source = _csv(tmp_path / "data.tsv", [(t, label, "x") for t, label in _rows()], header="body\tkind\tother",
                  sep="\t")
    assert table_columns(source) == (["body", "kind", "other"], "body", None)
    with pytest.raises(DataError, match="could not tell which column"):
        import_text_dataset(source, tmp_path / "ws")
    dataset = import_text_dataset(source, tmp_path / "ws", columns=TextColumns("body", "kind"))
    assert dataset.classes == ("ham", "spam")
    with pytest.raises(DataError, match="no column 'nope'"):
        import_text_dataset(source, tmp_path / "ws", columns=TextColumns("nope", "kind"))


def test_one_class_is_refused_with_the_fix(tmp_path):
    source = _csv(tmp_path / "one.csv", [(t, "spam") for t in SPAM])
    with pytest.raises(DataError, match=r"found 1 class .*needs at least 2"):
        import_text_dataset(source, tmp_path / "ws")


def test_empty_texts_are_skipped_and_listed(tmp_path):
    source = _csv(tmp_path / "gaps.csv", [*_rows(), ("   ", "spam"), ("no label here", "")])
    dataset = import_text_dataset(source, tmp_path / "ws")
    reasons = {s.file: s.reason for s in dataset.skipped}
    assert reasons == {"gaps.csv row 14": "empty text", "gaps.csv row 15": "empty label"}
    assert len(dataset) == 12


def test_duplicates_are_dropped_before_splitting_so_none_leaks(tmp_path):
    copies = [("WIN a free   prize now", "spam"), ("Win a free prize now", "ham")]  # same text once normalised
    source = _csv(tmp_path / "dups.csv", _rows() + copies * 5)
    dataset = import_text_dataset(source, tmp_path / "ws")
    assert len(dataset) == 12
    assert dataset.records["sha256"].is_unique  # so no text can sit in two splits
    dropped = [s for s in dataset.skipped if s.reason.startswith("duplicate of")]
    assert len(dropped) == 10 and any("with another label" in s.reason for s in dropped)
    assert any("10 repeated text(s) dropped" in note and "another label" in note for note in dataset.notes)


def test_a_western_european_table_is_read_right_with_a_note(tmp_path):
    source = tmp_path / "latin.csv"
    body = "text,label\n" + "".join(f'"{t}",{label}\n' for t, label in _rows())
    source.write_bytes(body.encode() + "\"caf\xe9 au lait\",ham\n".encode("latin-1"))
    dataset = import_text_dataset(source, tmp_path / "ws")
    assert "caf\xe9 au lait" in dataset.texts()  # decoded, not replaced
    assert any("read as Western European" in note for note in dataset.notes)


def test_a_broken_table_is_refused_with_a_reason(tmp_path):
    source = tmp_path / "broken.csv"
    source.write_text('text,label\n"an unclosed quote,spam\nfine,ham\n', encoding="utf-8")
    with pytest.raises(DataError, match="could not be read as a CSV"):
        import_text_dataset(source, tmp_path / "ws")


def test_given_split_column_is_kept(tmp_path):
    rows = [(t, label, "test" if i % 3 == 0 else "train") for i, (t, label) in enumerate(_rows())]
    source = _csv(tmp_path / "split.csv", rows, header="text,label,split")
    dataset = import_text_dataset(source, tmp_path / "ws")
    given = {t: s for t, _, s in rows}
    for text, split in zip(dataset.records["text"], dataset.records["split"], strict=True):
        assert split == given[text] or (given[text] == "train" and split == "val")


def test_class_with_no_training_text_is_refused_in_texts_words(tmp_path):
    rows = [(t, label, "test" if label == "spam" else "train") for t, label in _rows()]
    with pytest.raises(DataError, match=r"classes \['spam'\] have no texts in the training split.*train split"):
        import_text_dataset(_csv(tmp_path / "split.csv", rows, header="text,label,split"), tmp_path / "ws")


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_zip_of_txt_class_folders_is_text(tmp_path):
    entries = {f"corpus/{label}/{i}.txt": text.encode() for i, (text, label) in enumerate(_rows())}
    entries["corpus/spam/notes.pdf"] = b"%PDF"
    source = tmp_path / "corpus.zip"
    source.write_bytes(_zip(entries))
    assert is_text_source(source)
    dataset = import_data(source, tmp_path / "ws")
    assert dataset.modality == "text" and dataset.classes == ("ham", "spam") and len(dataset) == 12
    assert any(s.file.endswith("notes.pdf") and "not a text file" in s.reason for s in dataset.skipped)


def test_text_zip_that_escapes_its_folder_is_refused(tmp_path):
    source = tmp_path / "evil.zip"
    source.write_bytes(_zip({"spam/1.txt": b"win", "../../outside.txt": b"x"}))
    with pytest.raises(DataError, match="outside"):
        import_data(source, tmp_path / "ws")
    assert not (tmp_path / "outside.txt").exists()


def test_images_still_go_to_the_image_importer(tmp_path):
    source = tmp_path / "pics.zip"
    source.write_bytes(_zip({"cats/a.png": b"not really a png", "dogs/b.png": b"nor this"}))
    assert not is_text_source(source)
    with pytest.raises(DataError, match="found no usable images"):
        import_data(source, tmp_path / "ws")
