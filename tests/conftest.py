"""Shared fixtures: an isolated TransferLab home, no network, the offline base, sample photos."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

# Before anything imports Keras: keep its downloads and our caches out of the user's home.
_SANDBOX = Path(tempfile.mkdtemp(prefix="transferlab-tests-"))
os.environ["TRANSFERLAB_HOME"] = str(_SANDBOX / "home")
os.environ["KERAS_HOME"] = str(_SANDBOX / "keras")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Jobs run at once in the submitting process unless a test starts real workers (tests/test_jobs.py).
os.environ["TRANSFERLAB_QUEUE"] = "immediate"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc (what a server started, to check that it stops them all)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def benchmark_module(name: str):
    """A module of benchmarks/ (not a package), imported from its file; its neighbours import by name."""
    import importlib.util
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # a dataclass's module must be known while the file runs
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return module


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow (CI=true does the same)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow") or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (CI runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _is_local(host: object) -> bool:
    if host in (None, "localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def no_network():
    """Tests never download: any connection beyond loopback fails at once, loudly."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise OSError(f"tests may not use the network (tried {address[0]})")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise socket.gaierror(f"tests may not use the network (looked up {host})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.getaddrinfo = guarded_getaddrinfo
    yield
    socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo


@pytest.fixture(scope="session")
def backbone():
    """The offline base at its default size, built once for the whole run."""
    from tlcore.image.bases import load_backbone

    return load_backbone()


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    """scikit-image's sample photos saved as files: a cat (chelsea, JPEG) and a coffee cup (coffee, PNG)."""
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    files = {"chelsea": folder / "chelsea.jpg", "coffee": folder / "coffee.png"}
    Image.fromarray(data.chelsea()).save(files["chelsea"], quality=95)
    Image.fromarray(data.coffee()).save(files["coffee"])
    return files


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/datasets, or a skip saying it is absent."""
    folder = SHARED_DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the shared test datasets sit beside the repository)")
    return folder


def answered_and_tested(bundle, answers: list[dict], result):
    """(the bundle's probability of each class per answer, in `bundle.labels` order; the run's own test
    probabilities, with its temperature): what a round trip through a bundle compares."""
    import numpy as np
    from scipy.special import softmax

    got = np.array([[dict((t["label"], t["prob"]) for t in r["top"])[c] for c in bundle.labels] for r in answers])
    temperature = result.test.temperature if result.selected.temperature_scaling else 1.0
    return got, softmax(result.selected.test_logits / temperature, axis=1)


def pytest_sessionfinish(session, exitstatus):
    """The sandbox home goes with the session: a full run writes about a gigabyte of runs, bundles and caches
    there, and a machine that runs the tests often would fill its disk (one did, 2026-12-04)."""
    shutil.rmtree(_SANDBOX, ignore_errors=True)
