"""Gather an image dataset in the browser: name classes, add photos (files or the webcam), then import it.

A draft lives in the workspace (`gather/draft.json` and `gather/files/`): class names are data
in the JSON, each image is stored under a name made of its digest, so nothing the browser sends
chooses a path. Every image is decoded when it is added, so a draft holds only images that load.
`create_dataset` zips the draft as class folders and imports that zip like an upload: the same
checks, limits, splits and atomic store; the zip is kept, so the gathered data can be downloaded.
A draft can start from an image dataset already loaded, to add more photos to it; the original
stays as it was, and the result is a new dataset.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .. import runs
from ..data.layout import SPLIT_NAMES, SYSTEM_NAMES
from ..errors import DataError, ImageError
from ..progress import ProgressCallback
from .decode import load_rgb

FOLDER = "gather"
DRAFT_FILE = "draft.json"
MAX_CLASS_NAME = 64
MAX_IMAGES = 10_000
SUFFIX_OF_FORMAT = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}


@dataclass(frozen=True)
class Draft:
    """Class name -> the stored file names of its images (in `files/`), in the order they were added."""

    folder: Path
    classes: dict[str, list[str]]

    @property
    def n_images(self) -> int:
        return sum(len(files) for files in self.classes.values())

    def files(self, name: str) -> list[Path]:
        return [self.folder / "files" / f for f in self.classes.get(name, [])]

    def ready(self) -> tuple[bool, str]:
        """Whether the draft can become a dataset, and if not, what to add."""
        if len(self.classes) < 2:
            return False, "name at least two classes"
        few = [name for name, files in self.classes.items() if len(files) < MIN_PER_CLASS]
        if few:
            return False, f"add at least {MIN_PER_CLASS} images to {', '.join(few[:3])}"
        return True, ""


MIN_PER_CLASS = 5  # enough for a training, a validation and a test image, and a little to learn from


def open_draft(workspace: Path) -> Draft:
    folder = Path(workspace) / FOLDER
    found = runs.read_json(folder / DRAFT_FILE).get("classes", {})
    classes = {str(k): [str(f) for f in v] for k, v in found.items() if isinstance(v, list)}
    return Draft(folder, classes)


def _save(draft: Draft) -> Draft:
    runs.write_json(draft.folder / DRAFT_FILE, {"classes": draft.classes})
    return draft


def check_class_name(name: str) -> str:
    """The name, trimmed, if it can be a class folder in a zip; a `DataError` saying why not otherwise."""
    name = " ".join(str(name).split())
    if not name:
        raise DataError("a class needs a name; type one, e.g. 'cat'")
    if len(name) > MAX_CLASS_NAME:
        raise DataError(f"class names are at most {MAX_CLASS_NAME} characters; got {len(name)}")
    if re.search(r"[/\\:*?\"<>|\x00-\x1f]", name) or name.startswith("."):
        raise DataError(f"{name!r} cannot be a class name: leave out / \\ : * ? \" < > | and a leading dot")
    if name.lower() in SPLIT_NAMES or name.lower() in SYSTEM_NAMES:
        raise DataError(f"{name!r} is a name zip imports treat specially (a split folder such as train, val or "
                        "test, or a system folder); call the class something else")
    return name


def add_class(workspace: Path, name: str) -> Draft:
    draft = open_draft(workspace)
    name = check_class_name(name)
    if any(existing.lower() == name.lower() for existing in draft.classes):
        raise DataError(f"there is already a class called {name!r}")
    return _save(Draft(draft.folder, draft.classes | {name: []}))


def remove_class(workspace: Path, name: str) -> Draft:
    draft = open_draft(workspace)
    return _save(Draft(draft.folder, {k: v for k, v in draft.classes.items() if k != name}))


def add_images(workspace: Path, name: str, images: list[tuple[str, bytes]]) -> tuple[Draft, list[str]]:
    """Add images (their browser name, their bytes) to class `name`; returns the draft and one line per refusal.

    Each image is decoded first (the same limits as training); one that does not load is refused by
    name and the others are kept. The same image twice in one class is kept once.
    """
    draft = open_draft(workspace)
    if name not in draft.classes:
        raise DataError(f"no class called {name!r} in this draft; add the class first")
    refused, files = [], list(draft.classes[name])
    for client_name, data in images:
        if draft.n_images + len(files) - len(draft.classes[name]) >= MAX_IMAGES:
            refused.append(f"{client_name}: the draft holds {MAX_IMAGES} images already")
            continue
        try:
            stored = _store_image(draft.folder, data)
        except (ImageError, DataError) as error:
            refused.append(f"{client_name}: {error}")
            continue
        if stored not in files:
            files.append(stored)
    return _save(Draft(draft.folder, draft.classes | {name: files})), refused


def _store_image(folder: Path, data: bytes) -> str:
    load_rgb(data)  # decodes, or raises ImageError in words (bombs, broken files, unknown formats)
    try:
        with Image.open(io.BytesIO(data)) as image:
            suffix = SUFFIX_OF_FORMAT.get(image.format or "", "")
    except (UnidentifiedImageError, OSError):
        suffix = ""
    if not suffix:
        raise DataError("not a JPEG, PNG, GIF, BMP, WebP or TIFF image")
    name = hashlib.sha256(data).hexdigest()[:32] + suffix
    path = folder / "files" / name
    if not path.is_file():
        runs.write_atomic(path, data)
    return name


def start_from(workspace: Path, dataset) -> Draft:
    """A new draft holding every image of an image `dataset` under its class: to add more images to it."""
    classes: dict[str, list[str]] = {}
    folder = Path(workspace) / FOLDER
    for label, path in zip(dataset.records["label"], dataset.files(), strict=True):
        classes.setdefault(str(label), [])
        stored = _store_image(folder, Path(path).read_bytes())
        if stored not in classes[str(label)]:
            classes[str(label)].append(stored)
    return _save(Draft(folder, classes))


def clear(workspace: Path) -> Draft:
    return _save(Draft(Path(workspace) / FOLDER, {}))


def draft_zip(draft: Draft) -> bytes:
    """The draft as a zip of class folders (`<class>/<digest>.jpg`): what `create_dataset` imports."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:  # photos do not compress
        for name, files in draft.classes.items():
            for file in files:
                zf.write(draft.folder / "files" / file, f"{name}/{file}")
    return buffer.getvalue()


def create_dataset(workspace: Path, name: str = "gathered", progress: ProgressCallback | None = None):
    """Import the draft as a dataset, like an uploaded zip (stored, checked, split); returns the dataset."""
    from ..data import import_data
    from ..uploads import store_upload

    draft = open_draft(workspace)
    ready, missing = draft.ready()
    if not ready:
        raise DataError(f"the gathered images cannot make a dataset yet: {missing}")
    upload = store_upload(workspace, f"{' '.join(str(name).split()) or 'gathered'}.zip", draft_zip(draft))
    return import_data(upload.path, workspace, name=upload.name, progress=progress)
