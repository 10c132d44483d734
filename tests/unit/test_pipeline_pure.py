"""The pipeline's pure parts, without servers: parsing, the result conversion, the
latency histogram, the offset tracker, the dead-letter conversion and the runner options."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from apache_beam.io.restriction_trackers import OffsetRange

from classifiers.predictor import Prediction
from pipelines.articles import (
    RecordError,
    classified_article,
    latency_bucket,
    parse_article,
    percentile_from_buckets,
)
from pipelines.schema import Article
from pipelines.settings import load_settings
from pipelines.stream import kafka_source
from pipelines.stream.commands import beam_args
from pipelines.stream.dead_letters import parse_failures, split_unclassifiable
from pipelines.stream.kafka_source import OPEN_END, KafkaRecord, PartitionTracker
from pipelines.stream.model_handler import ArticleNotClassifiable, Unclassifiable

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _article(**changes: object) -> Article:
    values: dict[str, object] = dict(id="a1", url="https://x.test/1", feed_url="https://x.test/f",
                                     source="x", title="T", content="body",
                                     published_at=NOW, collected_at=NOW)
    return Article(**(values | changes))


def _record(value: bytes, offset: int = 7) -> KafkaRecord:
    return KafkaRecord("raw", 2, offset, b"k1", value, 1_700_000_000_000)


def test_parse_article_round_trips_and_names_what_is_wrong():
    article = _article()
    assert parse_article(article.to_json_bytes()) == article
    with pytest.raises(RecordError, match="empty record value"):
        parse_article(b"")
    with pytest.raises(RecordError, match="not UTF-8"):
        parse_article(b"\xff\xfe")
    with pytest.raises(RecordError, match="not a valid Article: .*Invalid JSON"):
        parse_article(b"{nope")
    with pytest.raises(RecordError, match="url: Field required"):
        parse_article(b'{"id": "x", "feed_url": "f", "source": "s", '
                      b'"published_at": "2026-01-01T00:00:00Z", '
                      b'"collected_at": "2026-01-01T00:00:00Z"}')


def test_classified_article_keeps_the_article_and_adds_the_verdict():
    prediction = Prediction("a1", {"tech_influence": 0.9, "property_purchase": 0.1,
                                   "infrastructure_dependency": 0.2},
                            ["tech_influence"], {"tech_influence": "the passage"})
    classified = classified_article(_article(), prediction, "v1", NOW)
    assert classified.model_dump(include=set(Article.model_fields) - {"schema_version"}) == \
        _article().model_dump(exclude={"schema_version"})
    assert (classified.labels, classified.evidence, classified.model_version) == (
        ["tech_influence"], {"tech_influence": "the passage"}, "v1")
    with pytest.raises(ValueError, match="paired with article"):
        classified_article(_article(id="other"), prediction, "v1", NOW)


def test_latency_histogram_and_its_percentiles():
    assert latency_bucket(0) == "le_100"
    assert latency_bucket(100) == "le_100"
    assert latency_bucket(101) == "le_250"
    assert latency_bucket(10**7) == "gt_300000"
    counts = {"le_100": 90, "le_500": 5, "le_1000": 4, "gt_300000": 1}
    assert percentile_from_buckets(counts, 0.5) == 100
    assert percentile_from_buckets(counts, 0.95) == 500
    assert percentile_from_buckets(counts, 0.99) == 1000
    assert percentile_from_buckets(counts, 1.0) == float("inf")
    assert percentile_from_buckets({}, 0.95) is None


def test_tracker_checkpoints_only_at_the_current_offset():
    tracker = PartitionTracker(OffsetRange(10, OPEN_END))
    assert tracker.try_claim(10) and tracker.try_claim(12)  # gaps are fine (compaction)
    assert tracker.try_split(0.5) is None  # no far-away splits of an open range
    primary, residual = tracker.try_split(0)
    assert (primary.start, primary.stop, residual.start, residual.stop) == (10, 13, 13, OPEN_END)
    tracker.check_done()
    with pytest.raises(ValueError, match="claimed after"):
        tracker.try_claim(11)


def test_closed_range_ends_and_reports_what_was_not_read():
    tracker = PartitionTracker(OffsetRange(0, 3))
    assert tracker.try_claim(0)
    with pytest.raises(ValueError, match="offsets 1..2 were not read"):
        tracker.check_done()
    assert not tracker.try_claim(3)
    tracker.check_done()
    assert tracker.is_bounded()


def test_drain_ends_an_open_range_at_the_next_claim():
    tracker = PartitionTracker(OffsetRange(5, OPEN_END))
    assert tracker.try_claim(5)
    kafka_source.request_drain()
    try:
        assert not tracker.try_claim(6)
        assert tracker.current_restriction().stop == 6
        tracker.check_done()
    finally:
        kafka_source.reset_drain()


def test_failures_become_dead_letters_with_the_original_bytes():
    record = _record(b"\x00raw bytes")
    letter = parse_failures("pipeline.parse")((record, (RecordError, "RecordError('bad')", [])))
    assert (letter.step, letter.error_type, letter.error) == (
        "pipeline.parse", "RecordError", "RecordError('bad')")
    assert base64.b64decode(letter.payload_b64) == b"\x00raw bytes"
    assert (letter.source_topic, letter.source_partition, letter.source_offset, letter.key) == (
        "raw", 2, 7, "k1")
    split = split_unclassifiable("pipeline.classify")
    failed = Unclassifiable(_record(b"one", 1), "1", ArticleNotClassifiable("bad text"))
    (tagged,) = split(failed)
    assert tagged.tag == "dead"
    assert (tagged.value.payload, tagged.value.source_offset, tagged.value.step,
            tagged.value.error_type, tagged.value.error) == (
        b"one", 1, "pipeline.classify", "ArticleNotClassifiable", "bad text")
    assert list(split("a classified article")) == ["a classified article"]


def test_runner_defaults_to_local_prism_and_obeys_an_explicit_runner(tmp_path):
    settings = load_settings(cache_dir=tmp_path)
    (tmp_path / "prism-2.77.0-loopback").mkdir()  # built with its listener on loopback
    (tmp_path / "prism-2.77.0-loopback" / "prism").write_text("")
    args = beam_args(settings, ["--max_num_workers=1"])
    assert args[:3] == ["--runner=PrismRunner",
                        f"--prism_location={tmp_path / 'prism-2.77.0-loopback' / 'prism'}",
                        "--environment_type=LOOPBACK"]
    assert args[-1] == "--max_num_workers=1"
    flink = ["--runner=FlinkRunner", "--flink_master=jm:8081", "--environment_type=PROCESS"]
    assert beam_args(settings, flink) == flink
