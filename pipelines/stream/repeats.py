"""Dropping repeats by article id, before the model spends time on them.

An article is a repeat when the target index already holds it classified by
the same model version, or when it came earlier in the same bundle. The index
is the memory: it survives restarts, replays and every runner, with no state
in the pipeline. A repeat found in the index is handed on as its stored
document, so that a crash between indexing and publishing the classified event
cannot lose that event (downstream consumers de-duplicate by id).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from elasticsearch import NotFoundError

from pipelines.es_connection import ElasticsearchConnection
from pipelines.schema import ClassifiedArticle
from pipelines.stream.bundle_buffer import Held, emit, unwrap
from pipelines.stream.es_sink import while_reachable
from pipelines.stream.model_handler import Incoming
from pipelines.stream.model_watch import PromotedVersion

STORED = "stored"


@dataclass(frozen=True)
class RepeatsConfig:
    es: ElasticsearchConnection
    index: str
    model_version: str
    follow_registry: Path | None = None
    """When set, the version to compare with is the one promoted there now."""
    lookup_size: int = 100
    unavailable_timeout_s: float = 120.0


class DropRepeats(beam.DoFn):
    """Main output: new articles. ``stored``: repeats already indexed, as stored."""

    def __init__(self, config: RepeatsConfig) -> None:
        self.config = config
        self.repeats = beam.metrics.Metrics.counter("newswatch", "repeats_skipped")

    def setup(self) -> None:
        self._client = self.config.es.client(max_retries=0)
        self._held: list[Held[Incoming]] = []
        self._seen: set[str] = set()
        self._promoted = (PromotedVersion(self.config.follow_registry)
                          if self.config.follow_registry is not None else None)

    def start_bundle(self) -> None:
        self._seen = set()

    def process(self, item: Incoming, timestamp: Timestamp = beam.DoFn.TimestampParam,
                window: BoundedWindow = beam.DoFn.WindowParam) -> Iterator[Any]:
        if item.article.id in self._seen:
            self.repeats.inc()
            return
        self._seen.add(item.article.id)
        self._held.append(Held(item, timestamp, window))
        if len(self._held) >= self.config.lookup_size:
            yield from unwrap(self._flush(), in_finish=False)

    def finish_bundle(self) -> Iterator[Any]:
        if self._held:
            yield from unwrap(self._flush(), in_finish=True)

    def _flush(self) -> Iterator[Any]:
        held, self._held = self._held, []
        stored = self._lookup([h.value.article.id for h in held])
        version = (self._promoted.get() if self._promoted is not None else None) \
            or self.config.model_version
        for h in held:
            existing = stored.get(h.value.article.id)
            if existing is not None and existing.model_version == version:
                self.repeats.inc()
                yield emit(h, existing, STORED)
            else:
                yield emit(h, h.value)

    def _lookup(self, ids: list[str]) -> dict[str, ClassifiedArticle]:
        def search() -> dict:
            try:
                return self._client.search(
                    index=self.config.index, query={"ids": {"values": ids}}, size=len(ids),
                    ignore_unavailable=True, allow_no_indices=True).body
            except NotFoundError:
                return {"hits": {"hits": []}}

        response = while_reachable(self.config.es, self.config.unavailable_timeout_s, search)
        return {hit["_id"]: ClassifiedArticle.model_validate(hit["_source"])
                for hit in response["hits"]["hits"]}

    def teardown(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
