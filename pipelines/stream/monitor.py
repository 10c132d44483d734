"""What the running pipeline reports: Beam metrics and Kafka lag turned into one log line.

Counters come from the runner's metrics (the same on Prism and Flink); lag is
the raw topic's end offsets minus the group's committed offsets, which is what
is still to be read *and acknowledged*.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from apache_beam.runners.runner import PipelineResult
from confluent_kafka import KafkaException

from pipelines.articles import percentile_from_buckets
from pipelines.errors import NewswatchError
from pipelines.kafka_admin import group_positions
from pipelines.kafka_connection import KafkaConnection

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    counters: dict[str, int] = field(default_factory=dict)
    latency_buckets: dict[str, int] = field(default_factory=dict)
    batch_mean: float | None = None
    batch_max: int | None = None

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)


def _value(result: object) -> int | float | object:
    committed = getattr(result, "committed", None)
    attempted = getattr(result, "attempted", None)
    return committed if committed is not None else attempted


def snapshot(result: PipelineResult) -> Snapshot:
    """Our counters summed over steps; the latency histogram; classifier batch sizes."""
    # The portable runner's result caches its first metrics answer for good; a running
    # job's counters move, so ask the job service again each time.
    if getattr(result, "_metrics", None) is not None:
        result._metrics = None  # type: ignore[attr-defined]
    metrics = result.metrics().query()
    snap = Snapshot()
    counters: dict[str, int] = defaultdict(int)
    buckets: dict[str, int] = defaultdict(int)
    for counter in metrics["counters"]:
        namespace, name = counter.key.metric.namespace, counter.key.metric.name
        value = _value(counter) or 0
        if namespace == "newswatch":
            counters[name] += int(value)
        elif namespace == "newswatch.latency":
            buckets[name] += int(value)
        elif namespace == "newswatch.classify" and name == "num_inferences":
            counters["classified"] += int(value)
    for dist in metrics["distributions"]:
        if dist.key.metric.name == "inference_request_batch_size":
            data = _value(dist)
            if data is not None and getattr(data, "count", 0):
                snap.batch_mean = data.sum / data.count
                snap.batch_max = data.max
    snap.counters = dict(counters)
    snap.latency_buckets = dict(buckets)
    return snap


def dead_lettered(snap: Snapshot, deadletter_topic: str) -> int:
    return snap.get(f"published.{deadletter_topic}")


def group_lag(kafka: KafkaConnection, group_id: str, topic: str) -> int | None:
    """Records on ``topic`` not yet committed by ``group_id``; None if Kafka did not answer."""
    try:
        return sum(high - done for done, high in group_positions(kafka, group_id,
                                                                 topic).values())
    except (KafkaException, NewswatchError) as exc:
        log.warning("kafka lag unavailable: %s", exc)
        return None


def summary_line(previous: Snapshot, current: Snapshot, interval_s: float,
                 lag: int | None, deadletter_topic: str) -> str:
    """One key=value line: what happened in the last interval, and totals."""
    read = current.get("records_read") - previous.get("records_read")
    indexed = current.get("indexed") - previous.get("indexed")
    interval_buckets = {k: v - previous.latency_buckets.get(k, 0)
                        for k, v in current.latency_buckets.items()}
    p50 = percentile_from_buckets(interval_buckets, 0.50)
    p95 = percentile_from_buckets(interval_buckets, 0.95)
    parts = {
        "interval_s": f"{interval_s:.0f}",
        "read": read,
        "indexed": indexed,
        "rate_per_s": f"{indexed / interval_s:.1f}" if interval_s else "0",
        "dead_lettered": dead_lettered(current, deadletter_topic)
        - dead_lettered(previous, deadletter_topic),
        "repeats": current.get("repeats_skipped") - previous.get("repeats_skipped"),
        "lag": "unknown" if lag is None else lag,
        "batch_mean": "-" if current.batch_mean is None else f"{current.batch_mean:.1f}",
        "batch_max": "-" if current.batch_max is None else current.batch_max,
        "latency_p50_ms_le": "-" if p50 is None else f"{p50:.0f}",
        "latency_p95_ms_le": "-" if p95 is None else f"{p95:.0f}",
        "total_indexed": current.get("indexed"),
    }
    return "pipeline " + " ".join(f"{k}={v}" for k, v in parts.items())
