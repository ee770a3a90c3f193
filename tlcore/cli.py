"""`python -m tlcore ...`: a thin shell over the library, one sub-command per step.

Every `TLCoreError` becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .errors import SettingError, TLCoreError
from .progress import Progress
from .strategy import AIMS, DEFAULT_AIM

EXIT_REFUSED = 2


def main(argv: Sequence[str] | None = None) -> int:
    called = time.monotonic()  # a user's time counts from the command (`train`'s budget and wall times)
    parser = _parser()
    args = parser.parse_args(argv)
    args.called = called
    try:
        return args.run(args)
    except TLCoreError as error:
        return _refuse(str(error))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a file that cannot be read or written: say which and why
        where = f" ({error.filename})" if error.filename else ""
        return _refuse(f"{error.strerror or error}{where}; check the path, its permissions and the free disk space")
    except (MemoryError, RecursionError) as error:
        return _refuse(f"the input is too large or too deeply nested to handle ({type(error).__name__}); "
                       "give a smaller one, or raise the machine's memory")
    except Exception as error:  # a bug: one line here, the traceback in a log file
        log = _log_traceback()
        print(f"error: unexpected {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''} "
              f"(a bug in TransferLab; details in {log})", file=sys.stderr)
        return 1


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_REFUSED


def _log_traceback() -> Path:
    import time
    import traceback

    from . import paths

    folder = paths.cache_dir("logs")
    log = folder / f"cli-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log.write_text(traceback.format_exc(), encoding="utf-8")
    return log


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors in TransferLab's form: `error: ...` and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_REFUSED, f"error: {message} (see `{self.prog} --help`)\n")


def _number(kind: type, low: float, high: float = math.inf, what: str = "a number"):
    """An argparse type: a finite `kind` within [low, high], or a one-line refusal naming the range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not low <= value <= high:
            upper = "" if high == math.inf else f" and at most {high:g}"
            raise argparse.ArgumentTypeError(f"expected {what} of at least {low:g}{upper}; got {text!r}")
        return value

    return parse


_COUNT = _number(int, 1, what="a whole number")
_SECONDS = _number(float, 0.001, what="a number of seconds")
_PIXELS = _number(int, 32, 1024, what="an image side in pixels")


