"""Writing classified articles to Elasticsearch in bulk, with a result per document.

The document ``_id`` is the article id, so writing an article twice (a bundle
re-read after a crash) leaves one document. ``streaming_bulk`` retries 429s
with backoff; a document Elasticsearch rejects for what it is (a 4xx such as a
mapping error) becomes a dead letter carrying the original raw record, and
everything else that is transient (5xx, 429 after the retries, connection
errors) fails the bundle after a bounded wait, so that its Kafka offsets stay
uncommitted and nothing is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import apache_beam as beam
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout, Elasticsearch
from elasticsearch.helpers import streaming_bulk

from pipelines.articles import latency_bucket
from pipelines.errors import NewswatchError
from pipelines.schema import utc_now
from pipelines.stream.bundle_buffer import Held, emit, unwrap
from pipelines.stream.dead_letters import letter_for
from pipelines.stream.model_handler import Classified

log = logging.getLogger(__name__)

DEAD = "dead"
T = TypeVar("T")


class IndexingError(NewswatchError):
    """Elasticsearch could not take a bulk request; the bundle fails and is read again."""


class DocumentRejected(NewswatchError):
    """Elasticsearch refused one document for what it is; carried by its dead letter."""


def while_reachable(es_url: str, timeout_s: float, call: Callable[[], T]) -> T:
    """Run ``call``; while the cluster is unreachable, retry with backoff for up to
    ``timeout_s``, then raise IndexingError (the bundle fails and is read again)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            return call()
        except (ESConnectionError, ConnectionTimeout) as exc:
            if time.monotonic() > deadline:
                raise IndexingError(f"Elasticsearch at {es_url} unreachable for "
                                    f"{timeout_s:.0f}s: {exc}") from exc
            log.warning("elasticsearch unreachable, retrying in %.1fs: %s", delay, exc)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


@dataclass(frozen=True)
class IndexConfig:
    es_url: str
    index: str
    bulk_size: int = 200
    max_retries: int = 5
    unavailable_timeout_s: float = 120.0


class WriteToElasticsearch(beam.DoFn):
    """Bulk-indexes ``Classified`` items; outputs the indexed articles, and dead letters."""

    def __init__(self, config: IndexConfig) -> None:
        self.config = config
        self.indexed = beam.metrics.Metrics.counter("newswatch", "indexed")
        self.rejected = beam.metrics.Metrics.counter("newswatch", "index_rejected")
        self.bulk_sizes = beam.metrics.Metrics.distribution("newswatch", "bulk_size")

    def setup(self) -> None:
        self._client = Elasticsearch(self.config.es_url, request_timeout=60)
        self._held: list[Held[Classified]] = []

    def process(self, item: Classified, timestamp: Timestamp = beam.DoFn.TimestampParam,
                window: BoundedWindow = beam.DoFn.WindowParam) -> Iterator[Any]:
        self._held.append(Held(item, timestamp, window))
        if len(self._held) >= self.config.bulk_size:
            yield from unwrap(self._flush(), in_finish=False)

    def finish_bundle(self) -> Iterator[Any]:
        if self._held:
            yield from unwrap(self._flush(), in_finish=True)

    def _flush(self) -> Iterator[Any]:
        held, self._held = self._held, []
        indexed_at = utc_now()
        by_id: dict[str, Held[Classified]] = {}
        actions = []
        for h in held:
            article = h.value.article.model_copy(update={"indexed_at": indexed_at})
            by_id[article.id] = Held(Classified(h.value.record, article), h.timestamp, h.window)
            actions.append({"_op_type": "index", "_index": self.config.index, "_id": article.id,
                            "_source": article.model_dump(mode="json")})
        self.bulk_sizes.update(len(actions))
        results = self._bulk(actions)
        transient = []
        for article_id, status, error in results:
            h = by_id[article_id]
            if 200 <= status < 300:
                self.indexed.inc()
                latency_ms = indexed_at.timestamp() * 1000 - h.value.record.timestamp_ms
                beam.metrics.Metrics.counter(
                    "newswatch.latency", latency_bucket(latency_ms)).inc()
                yield emit(h, h.value.article)
            elif status == 429 or status >= 500:
                transient.append(f"{article_id}: {status} {error}")
            else:
                self.rejected.inc()
                record = h.value.record
                problem = DocumentRejected(f"Elasticsearch refused the document ({status}): "
                                           f"{error}")
                yield emit(h, letter_for(record, "pipeline.index", problem), DEAD)
        if transient:
            raise IndexingError(f"{len(transient)} documents not indexed after "
                                f"{self.config.max_retries} retries: {transient[:3]}")

    def _bulk(self, actions: list[dict[str, Any]]) -> list[tuple[str, int, Any]]:
        """Per-document (id, status, error)."""
        return while_reachable(self.config.es_url, self.config.unavailable_timeout_s, lambda: [
            (item["index"]["_id"], item["index"]["status"], item["index"].get("error"))
            for _ok, item in streaming_bulk(
                self._client, actions, chunk_size=self.config.bulk_size,
                max_retries=self.config.max_retries, initial_backoff=0.5,
                max_backoff=10, raise_on_error=False, yield_ok=True)
        ])

    def teardown(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
