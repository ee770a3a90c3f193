"""Import a labelled text dataset: a CSV/TSV with a text and a label column, or a zip of class folders of .txt.

The same rules as for images: a clear refusal when the data cannot train a classifier, every
dropped row listed with its reason, splits fixed once and stored. Tables and .txt files are decoded
by their byte-order mark, as UTF-8, or as Windows-1252 (Latin-1) with a note; an encoding that cannot
be told is refused in words (`_encoding`). A few damaged bytes in UTF-8 become U+FFFD, and the rows
that hold them are counted.
Exact duplicates (same text once case and spacing are normalised) are dropped before splitting,
so no copy of a training text can sit in the test split.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.archive import unpack_zip
from ..data.checks import Items, class_warnings, refuse_untrainable, refuse_unusable, skipped_warning
from ..data.dataset import SplitRecords, with_groups
from ..data.layout import SPLIT_NAMES, Skipped, discover, list_files
from ..data.limits import ImportLimits, SplitConfig
from ..data.splits import GROUPED, assign_splits, group_notes
from ..data.store import check_source, source_digest, stored
from ..errors import DataError
from ..progress import ProgressCallback, report

TEXT_SUFFIXES = frozenset({".txt"})
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
TEXT_NAMES = ("text", "sentence", "message", "sms", "review", "content", "document", "body", "tweet", "question",
              "comment", "utterance", "title")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "y", "sentiment", "intent", "tag", "topic")
MAX_TEXT_CHARS = 100_000
MAX_TABLE_BYTES = 512 * 1024**2
HEADER_BYTES = 1024**2  # what `table_columns` reads of a table to name its columns
COLUMNS = ["text", "label", "split", "group", "sha256", "n_chars", "source_row"]
RECORDS_FILE = "dataset.csv"
META_FILE = "dataset.json"
HELP = ("Expected a CSV or TSV file with a text column and a label column (e.g. text,label), or a zip of "
        "class folders holding .txt files (e.g. spam/1.txt, ham/1.txt)")
TEXTS = Items("texts", "rows or files", HELP, "remove their rows", "the train split (or train folder)")


@dataclass(frozen=True, eq=False)
class TextDataset(SplitRecords):
    """Labelled texts (`records`: one row per text) with fixed splits; the text twin of `Dataset`."""

    records: pd.DataFrame
    classes: tuple[str, ...]
    layout: str
    source: str
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    modality: str = "text"
    stored_in: Path | None = None  # the workspace folder it was saved in (`tlcore.data.store`), once saved

    def texts(self, split: str | None = None) -> list[str]:
        return self.subset(split)["text"].tolist()

    def items(self, split: str | None = None) -> list[str]:
        """What the user sees of each record (here its text), in record order: reports name mistakes by it."""
        return self.texts(split)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.records[COLUMNS].to_csv(folder / RECORDS_FILE, index=False)
        skipped = [{"file": s.file, "reason": s.reason} for s in self.skipped]
        meta = {"modality": "text", "classes": list(self.classes), "layout": self.layout, "source": self.source,
                "split_hash": self.split_hash(), "skipped": skipped, "warnings": list(self.warnings),
                "notes": list(self.notes)}  # fmt: skip
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> TextDataset:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        records = pd.read_csv(folder / RECORDS_FILE, dtype={"text": str, "label": str, "split": str, "sha256": str,
                                                            "group": str}, keep_default_na=False)
        return cls(with_groups(records), tuple(meta["classes"]), meta["layout"], meta["source"],
                   tuple(Skipped(**s) for s in meta["skipped"]), tuple(meta["warnings"]), tuple(meta["notes"]),
                   stored_in=Path(folder))


@dataclass(frozen=True)
class TextColumns:
    """Which columns hold the text and the label; None means "find it by name"."""

    text: str | None = None
    label: str | None = None


def is_text_source(source: Path) -> bool:
    """Whether `source` holds texts: a table file, or a folder or zip whose data files are .txt or a table."""
    suffix = source.suffix.lower()
    if suffix in TABLE_SUFFIXES or suffix in TEXT_SUFFIXES:
        return True
    if source.is_dir():
        names = [p.name for p in list_files(source)[0]]
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
    else:
        return False
    names = [n for n in names if "__MACOSX" not in n and not Path(n).name.startswith(".")]
    kinds = [Path(n).suffix.lower() for n in names]
    texts = sum(k in TEXT_SUFFIXES for k in kinds)
    tables = sum(k in TABLE_SUFFIXES for k in kinds)
    from ..data.layout import IMAGE_SUFFIXES

    images = sum(k in IMAGE_SUFFIXES for k in kinds)
    return texts > images or (tables == 1 and images == 0)


def import_text_dataset(
    source: str | Path,
    workspace: Path,
    *,
    name: str | None = None,
    columns: TextColumns = TextColumns(),
    limits: ImportLimits = ImportLimits(),
    split: SplitConfig = SplitConfig(),
    progress: ProgressCallback | None = None,
) -> TextDataset:
    """Read `source` (a table file, a folder or a zip), check it, fix the splits, save it in `workspace`.

    Stored like an image dataset (`tlcore.data.store`): atomically, once per content and columns.
    `name` is what the user calls the data (an upload's own file name); by default the source's.
    """
    source = check_source(source)
    is_table = source.is_file() and source.suffix.lower() in TABLE_SUFFIXES
    if not (is_table or source.is_dir() or zipfile.is_zipfile(source)):
        raise DataError(f"{source.name} is neither a table file, a folder nor a zip. {HELP}")
    file_name = name or source.name
    stem = Path(file_name).stem if source.is_file() else file_name

    def build(private: Path, final: Path) -> TextDataset:
        if is_table:
            frame, skipped, notes, layout = *_read_table(source, file_name, columns, limits), "table"
        else:
            root = source if source.is_dir() else unpack_zip(source, private / "files", limits, progress)
            frame, skipped, notes, layout = _read_tree(root, columns, limits)
        return _build(frame, stem, layout, skipped, notes, split, progress)

    digest = source_digest(source, f"text {columns} {limits} {split} {file_name if is_table else ''} {GROUPED}")
    return stored(workspace, stem, digest, build, TextDataset.load)


def _decode(raw: bytes, name: str, final: bool = True) -> tuple[str, int, str | None]:
    """(text, lines holding undecodable bytes, a note on the encoding or None) of `raw`, in the encoding
    `_encoding` finds; `final=False` for the start of a longer file (a character may be cut at its end)."""
    codec, note = _encoding(raw, name, final)
    text = codecs.getincrementaldecoder(codec)(errors="replace").decode(raw, final=final)
    return text, sum("\ufffd" in line for line in text.splitlines()) if "\ufffd" in text else 0, note


BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE starts like UTF-16 LE
WESTERN = "cp1252"  # Windows-1252: Latin-1 and the quotes, dashes and euro sign Windows adds in 0x80-0x9F
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_CHUNK = 1 << 20
SAMPLE_BYTES = 16 * _CHUNK  # of a table not in UTF-8, what tells damaged UTF-8 and code pages apart


def _encoding(raw: bytes, name: str, final: bool = True) -> tuple[str, str | None]:
    """The codec that reads `raw` and a note when the user should know how it was chosen; a `DataError` when
    no common encoding reads it.

    A byte-order mark decides (UTF-8, UTF-16, UTF-32); then UTF-16 without one (NUL bytes in every other
    place); then UTF-8, also when a few of its bytes are damaged (they become U+FFFD, counted by the caller);
    then Windows-1252, a superset of Latin-1, where its accented letters stand alone or in pairs, as in
    Western European words. Runs of them, as Cyrillic, Greek or East Asian text in a legacy code page gives,
    and bytes no Western code page uses, are refused: guessed, they would be read wrong without a word.
    """
    for bom, codec in BOMS:
        if raw.startswith(bom):
            return codec, None
    if raw.isascii():
        return "utf-8-sig", None
    if utf16 := _utf16_without_bom(raw, final):
        return utf16, None
    if _decodes(raw, "utf-8", final):
        return "utf-8-sig", None
    head = raw[:SAMPLE_BYTES]  # where non-ASCII text is, its start tells; else the whole is read
    replaced, non_ascii, _ = _scan(raw, "utf-8", final) if head.isascii() else _scan(head, "utf-8", False)
    if non_ascii - replaced > replaced:  # UTF-8 with a few damaged bytes
        return "utf-8-sig", None
    save = "save it as UTF-8 (in a spreadsheet: CSV UTF-8) and load it again"
    if not _decodes(raw, WESTERN, final):
        raise DataError(f"{name} is not UTF-8 and holds bytes no Western European encoding uses: its encoding "
                        f"could not be told; {save}")
    _, non_ascii, in_runs = _scan(raw[:SAMPLE_BYTES], WESTERN, final=False)
    if in_runs > max(20, non_ascii // 2):
        raise DataError(f"{name} is not UTF-8, and its non-ASCII letters come in runs, as Cyrillic, Greek or East "
                        f"Asian text in an older encoding does: it cannot be read as Western European (Latin-1); "
                        f"{save}")
    return WESTERN, (f"{name} is not UTF-8; it was read as Western European (Windows-1252, Latin-1): if accented "
                     f"letters look wrong, {save}")


def _utf16_without_bom(raw: bytes, final: bool) -> str | None:
    """"utf-16-le" or "utf-16-be" when `raw` is UTF-16 without a byte-order mark (NUL in every other byte
    of its ASCII characters) and reads as such; None otherwise."""
    sample = raw[:65536]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    codec = "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"
    return codec if _decodes(raw, codec, final) else None


def _decodes(raw: bytes, codec: str, final: bool = True) -> bool:
    """Whether all of `raw` reads in `codec`, a megabyte at a time: no copy of a large table is held at once."""
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        for start in range(0, len(raw), _CHUNK):
            decoder.decode(raw[start : start + _CHUNK], final=final and start + _CHUNK >= len(raw))
    except UnicodeDecodeError:
        return False
    return True


def _scan(raw: bytes, codec: str, final: bool = True) -> tuple[int, int, int]:
    """(replaced characters, non-ASCII characters, of them in runs of 3 or more) of `raw` read with `codec`,
    a megabyte at a time."""
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    replaced, non_ascii, in_runs = 0, 0, 0
    for start in range(0, len(raw), _CHUNK):
        text = decoder.decode(raw[start : start + _CHUNK], final=final and start + _CHUNK >= len(raw))
        replaced += text.count("\ufffd")
        for run in _NON_ASCII.findall(text):
            non_ascii += len(run)
            in_runs += len(run) if len(run) >= 3 else 0
    return replaced, non_ascii, in_runs


def _read_bounded(path: Path, limit: int, name: str) -> bytes:
    """At most `limit` bytes of `path`: refused from its size before any read, and counted while reading
    (a size on disk can change or lie)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1) if os.fstat(handle.fileno()).st_size <= limit else None
    except OSError as error:
        raise DataError(f"{name} cannot be read ({error.strerror or error}); check that the file is readable "
                        "and load it again") from None
    if raw is None or len(raw) > limit:
        raise DataError(f"{name} is larger than the limit of {limit / 1024**2:.0f} MB (text.data.MAX_TABLE_BYTES); "
                        "split it, or keep a sample of its rows")
    return raw


