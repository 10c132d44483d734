"""The Health page's facts: Kafka lag, pipeline throughput, dead letters, the model.

Each fact is gathered on its own and a failure becomes a message in its place: a
Kafka that does not answer must not hide that Elasticsearch does, and the page
exists precisely for the day something is down.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from confluent_kafka import KafkaException
from elasticsearch import ApiError, TransportError

from pipelines.board.reads import BoardReads, ModelSummary, promoted_model
from pipelines.deadletters.store import read_letters
from pipelines.errors import NewswatchError
from pipelines.kafka_admin import group_positions
from pipelines.settings import Settings

log = logging.getLogger(__name__)

THROUGHPUT_WINDOWS = (("last minute", timedelta(minutes=1)),
                      ("last 5 minutes", timedelta(minutes=5)),
                      ("last hour", timedelta(hours=1)))


@dataclass(frozen=True)
class Lag:
    partitions: dict[int, tuple[int, int]]
    """partition -> (committed offset, end offset)"""

    @property
    def total(self) -> int:
        return sum(max(0, end - committed) for committed, end in self.partitions.values())


@dataclass(frozen=True)
class DeadLetterStep:
    step: str
    count: int
    errors: list[tuple[str, str]]
    """The newest few: (error type, message)."""


@dataclass
class Health:
    lag: Lag | None = None
    lag_error: str | None = None
    throughput: list[tuple[str, int, float]] = field(default_factory=list)
    """(window name, articles indexed, articles per minute)"""
    throughput_error: str | None = None
    dead_letters: list[DeadLetterStep] = field(default_factory=list)
    dead_letters_error: str | None = None
    model: ModelSummary | None = None


def pipeline_lag(settings: Settings, timeout_s: float = 5.0) -> Lag:
    """How far the pipeline's consumer group is behind the raw topic, per partition.
    A partition the group never committed counts from the topic's start."""
    return Lag(group_positions(settings.kafka, settings.pipeline_group_id, settings.topic_raw,
                               timeout_s))


def dead_letter_steps(settings: Settings, newest: int = 3) -> list[DeadLetterStep]:
    """Dead letters counted by step, each with its newest errors."""
    letters = read_letters(settings.kafka, settings.topic_deadletter, timeout_s=5.0)
    counts = Counter(s.letter.step for s in letters)
    steps = []
    for step, count in counts.most_common():
        mine = [s.letter for s in letters if s.letter.step == step][-newest:]
        steps.append(DeadLetterStep(step, count, [(letter.error_type, letter.error[:300])
                                                  for letter in reversed(mine)]))
    return steps


def gather(settings: Settings, reads: BoardReads, now: datetime) -> Health:
    health = Health(model=promoted_model(settings.models_dir))
    try:
        health.lag = pipeline_lag(settings)
    except KafkaException as exc:
        log.warning("board health: Kafka lag: %s", exc)
        health.lag_error = f"Kafka at {settings.kafka} did not answer: {exc}"
    except NewswatchError as exc:
        health.lag_error = f"no lag to show: {exc}"
    try:
        body = {"size": 0, "track_total_hits": False, "aggs": {"windows": {"filters": {
            "filters": {name: {"range": {"indexed_at": {"gte": (now - delta).isoformat()}}}
                        for name, delta in THROUGHPUT_WINDOWS}}}}}
        buckets = reads.articles(body)["aggregations"]["windows"]["buckets"]
        health.throughput = [(name, int(buckets[name]["doc_count"]),
                              round(buckets[name]["doc_count"] / (delta.total_seconds() / 60),
                                    2)) for name, delta in THROUGHPUT_WINDOWS]
    except (ApiError, TransportError) as exc:
        health.throughput_error = f"Elasticsearch at {settings.elasticsearch} did not " \
                                  f"answer: {type(exc).__name__}"
    try:
        health.dead_letters = dead_letter_steps(settings)
    except (KafkaException, NewswatchError) as exc:
        log.warning("board health: dead letters: %s", exc)
        health.dead_letters_error = f"the dead-letter topic could not be read: {exc}"
    return health
