"""Classification throughput and peak memory: newswatch's predictor against the naive peer.

Peer: transformers `pipeline("feature-extraction")` called once per document on the
same fine-tuned encoder (truncated at the model's window length), with the same mean
pooling and head applied to its output: the way a first integration usually looks.
It reads only the first window of a long article.
newswatch: `Predictor` (what `newswatch classify` runs): token windows over the whole
document, length-sorted batches, inference mode, explicit threads, and the runtime
training recorded as the model's default (runtime.json).

Corpus, with the real length mix: every item of the real corpus (seeds/real) and the
long seed articles; and, on its own, the long-article slice of it (every document of
more than one window, where newswatch does more work than the peer).

Each side runs in its own process (peak RSS is per process). The two alternate within
each round (ABAB, the first side swapped every round so that neither always runs on a
warm or a cold machine), --rounds times; the ratio is computed per round and its median
and range are printed. The F1 check scores the test split on the path measured and
compares it with the figures recorded when the model was trained (unaccelerated).

    .venv/bin/python bench/classify_bench.py [--model VERSION_OR_DIR] [--rounds 5] [--docs N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float
    windows: int
    peak_rss_mib: float
    runtime: str


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries
    that across fork and exec, so a spawned child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def corpus(seeds: Path) -> list[dict]:
    """The real corpus (every split) and the long seed articles, as classify input rows."""
    rows = [json.loads(line) for path in sorted((seeds / "real").glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows += [json.loads(line) for line in
             (seeds / "articles.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return [{"id": str(r["id"]), "title": r.get("title") or "", "text": r["text"]}
            for r in rows]


def window_counts(model_dir: str, docs: list[dict]) -> list[int]:
    """Windows per document under the model's window settings (what newswatch scores)."""
    from classifiers.predictor import Predictor
    from classifiers.windows import make_windows

    predictor = Predictor.load(Path(model_dir), runtime="torch")
    texts = [f"{d['title']}\n{d['text']}" if d["title"] else d["text"] for d in docs]
    windows = make_windows(predictor.tokenizer, texts, predictor.window_tokens,
                           predictor.window_stride)
    counts = [0] * len(docs)
    for window in windows:
        counts[window.doc] += 1
    return counts


def run_newswatch(model_dir: str, docs: list[dict], threads: int, queue) -> None:
    from classifiers.predictor import Document, Predictor

    predictor = Predictor.load(Path(model_dir), threads=threads)
    documents = [Document(d["id"], d["title"] or None, d["text"]) for d in docs]
    predictor.predict(documents[:8])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(documents), 64):
        predictor.predict(documents[start:start + 64])
    seconds = time.perf_counter() - started
    queue.put(Run(seconds, 0, peak_rss_mib(),
                  predictor.runtime))


def run_peer(model_dir: str, docs: list[dict], threads: int, queue) -> None:
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from transformers import pipeline

    from classifiers.model import Head

    torch.set_num_threads(threads)
    training = json.loads((Path(model_dir) / "training.json").read_text())
    extractor = pipeline("feature-extraction", model=str(Path(model_dir) / "encoder"),
                         device="cpu", truncation=True,
                         max_length=training["config"]["window_tokens"])
    head = Head.from_tensors(load_file(Path(model_dir) / "head.safetensors")).eval()

    def classify(doc: dict) -> np.ndarray:
        text = f"{doc['title']}\n{doc['text']}" if doc["title"] else doc["text"]
        tokens = np.asarray(extractor(text)[0])
        vector = tokens.mean(0)
        vector = vector / max(np.linalg.norm(vector), 1e-9)
        with torch.inference_mode():
            return torch.sigmoid(head(torch.from_numpy(vector).float())).numpy()

    for doc in docs[:8]:
        classify(doc)
    started = time.perf_counter()
    for doc in docs:
        classify(doc)
    seconds = time.perf_counter() - started
    queue.put(Run(seconds, len(docs), peak_rss_mib(),
                  "torch, first window only"))


def measure(target, model_dir: str, docs: list[dict], threads: int) -> Run:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(model_dir, docs, threads, queue))
    process.start()
    result = queue.get(timeout=3600)
    process.join()
    return result