def _parser() -> argparse.ArgumentParser:
    prog = "transferlab" if Path(sys.argv[0]).name == "transferlab" else "python -m tlcore"
    parser = _Parser(prog=prog, description="TransferLab: transfer learning made plain.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    zoo = commands.add_parser("zoo", help="list the pretrained bases and whether each works offline now")
    zoo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    zoo.set_defaults(run=_zoo)

    inspect = commands.add_parser("inspect", help="check a dataset (folder or zip) and audit it before training")
    inspect.add_argument("data", metavar="DATA", help="a folder, a .zip, a .csv/.tsv of texts, or sample:NAME ("
                         + _sample_names() + ")")
    inspect.add_argument("--json", action="store_true", help="print the audit as JSON")
    inspect.add_argument("--workspace", type=Path, default=None,
                         help="where to unpack and store the dataset (default: $TRANSFERLAB_HOME/workspace)")
    inspect.add_argument("--base", "--backbone", dest="backbone", default=None, metavar="NAME",
                         help="base whose features find near-duplicates (--backbone: the same)")
    inspect.add_argument("--no-features", action="store_true", help="skip near-duplicates (no base is run)")
    inspect.set_defaults(run=_inspect)

    analyze = commands.add_parser("analyze", help="measure the data against the base and recommend a strategy")
    analyze.add_argument("data", metavar="DATA", help="a folder, a .zip, a .csv/.tsv of texts, or sample:NAME")
    analyze.add_argument("--base", "--backbone", dest="backbone", default=None, metavar="NAME",
                         help="base name (see `zoo`; --backbone: the same); default: the offline base")
    analyze.add_argument("--image-size", type=_PIXELS, default=None, metavar="PX")
    analyze.add_argument("--workspace", type=Path, default=None, help="default: $TRANSFERLAB_HOME/workspace")
    analyze.add_argument("--pilot", action="store_true",
                         help="measure extract against fine-tuning by a short run of both on validation "
                              "(weighed with the estimate of the gain where there is one)")
    analyze.add_argument("--pilot-seconds", type=_SECONDS, default=None, metavar="N", help="the pilot's budget (90)")
    analyze.add_argument("--aim", choices=tuple(AIMS), default=DEFAULT_AIM,
                         help="fast: good and fast, fine-tuning only where its gain is clear (default); best: the "
                              "best accuracy, fine-tuning wherever it is expected to add points")
    analyze.add_argument("--json", action="store_true", help="print the analysis as JSON")
    analyze.set_defaults(run=_analyze)

    train = commands.add_parser("train", help="train the strategies, select on validation, report on test")
    train.add_argument("data", metavar="DATA", help="a folder, a .zip, a .csv/.tsv of texts, or sample:NAME")
    train.add_argument("--strategy", default=None, choices=["predict", "extract", "finetune", "all"],
                       help="default: the one `analyze` recommended for this data, else extract")
    train.add_argument("--base", "--backbone", dest="backbone", default=None, metavar="NAME",
                       help="base name (see `zoo`; --backbone: the same); default: the offline base")
    train.add_argument("--image-size", type=_PIXELS, default=None, metavar="PX",
                       help="side the base sees; default: twice the images' median side, within 96..224")
    train.add_argument("--budget-seconds", type=_SECONDS, default=600.0, metavar="N", help="total time (default 600)")
    train.add_argument("--no-early-stop", dest="stop_early", action="store_false",
                       help="run every stage and search trial even when validation cannot tell a better model "
                            "(to compare them all; the budget still holds)")
    train.add_argument("--trials", type=_number(int, 0, what="a whole number"), default=None, metavar="N",
                       help="cap on Keras Tuner trials (0: no search)")
    train.add_argument("--baselines", default=None, metavar="NAMES",
                       help="comma-separated scikit-learn baselines for extract ('' for none; default: all five)")
    train.add_argument("--unfreeze-blocks", type=_COUNT, default=None, metavar="N",
                       help="blocks (text: transformer layers) fine-tuning unfreezes, from the top "
                            "(default: images 12, texts 3)")
    train.add_argument("--learning-rate", type=_number(float, 1e-9, 1.0, "a learning rate"), default=None, metavar="LR",
                       help="fine-tuning's starting learning rate (default: images 2e-4, texts 5e-5)")
    train.add_argument("--seed", type=_number(int, 0, 2**32 - 1, "a whole number"), default=0)
    train.add_argument("--workspace", type=Path, default=None, help="default: $TRANSFERLAB_HOME/workspace")
    train.add_argument("--resume", "--run-id", dest="resume", default=None, metavar="RUN_ID",
                       help="continue an interrupted run, or name a new one (workers need the name)")
    train.add_argument("--chief", default=None, metavar="HOST:PORT",
                       help="serve the head search to `search-worker` processes at this address")
    train.add_argument("--compare-scratch", action="store_true",
                       help="after the bundle, train the same data without transfer and report both test scores "
                            "(report key `benefit`)")
    train.add_argument("--learning-curve", action="store_true",
                       help="after the bundle, retrain with and without transfer on 10/25/50/100%% of the training "
                            "split (includes --compare-scratch)")
    train.add_argument("--benefit-budget", type=_SECONDS, default=None, metavar="SECONDS",
                       help="time for --compare-scratch/--learning-curve, on top of --budget-seconds (default: the "
                            "least they need on this machine; less is refused)")
    train.add_argument("--tflite", action="store_true",
                       help="after the bundle, add TFLite copies of its model (images: float32 and int8, for phones "
                            "and small devices; about 9 s, 17 s for a fine-tuned base, outside --budget-seconds)")
    train.add_argument("--json", action="store_true", help="print the report as JSON")
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="classify images (or texts) with a downloaded bundle")
    predict.add_argument("bundle", metavar="BUNDLE", help="the bundle's zip or folder")
    predict.add_argument("images", nargs="+", metavar="INPUT", help="image files; for a text bundle, the texts")
    predict.add_argument("--top", type=_COUNT, default=5, metavar="K")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(run=_predict)

    explain = commands.add_parser("explain", help="show where a bundle's model looks: Grad-CAM pictures for "
                                  "images, each word's weight for texts")
    explain.add_argument("bundle", metavar="BUNDLE", help="the bundle's zip or folder")
    explain.add_argument("inputs", nargs="+", metavar="INPUT", help="image files; for a text bundle, the texts")
    explain.add_argument("--out", default="explained", metavar="DIR",
                         help="where the pictures go (images; default ./explained)")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(run=_explain)

    worker = commands.add_parser("search-worker", help="run head-search trials for a chief (`train --chief`)")
    worker.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the chief's run folder (shared)")
    worker.add_argument("--chief", required=True, metavar="HOST:PORT")
    worker.add_argument("--id", default="tuner0", help="this worker's name: tuner0, tuner1, ... (default tuner0)")
    worker.add_argument("--wait-seconds", type=_SECONDS, default=600.0,
                        help="how long to wait for the chief's inputs to appear (default 600)")
    worker.set_defaults(run=_search_worker)

    worker = commands.add_parser("worker", help="run background jobs (analysis, training, bundles) for the app")
    worker.add_argument("--workers", type=_COUNT, default=1, metavar="N",
                        help="jobs at once, each in its own process (default 1: one training fits a small machine)")
    worker.set_defaults(run=_worker)

    jobs = commands.add_parser("jobs", help="list the queue and every run with its state")
    jobs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    jobs.set_defaults(run=_jobs)

    serve = commands.add_parser("serve", help="start the app and a job worker together; Ctrl+C stops both")
    serve.add_argument("--port", type=_number(int, 1, 65535, "a port"), default=8501)
    serve.add_argument("--address", default=None, metavar="HOST",
                       help="where the app listens (default: $TRANSFERLAB_ADDRESS, else 127.0.0.1: this machine only); "
                            "0.0.0.0 serves every network interface and needs a password")
    guard = serve.add_mutually_exclusive_group()
    guard.add_argument("--password-file", type=Path, default=None, metavar="FILE",
                       help="the password visitors must give, on the file's first line "
                            "(default: $TRANSFERLAB_PASSWORD)")
    guard.add_argument("--no-password", action="store_true",
                       help="serve another address without a password: only behind a proxy that checks who comes in")
    serve.add_argument("--workers", type=_COUNT, default=None, metavar="N",
                       help="job worker processes (default: what the machine's cores and memory allow, or "
                            "$TRANSFERLAB_WORKERS)")
    serve.set_defaults(run=_serve)

    imagenet = commands.add_parser("imagenet", help="top ImageNet classes of images, with the base as it is")
    imagenet.add_argument("images", nargs="+", metavar="IMAGE")
    imagenet.add_argument("--base", "--backbone", dest="backbone", default=None, metavar="NAME",
                          help="base name (see `zoo`; --backbone: the same); default: the offline base")
    imagenet.add_argument("--top", type=_COUNT, default=5, metavar="K", help="classes per image (default 5)")
    imagenet.add_argument("--json", action="store_true", help="print JSON instead of text")
    imagenet.set_defaults(run=_imagenet)
    for command in (inspect, analyze, train):
        command.add_argument("--text-column", default=None, metavar="NAME",
                             help="texts: the table's text column (default: found by name, e.g. text, sentence)")
        command.add_argument("--label-column", default=None, metavar="NAME",
                             help="texts: the table's label column (default: found by name, e.g. label, class)")
    for command in (analyze, train):
        command.add_argument("--describe", action="append", metavar="CLASS=TEXT",
                             help="texts: what a class means, for zero-shot 'predict' (repeatable)")
    return parser


