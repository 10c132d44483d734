"""What the board reads from Elasticsearch: each page's requests, run and shaped.

The request bodies and shapes are ``queries``'; this module only sends them through
the articles alias and the alerts and feedback indices. An index that does not
exist yet (no alert sent, no label given) reads as empty: that is a fresh
deployment, not an error. Any other failure of the store propagates as the
client's ``ApiError`` / ``TransportError``; the app turns it into a message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from pydantic import ValidationError

from classifiers.registry import Registry
from pipelines.board import queries
from pipelines.feedback.store import FeedbackStore
from pipelines.schema import ClassifiedArticle, Feedback
from pipelines.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSummary:
    """The promoted model as the board shows it: its version, when it was trained, and
    its scores on the test split (what ``newswatch train`` recorded)."""

    version: str | None
    trained_at: datetime | None
    approach: str
    split: str
    macro_f1: float | None
    f1: dict[str, float]
    thresholds: dict[str, float]


def promoted_model(models_dir: Path) -> ModelSummary:
    """The current model's record, or an empty summary when none is promoted or its files
    cannot be read (the board still shows articles, with "no model" in its place)."""
    registry = Registry(models_dir)
    version = registry.current()
    empty = ModelSummary(version, None, "?", "?", None, {}, {})
    if version is None:
        return empty
    directory = models_dir / version
    try:
        training = json.loads((directory / "training.json").read_text(encoding="utf-8"))
        metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("model %s: its records do not read: %s", version, exc)
        return empty
    chosen = metrics.get("chosen") or {}
    per_label = chosen.get("per_label") or {}
    trained_at = queries.parse_time(training.get("created_at"))
    return ModelSummary(
        version=version, trained_at=trained_at,
        approach=str(chosen.get("approach") or training.get("approach") or "?"),
        split=str(chosen.get("split") or "?"), macro_f1=chosen.get("macro_f1"),
        f1={label: float(v.get("f1", 0.0)) for label, v in per_label.items()},
        thresholds={k: float(v) for k, v in (chosen.get("thresholds") or {}).items()})


class BoardReads:
    """The board's reads, over one client built by ``settings.elasticsearch.client()``."""

    def __init__(self, settings: Settings, client: Elasticsearch) -> None:
        self.settings = settings
        self.client = client

    def _search(self, index: str, body: dict[str, Any], missing_ok: bool = False,
                ) -> dict[str, Any]:
        try:
            return self.client.search(index=index, **body).body
        except NotFoundError:
            if missing_ok:
                return {"hits": {"hits": [], "total": {"value": 0}}, "aggregations": {}}
            raise

    def articles(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._search(self.settings.articles_alias, body)

    def alerts(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._search(self.settings.alerts_index, body, missing_ok=True)

    def feedback_search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._search(self.settings.feedback_index, body, missing_ok=True)

    def article(self, article_id: str) -> ClassifiedArticle | None:
        """One article through the alias (whichever index behind it holds it)."""
        hits = self.articles({"query": {"ids": {"values": [article_id]}}, "size": 1})
        found = hits["hits"]["hits"]
        if not found:
            return None
        try:
            return ClassifiedArticle.model_validate(found[0]["_source"])
        except ValidationError as exc:
            log.warning("article %s does not match the schema: %s", article_id, exc)
            return None

    def feedback(self, article_id: str) -> Feedback | None:
        try:
            return FeedbackStore(self.client, self.settings.feedback_index).get(article_id)
        except NotFoundError:  # no feedback index yet
            return None

    def labelled_ids(self, limit: int = 10_000) -> list[str]:
        response = self.feedback_search({"query": {"match_all": {}}, "size": limit,
                                         "_source": False})
        return [hit["_id"] for hit in response["hits"]["hits"]]

    def feedback_count(self, since: datetime | None) -> int:
        try:
            return int(self.client.count(index=self.settings.feedback_index,
                                         **queries.feedback_since_body(since))["count"])
        except NotFoundError:
            return 0

    def alerted_ids(self) -> list[str]:
        response = self.alerts(queries.alerted_ids_body())
        return [key for key, _ in queries.bucket_counts(response, "articles")]