def f1_check(model_dir: str, seeds: Path, threads: int) -> str:
    """Test-split macro-F1 and per-label F1 of the path measured, against the figures
    recorded at training time (torch, unaccelerated)."""
    import numpy as np

    from classifiers.data import Corpus
    from classifiers.labels import LABELS
    from classifiers.metrics import report
    from classifiers.predictor import Document, Predictor

    predictor = Predictor.load(Path(model_dir), threads=threads)
    test = Corpus.from_dir(seeds).test
    predictions = predictor.predict([Document(e.id, e.title, e.text) for e in test])
    scores = np.array([[p.scores[label] for label in LABELS] for p in predictions])
    truth = np.array([e.targets() for e in test])
    served = report(LABELS, truth, scores, predictor.thresholds)
    recorded = json.loads((Path(model_dir) / "metrics.json").read_text())["chosen"]
    per_label = max(abs(served["per_label"][label]["f1"] - recorded["per_label"][label]["f1"])
                    for label in LABELS)
    return (f"F1 check (test split, {len(test)} articles, runtime {predictor.runtime}): "
            f"macro-F1 {served['macro_f1']:.4f}, recorded at training "
            f"{recorded['macro_f1']:.4f} (Δ {served['macro_f1'] - recorded['macro_f1']:+.4f}, "
            f"largest per-label |Δ| {per_label:.4f})")


def compare(title: str, model_dir: str, docs: list[dict], windows: int, rounds: int,
            threads: int) -> None:
    runs: dict[str, list[Run]] = {"newswatch": [], "peer": []}
    ratios = []
    for number in range(rounds):
        order = ("newswatch", "peer") if number % 2 == 0 else ("peer", "newswatch")
        for side in order:
            target = run_newswatch if side == "newswatch" else run_peer
            runs[side].append(measure(target, model_dir, docs, threads))
        ratios.append(runs["peer"][-1].seconds / runs["newswatch"][-1].seconds)
        rates = {side: len(docs) / runs[side][-1].seconds for side in runs}
        print(f"  round {number + 1}/{rounds}: newswatch {rates['newswatch']:.1f} docs/s, "
              f"peer {rates['peer']:.1f} docs/s", flush=True)
    print(f"\n{title}: {len(docs)} documents, {windows} windows, {threads} threads, model "
          f"{Path(model_dir).name}, {rounds} rounds ABAB")
    for side, label, side_windows in (
            ("newswatch", "newswatch classify (Predictor)", windows),
            ("peer", "transformers pipeline(), one call per doc", len(docs))):
        seconds = statistics.median(r.seconds for r in runs[side])
        memory = max(r.peak_rss_mib for r in runs[side])
        print(f"{label:<44} {len(docs) / seconds:8.1f} docs/s {side_windows / seconds:8.1f} "
              f"windows/s  peak RSS {memory:6.0f} MiB  ({runs[side][0].runtime})")
    print(f"speed ratio newswatch/peer (docs/s): median {statistics.median(ratios):.2f}x, "
          f"range {min(ratios):.2f}x-{max(ratios):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model dir or version (default: current)")
    parser.add_argument("--docs", type=int, default=0,
                        help="use every k-th document so that about N remain (default: all)")
    parser.add_argument("--rounds", type=int, default=5, help="ABAB rounds (default: 5)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from classifiers.registry import Registry
    from pipelines.settings import load_settings

    settings = load_settings()
    model_dir = str(Registry(settings.models_dir).resolve(args.model))
    docs = corpus(settings.seeds_dir)
    if args.docs and args.docs < len(docs):
        docs = docs[::len(docs) // args.docs][:args.docs]
    counts = window_counts(model_dir, docs)
    long_docs = [d for d, n in zip(docs, counts, strict=True) if n > 1]
    print(f1_check(model_dir, settings.seeds_dir, args.threads), flush=True)
    compare("real length mix (real corpus + long seed articles)", model_dir, docs,
            sum(counts), args.rounds, args.threads)
    compare("long-article slice (more than one window)", model_dir, long_docs,
            sum(n for n in counts if n > 1), args.rounds, args.threads)


if __name__ == "__main__":
    main()