def _zoo(args: argparse.Namespace) -> int:
    from .modality import REGISTRY, get_modality

    rows = []
    for kind in REGISTRY:
        modality = get_modality(kind)
        for spec in modality.bases().values():
            available, reason = spec.availability()
            size = {"input_size": spec.input_size} if hasattr(spec, "input_size") else \
                {"sequence_length": spec.sequence_length}
            rows.append({"name": spec.name, "title": spec.title, "modality": kind, **size,
                         "feature_dim": spec.feature_dim, "offline": available,
                         "default": spec.name == modality.default_base, "detail": reason})  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<20} {'kind':<5} {'input':>10} {'dim':>5}  offline  detail")
    for row in rows:
        mark = "yes" if row["offline"] else "no"
        size = (getattr(get_modality(row["modality"]).bases()[row["name"]], "length_words", "")
                or f"{row['input_size']} px")  # texts: "128 tok", or "any length" where read in windows
        print(f"{row['name']:<20} {row['modality']:<5} {size:>10} {row['feature_dim']:>5}  {mark:<7}  {row['detail']}")
    return 0


def _sample_names() -> str:
    from .samples import SAMPLES

    return ", ".join(SAMPLES)


def _inspect(args: argparse.Namespace) -> int:
    from . import paths
    from .modality import modality_of

    dataset = _load_data(args, args.workspace or paths.home() / "workspace")
    modality = modality_of(dataset)
    choice = modality.resolve_base(dataset, args.backbone)  # an unknown base fails before anything loads
    features = None
    if not args.no_features:
        with _quiet_native_logs():
            modality.load_base(choice)
        features = modality.features(dataset, choice, _progress_line(modality.noun)).features
    report = modality.audit(dataset, features).to_dict(dataset)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_audit(report)
    return 0


