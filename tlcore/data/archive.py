"""Unpack an uploaded zip into the workspace, refusing anything that could write elsewhere.

Names are checked before a single byte is written; sizes are checked against the zip's own
directory first and then again while writing, because a hostile zip can lie in its headers.
Every entry's compression ratio is bounded whatever its size, and so is the whole zip's (what
it unpacks to against the bytes of the file), which also catches entries that overlap.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import DataError, UnsafeArchiveError
from ..progress import ProgressCallback, report
from ..uploads import given_name
from .limits import ImportLimits

_CHUNK = 1 << 20
_REZIP = "Re-create the zip from the dataset folder itself (for example right-click the folder and compress it)"


def safe_member_path(name: str, limits: ImportLimits = ImportLimits()) -> PurePosixPath:
    """The entry's relative path, or an `UnsafeArchiveError` if it is absolute, climbs out with `..`,
    or has a name no file system here could hold."""
    normalised = name.replace("\\", "/")  # zips made on Windows may use backslashes
    path = PurePosixPath(normalised)
    drive_letter = len(normalised) > 1 and normalised[1] == ":"
    if path.is_absolute() or drive_letter or ".." in path.parts:
        raise UnsafeArchiveError(
            f"the zip contains the entry {name!r}, which points outside the folder it unpacks into; "
            f"nothing was unpacked. {_REZIP}"
        )
    if "\x00" in normalised:
        raise UnsafeArchiveError(f"the zip contains the entry {name!r} with a NUL character in its name; "
                                 f"nothing was unpacked. {_REZIP}")
    parts = [p for p in path.parts if p not in ("", ".")]
    longest = max((len(p.encode("utf-8")) for p in parts), default=0)
    if longest > limits.max_name_bytes or len(normalised.encode("utf-8")) > limits.max_path_bytes:
        raise UnsafeArchiveError(
            f"the zip contains an entry whose name is too long ({_short(name)}: {longest} bytes in one name, "
            f"{len(normalised.encode('utf-8'))} in the path; the limits are {limits.max_name_bytes} and "
            f"{limits.max_path_bytes}); nothing was unpacked. Rename the file to something shorter and zip again"
        )
    return PurePosixPath(*parts)


def _short(name: str, keep: int = 60) -> str:
    return repr(name if len(name) <= keep else name[:keep] + "...")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def unpack_zip(
    archive: str | Path,
    destination: Path,
    limits: ImportLimits = ImportLimits(),
    progress: ProgressCallback | None = None,
) -> Path:
    """Extract `archive` into `destination` (created, must be new or empty) and return it.

    On any refusal the caller removes `destination`: the importers unpack into a private folder.
    """
    archive = Path(archive)
    shown = repr(given_name(archive) or archive.name)  # an upload is named as the user named it, not by its digest
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _check_members(zf, shown, archive.stat().st_size, limits)
            destination.mkdir(parents=True, exist_ok=True)
            root = destination.resolve()
            written = 0
            for done, (info, relative) in enumerate(members, start=1):
                target = (root / relative).resolve()
                if root not in target.parents:  # defence in depth; safe_member_path already refused this
                    raise UnsafeArchiveError(f"entry {info.filename!r} would be written outside {root}")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written += _copy_bounded(zf, info, target, limits, written)
                report(progress, "unpack", done, len(members))
    except zipfile.BadZipFile as error:
        raise DataError(
            f"{shown} is not a readable zip ({error}); the upload may be incomplete or damaged. "
            "Create the zip again and upload it once more"
        ) from None
    except RuntimeError as error:  # zipfile's word for encrypted entries
        raise DataError(f"{shown}: {error}; upload a zip without a password") from None
    except (EOFError, zipfile.LargeZipFile, NotImplementedError, ValueError) as error:
        raise DataError(f"{shown} could not be unpacked ({type(error).__name__}: {error}); "
                        "create the zip again with a common tool and upload it once more") from None
    except OSError as error:  # a name the file system refuses, a full disk, ...
        raise DataError(f"{shown} could not be unpacked: {error.strerror or error}"
                        f"{f' ({_short(Path(error.filename).name)})' if error.filename else ''}; "
                        "nothing was kept. Check the zip's file names, and the free disk space") from None
    return destination


def _check_members(
    zf: zipfile.ZipFile, name: str, archive_bytes: int, limits: ImportLimits
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise UnsafeArchiveError(
            f"{name} holds {len(infos):,} entries, more than the limit of {limits.max_files:,} "
            "(ImportLimits.max_files); split the dataset or raise the limit"
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise UnsafeArchiveError(
            f"{name} unpacks to {total / 1e6:,.0f} MB, more than the limit of "
            f"{limits.max_total_bytes / 1e6:,.0f} MB (ImportLimits.max_total_bytes); "
            "shrink the images or raise the limit"
        )
    if not limits.ratio_allows(total, archive_bytes):
        raise UnsafeArchiveError(_ratio_message(name, total / max(archive_bytes, 1), limits, whole=True))
    members, folders = [], set()
    for info in infos:
        relative = safe_member_path(info.filename, limits)
        if _is_symlink(info):
            raise UnsafeArchiveError(
                f"the zip contains the symbolic link {info.filename!r}; links could point anywhere, so "
                "nothing was unpacked. Zip the real files instead of links to them"
            )
        if not limits.ratio_allows(info.file_size, info.compress_size):
            raise UnsafeArchiveError(_ratio_message(info.filename, info.file_size / max(info.compress_size, 1), limits))
        if relative.parts:
            members.append((info, relative))
            folders.update(relative.parents if not info.is_dir() else (relative, *relative.parents))
    clash = next((r for info, r in members if not info.is_dir() and r in folders), None)
    if clash is not None:
        raise UnsafeArchiveError(
            f"the zip holds {clash.as_posix()!r} both as a file and as a folder; nothing was unpacked. {_REZIP}"
        )
    return members


def _copy_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limits: ImportLimits, so_far: int) -> int:
    """Copy one entry, stopping as soon as it outgrows what its header or the limits allow."""
    allowed = min(info.file_size, limits.max_total_bytes - so_far)
    count = 0
    with zf.open(info) as source, target.open("wb") as sink:
        while chunk := source.read(_CHUNK):
            count += len(chunk)
            if count > allowed:
                sink.close()
                target.unlink()
                raise UnsafeArchiveError(
                    f"entry {info.filename!r} unpacks to more than its header declares or the limits allow; "
                    "the zip is damaged or hostile, nothing more was unpacked"
                )
            sink.write(chunk)
    return count


def _ratio_message(name: str, ratio: float, limits: ImportLimits, whole: bool = False) -> str:
    what = f"{name} as a whole" if whole else f"entry {name!r}"
    return (
        f"{what} is compressed {ratio:,.0f} to 1, more than the limit of {limits.max_ratio:,.0f} "
        "(ImportLimits.max_ratio), as in a zip bomb; nothing was unpacked. Images barely compress, so "
        "re-create the zip from the image files"
    )


def remove_tree(folder: Path) -> None:
    """Delete a folder this module created (used to clean up after a refused import)."""
    shutil.rmtree(folder, ignore_errors=True)
