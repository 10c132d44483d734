"""Read a whole topic, exactly up to its end offsets (no guessing with timeouts)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, TopicPartition


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[tuple[bytes, bytes]]:
    """Every (key, value) in the topic, partition by partition in offset order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions}
        wanted = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        records: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in wanted}
        done: set[int] = set()

        deadline = time.monotonic() + timeout_s
        while len(done) < len(wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {sum(map(len, records.values()))} of "
                                   f"{sum(wanted.values())} records of {topic}")
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records[message.partition()].append((message.key(), message.value()))
            if message.offset() + 1 >= wanted[message.partition()]:
                done.add(message.partition())
        return [r for p in sorted(records) for r in records[p]]
    finally:
        consumer.close()