def _load_data(args: argparse.Namespace, workspace: Path):
    """The dataset named by args.data: images or texts, by what the source holds."""
    from .data import import_data
    from .samples import sample_path

    data = args.data
    source = sample_path(data.split(":", 1)[1]) if data.startswith("sample:") else Path(data)
    return import_data(source, workspace, text_column=getattr(args, "text_column", None),
                       label_column=getattr(args, "label_column", None), progress=_progress_line("files"))


def _settle_imports() -> None:
    """The libraries every analysis and run imports, then frozen out of the garbage collector's full passes
    (`tlcore.heap`), once the data is known to be readable (a refusal does not wait for TensorFlow)."""
    from .heap import settle
    from .jobs import import_libraries

    import_libraries()
    settle()


def _analyze(args: argparse.Namespace) -> int:
    from . import paths
    from .threads import limit_blas_threads

    limit_blas_threads()  # one BLAS thread beside TensorFlow's: faster alone and beside other jobs (`tlcore.threads`)
    workspace = args.workspace or paths.home() / "workspace"
    dataset = _load_data(args, workspace)
    _settle_imports()
    with _quiet_native_logs():
        from .analysis import analyze, save_analysis
        from .pilot import PILOT_SECONDS

        result = analyze(dataset, args.backbone, args.image_size, descriptions=_descriptions(args.describe),
                         progress=_progress_line(""), pilot_in=workspace if args.pilot else None,
                         pilot_seconds=args.pilot_seconds or PILOT_SECONDS, aim=args.aim)
    save_analysis(result, dataset)
    from .pilot import pilot_offer

    report = result.to_dict()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    size, gap, measures = report["dataset"], report["domain_gap"], report["transferability"]
    advice = report["recommendation"]
    print(f"{dataset.source}: {len(dataset)} {_noun(dataset)}, {size['n_classes']} classes, "
          f"{size['per_class_known_median']:.0f} per class to learn from; base {result.base.describe()}")
    if report["label_overlap"]:
        print(f"label overlap: {report['label_overlap']['matched_classes']} class names are ImageNet classes; "
              f"concentration {report['label_overlap']['concentration']:.2f}")
    print("domain gap: " + ", ".join(f"{k} {_short(v)}" for k, v in gap.items()))
    print("transferability: " + ", ".join(f"{k} {v:.3f}" for k, v in measures.items()))
    print(f"recommended: {advice['strategy']} (confidence {advice['confidence']:.2f}), settings {advice['settings']}")
    for reason in advice["reasons"]:
        print(f"  - {reason}")
    print("expected accuracy: " + ", ".join(f"{k} {v:.1%}" for k, v in advice["expected_accuracy"].items()))
    if advice["expected_seconds"]:
        from .progress import duration

        print("expected time to a downloadable model on this machine: "
              + ", ".join(f"{k} {duration(v)}" for k, v in advice["expected_seconds"].items()))
    if result.bases is not None:  # more than one base of this kind installed: what the ranking advises
        others = "" if result.bases.recommended == result.base.name else \
            f" (`--base {result.bases.recommended}` trains on it)"
        print(f"bases: {result.bases.sentence}{others}")
    offer = "" if args.pilot else pilot_offer(advice)
    if offer:
        print(f"{offer} `analyze --pilot` runs it before you train.")
    print("saved: `train` on this data follows this recommendation unless told otherwise")
    return 0


def _noun(dataset) -> str:
    from .modality import modality_of

    return modality_of(dataset).noun


def _short(value) -> str:
    """A measure for one line: numbers to 2 decimals, lists and tables by their length."""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | dict):
        return "{" + ", ".join(f"{k} {_short(v)}" for k, v in value.items()) + "}" if isinstance(value, dict) \
            else f"({len(value)} values, see --json)"
    return str(value)


