"""Read a legacy (pre-1.6) PyTorch weights file into numpy arrays, without torch and without trust.

The format is five pickles in a row (magic number, protocol version, system info, the state dict,
the storage keys), then each storage as an 8-byte little-endian element count and raw data.
The unpickler resolves only the handful of globals such a file needs; anything else, such as a
pickle that asks for `os.system`, is refused before it can run.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import UnsafeFileError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage type name -> numpy dtype; only float data is expected in image-model weights,
# the integer types cover BatchNorm's num_batches_tracked.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _TensorRef:
    """A tensor whose storage has not been read yet."""

    storage_key: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage_key, storage_offset, size, stride, *_ignored) -> _TensorRef:
    return _TensorRef(storage_key, int(storage_offset), tuple(size), tuple(stride))


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file)
        self._path = path
        self.storages: dict[str, tuple[_StorageType, int]] = {}

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"{self._path.name}: refused to load, the file asks for '{module}.{name}', which a "
                "weights file never needs (it could run code). Use the weights file from its "
                "original package instead of this one."
            ) from None

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel, *_ = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise UnsafeFileError(f"{self._path.name}: unexpected persistent id {kind!r}; not a torch weights file")
        self.storages[key] = (storage_type, int(numel))
        return key


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return the file's state dict as name -> numpy array, refusing anything but plain tensors."""
    path = Path(path)
    with path.open("rb") as f:
        unpickler = _RestrictedUnpickler(f, path)
        magic, protocol, _sys_info = unpickler.load(), unpickler.load(), unpickler.load()
        if magic != MAGIC_NUMBER or protocol != PROTOCOL_VERSION:
            raise UnsafeFileError(
                f"{path.name}: expected a legacy PyTorch weights file (magic {MAGIC_NUMBER:#x}, "
                f"protocol {PROTOCOL_VERSION}); found magic {magic!r}, protocol {protocol!r}"
            )
        refs = unpickler.load()
        keys = unpickler.load()
        data = {key: _read_storage(f, key, *unpickler.storages[key]) for key in keys}
    return {name: _materialise(ref, data) for name, ref in refs.items() if isinstance(ref, _TensorRef)}


def _read_storage(f: BinaryIO, key: str, storage_type: _StorageType, numel: int) -> np.ndarray:
    dtype = STORAGE_DTYPES[storage_type.name]
    count = int(np.frombuffer(f.read(8), dtype="<i8")[0])
    if count != numel:
        raise UnsafeFileError(f"storage {key}: header says {numel} elements, data says {count}; the file is damaged")
    raw = f.read(count * dtype.itemsize)
    if len(raw) != count * dtype.itemsize:
        raise UnsafeFileError(f"storage {key}: file ends early; the file is truncated, reinstall its package")
    return np.frombuffer(raw, dtype=dtype)


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    flat = storages[ref.storage_key]
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :], shape=ref.size, strides=tuple(s * itemsize for s in ref.stride)
    )
    return np.array(view, dtype=np.float32 if flat.dtype.kind == "f" else flat.dtype)