TABLE_CHUNK_ROWS = 200_000  # rows pandas parses at a time: the peak is the table's frame plus one chunk


class _Counted(io.RawIOBase):
    """A table file read through a byte count: past `limit` bytes the read is refused (a size on disk can change
    or lie), so a table is never held whole as bytes and never read beyond its limit."""

    def __init__(self, handle, limit: int, name: str) -> None:
        self.handle, self.limit, self.name, self.count = handle, limit, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        got = self.handle.readinto(buffer)
        self.count += got or 0
        if self.count > self.limit:
            raise _too_large(self.name, self.limit)
        return got


def _too_large(name: str, limit: int) -> DataError:
    return DataError(f"{name} is larger than the limit of {limit / 1024**2:.0f} MB (text.data.MAX_TABLE_BYTES); "
                     "split it, or keep a sample of its rows")


def _table_encoding(path: Path, name: str) -> tuple[str, str | None]:
    """`_encoding` of a table file without holding it whole: a byte-order mark decides; a table that is all UTF-8
    (the common case) is checked a megabyte at a time; only a table in another encoding is read whole to choose
    (bounded by `MAX_TABLE_BYTES`, as before)."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
        if any(head.startswith(bom) for bom, _ in BOMS) or b"\0" in head[:65536]:
            return _encoding(_read_bounded(path, MAX_TABLE_BYTES, name), name)
        decoder, chunk = codecs.getincrementaldecoder("utf-8")(), head
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = handle.read(_CHUNK)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return _encoding(_read_bounded(path, MAX_TABLE_BYTES, name), name)
    return "utf-8-sig", None


def _read_table(path: Path, name: str, columns: TextColumns, limits: ImportLimits):
    """Texts and labels of a CSV/TSV table, parsed `TABLE_CHUNK_ROWS` rows at a time from the file (counted
    against `MAX_TABLE_BYTES`): memory is the result plus one chunk, not the bytes, pandas' table and the result
    at once (a 505 MiB table peaked at 5.1 GB)."""
    try:
        if path.stat().st_size > MAX_TABLE_BYTES:
            raise _too_large(name, MAX_TABLE_BYTES)
        codec, encoding_note = _table_encoding(path, name)
    except OSError as error:
        raise DataError(f"{name} cannot be read ({error.strerror or error}); check that the file is readable "
                        "and load it again") from None
    separator = TABLE_SUFFIXES[path.suffix.lower()]
    pieces, skipped, bad_lines, chosen, first_row = [], [], 0, None, 2
    try:  # pandas decodes the bytes itself: a str copy of a large table would cost four bytes a character
        with path.open("rb") as handle, io.BufferedReader(_Counted(handle, MAX_TABLE_BYTES, name), _CHUNK) as counted:
            for table in pd.read_csv(counted, sep=separator, dtype=str, keep_default_na=False, encoding=codec,
                                     encoding_errors="replace", quoting=csv.QUOTE_MINIMAL, on_bad_lines="error",
                                     engine="c", chunksize=TABLE_CHUNK_ROWS):
                table.columns = [str(c).strip() for c in table.columns]
                if chosen is None:
                    chosen = _choose_columns(table, name, columns)
                piece, piece_skipped, piece_bad = _table_rows(table, name, *chosen, first_row)
                pieces.append(piece)
                skipped += piece_skipped
                bad_lines += piece_bad
                first_row += len(table)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as error:
        raise DataError(f"{name} could not be read as a {'TSV' if separator == chr(9) else 'CSV'} file ({error}). "
                        f"{HELP}; check the quoting of texts that contain the separator") from None
    except OSError as error:
        raise DataError(f"{name} cannot be read ({error.strerror or error}); check that the file is readable "
                        "and load it again") from None
    if chosen is None:
        raise DataError(f"{name} could not be read as a {'TSV' if separator == chr(9) else 'CSV'} file (no rows). "
                        f"{HELP}")
    text_col, label_col = chosen
    notes = [f"texts from column {text_col!r}, labels from column {label_col!r}"]
    notes += [encoding_note] if encoding_note else []
    if bad_lines:
        notes.append(f"{bad_lines} line(s) of {name} held bytes that are not {_label(codec)} (now shown as "
                     "\ufffd); save the file as UTF-8 to keep those characters")
    frame = pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
    return frame, skipped, notes


def _table_rows(table: pd.DataFrame, name: str, text_col: str, label_col: str, first_row: int):
    """(records, skipped rows, lines with undecodable bytes) of one chunk of a table whose first line is
    `first_row` of the file."""
    bad_lines = int((table[text_col].str.contains("\ufffd", regex=False)
                     | table[label_col].str.contains("\ufffd", regex=False)).sum())
    split_col = next((c for c in table.columns if c.lower() == "split"), None)
    group_col = next((c for c in table.columns if c.lower() == "group" and c not in (text_col, label_col)), None)
    frame = pd.DataFrame({
        "text": table[text_col], "label": table[label_col].str.strip(),
        "split": table[split_col].str.strip().str.lower().map(SPLIT_NAMES) if split_col else None,
        "group": table[group_col].str.strip().mask(lambda g: g == "") if group_col else None,
        "source_row": pd.Series([f"{name} row {first_row + i}" for i in range(len(table))], index=table.index,
                                dtype="str"),
    })  # fmt: skip
    skipped = []
    if split_col:
        unknown = frame["split"].isna() & (table[split_col].str.strip() != "")
        skipped += [Skipped(r, f"unknown split {s!r}") for r, s in zip(frame["source_row"][unknown],
                                                                      table[split_col][unknown], strict=True)]
        frame = frame[~unknown]
    return frame, skipped, bad_lines


def _label(codec: str) -> str:
    """A codec's name as users know it."""
    return {"utf-8-sig": "UTF-8", WESTERN: "Windows-1252"}.get(codec, codec.upper().removesuffix("-LE")
                                                                     .removesuffix("-BE"))


