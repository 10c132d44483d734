"""One `pipeline run` per consumer group, decided by Kafka's own group assignment.

The Beam source reads fixed partitions and commits for its consumer group, so
two pipelines started with the same group would each read every partition. The
first to start takes the one partition of a lock topic in the group
``<group>.lock`` (cooperative-sticky assignment: the holder keeps it while a
newcomer joins); a second pipeline gets nothing assigned and is refused with a
clear message. A holder that dies loses the lock after the session timeout, so a
restarted pipeline takes over.

A holder whose assignment is revoked has not necessarily lost the lock: a broker
restarted or away for longer than the session timeout revokes it too, and the
consumer rejoins and gets it back when the broker returns. The lock counts as lost
only when a rebalance completes after the revocation and assigns this member
nothing (another member holds the partition); until then the pipeline keeps running
(it can read nothing while the broker is away anyway).
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import Consumer, TopicPartition

from pipelines.errors import NewswatchError
from pipelines.kafka_admin import TopicSpec, ensure_topics
from pipelines.kafka_connection import KafkaConnection

log = logging.getLogger(__name__)

LOCK_TOPIC = "newswatch.pipeline.lock"
SESSION_TIMEOUT_MS = 10_000


class GroupTaken(NewswatchError):
    """Another pipeline already runs with this consumer group."""


class GroupLock:
    """Held while the pipeline runs; a background thread keeps the membership alive."""

    def __init__(self, kafka: KafkaConnection, group_id: str) -> None:
        self.kafka, self.group_id = kafka, group_id
        self._assigned: list[int] | None = None
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._revoked_at: float | None = None
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None

    @property
    def lock_group(self) -> str:
        return f"{self.group_id}.lock"

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = sorted({*(self._assigned or []), *(p.partition for p in partitions)})
        if self._revoked_at is None:
            return
        if self._assigned:
            log.info("pipeline holds consumer group %s again", self.group_id)
            self._revoked_at = None
        elif not self._stop.is_set():
            # A rebalance completed and gave this member nothing: another one holds it.
            self._lost.set()
            log.error("pipeline lost the lock of consumer group %s: another pipeline holds it",
                      self.group_id)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        left = set(self._assigned or []) - {p.partition for p in partitions}
        self._assigned = sorted(left)
        if not left and not self._stop.is_set() and self._thread is not None:
            self._revoked_at = time.monotonic()
            log.warning("the lock of consumer group %s was revoked (a broker away longer than "
                        "the session timeout, or a rebalance): rejoining; the pipeline stops "
                        "only if another pipeline holds it", self.group_id)

    def acquire(self, wait_s: float = 2.5 * SESSION_TIMEOUT_MS / 1000) -> None:
        """Hold the group's lock, or raise GroupTaken. A holder that was killed keeps the
        lock until its session times out, so an empty assignment is waited out for
        ``wait_s`` (longer than the session timeout) before the answer is no."""
        ensure_topics(self.kafka, [TopicSpec(LOCK_TOPIC, 1)])
        consumer = self.kafka.consumer(self.lock_group, {
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": SESSION_TIMEOUT_MS, "client.id": "newswatch-pipeline-lock"})
        consumer.subscribe([LOCK_TOPIC], on_assign=self._on_assign, on_revoke=self._on_revoke)
        deadline = time.monotonic() + wait_s
        told = False
        while not self._assigned and time.monotonic() < deadline:
            consumer.poll(0.2)
            if self._assigned == [] and not told:
                told = True
                log.info("consumer group %s is held by another pipeline; waiting up to %.0fs "
                         "in case that one was killed", self.group_id, wait_s)
        if not self._assigned:
            consumer.close()
            raise GroupTaken(
                f"another `newswatch pipeline run` is using consumer group {self.group_id} "
                "(it holds the group's lock); stop it first, or give this one another group "
                "with NEWSWATCH_PIPELINE_GROUP_ID")
        self._consumer = consumer
        self._thread = threading.Thread(target=self._keep, name="group-lock", daemon=True)
        self._thread.start()
        log.info("pipeline holds consumer group %s", self.group_id)

    def _keep(self) -> None:
        while not self._stop.is_set():
            assert self._consumer is not None
            self._consumer.poll(0.5)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
