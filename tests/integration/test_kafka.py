"""The real broker: records come back byte-identical; topics are created idempotently."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import ConfigResource

from pipelines.kafka_admin import ensure_topics, topic_specs

pytestmark = pytest.mark.integration


def test_record_is_consumed_back_byte_identical(stack, topic):
    value = "東京 — «news» \x00".encode() + bytes(range(256))  # not even valid UTF-8
    key = b"article-\xff\xfe"
    headers = [("schema", b"1")]
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True,
                         "acks": "all"})
    delivered = []
    producer.produce(topic, value=value, key=key, headers=headers,
                     on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
    assert producer.flush(30) == 0
    assert delivered == [(None, 0)]

    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap,
                         "group.id": f"test-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None:
                break
        assert message is not None and message.error() is None
        assert message.value() == value
        assert message.key() == key
        assert message.headers() == headers
        assert (message.topic(), message.partition(), message.offset()) == (topic, 0, 0)
        assert consumer.poll(2.0) is None  # exactly one record
    finally:
        consumer.close()


def test_topics_are_created_once_with_their_retention(stack, unique):
    settings = stack.model_copy(update={
        "topic_raw": f"{unique}.raw", "topic_classified": f"{unique}.classified",
        "topic_deadletter": f"{unique}.dead",
    })
    specs = topic_specs(settings)
    try:
        assert sorted(ensure_topics(stack.kafka, specs)) == sorted(s.name for s in specs)
        assert ensure_topics(stack.kafka, specs) == []  # idempotent

        admin = stack.kafka.admin()
        metadata = admin.list_topics(timeout=10).topics
        assert len(metadata[f"{unique}.raw"].partitions) == 3
        assert len(metadata[f"{unique}.dead"].partitions) == 1
        resource = ConfigResource(ConfigResource.Type.TOPIC, f"{unique}.raw")
        config = admin.describe_configs([resource])[resource].result()
        assert config["retention.ms"].value == "-1"  # replay needs the whole history
        assert config["retention.bytes"].value == "-1"
    finally:
        stack.kafka.admin().delete_topics(
            [s.name for s in specs])
