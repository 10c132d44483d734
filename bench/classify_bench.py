"""Classification throughput and peak memory: newswatch's predictor against the naive peer.

Peer: transformers `pipeline("feature-extraction")` called once per document on the
same fine-tuned encoder (truncated at 256 tokens), with the same mean pooling and
head applied to its output: the way a first integration usually looks.
newswatch: `Predictor` (what `newswatch classify` runs): 256-token windows over the
whole document, length-sorted batches, inference mode, explicit threads, and the
int8 ONNX path when training validated it (runtime.json).

Each side runs in its own process (peak RSS is per process), --repeat times; medians.

    .venv/bin/python bench/classify_bench.py [--model VERSION_OR_DIR] [--docs 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import time
from pathlib import Path


def corpus(seeds: Path, n: int, short_only: bool) -> list[dict]:
    """Seed articles, passages and written examples, repeated to n documents. short_only:
    passages and written examples only (all fit one 256-token window, so both sides do
    the same work); otherwise the long articles too (newswatch reads every window of
    them, the peer only their first 256 tokens)."""
    rows = []
    names = ("passages.jsonl", "written.jsonl") if short_only else (
        "articles.jsonl", "passages.jsonl", "written.jsonl")
    for name in names:
        rows += [json.loads(line) for line in (seeds / name).read_text().splitlines()]
    docs = [{"id": f"{i}", "title": r.get("title") or "", "text": r["text"]}
            for i, r in enumerate(rows)]
    return (docs * (n // len(docs) + 1))[:n]


def run_newswatch(model_dir: str, docs: list[dict], threads: int, queue) -> None:
    from classifiers.predictor import Document, Predictor

    predictor = Predictor.load(Path(model_dir), threads=threads)
    documents = [Document(d["id"], d["title"] or None, d["text"]) for d in docs]
    predictor.predict(documents[:8])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(documents), 64):
        predictor.predict(documents[start:start + 64])
    seconds = time.perf_counter() - started
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               predictor.runtime))


def run_peer(model_dir: str, docs: list[dict], threads: int, queue) -> None:
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from transformers import pipeline

    torch.set_num_threads(threads)
    extractor = pipeline("feature-extraction", model=str(Path(model_dir) / "encoder"),
                         device="cpu", truncation=True, max_length=256)
    head = load_file(Path(model_dir) / "head.safetensors")
    weight, bias = head["weight"].numpy(), head["bias"].numpy()

    def classify(doc: dict) -> np.ndarray:
        text = f"{doc['title']}\n{doc['text']}" if doc["title"] else doc["text"]
        tokens = np.asarray(extractor(text)[0])
        vector = tokens.mean(0)
        vector = vector / max(np.linalg.norm(vector), 1e-9)
        return 1 / (1 + np.exp(-(weight @ vector + bias)))

    for doc in docs[:8]:
        classify(doc)
    started = time.perf_counter()
    for doc in docs:
        classify(doc)
    seconds = time.perf_counter() - started
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torch"))


def measure(target, model_dir: str, docs: list[dict], threads: int) -> tuple[float, float, str]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(model_dir, docs, threads, queue))
    process.start()
    result = queue.get(timeout=3600)
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model dir or version (default: current)")
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from classifiers.registry import Registry
    from pipelines.settings import load_settings

    settings = load_settings()
    model_dir = str(Registry(settings.models_dir).resolve(args.model))
    for short_only, title in ((True, "short documents (one window each: equal work)"),
                              (False, "mixed with long articles (newswatch reads all of them)")):
        docs = corpus(settings.seeds_dir, args.docs, short_only)
        runs: dict[str, list] = {"newswatch": [], "peer": []}
        for _ in range(args.repeat):
            runs["newswatch"].append(measure(run_newswatch, model_dir, docs, args.threads))
            runs["peer"].append(measure(run_peer, model_dir, docs, args.threads))
        print(f"\n{title}: {len(docs)} documents, {args.threads} threads, model "
              f"{Path(model_dir).name}, median of {args.repeat}")
        rates = {}
        for name, label in (("newswatch", "newswatch classify (Predictor)"),
                            ("peer", "transformers pipeline(), one call per doc")):
            seconds = statistics.median(r[0] for r in runs[name])
            memory = statistics.median(r[1] for r in runs[name])
            rates[name] = len(docs) / seconds
            print(f"{label:<44} {rates[name]:8.1f} docs/s  peak RSS {memory:7.0f} MiB  "
                  f"runtime {runs[name][0][2]}")
        print(f"speed ratio newswatch/peer: {rates['newswatch'] / rates['peer']:.2f}x")


if __name__ == "__main__":
    main()
