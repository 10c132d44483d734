"""The feedback index: one document per article, the analyst's latest labels."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from elasticsearch.helpers import scan

from pipelines.errors import ConfigError
from pipelines.schema import ClassifiedArticle, Feedback, utc_now

FEEDBACK_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": {"type": "integer"},
        "article_id": {"type": "keyword"},
        "labels": {"type": "keyword"},
        "note": {"type": "text"},
        "analyst": {"type": "keyword"},
        "labelled_at": {"type": "date"},
        "previous_labels": {"type": "keyword"},
        "model_labels": {"type": "keyword"},
        "model_version": {"type": "keyword"},
        "title": {"type": "text"},
        "text": {"type": "text", "index": False},
        "url": {"type": "keyword"},
        "source": {"type": "keyword"},
    },
}


class FeedbackStore:
    def __init__(self, client: Elasticsearch, index: str) -> None:
        self.client = client
        self.index = index

    def ensure_index(self) -> None:
        if not self.client.indices.exists(index=self.index):
            # No replica: it can never be placed on a single node (the cluster would stay
            # yellow); the articles template does the same.
            self.client.indices.create(index=self.index, mappings=FEEDBACK_MAPPING,
                                       settings={"number_of_replicas": 0})

    def get(self, article_id: str) -> Feedback | None:
        try:
            return Feedback.model_validate(
                self.client.get(index=self.index, id=article_id)["_source"])
        except NotFoundError:
            return None

    def record(self, feedback: Feedback) -> None:
        self.client.index(index=self.index, id=feedback.article_id,
                          document=feedback.model_dump(mode="json"), refresh=True)

    def all(self) -> list[Feedback]:
        if not self.client.indices.exists(index=self.index):
            return []
        items = [Feedback.model_validate(hit["_source"])
                 for hit in scan(self.client, index=self.index, query={"query": {"match_all": {}}})]
        return sorted(items, key=lambda f: f.article_id)


def find_article(client: Elasticsearch, alias: str, article_id: str) -> ClassifiedArticle | None:
    """The article as indexed (and shown to the analyst), through the alias."""
    hits = client.search(index=alias, query={"ids": {"values": [article_id]}},
                         size=1)["hits"]["hits"]
    return ClassifiedArticle.model_validate(hits[0]["_source"]) if hits else None


def record_labels(client: Elasticsearch, articles_alias: str, feedback_index: str,
                  analyst: str, article_id: str, labels: list[str],
                  note: str | None = None) -> tuple[Feedback, ClassifiedArticle]:
    """Store an analyst's labels for an article with who, when, the labels before and the
    model version they saw: what ``newswatch label`` and the board's Triage both write.
    An unknown article id is the caller's mistake (ConfigError)."""
    article = find_article(client, articles_alias, article_id)
    if article is None:
        raise ConfigError(f"no article with id {article_id!r} in {articles_alias}: copy the "
                          "id from an alert, the board or Kibana")
    store = FeedbackStore(client, feedback_index)
    store.ensure_index()
    earlier = store.get(article_id)
    feedback = Feedback(
        article_id=article_id, labels=labels, note=note or None, analyst=analyst,
        labelled_at=utc_now(),
        previous_labels=earlier.labels if earlier is not None else list(article.labels),
        model_labels=list(article.labels), model_version=article.model_version,
        title=article.title, text=article.content or article.summary, url=article.url,
        source=article.source)
    store.record(feedback)
    return feedback, article
