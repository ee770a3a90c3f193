"""The engine that runs the frozen base's forward pass, chosen by measurement on the machine where it runs.

The candidates sit in `CANDIDATES`: today's `tf.function` over the Keras extractor (`"tf"`, the
reference) and the same extractor converted to TFLite float32, run with XNNPACK (`"tflite"`). At
first use per base and image size a job big enough to gain from it converts the candidates, checks
that each gives the reference's features and ImageNet logits within `TOLERANCE` on real images, and
times them on the same batch; a candidate replaces `tf.function` only when it is faster by `MARGIN`,
so that noise on a loaded machine does not flip the choice. The converted model and the choice are
stored under `paths.cache_dir("engines")`, keyed by base, image size, library versions and the
machine's processor flags (`costs.machine_key`), with a digest of the model's bytes: a damaged or
mismatched entry is measured again, never trusted. A conversion that fails leaves `tf.function`
in charge with one log line saying why. The engine chosen is kept loaded in this process, so a
worker measures once per machine and loads once per process.

`TRANSFERLAB_ENGINE=tf|tflite|auto` forces an engine (`auto`, the default, measures). See docs/engines.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import paths, runs
from ..errors import UnknownNameError
from ..progress import ProgressCallback, report
from .bases import Backbone

log = logging.getLogger(__name__)

ENV = "TRANSFERLAB_ENGINE"
REFERENCE = "tf"
TOLERANCE = 1e-4  # features and logits, absolute and relative (as np.allclose), against tf.function
MARGIN = 1.10  # a candidate must be this much faster than tf.function to replace it
ROUNDS = 3  # timed calls per candidate, interleaved; the quickest counts (load only ever slows a run)
SAMPLE_IMAGES = 64  # at most this many images of the caller's batch are timed (one batch)
# A job measures the engines only when what is left of it would take at least this long on tf.function (timed on
# its own batches): converting, checking and timing took 7.7 s at 96 px and 12 s at 224 px on the 2-core AVX-512
# machine (2026-12-04), so a job this long gets most of it back when the candidate is 3x faster (AVX2 machines),
# and a small one (the 180 drawn shapes: 0.2 s of forward pass at 96 px) never pays for a choice it cannot use.
PAYS_SECONDS = 10.0
FORMAT = 1  # bump when what is stored changes

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # uint8 N x S x S x 3 -> (features, logits)


def cores() -> int:
    """The processor cores this process may use (its affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Engine:
    """A loaded engine: `run(batch)` gives (features, logits) as numpy arrays; `note` says how it was chosen."""

    name: str
    run: Runner = field(repr=False)
    note: str = ""

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.run(batch)


@dataclass(frozen=True)
class Candidate:
    """One way to run the frozen extractor: `convert` makes its model's bytes (None: nothing to convert),
    `load` turns them into a runner for one base; `available` says whether its library is installed."""

    title: str
    convert: Callable[[Backbone], bytes] | None
    load: Callable[[Backbone, bytes | None], Runner]
    available: Callable[[], bool] = lambda: True
    suffix: str = ""  # the stored model's file suffix


def _tf_runner(backbone: Backbone, _blob: bytes | None = None) -> Runner:
    forward = backbone.forward_graph

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, logits = forward(batch)
        return features.numpy(), logits.numpy()

    return run


def convert_tflite(backbone: Backbone) -> bytes:
    """The frozen extractor as TFLite float32, converted the way the bundle's model.tflite is."""
    from .bundle import tflite_models

    with tempfile.TemporaryDirectory(prefix="transferlab-engine-") as scratch:
        return tflite_models(backbone.extractor, Path(scratch))["model.tflite"]


class TFLiteRunner:
    """One TFLite interpreter (XNNPACK, one thread per core) for batches; resized only when the batch size changes.
    An interpreter is not safe to call from two threads at once, so calls take turns."""

    def __init__(self, backbone: Backbone, blob: bytes | None) -> None:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the interpreter's deprecation notice
            self.interpreter = tf.lite.Interpreter(model_content=blob, num_threads=cores())
        self.entry = self.interpreter.get_input_details()[0]
        self.shape: tuple | None = None
        self.feature_dim = backbone.feature_dim
        self.lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            if batch.shape != self.shape:
                self.interpreter.resize_tensor_input(self.entry["index"], batch.shape)
                self.interpreter.allocate_tensors()
                self.shape = batch.shape
            self.interpreter.set_tensor(self.entry["index"], batch.astype(np.float32, copy=False))
            self.interpreter.invoke()
            outputs = sorted(self.interpreter.get_output_details(), key=lambda o: o["name"])  # output_0, output_1
            features, logits = (self.interpreter.get_tensor(o["index"]) for o in outputs)  # copies
        if features.shape[-1] != self.feature_dim:  # a converter that ordered them otherwise
            features, logits = logits, features
        return features, logits


def _has_tflite() -> bool:
    import tensorflow as tf

    return hasattr(tf, "lite") and hasattr(tf.lite, "Interpreter")


CANDIDATES: dict[str, Candidate] = {
    "tf": Candidate("tf.function", None, _tf_runner),
    "tflite": Candidate("TFLite float32 (XNNPACK)", convert_tflite, TFLiteRunner, _has_tflite, ".tflite"),
}


# --- the choice, in memory and on disk --------------------------------------------------------------------------


@dataclass
class _Known:
    """What this process knows for one key: the engine chosen (None: not measured) and loaded runners."""

    chosen: str | None
    note: str
    record: dict
    runners: dict[str, Runner] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # forced engines that could not be prepared, and why


_MEMORY: dict[str, _Known] = {}
_LOCK = threading.RLock()


def forget() -> None:
    """Drop every engine loaded in this process (the disk cache stays)."""
    with _LOCK:
        _MEMORY.clear()


def forward_seconds(backbone: Backbone, images: np.ndarray, runs: int = 1) -> list[float]:
    """Seconds per image of `runs` calls on `images` of the engine `extract_features` runs here (measuring
    nothing), after one call that traces the graph or sizes the interpreter: what the analysis's timings read."""
    forward = engine_for(backbone, choose=False)
    forward(images)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        forward(images)
        seconds.append((time.perf_counter() - start) / len(images))
    return seconds


def decided(backbone: Backbone) -> bool:
    """Whether the engine for `backbone` is settled without measuring: forced by the environment, or chosen on
    this machine before (in this process or on disk)."""
    if _wanted() != "auto":
        return True
    key = engine_key(backbone)
    with _LOCK:
        known = _MEMORY.get(key) or _read(key, backbone)
        if known is not None:
            _MEMORY[key] = known
        return known is not None and known.chosen is not None


def worth_choosing(seconds_per_image: float | None, images_left: int) -> bool:
    """Whether measuring the engines pays within this job: the rest of it would take at least `PAYS_SECONDS` at
    tf.function's measured speed (None: not timed yet, so not known to pay, unless `PAYS_SECONDS` is 0)."""
    if PAYS_SECONDS <= 0:
        return True
    return seconds_per_image is not None and seconds_per_image * images_left >= PAYS_SECONDS


def engine_key(backbone: Backbone) -> str:
    """Base, image size, library versions and this machine's processor (flags, cores)."""
    from ..costs import machine_key

    text = f"v{FORMAT}|{backbone.spec.name}|{backbone.image_size}|{machine_key()}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _wanted() -> str:
    wanted = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if wanted != "auto" and wanted not in CANDIDATES:
        raise UnknownNameError(f"engine ({ENV})", wanted, ["auto", *CANDIDATES])
    return wanted


def engine_for(
    backbone: Backbone,
    sample: np.ndarray | None = None,
    *,
    choose: bool = True,
    progress: ProgressCallback | None = None,
) -> Engine:
    """The engine for `backbone` on this machine.

    Known in this process or on disk: loaded (once per process). Unknown: measured on `sample` (real
    uint8 images at the base's size; synthetic ones if None) when `choose`, else `tf.function` for now.
    """
    wanted = _wanted()
    if wanted == REFERENCE:
        return Engine(REFERENCE, _tf_runner(backbone), f"forced by {ENV}={REFERENCE}")
    key = engine_key(backbone)
    with _LOCK:
        known = _MEMORY.get(key)
        if known is None:
            known = _read(key, backbone)
            if known is not None:
                _MEMORY[key] = known
        if wanted != "auto":
            return _forced(wanted, key, known, backbone, sample, progress)
        if known is None or known.chosen is None:
            if not choose:
                return Engine(REFERENCE, _tf_runner(backbone), "not measured on this machine yet")
            known = _choose(key, backbone, sample, progress)
            _MEMORY[key] = known
        chosen = known.chosen
        runner = _tf_runner(backbone) if chosen == REFERENCE else known.runners[chosen]
        return Engine(chosen, runner, known.note)


def _forced(wanted, key, known, backbone, sample, progress) -> Engine:
    """The engine named by the environment, converted and checked if needed; tf.function if that fails."""
    if known is not None and wanted in known.failed:  # once per process, not at every call
        return Engine(REFERENCE, _tf_runner(backbone), known.failed[wanted])
    if known is not None:
        try:
            runner = _stored_runner(known, wanted, backbone)
        except (OSError, ValueError) as error:
            log.warning("engine: %s; converting again", error)
            runner = None
        if runner is not None:
            return Engine(wanted, runner, f"forced by {ENV}={wanted}")
    report(progress, "engine", 0, 1, f"converting the base for {CANDIDATES[wanted].title} (once per machine)")
    record = dict(known.record) if known is not None else _new_record(key, backbone)
    runner, why = _prepare(wanted, backbone, _sample(backbone, sample), None, record)
    report(progress, "engine", 1, 1, why)
    if known is None:
        known = _Known(None, "", record)
    known.record = record
    _write(key, record)
    _MEMORY[key] = known
    if runner is None:
        log.warning("engine: %s for %s at %d px; using tf.function", why, backbone.spec.name, backbone.image_size)
        known.failed[wanted] = why
        return Engine(REFERENCE, _tf_runner(backbone), why)
    known.runners[wanted] = runner
    return Engine(wanted, runner, f"forced by {ENV}={wanted}")


def _sample(backbone: Backbone, sample: np.ndarray | None) -> np.ndarray:
    size = backbone.image_size
    if sample is not None and len(sample) and sample.shape[1:] == (size, size, 3):
        return np.ascontiguousarray(sample[:SAMPLE_IMAGES], dtype=np.uint8)
    # no images given: coarse random blocks of colour, deterministic
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (8, 7, 7, 3)).astype(np.float32)
    return np.clip(np.kron(coarse, np.ones((1, size // 7 + 1, size // 7 + 1, 1)))[:, :size, :size], 0, 255).astype(
        np.uint8
    )


def _prepare(name, backbone, sample, reference, record) -> tuple[Runner | None, str]:
    """Convert (or read back) candidate `name` and check it against `reference` (computed here if None).
    Returns its runner, or None and why not. The record gets the model's digest and the differences."""
    candidate = CANDIDATES[name]
    if not candidate.available():
        return None, f"{candidate.title} is not installed"
    blob = None
    if candidate.convert is not None:
        start = time.perf_counter()
        try:
            blob = candidate.convert(backbone)
        except Exception as error:  # any library's failure: the reference engine stays
            return None, f"{candidate.title} conversion failed ({type(error).__name__}: {str(error)[:200]})"
        record.setdefault("converted_s", {})[name] = round(time.perf_counter() - start, 2)
    try:
        runner = candidate.load(backbone, blob)
        if reference is None:
            reference = _tf_runner(backbone)(sample)
        outputs = runner(sample)
    except Exception as error:
        return None, f"{candidate.title} failed to run ({type(error).__name__}: {str(error)[:200]})"
    differences = [float(np.abs(np.asarray(o, np.float64) - r).max()) for o, r in zip(outputs, reference, strict=True)]
    record.setdefault("differences", {})[name] = {"features": differences[0], "logits": differences[1]}
    agree = all(np.allclose(o, r, rtol=TOLERANCE, atol=TOLERANCE) for o, r in zip(outputs, reference, strict=True))
    if not agree:
        return None, (
            f"{candidate.title} differs from tf.function by {differences[0]:.1e} (features), "
            f"{differences[1]:.1e} (logits), over {TOLERANCE:g}"
        )
    if blob is not None:
        _store_blob(record["key"], name, blob, record)
    return runner, "ok"


def _choose(key, backbone, sample, progress) -> _Known:
    """Convert, check and time every available candidate against tf.function; keep the fastest by MARGIN."""
    title = f"{backbone.spec.name} at {backbone.image_size} px"
    others = [name for name in CANDIDATES if name != REFERENCE]
    report(progress, "engine", 0, len(others) + 1, f"choosing the fastest engine for {title} here (once per machine)")
    batch = _sample(backbone, sample)
    record = _new_record(key, backbone)
    reference_runner = _tf_runner(backbone)
    reference = reference_runner(batch)  # traces the graph (warm-up) and is the parity reference
    runners: dict[str, Runner] = {REFERENCE: reference_runner}
    refused = []
    for done, name in enumerate(others, 1):
        runner, why = _prepare(name, backbone, batch, reference, record)
        if runner is None:
            refused.append(why)
            log.warning("engine: %s for %s; it is not used", why, title)
        else:
            runners[name] = runner
        report(progress, "engine", done, len(others) + 1, why if runner is None else f"{CANDIDATES[name].title} ready")
    rates = _rates(runners, batch)
    best = max(rates, key=rates.get)
    chosen = best if best != REFERENCE and rates[best] >= MARGIN * rates[REFERENCE] else REFERENCE
    figures = ", ".join(f"{CANDIDATES[name].title} {rate:.1f} img/s" for name, rate in rates.items())
    note = f"{CANDIDATES[chosen].title} chosen for {title} ({figures}; a candidate needs {MARGIN - 1:.0%} more)"
    if refused:
        note += "; " + "; ".join(refused)
    record.update(
        chosen=chosen,
        note=note,
        rates={n: round(r, 2) for n, r in rates.items()},
        images=len(batch),
        load_average=_load_average(),
        measured=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    _write(key, record)
    log.info("engine: %s", note)
    report(progress, "engine", len(others) + 1, len(others) + 1, note)
    # only the chosen engine stays loaded (an interpreter holds its activations for a whole batch)
    return _Known(chosen, note, record, {chosen: runners[chosen]} if chosen != REFERENCE else {})


def _rates(runners: dict[str, Runner], batch: np.ndarray) -> dict[str, float]:
    """Images per second of each runner on `batch`: every runner warmed once, then ROUNDS interleaved calls."""
    for runner in runners.values():
        runner(batch)
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(ROUNDS):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner(batch)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(batch) / seconds for name, seconds in best.items()}


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        return None


def _new_record(key: str, backbone: Backbone) -> dict:
    from ..costs import machine_key

    return {
        "format": FORMAT,
        "key": key,
        "base": backbone.spec.name,
        "image_size": backbone.image_size,
        "machine": machine_key(),
        "chosen": None,
        "digests": {},
    }


def _folder() -> Path:
    return paths.cache_dir("engines")


def _store_blob(key: str, name: str, blob: bytes, record: dict) -> None:
    runs.write_atomic(_folder() / f"{key}{CANDIDATES[name].suffix}", blob)
    record["digests"][name] = hashlib.sha256(blob).hexdigest()


def _write(key: str, record: dict) -> None:
    runs.write_json(_folder() / f"{key}.json", record)


def _read(key: str, backbone: Backbone) -> _Known | None:
    """The stored choice for `key` with the chosen model loaded, or None (and a log line) when absent or not
    trustworthy (damaged, written for another key, machine or format, or a model that does not match its digest)."""
    path = _folder() / f"{key}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        expected = _new_record(key, backbone)
        for field_name in ("format", "key", "base", "image_size", "machine"):
            if record.get(field_name) != expected[field_name]:
                raise ValueError(f"its {field_name} is {record.get(field_name)!r}, not {expected[field_name]!r}")
        chosen = record.get("chosen")
        if chosen is not None and chosen not in CANDIDATES:
            raise ValueError(f"it names an unknown engine {chosen!r}")
        known = _Known(chosen, record.get("note", ""), record)
        if chosen not in (None, REFERENCE) and _stored_runner(known, chosen, backbone) is None:
            raise ValueError(f"the model of the chosen engine {chosen!r} is missing")
    except Exception as error:  # damaged, stale or unreadable: measured again
        log.warning("engine: the stored engine choice %s is not used (%s); measuring again", path.name, error)
        return None
    return known


def _stored_runner(known: _Known, name: str, backbone: Backbone) -> Runner | None:
    """Candidate `name` loaded from its stored model (kept in `known`), or None if none is stored.
    A stored model whose bytes do not match the digest recorded with the choice raises ValueError."""
    if name in known.runners:
        return known.runners[name]
    digest = known.record.get("digests", {}).get(name)
    if digest is None or not CANDIDATES[name].available():
        return None
    blob = (_folder() / f"{known.record['key']}{CANDIDATES[name].suffix}").read_bytes()
    if hashlib.sha256(blob).hexdigest() != digest:
        raise ValueError(f"the stored {CANDIDATES[name].title} model does not match its digest")
    known.runners[name] = CANDIDATES[name].load(backbone, blob)
    return known.runners[name]
