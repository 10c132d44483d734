"""Writing classified articles to Elasticsearch in bulk, with a result per document.

The document ``_id`` is the article id, so writing an article twice (a bundle
re-read after a crash) leaves one document. Each document's result is sorted
by whose fault it is (``document_fault``): only a document Elasticsearch
rejects for what it is (its mapping or parsing) becomes a dead letter, carrying
the original raw record. A store that refuses writes for its own reasons (a
write block, a full disk, a missing write index, a permission, 429, 5xx) or
that cannot be reached is waited out: the documents it did not take are sent
again with back-off, and the bundle's Kafka offsets stay uncommitted meanwhile.
A streaming pipeline waits as long as it takes (it logs each retry); a bounded
replay gives up after ``unavailable_timeout_s`` with the bundle failed, so that
nothing is committed and a rerun reads it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import apache_beam as beam
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from elasticsearch import ApiError, ConnectionTimeout
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch.helpers import streaming_bulk

from pipelines.articles import latency_bucket
from pipelines.errors import NewswatchError
from pipelines.es_connection import ElasticsearchConnection
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


# Errors that say the document itself cannot be indexed, whatever the store's state.
DOCUMENT_ERRORS = frozenset({"mapper_parsing_exception", "document_parsing_exception",
                             "strict_dynamic_mapping_exception", "mapper_exception",
                             "x_content_parse_exception"})


def document_fault(status: int, error: Any) -> bool:
    """Whether Elasticsearch refused a document for what it is (dead-letter it), rather
    than for the store's own state (wait and send it again)."""
    kind = error.get("type") if isinstance(error, dict) else None
    return status == 400 and kind in DOCUMENT_ERRORS


def describe(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error)


class StoreUnavailable(NewswatchError):
    """Elasticsearch could not be reached, or refused the whole request for its own state."""


def while_reachable(es: ElasticsearchConnection, timeout_s: float | None, call: Callable[[], T],
                    stopped: Callable[[], bool] = lambda: False) -> T:
    """Run ``call``; while the cluster is unreachable or refuses the request as a whole
    (an API error of the request, not of a document), retry with back-off, for ever
    when ``timeout_s`` is None, else up to ``timeout_s`` and then raise IndexingError
    (the bundle fails uncommitted and is read again). When ``stopped`` (the worker was
    torn down: a cancelled job) it stops trying and never returns."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            return call()
        except (ESConnectionError, ConnectionTimeout, ApiError, StoreUnavailable) as exc:
            if stopped():
                # The job was cancelled under us (a drain that could not finish): the
                # bundle must neither commit nor report; the worker ends with the process.
                log.info("worker stopped while waiting for Elasticsearch; this bundle stays "
                         "uncommitted and is read again on the next start")
                threading.Event().wait()
            if deadline is not None and time.monotonic() > deadline:
                raise IndexingError(f"Elasticsearch at {es} unavailable for "
                                    f"{timeout_s:.0f}s: {exc}") from exc
            log.warning("elasticsearch unavailable, retrying in %.1fs: %s", delay, exc)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


@dataclass(frozen=True)
class IndexConfig:
    es: ElasticsearchConnection
    index: str
    bulk_size: int = 200
    max_retries: int = 5
    unavailable_timeout_s: float | None = 120.0  # None: wait as long as it takes (streaming)


class WriteToElasticsearch(beam.DoFn):
    """Bulk-indexes ``Classified`` items; outputs the indexed articles, and dead letters."""

    def __init__(self, config: IndexConfig) -> None:
        self.config = config
        self.indexed = beam.metrics.Metrics.counter("newswatch", "indexed")
        self.rejected = beam.metrics.Metrics.counter("newswatch", "index_rejected")
        self.bulk_sizes = beam.metrics.Metrics.distribution("newswatch", "bulk_size")

    def setup(self) -> None:
        # No retries inside the client: while_reachable is the one retry policy here.
        self._client = self.config.es.client(max_retries=0)
        self._held: list[Held[Classified]] = []
        self._torn_down = False

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
        for article_id, status, error in self._bulk(actions):
            h = by_id[article_id]
            if 200 <= status < 300:
                self.indexed.inc()
                latency_ms = indexed_at.timestamp() * 1000 - h.value.record.timestamp_ms
                beam.metrics.Metrics.counter(
                    "newswatch.latency", latency_bucket(latency_ms)).inc()
                yield emit(h, h.value.article)
            else:
                self.rejected.inc()
                problem = DocumentRejected(f"Elasticsearch refused the document ({status}): "
                                           f"{describe(error)}")
                yield emit(h, letter_for(h.value.record, "pipeline.index", problem), DEAD)

    def _bulk(self, actions: list[dict[str, Any]]) -> list[tuple[str, int, Any]]:
        """Per-document (id, status, error): every document ends indexed or refused for its
        own fault; those the store did not take for its own reasons are sent again."""
        done: dict[str, tuple[int, Any]] = {}

        def attempt() -> None:
            pending = [a for a in actions if a["_id"] not in done]
            refused: list[tuple[int, Any]] = []
            for _ok, item in streaming_bulk(
                    self._client, pending, chunk_size=self.config.bulk_size,
                    max_retries=self.config.max_retries, initial_backoff=0.5,
                    max_backoff=10, raise_on_error=False, raise_on_exception=True,
                    yield_ok=True):
                result = item["index"]
                status, error = result["status"], result.get("error")
                if 200 <= status < 300 or document_fault(status, error):
                    done[result["_id"]] = (status, error)
                else:
                    refused.append((status, error))
            if refused:
                status, error = refused[0]
                raise StoreUnavailable(f"{len(refused)} of {len(pending)} documents not taken "
                                       f"({status} {describe(error)})")

        while_reachable(self.config.es, self.config.unavailable_timeout_s, attempt,
                        stopped=lambda: self._torn_down)
        return [(article_id, *done[article_id]) for article_id in
                (a["_id"] for a in actions)]

    def teardown(self) -> None:
        self._torn_down = True
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
