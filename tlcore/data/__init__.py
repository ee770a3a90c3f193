"""Import labelled data (images or texts) from a folder, a zip or a table: validated, split, stored.

`import_data` is the one entry point: it asks the registered kinds of data (`tlcore.modality`)
which one `source` holds and hands it over. Everything it writes goes under the workspace folder
it is given (see `tlcore.data.store`: atomic, and content-addressed).
"""

from __future__ import annotations

from pathlib import Path

from ..progress import ProgressCallback
from .dataset import Dataset
from .limits import ImportLimits, SplitConfig
from .store import check_source

__all__ = ["Dataset", "ImportLimits", "SplitConfig", "import_data"]


def import_data(
    source: str | Path,
    workspace: Path,
    *,
    name: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    limits: ImportLimits = ImportLimits(),
    split: SplitConfig = SplitConfig(),
    progress: ProgressCallback | None = None,
):
    """Images or texts, by what `source` holds (a table file or .txt files are texts); `name` is the user's
    name for the data (an upload's own file name), by default the source's."""
    from ..modality import detect

    source = check_source(source)
    options = {"text_column": text_column, "label_column": label_column}
    modality = detect(source, options)
    return modality.import_data(source, workspace, name=name, limits=limits, split=split, progress=progress,
                                options=options)

