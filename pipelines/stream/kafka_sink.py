"""Publishing to Kafka from the pipeline: every record acknowledged before the bundle ends.

A bundle's Kafka offsets are committed only after the bundle succeeded, so a
publish that Kafka did not acknowledge must fail the bundle: ``finish_bundle``
waits for every delivery report and raises on any error. The producer is
idempotent with acks=all, so the retried bundle cannot reorder a partition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import apache_beam as beam
from confluent_kafka import KafkaError, Message

from pipelines.errors import NewswatchError
from pipelines.kafka_connection import KafkaConnection
from pipelines.schema import ClassifiedArticle, DeadLetter

log = logging.getLogger(__name__)


class KafkaPublishError(NewswatchError):
    """Kafka did not acknowledge a record; the bundle fails and is read again."""


# Below Kafka's default message limit (1 MiB, broker message.max.bytes and the topic's
# max.message.bytes), with room for the record's key and headers.
MAX_LETTER_BYTES = 900_000


@dataclass(frozen=True)
class ProducerConfig:
    kafka: KafkaConnection
    topic: str
    flush_timeout_s: float = 120.0


class PublishToKafka(beam.DoFn):
    """Base: publish (key, value) pairs to one topic, all acknowledged by bundle end."""

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self.published = beam.metrics.Metrics.counter("newswatch", f"published.{config.topic}")

    def setup(self) -> None:
        self._producer = self.config.kafka.producer(
            "newswatch-pipeline", {"linger.ms": 5, "compression.type": "zstd"})
        self._errors: list[str] = []
        self._sent = 0

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(f"{message.topic()}: {error}")

    def publish(self, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.config.topic, key=key, value=value,
                                       on_delivery=self._delivered)
                break
            except BufferError:
                self._producer.poll(0.1)
        self._producer.poll(0)
        self._sent += 1

    def finish_bundle(self) -> None:
        if not self._sent:
            return
        remaining = self._producer.flush(self.config.flush_timeout_s)
        errors, self._errors = self._errors, []
        sent, self._sent = self._sent, 0
        if remaining or errors:
            raise KafkaPublishError(
                f"{remaining} records unacknowledged and {len(errors)} failed publishing to "
                f"{self.config.topic}: {errors[:3]}")
        self.published.inc(sent)

    def teardown(self) -> None:
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.flush(10)


class PublishClassified(PublishToKafka):
    """The classified event for downstream consumers (the alerter), keyed by article id."""

    def process(self, article: ClassifiedArticle) -> None:
        self.publish(article.id.encode(), article.to_json_bytes())


class PublishDeadLetters(PublishToKafka):
    """Dead letters, keyed by where the record came from so that repeats are recognisable."""

    def process(self, letter: DeadLetter) -> None:
        key = f"{letter.source_topic}/{letter.source_partition}/{letter.source_offset}"
        self.publish(key.encode(), letter.fitted(MAX_LETTER_BYTES).to_json_bytes())
