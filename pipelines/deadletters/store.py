"""The dead-letter topic as something to read and re-drive.

Every stage writes a ``DeadLetter`` carrying the original payload, the step and the
error. Once the cause is fixed (a mapping corrected, a parser mended), ``redrive``
puts the original records back on the raw topic with their original keys; the
pipeline treats them like any article, and since documents are keyed by article id
a record re-driven twice still ends as one document.
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import KafkaError, TopicPartition
from pydantic import ValidationError

from pipelines.errors import NewswatchError
from pipelines.kafka_connection import KafkaConnection
from pipelines.schema import DeadLetter


class RedriveError(NewswatchError):
    """Kafka did not take every re-driven record; the report says how many went."""


@dataclass(frozen=True)
class StoredLetter:
    offset: int
    letter: DeadLetter


def read_letters(kafka: KafkaConnection, topic: str,
                 timeout_s: float = 30.0) -> list[StoredLetter]:
    """Every dead letter now in the topic, in offset order (read up to the end offsets
    seen at the start, so the call ends even while letters keep arriving)."""
    consumer = kafka.consumer(f"nw-dl-{uuid.uuid4().hex}", {"auto.offset.reset": "earliest"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise NewswatchError(f"no dead-letter topic {topic} on {kafka}")
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in metadata.partitions}
        pending = {p: hi for p, (lo, hi) in ends.items() if hi > lo}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in pending])
        letters: list[StoredLetter] = []
        while pending:
            message = consumer.poll(timeout_s)
            if message is None:
                raise NewswatchError(f"the dead-letter topic {topic} stopped answering")
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise NewswatchError(f"reading {topic}: {message.error()}")
            try:
                letters.append(StoredLetter(message.offset(),
                                            DeadLetter.model_validate_json(message.value())))
            except ValidationError:
                pass  # not a newswatch dead letter (written by something else): not ours
            if message.offset() + 1 >= pending.get(message.partition(), 0):
                pending.pop(message.partition(), None)
        return sorted(letters, key=lambda s: s.offset)
    finally:
        consumer.close()


def chosen(letters: Iterable[StoredLetter], step: str | None = None,
           since: datetime | None = None) -> list[StoredLetter]:
    return [s for s in letters if (step is None or s.letter.step == step)
            and (since is None or s.letter.failed_at >= since)]


# Letters of these steps hold the raw record as it came from the raw topic; others hold
# something else (an alert's letter holds the alert) and are not re-driven there.
REDRIVABLE = ("pipeline.",)


@dataclass(frozen=True)
class RedriveReport:
    sent: Counter[str]
    skipped_truncated: list[int]
    skipped_steps: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def redrive(kafka: KafkaConnection, raw_topic: str,
            letters: Iterable[StoredLetter]) -> RedriveReport:
    """Put each pipeline letter's original record back on the raw topic (acks=all). A
    letter whose payload was cut to fit its topic, or of a step whose payload is not a
    raw record, is not re-driven and is reported instead."""
    producer = kafka.producer("newswatch-redrive")
    sent: Counter[str] = Counter()
    skipped: list[int] = []
    other_steps: Counter[str] = Counter()
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for stored in letters:
        letter = stored.letter
        if not letter.step.startswith(REDRIVABLE):
            other_steps[letter.step] += 1
            continue
        if letter.payload_truncated:
            skipped.append(stored.offset)
            continue
        producer.produce(raw_topic, value=base64.b64decode(letter.payload_b64),
                         key=letter.key.encode() if letter.key is not None else None,
                         on_delivery=delivered)
        producer.poll(0)
        sent[letter.step] += 1
    remaining = producer.flush(60)
    if remaining or failures:
        raise RedriveError(f"{remaining} re-driven records unacknowledged and {len(failures)} "
                           f"refused by Kafka ({failures[:3]}); of {sum(sent.values())} sent, "
                           "the acknowledged ones will be classified")
    return RedriveReport(sent, skipped, other_steps)