def _train(args: argparse.Namespace) -> int:
    from . import paths
    from .threads import limit_blas_threads

    limit_blas_threads()  # one BLAS thread beside TensorFlow's: faster alone and beside other jobs (`tlcore.threads`)
    workspace = args.workspace or paths.home() / "workspace"
    dataset = _load_data(args, workspace)
    _settle_imports()
    if args.resume is not None:
        from .runs import check_run_id

        check_run_id(args.resume)  # refused before anything is said or started
    config, followed = _train_config(args, dataset)
    from .modality import modality_of

    if args.tflite and not modality_of(dataset).makes_tflite:  # refused before the run, not after it
        raise SettingError(f"--tflite: TFLite copies are made of image models; these are {modality_of(dataset).noun}, "
                           "whose bundle model reads the tokenizer's ids: leave out --tflite and use model.keras")
    print(followed, file=sys.stderr)
    curve = _benefit_asked(args)
    if curve is not None:
        _check_benefit_budget(args.benefit_budget, dataset, config, curve)  # refused before the run, not after
    with _quiet_native_logs():
        from .deliver import train_and_bundle

        done = train_and_bundle(dataset, config, workspace, run_id=args.resume, progress=_progress_line(""),
                                started=args.called)
    result, bundle, first = done.result, done.bundle, done.first_bundle
    if bundle is None:
        raise SettingError(f"the run {result.run_dir.name} is complete but its bundle could not be built: "
                           f"{done.bundle_error}")
    from .analysis import expected_run_seconds, expected_seconds_for

    stored = dataset.stored_in
    expected, expected_run = expected_seconds_for(stored, config), expected_run_seconds(stored, config)
    tflite = _add_tflite(result.run_dir) if args.tflite else None
    benefit = None if curve is None else _measure_benefit(result.run_dir, args.benefit_budget, curve)
    extra = ({} if benefit is None else {"benefit": benefit}) | ({} if tflite is None else {"tflite": tflite})
    if args.json:
        print(json.dumps(result.report | extra | {"bundle": str(bundle), "first_bundle": str(first) if first else None,
                                          "seconds_to_first_bundle": done.seconds_to_first_bundle,
                                          "seconds_to_final_bundle": done.seconds_to_final_bundle,
                                          "expected_seconds": expected,
                                          "expected_seconds_to_final_bundle": expected_run, "settings_from": followed},
                         indent=2, ensure_ascii=False))
        return 0
    from . import words
    from .train.evaluate import temperature_sentence

    print(words.leaderboard(result.report).to_string(index=False))
    test = result.test
    print(f"selected: {result.selected.strategy}/{result.selected.name} (best on validation)")
    print(f"test: accuracy {test.accuracy:.1%}, macro-F1 {test.macro_f1:.3f}, "
          f"ECE {test.ece_before:.3f} -> {test.ece_after:.3f} after temperature {test.temperature:.2f} "
          f"({temperature_sentence(test.temperature_fitted_on, test.temperature_note)})")
    largest = result.report["largest_class"]
    warn, sentence = words.largest_class_note(test.accuracy, largest, "test", largest["test_items"])
    print(("warning: " if warn else "") + sentence)
    print(f"run folder: {result.run_dir}")
    anytime = result.report["anytime"]
    print(words.anytime_note(anytime) + (f" (its bundle: {first})" if first else ""))
    print(words.wall_note(result.report["wall"], expected_run))
    print(f"bundle: {bundle}  (transferlab predict {bundle} {modality_of(dataset).input_name}...)")
    if tflite is not None:
        print(f"tflite: model.tflite and model_int8.tflite in the bundle; on {tflite['images']} test images the "
              f"float32 copy's probabilities differ by at most {tflite['float32_max_abs_diff']:.1e} and the int8 "
              f"copy gives the same answer on {tflite['int8_top1_agreement']:.0%}")
    if benefit is not None:
        from .benefit.show import benefit_lines

        for line in benefit_lines(benefit):
            print(f"benefit: {line}")
    return 0


def _add_tflite(run_dir: Path) -> dict:
    """TFLite copies in the run's bundle (`tlcore.export.add_tflite`); their agreement with the Keras model."""
    from .export import add_tflite, tflite_seconds
    from .runs import read_json

    manifest = read_json(run_dir / "bundle" / "manifest.json")
    print(f"adding TFLite copies (about {tflite_seconds(manifest):.0f} s on this machine)", file=sys.stderr)
    with _quiet_native_logs():
        add_tflite(run_dir, progress=_progress_line(""))
    return read_json(run_dir / "bundle" / "manifest.json")["tflite"]


