"""Reading the raw topic in Beam: one splittable DoFn per partition, offsets committed
only when a bundle has been fully handled.

Why our own source rather than Beam's ``ReadFromKafka``: that one is a Java
cross-language transform (expansion service, Java SDK harness); see
docs/adr/0004-stream-runner.md. This one is plain Python on confluent-kafka, so
the read is fused into the same bundle as parsing, classification and the
Elasticsearch write, and the offsets of a bundle are committed by Beam's bundle
finalization, which the runner calls only after every step of that bundle
succeeded. A crash before that point re-reads the bundle: at-least-once, made
exactly-once in Elasticsearch by deterministic document ids.

The restriction is an offset range of one partition. Streaming uses an open
range and returns a checkpoint as soon as it has caught up with the partition (a
lone record is handed on at once) or has read ``max_records``; a replay uses a
closed range and ends by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import apache_beam as beam
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.io.watermark_estimators import WalltimeWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.utils.timestamp import Duration
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from pipelines.errors import NewswatchError
from pipelines.kafka_connection import KafkaConnection

log = logging.getLogger(__name__)

OPEN_END = 2**63 - 1
"""The stop of a streaming restriction: Kafka offsets never reach it."""

_drain = threading.Event()


def request_drain() -> None:
    """Make every streaming read in this process end after its current poll.

    With the in-process (LOOPBACK) worker of the local runner this is how SIGTERM
    stops the pipeline cleanly: the reads finish, their bundles are completed and
    committed, the watermark reaches the end and the job is done. On a
    distributed runner use the runner's own drain (Flink: stop-with-savepoint).
    """
    _drain.set()


def reset_drain() -> None:
    _drain.clear()


def _nothing_to_commit() -> None:
    pass


class KafkaSourceError(NewswatchError):
    """Kafka refused a read or a commit in a way retrying the bundle would not fix."""


@dataclass(frozen=True)
class PartitionRange:
    """The work of one partition: offsets [start, stop); stop is OPEN_END when streaming."""

    topic: str
    partition: int
    start: int
    stop: int = OPEN_END


@dataclass(frozen=True)
class KafkaRecord:
    """One record as read, kept whole so that a dead letter can carry the original bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int

    @property
    def where(self) -> dict[str, str | int | None]:
        return {"source_topic": self.topic, "source_partition": self.partition,
                "source_offset": self.offset}


@dataclass(frozen=True)
class ConsumerConfig:
    """How the source connects; plain data so that it pickles into the workers."""

    kafka: KafkaConnection
    group_id: str
    commit: bool = True
    max_records: int = 256
    backlog_wait_s: float = 0.5
    # An idle partition is polled without blocking and checked again after resume_s.
    # Blocking inside a bundle makes the Prism runner spin a core while it waits
    # (docs/adr/0004-stream-runner.md), so the wait happens between bundles instead.
    idle_poll_s: float = 0.0
    resume_s: float = 0.2


class PartitionTracker(RestrictionTracker):
    """Tracks an offset range that only ever splits at the current position.

    Dynamic splits of an open range would hand a far-away offset to another
    worker for nothing, so only checkpoints (fraction 0) are honoured.
    """

    def __init__(self, restriction: OffsetRange) -> None:
        self._range = restriction
        self._next = restriction.start
        self._lock = threading.Lock()

    def current_restriction(self) -> OffsetRange:
        return self._range

    def try_claim(self, position: int) -> bool:
        """Claim an offset; an open range under drain ends here instead."""
        with self._lock:
            if position < self._next:
                raise ValueError(f"offset {position} claimed after {self._next - 1}")
            if _drain.is_set() and self._range.stop == OPEN_END:
                self._range = OffsetRange(self._range.start, self._next)
                return False
            if position >= self._range.stop:
                self._next = self._range.stop
                return False
            self._next = position + 1
            return True

    def try_split(self, fraction_of_remainder: float) -> tuple[OffsetRange, OffsetRange] | None:
        with self._lock:
            if fraction_of_remainder != 0 or self._next >= self._range.stop:
                return None
            primary = OffsetRange(self._range.start, self._next)
            residual = OffsetRange(self._next, self._range.stop)
            self._range = primary
            return primary, residual

    def check_done(self) -> None:
        if self._next < self._range.stop:
            raise ValueError(f"offsets {self._next}..{self._range.stop - 1} were not read")

    def current_progress(self) -> RestrictionProgress:
        done = self._next - self._range.start
        remaining = 1 if self._range.stop == OPEN_END else self._range.stop - self._next
        # Never 0 of 0: the SDK divides by the sum when the runner asks for a split.
        if not done:
            remaining = max(1, remaining)
        return RestrictionProgress(completed=done, remaining=remaining)

    def is_bounded(self) -> bool:
        return self._range.stop != OPEN_END


