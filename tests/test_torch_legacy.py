"""The restricted reader of legacy PyTorch weight files: reads tensors, refuses code."""

from __future__ import annotations

import collections
import io
import os
import pickle
import sys
import types

import numpy as np
import pytest

from tlcore.errors import UnsafeFileError
from tlcore.image.bases import get_spec
from tlcore.image.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, load_state_dict


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


def _fake_torch(monkeypatch):
    """Just enough of a `torch` module for pickle to name its globals, as torch itself would."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch, utils


class _Tensor:
    def __init__(self, storage, offset, size, stride, utils):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())
        self.utils = utils

    def __reduce__(self):
        return self.utils._rebuild_tensor_v2, self.args


def _write_legacy(path, tensors: dict, storages: list[_Storage], torch) -> None:
    """Write the legacy format: five pickles, then each storage as count + little-endian data."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", torch.FloatStorage, obj.key, "cpu", obj.data.size, None)
            return None

    buffer = io.BytesIO()
    for obj in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}):
        pickle.dump(obj, buffer, protocol=2)
    Pickler(buffer, protocol=2).dump(collections.OrderedDict(tensors))
    pickle.dump([s.key for s in storages], buffer, protocol=2)
    for storage in storages:
        buffer.write(np.int64(storage.data.size).astype("<i8").tobytes())
        buffer.write(storage.data.astype("<f4").tobytes())
    path.write_bytes(buffer.getvalue())


def test_reads_tensors_with_offsets_and_strides(tmp_path, monkeypatch):
    torch, utils = _fake_torch(monkeypatch)
    shared = _Storage("0", np.arange(12, dtype=np.float32))
    bias = _Storage("1", np.array([0.5, -1.5], dtype=np.float32))
    tensors = {
        "conv.weight": _Tensor(shared, 0, (3, 4), (4, 1), utils),  # row-major view
        "conv.weight_t": _Tensor(shared, 0, (4, 3), (1, 4), utils),  # transposed view, same storage
        "tail": _Tensor(shared, 8, (4,), (1,), utils),  # offset into the storage
        "fc.bias": _Tensor(bias, 0, (2,), (1,), utils),
    }
    path = tmp_path / "weights.pth"
    _write_legacy(path, tensors, [shared, bias], torch)

    state = load_state_dict(path)

    full = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(state["conv.weight"], full)
    np.testing.assert_array_equal(state["conv.weight_t"], full.T)
    np.testing.assert_array_equal(state["tail"], [8, 9, 10, 11])
    np.testing.assert_array_equal(state["fc.bias"], [0.5, -1.5])


def test_refuses_a_pickle_that_calls_os_system(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(Evil(), protocol=2))

    with pytest.raises(UnsafeFileError, match=r"refused to load.*(posix|os)\.system"):
        load_state_dict(path)
    assert not marker.exists()


def test_refuses_code_hidden_inside_the_state_dict(tmp_path, monkeypatch):
    torch, _ = _fake_torch(monkeypatch)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return eval, (f"open({str(marker)!r}, 'w')",)

    path = tmp_path / "evil.pth"
    _write_legacy(path, {"weight": Evil()}, [], torch)

    with pytest.raises(UnsafeFileError, match=r"(__builtin__|builtins)\.eval"):
        load_state_dict(path)
    assert not marker.exists()


def test_refuses_a_file_of_another_format(tmp_path):
    path = tmp_path / "other.pth"
    path.write_bytes(pickle.dumps(12345) * 3)
    with pytest.raises(UnsafeFileError, match="expected a legacy PyTorch weights file"):
        load_state_dict(path)


def test_reads_the_shipped_efficientnet_lite0_file():
    state = load_state_dict(get_spec("efficientnet_lite0").weights_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert np.isfinite(state["_fc.weight"]).all()


@pytest.mark.parametrize(("name", "last_out"), [("efficientnet_lite1", 320), ("efficientnet_lite2", 352)])
def test_reads_the_shipped_lite1_and_lite2_files(name, last_out):
    """Same format and publisher as Lite0: 21 blocks (depth scaling), 386 entries, the same restricted reader."""
    state = load_state_dict(get_spec(name).weights_path())
    assert len(state) == 386
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.20._project_conv.weight"].shape[0] == last_out
    assert "_blocks.21._project_conv.weight" not in state
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32
    assert all(np.isfinite(array).all() for array in state.values())
