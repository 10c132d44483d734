"""The pipeline's latency and throughput, and its overhead over classification alone.

What it measures, on the running local stack with a real model:
- produce -> searchable latency (p50/p95): articles produced one by one at a low
  steady rate into the raw topic while `newswatch pipeline run` runs; a poller
  searches Elasticsearch (no forced refresh: what a Kibana user would see) every
  50 ms and notes when each article first appears.
- saturation throughput: a burst of articles produced at once into the running,
  warm pipeline; articles/s from the first produce to the last one indexed.
- the peer, in the same run on the same articles: `newswatch classify` alone, i.e.
  ``predict_rows`` (what that command runs) on the same model and thread count,
  timed without model loading. The ratio pipeline/classify shows what Kafka, Beam,
  Elasticsearch and the topics cost on top of the model.

    .venv/bin/python bench/pipeline_bench.py [--model VERSION] [--latency-articles 40]
        [--rate 1] [--burst 300] [--repeat 3]

Uses its own topics, consumer group and index (removed afterwards).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from elasticsearch import Elasticsearch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_env import bench_env  # noqa: E402
from classify_bench import corpus  # noqa: E402

from classifiers.registry import Registry  # noqa: E402
from pipelines.ml_commands import predict_rows  # noqa: E402
from pipelines.schema import Article  # noqa: E402
from pipelines.settings import load_settings  # noqa: E402


def articles(docs: list[dict], prefix: str) -> list[Article]:
    now = datetime.now(UTC)
    return [Article(id=f"{prefix}-{i}", url=f"https://bench.test/{prefix}/{i}",
                    feed_url="https://bench.test/feed", source="bench", title=d["title"],
                    content=d["text"], published_at=now, collected_at=now)
            for i, d in enumerate(docs)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Watcher:
    """Notes when each expected id first becomes searchable."""

    def __init__(self, es: Elasticsearch, index: str) -> None:
        self.es, self.index = es, index
        self.pending: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expect(self, article_id: str) -> None:
        with self.lock:
            self.pending[article_id] = time.time()

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                ids = list(self.pending)
            if ids:
                hits = self.es.search(index=self.index, query={"ids": {"values": ids}},
                                      size=len(ids), source=False)["hits"]["hits"]
                now = time.time()
                with self.lock:
                    for hit in hits:
                        if hit["_id"] in self.pending:
                            self.seen[hit["_id"]] = now - self.pending.pop(hit["_id"])
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--latency-articles", type=int, default=40)
    parser.add_argument("--rate", type=float, default=1.0, help="articles/s, latency phase")
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    model_dir = Registry(load_settings().models_dir).resolve(args.model)
    bench = bench_env()
    settings, es, env, unique = bench.settings, bench.es, bench.env, bench.unique
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 0})
    docs = corpus(settings.seeds_dir, args.burst, short_only=False)
    log = open(f"/tmp/pipeline-bench-{unique}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "pipeline", "run", "--model", str(model_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    watcher = Watcher(es, settings.articles_alias)
    try:
        def send(batch: list[Article]) -> None:
            for a in batch:
                producer.produce(settings.topic_raw, key=a.id.encode(), value=a.to_json_bytes())
            producer.flush()

        def wait_indexed(total: int, timeout_s: float = 600) -> float:
            deadline = time.monotonic() + timeout_s
            while True:
                es.indices.refresh(index=settings.articles_alias)
                if es.count(index=settings.articles_alias)["count"] >= total:
                    return time.time()
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"pipeline stopped or too slow; see {log.name}")
                time.sleep(0.05)

        warm = articles(docs[:4], "warm")
        send(warm)
        wait_indexed(len(warm), timeout_s=180)
        indexed = len(warm)

        latency_docs = articles(docs[:args.latency_articles], "lat")
        for a in latency_docs:
            watcher.expect(a.id)
            send([a])
            time.sleep(1 / args.rate)
        deadline = time.monotonic() + 60
        while watcher.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        latencies = sorted(watcher.seen.values())
        indexed += len(latency_docs)
        wait_indexed(indexed)

        pipeline_rates = []
        for rep in range(args.repeat):
            burst = articles(docs, f"burst{rep}")
            started = time.time()
            send(burst)
            indexed += len(burst)
            finished = wait_indexed(indexed)
            pipeline_rates.append(len(burst) / (finished - started))
    finally:
        watcher.stop.set()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)

    from classifiers.predictor import Predictor

    predictor = Predictor.load(model_dir, threads=settings.pipeline_threads)
    rows = [{"id": d["id"], "title": d["title"], "text": d["text"]} for d in docs]
    predict_rows(predictor, rows[:8])  # warm-up, as the pipeline was warm
    classify_rates = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        predict_rows(predictor, rows)
        classify_rates.append(len(rows) / (time.perf_counter() - started))

    bench.cleanup()

    pipe, alone = statistics.median(pipeline_rates), statistics.median(classify_rates)
    print(f"model {model_dir.name} ({predictor.runtime}), {os.cpu_count()} cores, "
          f"runner Prism (LOOPBACK), {len(docs)} seed-corpus articles per burst")
    print(f"produce->searchable latency at {args.rate:g} article/s over {len(latencies)} "
          f"articles: p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
          f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    print(f"saturation throughput, pipeline: median {pipe:.1f} articles/s "
          f"(runs: {', '.join(f'{r:.1f}' for r in pipeline_rates)})")
    print(f"peer, newswatch classify alone (predict_rows): median {alone:.1f} articles/s "
          f"(runs: {', '.join(f'{r:.1f}' for r in classify_rates)})")
    print(f"ratio pipeline/classify: {pipe / alone:.2f}")


if __name__ == "__main__":
    main()