class PartitionRestrictions(RestrictionProvider):
    def initial_restriction(self, element: PartitionRange) -> OffsetRange:
        return OffsetRange(element.start, element.stop)

    def create_tracker(self, restriction: OffsetRange) -> PartitionTracker:
        return PartitionTracker(restriction)

    def restriction_size(self, element: PartitionRange, restriction: OffsetRange) -> int:
        return 1 if restriction.stop == OPEN_END else restriction.stop - restriction.start

    def split(self, element: PartitionRange, restriction: OffsetRange) -> Iterator[OffsetRange]:
        yield restriction


_RESTRICTION = beam.DoFn.RestrictionParam(PartitionRestrictions())
_WALLTIME = beam.DoFn.WatermarkEstimatorParam(WalltimeWatermarkEstimator.default_provider())


class _ReadPartition(beam.DoFn):
    """Reads one partition's range; commits each bundle's last offset at finalization."""

    def __init__(self, config: ConsumerConfig) -> None:
        self.config = config
        self._consumers: dict[tuple[str, int], Consumer] = {}
        self._positions: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.records_read = beam.metrics.Metrics.counter("newswatch", "records_read")

    def __getstate__(self) -> dict[str, object]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["config"])  # type: ignore[misc,arg-type]

    def _consumer(self, topic: str, partition: int, start: int) -> Consumer:
        key = (topic, partition)
        with self._lock:
            consumer = self._consumers.get(key)
            if consumer is None:
                consumer = self.config.kafka.consumer(self.config.group_id, {
                    "enable.auto.offset.store": False,
                    "enable.partition.eof": False,
                    # Offsets below the log start were deleted by retention: go on from
                    # the oldest record there is (the raw topic keeps everything).
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": 50,
                })
                self._consumers[key] = consumer
            if self._positions.get(key) != start:
                consumer.assign([TopicPartition(topic, partition, start)])
                self._positions[key] = start
            return consumer

    def _commit(self, topic: str, partition: int, next_offset: int) -> None:
        key = (topic, partition)
        with self._lock:
            if self._committed.get(key, -1) >= next_offset:
                return
            consumer = self._consumers[key]
        try:
            consumer.commit(offsets=[TopicPartition(topic, partition, next_offset)],
                            asynchronous=False)
        except KafkaException as exc:
            # The bundle's work is done and idempotent; the next commit covers these offsets.
            log.warning("kafka commit failed topic=%s partition=%d offset=%d error=%s",
                        topic, partition, next_offset, exc)
            return
        with self._lock:
            self._committed[key] = max(self._committed.get(key, -1), next_offset)

    def process(
        self,
        element: PartitionRange,
        # Beam passes the finalizer by position, the tracker by name: keep this order.
        finalizer: beam.DoFn.BundleFinalizerParam = beam.DoFn.BundleFinalizerParam,
        tracker: PartitionTracker = _RESTRICTION,
    ) -> Iterator[KafkaRecord]:
        yield from self._read(element, tracker, finalizer)

    def _read(
        self, element: PartitionRange, tracker: PartitionTracker,
        finalizer: beam.DoFn.BundleFinalizerParam,
    ) -> Iterator[KafkaRecord]:
        restriction = tracker.current_restriction()
        key = (element.topic, element.partition)
        consumer = self._consumer(element.topic, element.partition, restriction.start)
        bounded = restriction.stop != OPEN_END
        started = time.monotonic()
        read = 0
        last_offset: int | None = None
        finished = False
        partition = TopicPartition(element.topic, element.partition)
        while read < self.config.max_records:
            waited = time.monotonic() - started
            if _drain.is_set() and not bounded and not read:
                finished = not tracker.try_claim(self._positions[key])
                break
            # Wait for records only where some are known to exist: a closed range, a
            # backlog behind the cached end offset, or a consumer with no fetch yet.
            # Otherwise the partition is idle: the bundle ends and a later one looks
            # again. Once caught up the bundle ends at once, so a lone article is
            # handed on without delay, and a backlog fills the bundle (bigger batches).
            _low, high = consumer.get_watermark_offsets(partition, cached=True)
            known_end = high is not None and high >= 0
            if known_end and self._positions[key] >= high and (read or not bounded):
                break
            expecting = bounded or not known_end or self._positions[key] < high
            budget = self.config.backlog_wait_s if expecting else self.config.idle_poll_s
            message = consumer.poll(max(0.0, budget - waited) if not read else budget)
            if message is None:
                break
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.retriable():
                    log.warning("kafka read topic=%s partition=%d error=%s",
                                element.topic, element.partition, error)
                    continue
                raise KafkaSourceError(f"reading {element.topic}[{element.partition}]: {error}")
            offset = message.offset()
            if not tracker.try_claim(offset):
                finished = True
                break
            self._positions[key] = offset + 1
            last_offset = offset
            read += 1
            _, timestamp_ms = message.timestamp()
            yield KafkaRecord(element.topic, element.partition, offset, message.key(),
                              message.value() or b"", timestamp_ms)
        if read:
            self.records_read.inc(read)
        if bounded and not finished:
            finished = self._reached_stop(consumer, element, restriction.stop, tracker)
        # Registered even when nothing was read: the runner finalizes every bundle of
        # this stage, and the SDK harness only keeps bundles that registered a callback.
        if last_offset is not None and self.config.commit:
            finalizer.register(partial(self._commit, element.topic, element.partition,
                                       last_offset + 1))
        else:
            finalizer.register(_nothing_to_commit)
        if not finished:
            # A checkpoint: the rest is read by a later bundle, at once when there is a
            # backlog, after resume_s when the partition was idle.
            tracker.defer_remainder(Duration(seconds=0 if read else self.config.resume_s))

    def _reached_stop(self, consumer: Consumer, element: PartitionRange, stop: int,
                      tracker: PartitionTracker) -> bool:
        """A closed range may end on an offset no record has (a transaction marker,
        a compacted record): done once the consumer's position is at or past the stop."""
        tp = TopicPartition(element.topic, element.partition)
        position = consumer.position([tp])[0].offset
        low, _high = consumer.get_watermark_offsets(tp, timeout=10)
        if low >= stop:
            log.warning("kafka records %s[%d] %d..%d were deleted by retention before they "
                        "were read", element.topic, element.partition,
                        self._positions.get((element.topic, element.partition), 0), stop - 1)
        if max(position, low) >= stop or self._positions.get(
                (element.topic, element.partition), 0) >= stop:
            tracker.try_claim(stop)
            return True
        return False

    def teardown(self) -> None:
        with self._lock:
            consumers = list(self._consumers.values())
            self._consumers.clear()
            self._positions.clear()
        for consumer in consumers:
            consumer.close()