def table_columns(path: str | Path) -> tuple[list[str], str | None, str | None]:
    """(columns, the text column found by name, the label column found by name) of a table file's header."""
    path = Path(path)
    try:
        with check_source(path).open("rb") as handle:
            raw = handle.read(HEADER_BYTES + 1)
    except OSError as error:
        raise DataError(f"{path.name} cannot be read ({error.strerror or error}); load it again") from None
    content, _, _ = _decode(raw[:HEADER_BYTES], path.name, final=len(raw) <= HEADER_BYTES)
    separator = TABLE_SUFFIXES.get(path.suffix.lower(), ",")
    header = next(csv.reader(io.StringIO(content), delimiter=separator), [])
    columns = [c.strip() for c in header]
    return columns, *_by_name(columns)


def _by_name(columns: list[str]) -> tuple[str | None, str | None]:
    """The first column named like a text, and the first other one named like a label."""
    lower = {c.lower(): c for c in columns}
    text = next((lower[n] for n in TEXT_NAMES if n in lower), None)
    label = next((lower[n] for n in LABEL_NAMES if n in lower and lower[n] != text), None)
    return text, label


def _choose_columns(table: pd.DataFrame, name: str, columns: TextColumns) -> tuple[str, str]:
    found = list(table.columns)
    if len(found) < 2:  # whatever was chosen: one column cannot hold both the texts and their labels
        raise DataError(f"{name}: found one column, {found}; a text column and a label column are needed. Add a "
                        "label column (e.g. a header text,label) or give a zip of class folders of .txt files")
    for given in (columns.text, columns.label):
        if given is not None and given not in found:
            raise DataError(f"{name} has no column {given!r}; its columns are {found}")
    named_text, named_label = _by_name(found)
    text, label = columns.text or named_text, columns.label or named_label
    if (text is None or label is None) and len(found) == 2:  # two unnamed columns: the longer texts are the text
        lengths = {c: table[c].str.len().mean() for c in found}
        text = text or max(found, key=lambda c: lengths[c])
        label = label or next(c for c in found if c != text)
    if text is None or label is None:
        raise DataError(f"{name}: could not tell which column holds the text and which the label; found columns "
                        f"{found}. Name them text and label, or choose them (text_column=, label_column=; "
                        "--text-column/--label-column in the CLI)")
    if text == label:
        raise DataError(f"{name}: the text and label columns must differ; both are {text!r} (columns found: {found})."
                        " Choose another column for the labels")
    return text, label


