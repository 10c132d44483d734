"""Kafka administration: is the broker there, and do our topics exist with the right shape."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from pipelines.errors import NewswatchError
from pipelines.kafka_connection import KafkaConnection
from pipelines.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The three topics of newswatch.

    The raw topic keeps everything forever: replay and retraining read history
    from it. Classified events feed the alerter and need only days; dead
    letters are kept for a month so that somebody can look at them.
    """
    return [
        TopicSpec(settings.topic_raw, 3, {"retention.ms": "-1", "retention.bytes": "-1"}),
        TopicSpec(settings.topic_classified, 3, {"retention.ms": str(7 * DAY_MS)}),
        TopicSpec(settings.topic_deadletter, 1, {"retention.ms": str(30 * DAY_MS)}),
    ]


def kafka_answers(kafka: KafkaConnection, timeout_s: float = 3.0) -> bool:
    """True when a broker of ``kafka`` answers a metadata request."""
    try:
        kafka.admin().list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return True


def ensure_topics(kafka: KafkaConnection, specs: list[TopicSpec],
                  replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Idempotent."""
    admin = kafka.admin()
    futures = admin.create_topics(
        [NewTopic(s.name, num_partitions=s.partitions, replication_factor=replication,
                  config=s.config) for s in specs],
        operation_timeout=30,
        request_timeout=30,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise NewswatchError(f"could not create Kafka topic {name}: {error}") from exc
    if created:
        log.info("kafka topics created: %s", ",".join(sorted(created)))
    return created


def group_positions(kafka: KafkaConnection, group_id: str, topic: str,
                    timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    """Per partition of ``topic``: (where ``group_id`` has committed, the end offset). A
    partition the group never committed counts from the topic's start. Raises
    NewswatchError when the topic does not exist, KafkaException when Kafka does not
    answer."""
    consumer = kafka.consumer(group_id)
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise NewswatchError(f"Kafka has no topic {topic}")
        parts = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
        positions = {}
        for tp in consumer.committed(parts, timeout=timeout_s):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition),
                                                       timeout=timeout_s)
            positions[tp.partition] = (tp.offset if tp.offset >= 0 else low, high)
        return positions
    finally:
        consumer.close()
