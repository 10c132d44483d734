"""Running the real `newswatch pipeline` as a process against per-test topics and indices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from elasticsearch import Elasticsearch

from pipelines.es_admin import ensure_articles_index
from pipelines.kafka_admin import ensure_topics, topic_specs
from pipelines.schema import Article, ClassifiedArticle
from pipelines.settings import Settings, load_settings


@dataclass
class PipelineEnv:
    """One test's private topics, alias, consumer group and model registry."""

    settings: Settings
    env: dict[str, str]
    es: Elasticsearch
    model_version: str
    logs: list[Path] = field(default_factory=list)

    def start(self, *args: str, log_name: str = "pipeline") -> subprocess.Popen[str]:
        log = self.settings.state_dir / f"{log_name}-{len(self.logs)}.log"
        self.logs.append(log)
        handle = log.open("w")
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines", "pipeline", *args], env=self.env,
            stdout=handle, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def cli(self, *args: str, timeout: float = 300,
            env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipelines", *args],
                              env={**self.env, **(env_extra or {})}, capture_output=True,
                              text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)

    def log_text(self) -> str:
        return "\n".join(p.read_text() for p in self.logs if p.exists())

    def produce(self, articles: list[Article], extra: list[tuple[bytes, bytes]] = (),
                timestamp_ms: int | None = None) -> None:
        producer = Producer({"bootstrap.servers": self.settings.kafka_bootstrap,
                             "enable.idempotence": True})
        for article in articles:
            kwargs = {"timestamp": timestamp_ms} if timestamp_ms else {}
            producer.produce(self.settings.topic_raw, key=article.id.encode(),
                             value=article.to_json_bytes(), **kwargs)
        for key, value in extra:
            producer.produce(self.settings.topic_raw, key=key, value=value)
        assert producer.flush(30) == 0

    def indexed(self, index: str | None = None) -> dict[str, ClassifiedArticle]:
        target = index or self.settings.articles_alias
        self.es.indices.refresh(index=target)
        hits = self.es.search(index=target, query={"match_all": {}}, size=10_000)["hits"]
        return {h["_id"]: ClassifiedArticle.model_validate(h["_source"]) for h in hits["hits"]}

    def count(self, index: str | None = None) -> int:
        target = index or self.settings.articles_alias
        self.es.indices.refresh(index=target)
        return self.es.count(index=target)["count"]

    def wait_for_count(self, expected: int, process: subprocess.Popen[str] | None = None,
                       timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count() < expected:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"pipeline exited {process.returncode}:\n"
                                     f"{self.log_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.count()} of {expected} indexed after "
                                     f"{timeout_s:.0f}s:\n{self.log_text()[-4000:]}")
            time.sleep(0.5)

    def committed(self) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.settings.kafka_bootstrap,
                             "group.id": self.settings.pipeline_group_id})
        try:
            parts = [TopicPartition(self.settings.topic_raw, p) for p in range(3)]
            return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
        finally:
            consumer.close()

    def end_offsets(self) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.settings.kafka_bootstrap,
                             "group.id": "ends"})
        try:
            return {p: consumer.get_watermark_offsets(
                TopicPartition(self.settings.topic_raw, p), timeout=10)[1] for p in range(3)}
        finally:
            consumer.close()


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 90) -> int:
    """Signal the pipeline; SIGKILL goes to its whole group (the Prism runner too)."""
    if process.poll() is None:
        if sig == signal.SIGKILL:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.send_signal(sig)
    try:
        return process.wait(timeout=timeout)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def article(n: int, title: str = "", text: str = "", **fields: object) -> Article:
    now = datetime.now(UTC)
    values: dict[str, object] = dict(
        id=f"art-{n:05d}", url=f"https://news.test/{n}", feed_url="https://news.test/feed",
        source="news.test", title=title or f"Article {n}",
        content=text or f"Article number {n} about ports, chips and land near bases.",
        published_at=now, collected_at=now)
    return Article(**(values | fields))


def make_pipeline_env(stack: Settings, trained: tuple, tmp_path: Path,
                      **overrides: str) -> Iterator[PipelineEnv]:
    registry, result = trained
    unique = uuid.uuid4().hex[:10]
    state = tmp_path / "state"
    state.mkdir()
    (state / "models").symlink_to(registry.root, target_is_directory=True)
    values = {
        "NEWSWATCH_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "NEWSWATCH_ES_URL": stack.es_url,
        "NEWSWATCH_TOPIC_RAW": f"nw.test.raw.{unique}",
        "NEWSWATCH_TOPIC_CLASSIFIED": f"nw.test.classified.{unique}",
        "NEWSWATCH_TOPIC_DEADLETTER": f"nw.test.dead.{unique}",
        "NEWSWATCH_ARTICLES_ALIAS": f"newswatch-test-{unique}",
        "NEWSWATCH_FEEDBACK_INDEX": f"newswatch-test-feedback-{unique}",
        "NEWSWATCH_PIPELINE_GROUP_ID": f"nw-test-{unique}",
        "NEWSWATCH_STATE_DIR": str(state),
        "NEWSWATCH_CACHE_DIR": str(stack.cache_dir),
        "NEWSWATCH_PIPELINE_SUMMARY_INTERVAL_S": "2",
        **overrides,
    }
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "HF_HUB_OFFLINE": "1", **values}
    settings = load_settings(**{k.removeprefix("NEWSWATCH_").lower(): v
                                for k, v in values.items()})
    specs = topic_specs(settings)  # the production shapes: the raw topic keeps everything
    ensure_topics(settings.kafka, specs)
    es = settings.elasticsearch.client()
    ensure_articles_index(es, settings.deploy_dir, settings.articles_alias)
    penv = PipelineEnv(settings, env, es, result.version)
    yield penv
    settings.kafka.admin().delete_topics(
        [s.name for s in specs])
    names = list(es.indices.get(index=f"{settings.articles_alias}-*",
                                allow_no_indices=True).body)
    if es.indices.exists(index=settings.feedback_index):
        names.append(settings.feedback_index)
    if names:
        es.indices.delete(index=",".join(names))
    es.indices.delete_index_template(name=settings.articles_alias)


@pytest.fixture
def pipeline_env(stack: Settings, trained: tuple, tmp_path: Path) -> Iterator[PipelineEnv]:
    yield from make_pipeline_env(stack, trained, tmp_path)


@pytest.fixture
def fresh_env(stack: Settings, tmp_path: Path) -> Iterator[PipelineEnv]:
    """A pipeline environment whose registry is empty, as on a fresh clone."""
    from types import SimpleNamespace

    from classifiers.registry import Registry

    registry = Registry(tmp_path / "registry")
    registry.root.mkdir()
    yield from make_pipeline_env(stack, (registry, SimpleNamespace(version=None)), tmp_path)