def _read_tree(root: Path, columns: TextColumns, limits: ImportLimits):
    root = Path(root).resolve()
    files, walked = list_files(root)  # only files that resolve inside `root`
    tables = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES]
    if len(tables) == 1 and not any(p.suffix.lower() in TEXT_SUFFIXES for p in files):
        frame, skipped, notes = _read_table(tables[0], tables[0].relative_to(root).as_posix(), columns, limits)
        unread = [s for s in walked if not s.reason.startswith("system or hidden")]  # links, unreadable folders
        return frame, unread + skipped, notes, "table"
    layout = discover(root, TEXT_SUFFIXES, "text")
    rows, skipped, western = [], list(layout.skipped), 0
    for candidate in layout.candidates:
        try:
            with candidate.path.open("rb") as handle:  # a longer text is cut at MAX_TEXT_CHARS by _build anyway
                raw = handle.read(MAX_TEXT_CHARS * 4)
            text, bad, note = _decode(raw, candidate.relative, final=len(raw) < MAX_TEXT_CHARS * 4)
        except OSError as error:
            skipped.append(Skipped(candidate.relative, f"cannot be read ({error.strerror or error})"))
            continue
        except DataError as error:  # an encoding that cannot be told
            skipped.append(Skipped(candidate.relative, str(error).removeprefix(f"{candidate.relative} ")))
            continue
        western += note is not None
        rows.append({"text": text, "label": candidate.label, "split": candidate.split, "group": candidate.group,
                     "source_row": candidate.relative, "bad_encoding": bool(bad)})
    frame = pd.DataFrame(rows, columns=["text", "label", "split", "group", "source_row", "bad_encoding"])
    notes = list(layout.notes)
    if western:
        notes.append(f"{western} file(s) are not UTF-8; they were read as Western European (Windows-1252, Latin-1): "
                     "if accented letters look wrong, save them as UTF-8")
    if frame["bad_encoding"].any():
        notes.append(f"{int(frame['bad_encoding'].sum())} file(s) held bytes that are not UTF-8 (now shown as "
                     "\ufffd); save them as UTF-8 to keep those characters")
    return frame.drop(columns="bad_encoding"), skipped, notes, layout.kind