def _benefit_asked(args: argparse.Namespace) -> bool | None:
    """What `train` measures after its bundle: the learning curve (True), the no-transfer model alone (False),
    or nothing (None)."""
    if args.learning_curve:
        return True
    if args.compare_scratch:
        return False
    if args.benefit_budget is not None:
        raise SettingError("--benefit-budget is the time of --compare-scratch or --learning-curve; add one of them")
    return None


def _check_benefit_budget(budget: float | None, dataset, config, curve: bool) -> None:
    """Refuse before training a benefit budget too small for every way the run may select (the cheapest one);
    the way actually selected is checked again after the run."""
    if budget is None:
        return
    from .benefit import WAY_OF_STRATEGY, BenefitConfig, check_budget

    ways = {WAY_OF_STRATEGY.get(s, s) for s in config.strategies if s != "all"}
    ways |= set(WAY_OF_STRATEGY.values()) if "all" in config.strategies else set()
    refusals = []
    for way in sorted(ways):
        try:
            check_budget(dataset, BenefitConfig.for_run(config, way, budget), curve=curve)
            return
        except TLCoreError as error:
            refusals.append(str(error))
    raise SettingError(f"--benefit-budget: {refusals[0]}")


def _measure_benefit(run_dir: Path, budget: float | None, curve: bool) -> dict:
    """What transfer saved for the finished run, in its report (key `benefit`) and bundle card."""
    from .benefit.job import needed_for_run, run_benefit

    if budget is None:
        budget = float(needed_for_run(run_dir, curve=curve).seconds)
    print(f"measuring what transfer saved within {budget:g} s (--benefit-budget)", file=sys.stderr)
    with _quiet_native_logs():
        return run_benefit(run_dir, budget, progress=_progress_line(""), curve=curve)


def _train_config(args: argparse.Namespace, dataset):
    """The settings `train` runs with, and a line saying where they came from: the saved analysis's
    recommendation where there is one (`analyze` first), the command's own options on top."""
    import dataclasses

    from .analysis import stored_analysis
    from .train import SearchConfig, TrainConfig

    search = SearchConfig(chief_address=args.chief)
    if args.trials is not None:
        search = dataclasses.replace(search, max_trials=args.trials)
    analysis = stored_analysis(dataset)
    if analysis is not None and args.backbone not in (None, analysis["backbone"]):
        analysis = None  # analysed with another base: its settings do not carry over
    base = TrainConfig.from_analysis(analysis) if analysis else TrainConfig(strategies=("extract",))
    chosen = {"unfreeze_blocks": args.unfreeze_blocks, "learning_rate": args.learning_rate}
    finetune = dataclasses.replace(base.finetune, **{k: v for k, v in chosen.items() if v is not None})
    config = dataclasses.replace(
        base, strategies=(args.strategy,) if args.strategy else base.strategies,
        backbone=args.backbone or base.backbone, image_size=args.image_size or base.image_size,
        budget_seconds=args.budget_seconds, seed=args.seed, search=search, finetune=finetune,
        class_descriptions=_descriptions(args.describe), stop_early=args.stop_early)  # fmt: skip
    if args.baselines is not None:
        config = dataclasses.replace(config, baselines=tuple(n for n in args.baselines.split(",") if n))
    if not analysis:
        return config, (f"no saved analysis of this data: strategy {'+'.join(config.strategies)} with default settings "
                        "(run `analyze` first for recommended ones)")
    blocks, rate = config.finetune.unfreeze_blocks, config.finetune.learning_rate
    return config, (f"following the analysis of {analysis.get('analysed_at', 'this data')}: strategy "
                    f"{'+'.join(config.strategies)}, base {config.backbone}"
                    + (f" at {config.image_size} px" if config.image_size else "")
                    + (f", fine-tuning {blocks} {_unfreeze_word(dataset)} at learning rate {rate:g}"
                       if blocks and {"finetune", "all"} & set(config.strategies) else "")
                    + "; options given on the command line win")  # fmt: skip


def _unfreeze_word(dataset) -> str:
    from .modality import modality_of

    return modality_of(dataset).unfreeze_word


