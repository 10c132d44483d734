"""Kafka administration: is the broker there, and do our topics exist with the right shape."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
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
