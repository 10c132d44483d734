"""Rebuilding the articles index with a new model, and switching a running pipeline.

On the running local stack with the promoted (full) model:
- rebuild: the bench corpus (seed-corpus articles) in its own raw topic, then
  `newswatch pipeline replay --into-new-index` (a new index, the alias switch, the
  catch-up) timed from the command's start to its end, in articles/s. Peer in the
  same run: `newswatch classify` alone (``predict_rows``, same model and threads,
  same articles, model loading excluded), the bound any rebuild has on this machine.
  The command's time includes starting Python, Beam and the Prism job.
- switch: `newswatch pipeline run` follows the registry while articles arrive at
  2/s; a copy of the model under a new version is promoted; measured from the
  promote to the first document classified by the new version. Repeated.

    .venv/bin/python bench/retrain_bench.py [--articles 300] [--repeat 3]

Uses its own topics, registry, consumer group and indices (removed afterwards).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_env import bench_env  # noqa: E402
from classify_bench import corpus  # noqa: E402
from pipeline_bench import articles  # noqa: E402

from classifiers.predictor import Predictor  # noqa: E402
from classifiers.registry import Registry  # noqa: E402
from pipelines.ml_commands import predict_rows  # noqa: E402
from pipelines.settings import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    base = load_settings()
    source = Registry(base.models_dir).resolve(None)
    state = Path(tempfile.mkdtemp(prefix="retrain-bench-"))
    registry = Registry(state / "models")
    shutil.copytree(source, registry.root / "bench-0")
    registry.promote("bench-0")
    bench = bench_env(state_dir=str(state), cache_dir=str(base.cache_dir))
    settings, es, env, unique = bench.settings, bench.es, bench.env, bench.unique
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    docs = corpus(settings.seeds_dir, args.articles, short_only=False)
    log = open(f"/tmp/retrain-bench-{unique}.log", "w")

    def produce(batch: list) -> None:
        for a in batch:
            producer.produce(settings.topic_raw, key=a.id.encode(), value=a.to_json_bytes())
        producer.flush()

    def count() -> int:
        es.indices.refresh(index=settings.articles_alias)
        return es.count(index=settings.articles_alias)["count"]

    produce(articles(docs, "hist"))
    rebuild_rates = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines", "pipeline", "replay",
                        "--into-new-index"], env=env, stdout=log, stderr=subprocess.STDOUT,
                       check=True)
        rebuild_rates.append(len(docs) / (time.perf_counter() - started))
        assert count() == len(docs), "the rebuilt index must hold every article"

    predictor = Predictor.load(source, threads=settings.pipeline_threads)
    rows = [{"id": d["id"], "title": d["title"], "text": d["text"]} for d in docs]
    predict_rows(predictor, rows[:8])
    classify_rates = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        predict_rows(predictor, rows)
        classify_rates.append(len(rows) / (time.perf_counter() - started))

    pipeline = subprocess.Popen([sys.executable, "-m", "pipelines", "pipeline", "run"],
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    stop = threading.Event()

    def trickle() -> None:
        n = 0
        while not stop.is_set():
            produce(articles(docs[n % len(docs):n % len(docs) + 1], f"live{n}"))
            n += 1
            time.sleep(0.5)

    switches = []
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 240
        while count() <= len(docs):
            if pipeline.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"pipeline stopped or too slow; see {log.name}")
            time.sleep(0.5)
        for n in range(1, args.repeat + 1):
            version = f"bench-{n}"
            shutil.copytree(source, registry.root / version)
            promoted = datetime.now(UTC)
            registry.promote(version)
            deadline = time.monotonic() + 120
            while True:
                es.indices.refresh(index=settings.articles_alias)
                hits = es.search(index=settings.articles_alias, size=1,
                                 query={"term": {"model_version": version}},
                                 sort=[{"classified_at": "asc"}])["hits"]["hits"]
                if hits:
                    first = datetime.fromisoformat(hits[0]["_source"]["classified_at"])
                    switches.append((first - promoted).total_seconds())
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"no document from {version} after 120 s; see {log.name}")
                time.sleep(0.2)
    finally:
        stop.set()
        pipeline.send_signal(signal.SIGTERM)
        try:
            pipeline.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(pipeline.pid, signal.SIGKILL)

    bench.cleanup()
    shutil.rmtree(state, ignore_errors=True)

    rebuild, alone = statistics.median(rebuild_rates), statistics.median(classify_rates)
    print(f"model {source.name} ({predictor.runtime}), {os.cpu_count()} cores, "
          f"{len(docs)} seed-corpus articles")
    print(f"replay --into-new-index (whole command): median {rebuild:.1f} articles/s "
          f"(runs: {', '.join(f'{r:.1f}' for r in rebuild_rates)})")
    print(f"peer, newswatch classify alone (predict_rows): median {alone:.1f} articles/s "
          f"(runs: {', '.join(f'{r:.1f}' for r in classify_rates)})")
    print(f"ratio rebuild/classify: {rebuild / alone:.2f}")
    print(f"promote -> first document by the new model in the running pipeline: median "
          f"{statistics.median(switches):.2f} s (runs: "
          f"{', '.join(f'{s:.2f}' for s in switches)})")


if __name__ == "__main__":
    main()