def _search_worker(args: argparse.Namespace) -> int:
    with _quiet_native_logs():
        from .train.search_workers import run_worker

        ran = run_worker(args.run_dir, args.chief, args.id, args.wait_seconds, progress=_progress_line(""))
    print(f"{args.id}: ran {len(ran)} trials ({', '.join(ran)})")
    return 0


def _predict(args: argparse.Namespace) -> int:
    with _quiet_native_logs():
        from .predict import load_bundle, predict

        results = predict(load_bundle(args.bundle), args.images, top=args.top)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    for result in results:
        unknown = "\t(looks like none of these classes)" if result["unknown"] else ""
        print(f"{result['file']}\t{result['label']}\t{result['prob']:.4f}{unknown}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    with _quiet_native_logs():
        from .explain import explain_inputs, top_words
        from .predict import load_bundle

        results = explain_inputs(load_bundle(args.bundle), args.inputs, Path(args.out))
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    for r in results:
        print(f"{r['file']}\t{r['label']}\t" + (r["picture"] if "picture" in r else top_words(r["words"])))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from . import jobs

    print(f"worker: {args.workers} process(es) on the {jobs.queue().__class__.__name__} queue; Ctrl+C stops",
          file=sys.stderr)
    jobs.run_worker(args.workers)
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from . import jobs, paths, runs

    home = paths.home()
    rows = []
    for workspace in sorted([home / "workspace", *(home / "sessions").glob("*/")]):
        for row in runs.all_runs(workspace):
            state = jobs.job_state(row["run_dir"])  # a run a worker just took reads "running (0 ahead)" otherwise
            ahead = jobs.ahead_of(row["run_dir"]) if state == "queued" else None
            wait = jobs.expected_wait(row["run_dir"]) if state == "queued" else None
            rows.append({"run": row["run"], "state": state, "ahead": ahead,
                         "expected_wait_seconds": None if wait is None else round(wait),
                         "workspace": workspace.name, "detail": row["detail"], "updated": row["updated"]})
    alive = jobs.alive_workers()
    queue = {"waiting": len(jobs.queued_ids()), "workers_alive": len(alive),
             "worker_processes": sum(int(w.get("workers", 1)) for w in alive)}  # what runs jobs at once
    if args.json:
        print(json.dumps({"queue": queue, "runs": rows}, indent=2))
        return 0
    print(f"queue: {queue['waiting']} job(s) waiting; {queue['workers_alive']} worker(s) alive, running "
          f"{queue['worker_processes']} job(s) at once at most")
    for row in rows:
        ahead = f" ({row['ahead']} ahead" + (f", ~{row['expected_wait_seconds']} s" if row["expected_wait_seconds"]
                                              else "") + ")" if row["ahead"] is not None else ""
        detail = f"  {row['detail']}" if row["detail"] else ""
        print(f"{row['run']:<24} {row['state'] + ahead:<16} {row['workspace'][:12]:<12}{detail}")
    return 0


# The app's process, started by `serve`: Streamlit's own command line, except that a `pages/` folder beside app.py
# never makes its scripts reachable by themselves. Streamlit runs pages/*.py directly (without app.py, so without its
# password gate) when the first visit after a start asks for a page's address and no st.navigation call was seen yet.
_STREAMLIT = ("import sys; from streamlit.runtime.pages_manager import PagesManager; "
              "PagesManager.uses_pages_directory = False; "
              "from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; sys.exit(main())")


def _serve(args: argparse.Namespace) -> int:
    """The app and the job workers as child processes, each in its own process group; all of them stop when
    one ends, on Ctrl+C or on SIGTERM, with every process they started.

    The app listens on loopback unless told otherwise, and anywhere else only with a password (or
    `--no-password`); the password reaches the app through its environment, never a command line.
    """
    import signal
    import subprocess

    from . import access, jobs

    app = Path(__file__).resolve().parent.parent / "app.py"
    if not app.is_file():
        raise SettingError(f"serve runs the app from a checkout of TransferLab; {app} is missing")
    host = access.address(args.address)
    password = access.serve_password(args.password_file, args.no_password, host)
    workers = args.workers or jobs.default_workers()
    print(f"serve: {access.reach_sentence(host, args.port, password is not None)}; {workers} job worker process(es) "
          f"(--workers or {jobs.WORKERS_ENV} to change); Ctrl+C stops them all", file=sys.stderr)
    if args.password_file is not None and (note := access.loose_file_note(args.password_file)):
        print(f"serve: warning: {note}", file=sys.stderr)
    commands = [([sys.executable, "-m", "tlcore", "worker", "--workers", str(workers)], access.child_environment(None)),
                ([sys.executable, "-c", _STREAMLIT, "run", str(app), "--server.port", str(args.port),
                  "--server.address", host], access.child_environment(password))]
    children = [subprocess.Popen(command, cwd=app.parent, env=env, start_new_session=True) for command, env in commands]

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_groups(children)
    return 0


def _stop_groups(children: list, grace: float = 20.0) -> None:
    """SIGTERM to each child's whole process group (huey's consumer stops its worker processes at once, a job
    in progress is marked interrupted), then SIGKILL to what is left after `grace` seconds."""
    import signal
    import subprocess

    def signal_group(child, signum) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)

    for child in children:
        signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
    for child in children:
        signal_group(child, signal.SIGKILL)  # the group's stragglers, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def _descriptions(given: list[str] | None) -> dict[str, str]:
    """CLASS=DESCRIPTION pairs from --describe."""
    from .errors import SettingError

    pairs = {}
    for item in given or []:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise SettingError(f"--describe takes CLASS=DESCRIPTION, e.g. --describe 'spam=an advert or a scam'; "
                               f"got {item!r}")
        pairs[name.strip()] = text.strip()
    return pairs


