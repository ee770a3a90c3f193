"""TransferLab is a package: a wheel built from the repository gives a `transferlab` command that
works from any folder, with the sample texts inside it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools is absent (make test "
                                                                               "installs it)"),
]


def test_the_wheel_installs_a_transferlab_command_that_works_anywhere(tmp_path):
    source = tmp_path / "src"  # a copy: building in place would leave build/ and *.egg-info in the repository
    shutil.copytree(REPO / "tlcore", source / "tlcore", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("transferlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tlcore/cli.py" in names and "tlcore/sample_texts/billing.txt" in names
    assert not any(n.startswith(("tests/", "pages/", "benchmarks/")) for n in names)

    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
                                str(target), str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"PYTHONPATH": str(target), "TRANSFERLAB_HOME": str(tmp_path / "home")}
    run = subprocess.run([str(target / "bin" / "transferlab"), "zoo", "--json"], capture_output=True, text=True,
                         cwd=elsewhere, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert {"efficientnet_lite0", "minilm_l6"} <= {row["name"] for row in json.loads(run.stdout)}
    where = subprocess.run([sys.executable, "-c", "import tlcore; print(tlcore.__file__)"], capture_output=True,
                           text=True, cwd=elsewhere, env=env)
    assert where.stdout.strip().startswith(str(target))  # the installed copy, not the repository's
    refused = subprocess.run([str(target / "bin" / "transferlab"), "predict", "b.zip", "x.jpg", "--top", "0"],
                             capture_output=True, text=True, cwd=elsewhere, env=env)
    assert refused.returncode == 2 and refused.stderr.startswith("error: argument --top")
    assert "transferlab predict --help" in refused.stderr
