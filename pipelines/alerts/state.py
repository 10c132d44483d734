"""Alert state in Elasticsearch: one document per rule and article, so a restart
neither repeats nor loses an alert.

The document is created (``op_type=create``) as ``pending`` before the message
goes out and updated to ``sent`` / ``console`` / ``failed`` / ``suppressed``
after, or to ``queued`` when its rule sends digests (the digest, once due, marks
all its alerts ``sent``). A second create for the same rule and article is
refused by Elasticsearch (409): that alert was handled, unless it is still
pending, in which case the previous run died before sending and this run sends
it. Queued alerts live here, not in memory, so a restart loses no digest.

The create needs no refresh (Elasticsearch checks ids in real time); every
status change refreshes at once, because the next article's same-story check and
the digest are searches. ``wait_for`` would add up to a refresh interval (1 s)
to every alert; at Slack's one message a second the extra refreshes are cheap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, helpers

from pipelines.alerts.matching import alert_id
from pipelines.schema import Alert

ALERTS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": {"type": "integer"},
        "rule": {"type": "keyword"},
        "article_id": {"type": "keyword"},
        "story_id": {"type": "keyword"},
        "title": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "url": {"type": "keyword"},
        "source": {"type": "keyword"},
        "published_at": {"type": "date"},
        "labels": {"type": "keyword"},
        "scores": {"type": "object", "dynamic": True},
        "evidence": {"type": "object", "enabled": False},
        "matched_at": {"type": "date"},
        "status": {"type": "keyword"},
        "sent_at": {"type": "date"},
        "error": {"type": "text"},
    },
}


class AlertState:
    def __init__(self, client: Elasticsearch, index: str) -> None:
        self.client = client
        self.index = index

    def ensure_index(self) -> None:
        if not self.client.indices.exists(index=self.index):
            # No replica: it can never be placed on a single node (the cluster would stay
            # yellow); the articles template does the same.
            self.client.indices.create(index=self.index, mappings=ALERTS_MAPPING,
                                       settings={"number_of_replicas": 0})

    def claim(self, alert: Alert) -> bool:
        """True when this run must handle the alert (new, or left pending by a crash)."""
        doc_id = alert_id(alert.rule, alert.article_id)
        try:
            self.client.create(index=self.index, id=doc_id,
                               document=alert.model_dump(mode="json"))
            return True
        except ConflictError:
            existing = self.client.get(index=self.index, id=doc_id)["_source"]
            return existing.get("status") == "pending"

    def story_recently_alerted(self, alert: Alert, since: datetime) -> bool:
        """Another article of the same story already reached the analyst under this rule."""
        query = {"bool": {"filter": [
            {"term": {"rule": alert.rule}}, {"term": {"story_id": alert.story_id}},
            {"terms": {"status": ["sent", "console", "queued"]}},
            {"range": {"matched_at": {"gte": since.isoformat()}}}],
            "must_not": [{"term": {"article_id": alert.article_id}}]}}
        return self.client.count(index=self.index, query=query)["count"] > 0

    def finish(self, alert: Alert, status: str, at: datetime, error: str | None = None) -> None:
        self.client.update(index=self.index, id=alert_id(alert.rule, alert.article_id),
                           doc={"status": status, "sent_at": at.isoformat(), "error": error},
                           refresh=True)

    def queue(self, alert: Alert) -> None:
        """Hold the alert for its rule's next digest."""
        self.client.update(index=self.index, id=alert_id(alert.rule, alert.article_id),
                           doc={"status": "queued"}, refresh=True)

    def queued(self, rule: str, limit: int = 10_000) -> list[Alert]:
        """The rule's alerts waiting for a digest, oldest match first."""
        hits = self.client.search(
            index=self.index, size=limit, sort=[{"matched_at": "asc"}, {"article_id": "asc"}],
            query={"bool": {"filter": [{"term": {"rule": rule}},
                                       {"term": {"status": "queued"}}]}})["hits"]["hits"]
        return [Alert.model_validate(hit["_source"]) for hit in hits]

    def finish_many(self, alerts: list[Alert], status: str, at: datetime,
                    error: str | None = None) -> None:
        actions = [{"_op_type": "update", "_index": self.index,
                    "_id": alert_id(a.rule, a.article_id),
                    "doc": {"status": status, "sent_at": at.isoformat(), "error": error}}
                   for a in alerts]
        helpers.bulk(self.client, actions, refresh=True)