def _print_audit(report: dict) -> None:
    kind = report["modality"]
    print(f"{report['source']}: {report[f'n_{kind}s']} {kind}s, {report['n_classes']} classes ({report['layout']})")
    print("splits: " + ", ".join(f"{k} {v}" for k, v in report["splits"].items()))
    width = max(len(c) for c in report["classes"])
    for row in report["per_class"]:
        size = (f"{row['min_width']}-{row['max_width']} x {row['min_height']}-{row['max_height']} px"
                if "min_width" in row else f"median {row['median_chars']} characters, longest {row['max_chars']}")
        print(f"  {row['class']:<{width}} {row['count']:>6}  {row['share']:6.1%}  "
              f"train {row['train']:>5}  val {row['val']:>5}  test {row['test']:>5}  {size}")
    print("formats: " + ", ".join(f"{k} {v}" for k, v in report["formats"].items()))
    near = report["near_duplicates"]
    print(f"duplicates: {len(report['duplicates'])} groups; near-duplicates: "
          f"{'not checked' if near is None else f'{len(near)} pairs'}; leakage: {len(report['leakage'])}")
    for skipped in report["skipped"][:20]:
        print(f"skipped {skipped['file']}: {skipped['reason']}")
    if len(report["skipped"]) > 20:
        print(f"... and {len(report['skipped']) - 20} more skipped (see --json)")
    for warning in report["warnings"]:
        print(f"warning: {warning}")


def _imagenet(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise SettingError(f"--top must be at least 1; got {args.top}")
    from .image.bases import DEFAULT_BACKBONE, get_spec, load_backbone
    from .image.decode import require_files
    from .image.try_base import predict_imagenet

    name = args.backbone or DEFAULT_BACKBONE
    get_spec(name)  # an unknown name or a missing file fails before anything loads
    require_files(args.images)
    with _quiet_native_logs():
        backbone = load_backbone(name)
    results = predict_imagenet(args.images, backbone, top=args.top, progress=_progress_line("images"))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        print(result["file"])
        for entry in result["top"]:
            print(f"  {entry['prob']:6.1%}  {entry['index']:>4}  {entry['name']}")
    return 0


def _progress_line(unit: str) -> Callable[[Progress], None]:
    """A one-line progress display on stderr, rewritten in place; silent when stderr is not a terminal."""

    def show(progress: Progress) -> None:
        if not sys.stderr.isatty():
            return
        end = "\n" if progress.done >= progress.total else ""
        print(
            f"\r{progress.stage}: {progress.done}/{progress.total} {unit} ({progress.fraction:.0%})",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


@contextlib.contextmanager
def _quiet_native_logs() -> Iterator[None]:
    """Silence TensorFlow's C++ chatter (it ignores TF_CPP_MIN_LOG_LEVEL for some lines), Python
    warnings, and library prints (Keras's download notices) that would corrupt `--json` on stdout.
    Progress still reaches the terminal through `_progress_line`'s own copy of stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