def normalise(text: str) -> str:
    """The form two texts share when they are "the same": case-folded, spacing collapsed."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def _build(frame: pd.DataFrame, name: str, layout: str, skipped: list, notes: list, split: SplitConfig,
           progress) -> TextDataset:
    frame = frame.copy()
    frame["text"] = frame["text"].fillna("").astype(str).str.strip()
    frame["label"] = frame["label"].fillna("").astype(str).str.strip()
    empty = (frame["text"] == "") | (frame["label"] == "")
    skipped += [Skipped(row, "empty text" if not text else "empty label")
                for row, text in zip(frame["source_row"][empty], frame["text"][empty], strict=True)]
    frame = frame[~empty]
    long = frame["text"].str.len() > MAX_TEXT_CHARS
    if long.any():
        notes.append(f"{int(long.sum())} text(s) longer than {MAX_TEXT_CHARS:,} characters were cut there")
        frame.loc[long, "text"] = frame.loc[long, "text"].str[:MAX_TEXT_CHARS]
    frame["sha256"] = [hashlib.sha256(normalise(t).encode()).hexdigest() for t in frame["text"]]
    report(progress, "texts", len(frame), len(frame), "checked")
    first = frame.drop_duplicates("sha256")
    repeated = frame[frame.duplicated("sha256")]
    originals = first[first["sha256"].isin(set(repeated["sha256"]))]  # only these are named; a table can be large
    first_row = dict(zip(originals["sha256"], originals["source_row"], strict=True))
    first_label = dict(zip(originals["sha256"], originals["label"], strict=True))
    for row, digest, label in zip(repeated["source_row"], repeated["sha256"], repeated["label"], strict=True):
        kept = first_label[digest]
        other = "" if label == kept else f" with another label ({label!r}, kept {kept!r})"
        skipped.append(Skipped(row, f"duplicate of {first_row[digest]}{other}"))
    conflicting = int((repeated["label"] != repeated["sha256"].map(first_label)).sum())
    if len(repeated):
        notes.append(f"{len(repeated)} repeated text(s) dropped before splitting, so no copy of a training text "
                     f"is tested on" + (f"; {conflicting} of them carried another label" if conflicting else ""))
    frame = first.reset_index(drop=True)
    refuse_unusable(name, frame, skipped, TEXTS)
    frame["n_chars"] = frame["text"].str.len()
    frame["path"] = frame["sha256"]  # the splitter orders rows by this column: content, not file order
    if frame["split"].notna().any() and frame["split"].isna().any():
        raise DataError(f"{name}: some rows name a split and some do not; fill the split column for every row")
    frame["split"] = assign_splits(frame, split)
    notes.extend(group_notes(frame, "text"))
    order = frame["split"].map({"train": 0, "val": 1, "test": 2})
    frame = frame.assign(_order=order).sort_values(["_order", "label", "source_row"]).drop(columns=["_order", "path"])
    frame = frame.reset_index(drop=True)
    refuse_untrainable(frame, TEXTS)
    return TextDataset(frame[COLUMNS], tuple(sorted(frame["label"].unique())), layout, name, tuple(skipped),
                       tuple(notes + class_warnings(frame, TEXTS) + skipped_warning(skipped, TEXTS)), tuple(notes))


