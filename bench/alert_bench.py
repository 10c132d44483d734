"""Produce -> Slack latency: how long an analyst waits for an alert.

On the running local stack with a real model: `newswatch pipeline run` and
`newswatch alert run` run as they do in production, the alerter posting to a
local server that answers like Slack's webhook endpoint; one rule matches every
article (`query: "*"`), so every article produced is one Slack message. Articles
are produced one by one at a low steady rate (Slack takes about one message a
second per webhook, so the rate stays below that).

Measured per article, in the same run:
- produce -> Slack post received (what the analyst sees);
- the peer: produce -> searchable in Elasticsearch (no forced refresh), the
  moment a query-based alerter (ElastAlert2, Kibana alerting) could first see
  the article, before adding its polling interval (ElastAlert2's `run_every`,
  typically 1-5 minutes). The difference is what newswatch's alerter costs.
  The alerter refreshes the articles index when an event arrives, so in this run
  articles become searchable sooner than the 1 s refresh interval alone allows
  (compare `bench/pipeline_bench.py`, which runs no alerter).

    .venv/bin/python bench/alert_bench.py [--model VERSION] [--articles 40] [--rate 0.5]

Uses its own topics, consumer groups and indices (removed afterwards).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_env import bench_env  # noqa: E402
from classify_bench import corpus  # noqa: E402
from pipeline_bench import Watcher, articles, percentile  # noqa: E402

from classifiers.registry import Registry  # noqa: E402
from pipelines.settings import load_settings  # noqa: E402
from tests.support.slack_server import SlackServer  # noqa: E402


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _summary(name: str, values: list[float]) -> str:
    return (f"{name}: p50 {percentile(values, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(values, 0.95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--articles", type=int, default=40)
    parser.add_argument("--rate", type=float, default=0.5, help="articles/s (below 1)")
    args = parser.parse_args()

    model_dir = Registry(load_settings().models_dir).resolve(args.model)
    bench = bench_env(alerts_index=f"newswatch-bench-alerts-{uuid.uuid4().hex[:8]}",
                      alerts_group_id=f"bench-al-{uuid.uuid4().hex[:8]}")
    settings, es, unique = bench.settings, bench.es, bench.unique
    rules = Path(tempfile.mkdtemp()) / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{"name": "everything", "query": "*"}]}))
    slack = SlackServer()
    env = {**bench.env, "NEWSWATCH_SLACK_WEBHOOK_URL": slack.url}
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 0})
    docs = corpus(settings.seeds_dir, args.articles + 4, short_only=False)
    log = open(f"/tmp/alert-bench-{unique}.log", "w")
    pipeline = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "pipeline", "run", "--model", str(model_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    alerter = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "alert", "run", "--rules", str(rules)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    watcher = Watcher(es, settings.articles_alias)
    produced: dict[str, float] = {}

    def send(batch: list) -> None:
        for a in batch:
            producer.produce(settings.topic_raw, key=a.id.encode(), value=a.to_json_bytes())
            produced[a.url] = time.monotonic()
        producer.flush()

    def wait_posts(total: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(slack.posts) < total:
            if pipeline.poll() is not None or alerter.poll() is not None or \
                    time.monotonic() > deadline:
                raise SystemExit(f"a stage stopped or is too slow; see {log.name}")
            time.sleep(0.05)

    try:
        # distinct titles: distinct stories, so the realert window keeps none quiet
        batch = [a.model_copy(update={"title": f"{a.title} #{n}"})
                 for n, a in enumerate(articles(docs, unique))]
        send(batch[:4])  # warm-up: model loaded, first bundles done
        wait_posts(4, timeout_s=240)
        for a in batch[4:]:
            watcher.expect(a.id)
            send([a])
            time.sleep(1 / args.rate)
        wait_posts(len(batch), timeout_s=120)
    finally:
        watcher.stop.set()
        _stop(alerter)
        _stop(pipeline)
        slack.close()

    measured = {a.url for a in batch[4:]}
    # the plain text of a message ends with the article's URL
    to_slack = [p.at - produced[url] for p in slack.posts
                if p.status == 200 and (url := p.payload["text"].rsplit(" ", 1)[-1]) in measured]
    searchable = list(watcher.seen.values())

    bench.cleanup(settings.alerts_index)

    print(f"model {model_dir.name}, {os.cpu_count()} cores, runner Prism (LOOPBACK), "
          f"{len(to_slack)} articles at {args.rate:g}/s, one Slack message each")
    print(_summary("produce -> Slack post", to_slack))
    print(_summary("peer, produce -> searchable (a query-based alerter's floor)", searchable))
    print(f"alerter's share (p50 difference): "
          f"{(percentile(to_slack, 0.5) - percentile(searchable, 0.5)) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