class _ReadPartitionStreaming(_ReadPartition):
    """The open-ended variant: its output is an unbounded PCollection."""

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: PartitionRange,
        # Beam passes the finalizer by position, the tracker by name: keep this order.
        finalizer: beam.DoFn.BundleFinalizerParam = beam.DoFn.BundleFinalizerParam,
        tracker: PartitionTracker = _RESTRICTION,
        _watermark: object = _WALLTIME,
    ) -> Iterator[KafkaRecord]:
        yield from self._read(element, tracker, finalizer)


class ReadFromKafkaPartitions(beam.PTransform):
    """Reads the given partition ranges; open ranges stream, closed ranges end."""

    def __init__(self, config: ConsumerConfig, ranges: list[PartitionRange]) -> None:
        super().__init__()
        self.config = config
        self.ranges = ranges

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[KafkaRecord]:
        streaming = any(r.stop == OPEN_END for r in self.ranges)
        reader = _ReadPartitionStreaming if streaming else _ReadPartition
        return (pbegin
                | "Partitions" >> beam.Create(self.ranges)
                | "Read" >> beam.ParDo(reader(self.config)))


def committed_or_earliest(config: ConsumerConfig, topic: str,
                          partitions: list[int]) -> list[PartitionRange]:
    """Where a streaming read starts: the group's committed offset, else the beginning."""
    consumer = config.kafka.consumer(config.group_id)
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions],
                                       timeout=30)
        ranges = []
        for tp in committed:
            start = tp.offset
            if start < 0:
                low, _high = consumer.get_watermark_offsets(tp, timeout=30)
                start = low
            ranges.append(PartitionRange(topic, tp.partition, start))
        return ranges
    finally:
        consumer.close()


def partitions_of(kafka: KafkaConnection, topic: str) -> list[int]:
    consumer = kafka.consumer("newswatch-metadata")
    try:
        metadata = consumer.list_topics(topic, timeout=30)
    finally:
        consumer.close()
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        raise KafkaSourceError(f"topic {topic!r} does not exist on {kafka}; "
                               "run `newswatch stack up` or create it")
    return sorted(info.partitions)

