"""The Beam pipeline on the real Kafka and Elasticsearch, with the real (tiny) model.

Each test drives the real entry point, `newswatch pipeline run|replay`, as a process,
on the local Prism runner.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from classifiers.labels import LABELS
from pipelines.schema import ClassifiedArticle, DeadLetter
from tests.integration.pipeline_helpers import (
    PipelineEnv,
    article,
    stop,
)
from tests.support.feed_server import FeedServer, feed_reply, rss
from tests.support.kafka_read import read_topic

pytestmark = pytest.mark.integration


def _assert_classified(doc: ClassifiedArticle, model_version: str) -> None:
    assert doc.model_version == model_version
    assert set(doc.scores) == set(LABELS)
    assert all(0.0 <= s <= 1.0 for s in doc.scores.values())
    assert set(doc.evidence) == set(doc.labels)  # a passage for every label given
    assert all(doc.evidence[label] for label in doc.labels)
    assert doc.published_at <= doc.collected_at + timedelta(days=1)
    assert doc.collected_at <= doc.classified_at <= doc.indexed_at


def test_feed_to_collector_to_pipeline_to_elasticsearch(pipeline_env: PipelineEnv, tmp_path):
    penv = pipeline_env
    server = FeedServer()
    items = [{"title": f"Port operator stake {i}", "link": f"http://news.test/e2e/{i}",
              "description": f"A foreign state firm buys a stake in terminal {i} and the "
                             "land next to a naval base."} for i in range(5)]
    server.add("/feed", lambda _seen: feed_reply(rss(items)))
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": [
        {"url": server.url("/feed"), "name": "e2e", "allow_private": True}]}))
    collected = penv.cli("collect", "--once", "--feeds", str(feeds_file))
    assert collected.returncode == 0, collected.stderr
    raw = read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_raw)
    assert len(raw) == 5
    ids = {key.decode() for key, _ in raw}
    penv.produce([], extra=[(b"broken", b"{this is not an article")])

    process = penv.start("run")
    try:
        penv.wait_for_count(5, process)
        docs = penv.indexed()
        assert set(docs) == ids
        for doc in docs.values():
            _assert_classified(doc, penv.model_version)
            assert doc.source == "e2e"
        deadline = time.monotonic() + 60
        while sum(penv.committed().values()) < sum(penv.end_offsets().values()):
            assert time.monotonic() < deadline, (penv.committed(), penv.end_offsets())
            time.sleep(0.5)
    finally:
        code = stop(process, signal.SIGTERM)
    assert code == 0, penv.log_text()[-3000:]
    assert "pipeline draining signal=SIGTERM" in penv.log_text()
    log = " ".join(penv.log_text().split())
    summary = log[log.index("pipeline interval_s="):]
    for key in ("read=", "indexed=", "rate_per_s=", "dead_lettered=", "repeats=", "lag=",
                "batch_mean=", "latency_p50_ms_le=", "latency_p95_ms_le="):
        assert key in summary.split(" pipeline ")[0], summary[:400]
    assert "pipeline stopped state=DONE indexed=5 dead_lettered=1 repeats=0" in log

    dead = read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_deadletter)
    assert len(dead) == 1
    letter = DeadLetter.model_validate_json(dead[0][1])
    assert letter.step == "pipeline.parse"
    assert letter.payload == b"{this is not an article"
    assert letter.key == "broken"
    assert letter.source_topic == penv.settings.topic_raw
    assert "not valid JSON" in letter.error or "Invalid JSON" in letter.error

    events = read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_classified)
    assert sorted(k.decode() for k, _ in events) == sorted(ids)  # one event per article
    for key, value in events:
        event = ClassifiedArticle.model_validate_json(value)
        assert event.id == key.decode()
        assert event == docs[event.id]  # the event is the indexed document


def test_kill_minus_nine_under_load_then_restart_loses_and_doubles_nothing(
        pipeline_env: PipelineEnv):
    penv = pipeline_env
    total = 400
    articles = [article(n) for n in range(total)]
    stop_producing = threading.Event()

    def produce_steadily() -> None:
        for start in range(0, total, 20):
            penv.produce(articles[start:start + 20])
            if stop_producing.wait(0.15):
                return

    process = penv.start("run")
    producer = threading.Thread(target=produce_steadily)
    producer.start()
    try:
        penv.wait_for_count(60, process)
        code = stop(process, signal.SIGKILL)
        assert code == -signal.SIGKILL
        at_kill = penv.count()
        assert at_kill < total, "the kill came too late to prove anything"
        producer.join()
        restarted = penv.start("run")
        penv.wait_for_count(total, restarted, timeout_s=300)
        time.sleep(3)  # anything doubled or late would show now
        docs = penv.indexed()
    finally:
        stop_producing.set()
        producer.join()
        if "restarted" in locals():
            stop(restarted)
    assert len(docs) == total
    assert set(docs) == {a.id for a in articles}
    assert penv.count() == total  # exactly once by id, and no extra document
    assert all(d.model_version == penv.model_version for d in docs.values())
    assert read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_deadletter) == []
    events = {k.decode() for k, _ in read_topic(penv.settings.kafka_bootstrap,
                                                 penv.settings.topic_classified)}
    assert events == set(docs)  # every article announced (repeats after the kill allowed)


def test_replay_is_bounded_counts_and_skips_what_is_there(pipeline_env: PipelineEnv):
    penv = pipeline_env
    hour = 3600 * 1000
    base = int(datetime(2026, 1, 10, tzinfo=UTC).timestamp() * 1000)
    penv.produce([article(n) for n in range(3)], timestamp_ms=base)  # before the range
    penv.produce([article(n) for n in range(3, 10)], timestamp_ms=base + 2 * hour)
    penv.produce([], extra=[(b"bad", b"\xff\xfe not utf-8")])  # now: inside an open range
    index = f"{penv.settings.articles_alias}-replay"

    first = penv.cli("pipeline", "replay", "--since", "2026-01-10T01:00:00",
                     "--until", "2026-01-10T03:00:00", "--index", index)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "replay read=7 indexed=7 dead_lettered=0 duplicates_skipped=0" in first.stderr
    docs = penv.indexed(index)
    assert set(docs) == {f"art-{n:05d}" for n in range(3, 10)}
    for doc in docs.values():
        _assert_classified(doc, penv.model_version)

    again = penv.cli("pipeline", "replay", "--since", "2026-01-10T00:00:00", "--index", index)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "replay read=11 indexed=3 dead_lettered=1 duplicates_skipped=7" in again.stderr
    assert penv.count(index) == 10
    dead = [DeadLetter.model_validate_json(v) for _k, v in
            read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_deadletter)]
    assert [(d.step, d.payload, d.error_type) for d in dead] == [
        ("pipeline.parse", b"\xff\xfe not utf-8", "RecordError")]
    # Replay never announces history: nothing on the classified topic.
    assert read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_classified) == []
    penv.es.indices.delete(index=index)


def test_a_document_elasticsearch_refuses_becomes_a_dead_letter_and_the_rest_index(
        pipeline_env: PipelineEnv):
    penv = pipeline_env
    index = f"{penv.settings.articles_alias}-strict"
    # An index whose mapping cannot take this source value: ES answers 400 for that document.
    penv.es.indices.create(index=index, mappings={"properties": {"source": {"type": "long"}}})
    good = [article(n, source="1234") for n in range(3)]
    refused = article(99, source="not-a-number")
    penv.produce([*good, refused])
    result = penv.cli("pipeline", "replay", "--since", "2000-01-01", "--index", index)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replay read=4 indexed=3 dead_lettered=1 duplicates_skipped=0" in result.stderr
    assert set(penv.indexed(index)) == {a.id for a in good}
    (_key, value), = read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_deadletter)
    letter = DeadLetter.model_validate_json(value)
    assert letter.step == "pipeline.index"
    assert letter.error_type == "DocumentRejected"
    assert "(400)" in letter.error and "document_parsing_exception" in letter.error
    assert "not-a-number" in letter.error
    assert json.loads(base64.b64decode(letter.payload_b64))["id"] == refused.id
    penv.es.indices.delete(index=index)


def test_a_range_whose_records_retention_deleted_ends_with_what_is_left(
        pipeline_env: PipelineEnv):
    """Offsets computed, then records deleted (as retention does) before the read: the
    bounded read must end with the records that are left, not wait for the missing."""
    from confluent_kafka import TopicPartition

    from pipelines.stack.prism import ensure_prism
    from pipelines.stream.kafka_source import PartitionRange
    from pipelines.stream.pipeline import PipelineConfig, run

    penv = pipeline_env
    penv.produce([article(n) for n in range(9)])
    raw = penv.settings.topic_raw
    ends = penv.end_offsets()
    ranges = [PartitionRange(raw, p, 0, end) for p, end in ends.items()]
    admin = penv.settings.kafka.admin()
    doomed = [TopicPartition(raw, p, end - 1) for p, end in ends.items() if end > 1]
    for future in admin.delete_records(doomed).values():
        future.result()
    kept = sum(1 for end in ends.values() if end > 0)
    index = f"{penv.settings.articles_alias}-000001"
    registry_dir = penv.settings.models_dir / penv.model_version
    config = PipelineConfig(
        kafka=penv.settings.kafka, raw_topic=raw,
        deadletter_topic=penv.settings.topic_deadletter, es=penv.settings.elasticsearch,
        index=index, model_dir=registry_dir, group_id="replay-test", ranges=ranges,
        commit_offsets=False)
    argv = ["--runner=PrismRunner", f"--prism_location={ensure_prism(penv.settings)}",
            "--environment_type=LOOPBACK", "--experiments=prism_disable_sdf_split"]
    result = run(argv, config)
    assert result.wait_until_finish(duration=120_000) == "DONE"
    assert penv.count(index) == kept
