"""The real Elasticsearch: the template and alias, a document indexed and found through it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from elasticsearch import BadRequestError

from pipelines.es_admin import (
    ensure_articles_index,
    first_index_name,
    new_index_name,
    switch_alias,
)
from pipelines.schema import ClassifiedArticle

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _article() -> ClassifiedArticle:
    return ClassifiedArticle(
        id="a1", url="https://example.org/a1", feed_url="https://example.org/feed",
        source="Example Times", title="Foreign fund buys Hokkaido forest near base",
        summary="A fund bought 300 hectares.", content="A foreign fund bought forest land.",
        published_at=NOW, collected_at=NOW, language="en", authors=["A. Writer"], tags=["land"],
        labels=["property_purchase"],
        scores={"tech_influence": 0.02, "property_purchase": 0.97,
                "infrastructure_dependency": 0.05},
        evidence={"property_purchase": "A foreign fund bought forest land."},
        model_version="test-1", classified_at=NOW, indexed_at=NOW,
    )


def test_alias_is_created_once_and_points_at_a_write_index(stack, es, articles_alias):
    assert ensure_articles_index(es, stack.deploy_dir, articles_alias) is False
    aliases = es.indices.get_alias(name=articles_alias).body
    assert aliases == {first_index_name(articles_alias): {
        "aliases": {articles_alias: {"is_write_index": True}}}}


def test_document_indexed_through_alias_is_found_by_search(es, articles_alias):
    article = _article()
    es.index(index=articles_alias, id=article.id, document=article.model_dump(mode="json"),
             refresh="wait_for")
    hits = es.search(index=articles_alias, query={"match": {"title": "hokkaido forest"}})["hits"]
    assert hits["total"]["value"] == 1
    hit = hits["hits"][0]
    assert hit["_id"] == "a1"
    assert hit["_index"] == first_index_name(articles_alias)
    assert ClassifiedArticle.model_validate(hit["_source"]) == article
    by_label = es.search(index=articles_alias, query={"term": {"labels": "property_purchase"}})
    assert [h["_id"] for h in by_label["hits"]["hits"]] == ["a1"]


def test_mapping_is_strict_so_a_stray_field_is_an_error(es, articles_alias):
    document = _article().model_dump(mode="json") | {"surprise": 1}
    with pytest.raises(BadRequestError, match="strict_dynamic_mapping_exception"):
        es.index(index=articles_alias, id="a2", document=document)


def test_switching_the_alias_to_a_bulk_loaded_index_never_reads_it_empty(es, articles_alias):
    """A rebuilt index's last writes may not be refreshed yet; the switch must wait for them.

    CI once saw the alias count 0 for a moment after `replay --into-new-index`. Here the
    new index never refreshes by itself, so only the switch's own refresh can show them.
    """
    old = first_index_name(articles_alias)
    rebuilt = new_index_name(articles_alias, NOW)
    es.indices.create(index=rebuilt, settings={"refresh_interval": "-1"})
    for n in range(3):
        document = _article().model_copy(update={"id": f"r{n}"}).model_dump(mode="json")
        es.index(index=rebuilt, id=f"r{n}", document=document)
    assert switch_alias(es, articles_alias, rebuilt) == [old]
    assert es.count(index=articles_alias)["count"] == 3
    assert list(es.indices.get_alias(name=articles_alias).body) == [rebuilt]
