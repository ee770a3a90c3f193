"""The head search over several machines, with Keras Tuner's own chief/worker mode (no scheduler of ours).

The chief is the `train` process: it writes the search's inputs (the features, already
extracted, and the settings) into the run folder, then serves its oracle over gRPC. Workers
(`python -m tlcore search-worker RUN_DIR --chief HOST:PORT --id tuner0`) wait for those inputs,
ask the chief for trials, run them on the features (never the base) and report back. The run
folder must be shared (NFS or the like): workers read their inputs there and write their trial
checkpoints there. The chief stops handing out trials at the deadline; a worker that dies takes
its running trial with it, and the chief, after waiting `worker_grace_seconds` past the deadline
for it, goes on with the trials that finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .. import runs
from ..errors import SettingError, TLCoreError
from ..progress import ProgressCallback
from .candidate import Context
from .config import HeadSpace, SearchConfig
from .tuner import make_tuner

INPUTS = "worker_inputs.npz"
SETTINGS = "worker_settings.json"


def parse_address(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SettingError(f"expected the chief's address as HOST:PORT, e.g. 10.0.0.5:8000; got {address!r}")
    return host, port


@contextlib.contextmanager
def tuner_role(tuner_id: str, address: str) -> Iterator[None]:
    """Keras Tuner reads its role from the environment: set it for this block only."""
    host, port = parse_address(address)
    wanted = {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": port}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def serve_search(ctx: Context, x_train: np.ndarray, arrays: tuple[np.ndarray, ...], inner_items: int = 0,
                 to_beat: float | None = None):
    """Run the search as its chief: publish the inputs, serve the oracle until done, the deadline, or until more
    trials cannot pay (`inner_items`, `to_beat`: see `make_tuner`; the workers ask this oracle for trials)."""
    config = ctx.config.search
    folder = ctx.run_dir / "search"
    buffer_path = folder / INPUTS
    folder.mkdir(parents=True, exist_ok=True)
    with open(buffer_path.with_name(f".{INPUTS}.partial"), "wb") as f:
        np.savez(f, x_train=x_train, x_fit=arrays[0], y_fit=arrays[1], x_score=arrays[2], y_score=arrays[3])
    os.replace(buffer_path.with_name(f".{INPUTS}.partial"), buffer_path)
    search = dataclasses.asdict(config) | {"chief_address": None}
    runs.write_json(folder / SETTINGS, {"search": search, "n_classes": ctx.n_classes, "seed": ctx.config.seed})
    with tuner_role("chief", config.chief_address):
        tuner = make_tuner(x_train, ctx.n_classes, config, ctx.config.seed, ctx.deadline, folder, ctx.progress,
                           inner_items=inner_items, to_beat=to_beat)
        server = threading.Thread(target=tuner.search, args=arrays[:2],
                                  kwargs={"validation_data": arrays[2:], "verbose": 0}, daemon=True)
        server.start()  # the server reads its address from the environment: keep it set until done
        server.join(timeout=max(ctx.seconds_left(), 0.0) + config.worker_grace_seconds)
    return tuner


def run_worker(
    run_dir: Path, address: str, tuner_id: str, wait_seconds: float = 600.0, progress: ProgressCallback | None = None
) -> list[str]:
    """Run trials for the chief at `address` until it stops handing them out; return their ids."""
    if tuner_id == "chief":
        raise SettingError("a worker's id must not be 'chief'; use tuner0, tuner1, ...")
    parse_address(address)
    folder = Path(run_dir) / "search"
    deadline = time.monotonic() + wait_seconds
    while not ((folder / INPUTS).is_file() and (folder / SETTINGS).is_file()):
        if time.monotonic() > deadline:
            raise TLCoreError(f"no search inputs appeared in {folder} within {wait_seconds:.0f} s; start the "
                              "chief (`train ... --chief HOST:PORT --run-id ID`) and share its run folder")
        time.sleep(1.0)
    settings = json.loads((folder / SETTINGS).read_text(encoding="utf-8"))
    search = settings["search"] | {"space": HeadSpace(**settings["search"]["space"])}
    with np.load(folder / INPUTS) as inputs:
        data = {key: inputs[key] for key in inputs.files}
    with tuner_role(tuner_id, address):
        tuner = make_tuner(data["x_train"], settings["n_classes"], SearchConfig(**search), settings["seed"],
                           float("inf"), folder, progress)
        tuner.search(data["x_fit"], data["y_fit"], validation_data=(data["x_score"], data["y_score"]), verbose=0)
    runs.write_json(folder / f"ran_by_{tuner_id}.json", tuner.ran)
    return tuner.ran
