"""Find the images of a dataset folder and their labels: class folders, split folders, or a CSV.

Accepted layouts, each optionally under one or more single top folders:
- `<class>/<image>` (images may sit deeper inside a class folder: see groups below);
- `train/<class>/...` with `val/` (or `validation/`) and/or `test/`, any case;
- a CSV with a header `path,label` (optionally `split` and `group`), paths relative to the CSV.
A sub-folder of a class folder (`cats/video-3/frame-12.jpg`) names a group: images that belong
together (frames of one video, photos of one session, scans of one patient), which the splitter
keeps on one side (`tlcore.data.splits`); so does a CSV's `group` column.
System files (`__MACOSX/`, `.DS_Store`, `Thumbs.db`, hidden files) and files that are not
images are left out and reported, never silently dropped; so are links that lead out of the folder
(a file, a folder or a CSV path: every path read resolves inside the folder given), links to folders
(their files are read where they are), and folders or files that cannot be read.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from ..errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
SYSTEM_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini", "ehthumbs.db", "$recycle.bin"})
SPLIT_NAMES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}  # fmt: skip
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclass(frozen=True)
class Candidate:
    """A file that should be an image of class `label`, in `split` and `group` if the layout names them."""

    path: Path
    relative: str
    label: str
    split: str | None = None
    group: str | None = None


@dataclass
class Layout:
    kind: str  # "class folders", "split folders" or "csv"
    base: Path
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_system_file(relative: PurePosixPath) -> bool:
    return any(part.lower() in SYSTEM_NAMES or part.startswith(".") for part in relative.parts)


def discover(root: Path, suffixes: frozenset[str] = IMAGE_SUFFIXES, noun: str = "image") -> Layout:
    """Walk `root` and return the candidate files (images, or texts with `suffixes`) with their labels and splits.

    A CSV listing `path,label` is read only for images.
    """
    root = root.resolve()
    files, skipped = _walk(root)
    base = _strip_top_folders(root, files)
    within = [f for f in files if base == root or base in f.parents]
    csv_file = _labels_csv(base, within, skipped, root) if suffixes is IMAGE_SUFFIXES else None
    layout = (_from_folders(root, base, within, suffixes, noun) if csv_file is None
              else _from_csv(root, base, csv_file, within))
    layout.skipped = skipped + layout.skipped
    _merge_label_case(layout)
    return layout


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, its links followed, is `root` (already resolved) or lies under it."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a link that loops
        return False
    return resolved == root or root in resolved.parents


def _walk(root: Path) -> tuple[list[Path], list[Skipped]]:
    """Every regular file under `root` that resolves inside it, and every entry left out with the reason.

    Links are followed only where they lead inside `root`, and never into folders (their files are read
    where they are); a folder that cannot be listed is named, not silently left out.
    """
    files, skipped = [], []

    def unreadable(error: OSError) -> None:
        where = Path(error.filename or root)
        name = "./" if where == root else f"{_relative(root, where)}/"
        skipped.append(Skipped(name, f"folder cannot be read ({error.strerror or error}); its files were left out"))

    for folder, dirs, names in os.walk(root, onerror=unreadable):  # os.walk does not follow links into folders
        here = Path(folder)
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if _is_link(here / d)]:
            path = here / name
            relative = PurePosixPath(path.relative_to(root).as_posix())
            reason = _left_out(root, path, relative)
            if reason:
                skipped.append(Skipped(str(relative), reason))
            else:
                files.append(path)
        for name in [d for d in dirs if is_system_file(PurePosixPath(d))]:
            count = sum(len(f) for _, _, f in os.walk(here / name))
            folder = (here / name).relative_to(root).as_posix()
            skipped.append(Skipped(f"{folder}/", f"system or hidden folder ({count} files)"))
        dirs[:] = [d for d in dirs if not is_system_file(PurePosixPath(d)) and not _is_link(here / d)]
    return files, skipped


def _left_out(root: Path, path: Path, relative: PurePosixPath) -> str | None:
    """Why the entry at `path` is not a file of the dataset, or None when it is."""
    if is_system_file(relative):
        return "system or hidden file"
    try:
        if path.is_symlink():
            if not inside(root, path):
                return "link to a place outside the dataset folder"
            if path.is_dir():
                return "link to a folder; its files are read where they are, not through the link"
            if not path.exists():
                return "link to nothing (its target is missing)"
    except OSError as error:  # in a folder that can be listed but not entered
        return f"cannot be read ({_why(error)})"
    problem = _not_a_file(path)
    return "not a regular file (a device, pipe or socket)" if problem == "" else problem


def _is_link(path: Path) -> bool:
    try:
        return path.is_symlink()
    except OSError:  # not even its type can be read: os.walk then lists it as unreadable
        return False


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def list_files(root: Path) -> tuple[list[Path], list[Skipped]]:
    """Every file under `root` that an import may read (see `_walk`), and what was left out with the reason."""
    return _walk(Path(root).resolve())


def _strip_top_folders(root: Path, files: list[Path]) -> Path:
    """Descend through folders that hold nothing but one sub-folder of folders (a zipped wrapper folder)."""
    base = root
    for _ in range(4):
        entries = {f.relative_to(base).parts[0] for f in files if base in f.parents}
        if len(entries) != 1:
            break
        only = base / entries.pop()
        holds_folders = any(len(f.relative_to(only).parts) > 1 for f in files if only in f.parents)
        if not only.is_dir() or only.name.lower() in SPLIT_NAMES or not holds_folders:
            break  # a lone class folder stays a class: the class-count check then explains
        base = only
    return base


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _labels_csv(base: Path, files: list[Path], skipped: list[Skipped], root: Path) -> Path | None:
    for path in (f for f in files if f.parent == base and f.suffix.lower() == ".csv"):
        try:
            with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
                header = [h.strip().lower() for h in next(csv.reader(f), [])]
        except (OSError, csv.Error) as error:
            skipped.append(Skipped(_relative(root, path), f"cannot be read ({_why(error)})"))
            continue
        if {"path", "label"} <= set(header):
            return path
    return None


def _why(error: Exception) -> str:
    return (error.strerror if isinstance(error, OSError) and error.strerror else str(error)) or type(error).__name__


def _from_folders(root: Path, base: Path, files: list[Path], suffixes: frozenset[str], noun: str) -> Layout:
    top = {f.relative_to(base).parts[0] for f in files if len(f.relative_to(base).parts) > 1}
    split_layout = bool(top) and all(t.lower() in SPLIT_NAMES for t in top) and any(
        SPLIT_NAMES[t.lower()] == "train" for t in top
    )
    layout = Layout("split folders" if split_layout else "class folders", base)
    depth = 2 if split_layout else 1
    for path in files:
        parts = path.relative_to(base).parts
        relative = path.relative_to(root).as_posix()
        if path.suffix.lower() not in suffixes:
            layout.skipped.append(Skipped(relative, f"not {'an' if noun[0] in 'aeiou' else 'a'} {noun} file "
                                                    f"({path.suffix or 'no extension'})"))
        elif len(parts) <= depth:
            where = "a class folder inside a split folder" if split_layout else "a class folder"
            layout.skipped.append(Skipped(relative, f"not inside {where}; move it into its class folder"))
        else:
            split = SPLIT_NAMES[parts[0].lower()] if split_layout else None
            group = parts[depth] if len(parts) > depth + 1 else None  # the first sub-folder of the class folder
            layout.candidates.append(Candidate(path, relative, parts[depth - 1].strip(), split, group))
    return layout


def _from_csv(root: Path, base: Path, csv_file: Path, files: list[Path]) -> Layout:
    layout = Layout("csv", base)
    listed: set[Path] = set()
    csv_name = csv_file.relative_to(root).as_posix()
    for line, row in _csv_rows(csv_file, csv_name):
        raw_path, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        split_name = (row.get("split") or "").strip().lower()
        group = (row.get("group") or "").strip() or None
        where = f"{csv_name} line {line}"
        if not raw_path or not label:
            layout.skipped.append(Skipped(where, "empty path or label"))
            continue
        relative = PurePosixPath(raw_path.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts:
            layout.skipped.append(Skipped(f"{where}: {raw_path}", "path leaves the dataset folder"))
            continue
        path = base / relative
        if split_name and split_name not in SPLIT_NAMES:
            layout.skipped.append(Skipped(f"{where}: {raw_path}", f"unknown split {split_name!r}"))
        elif not inside(root, path):
            layout.skipped.append(Skipped(f"{where}: {raw_path}", "path leads outside the dataset folder "
                                                                  "through a link"))
        elif (problem := _not_a_file(path)) is not None:
            layout.skipped.append(Skipped(f"{where}: {raw_path}", problem or f"listed in {csv_name} but not found"))
        else:
            listed.add(path)
            split = SPLIT_NAMES[split_name] if split_name else None
            layout.candidates.append(Candidate(path, path.relative_to(root).as_posix(), label, split, group))
    for path in files:
        if path != csv_file and path not in listed and _is_image(path):
            layout.skipped.append(Skipped(path.relative_to(root).as_posix(), f"not listed in {csv_name}"))
    if layout.candidates and any(c.split for c in layout.candidates) != all(c.split for c in layout.candidates):
        raise DataError(f"{csv_name}: some rows name a split and some do not; fill the split column for every row")
    return layout


def _csv_rows(csv_file: Path, csv_name: str):
    """(line number, row with lower-case keys) of a labels CSV; a file that cannot be read is a `DataError`."""
    reader = None
    try:
        with csv_file.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.DictReader(f)
            reader.fieldnames = [h.strip().lower() for h in reader.fieldnames or []]
            yield from enumerate(reader, start=2)
    except (OSError, csv.Error) as error:
        where = f" at line {reader.line_num or 1}" if reader is not None else ""
        raise DataError(f"{csv_name} could not be read{where} ({_why(error)}); save it again as a plain CSV file "
                        "with the columns path,label") from None


def _not_a_file(path: Path) -> str | None:
    """None for a regular file; "" when nothing is there; else why it cannot be read."""
    try:
        return None if path.is_file() else ""
    except OSError as error:
        return f"cannot be read ({_why(error)})"


def _merge_label_case(layout: Layout) -> None:
    """Treat "Cat" and "cat" as one class, spelled the way most of its images spell it."""
    spellings = Counter(c.label for c in layout.candidates)
    groups: dict[str, list[str]] = {}
    for label in spellings:
        groups.setdefault(label.casefold(), []).append(label)
    rename = {}
    for variants in groups.values():
        if len(variants) > 1:
            keep = sorted(variants, key=lambda v: (-spellings[v], v))[0]
            rename.update({v: keep for v in variants})
            layout.notes.append(f"merged classes {sorted(variants)} that differ only in case into {keep!r}")
    if rename:
        layout.candidates = [replace(c, label=rename.get(c.label, c.label)) for c in layout.candidates]
