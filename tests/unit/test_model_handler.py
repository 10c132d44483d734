"""The model handler returns one result per article, in order, for batches larger than one
(Beam's own HF handler once returned one result per batch)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from classifiers.predictor import Predictor
from pipelines.articles import document_of
from pipelines.schema import Article
from pipelines.stream.kafka_source import KafkaRecord
from pipelines.stream.model_handler import ArticleModelHandler, Incoming

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_a_batch_of_five_gives_five_results_in_order(trained):
    registry, result = trained
    # torch: the int8 path quantises activations per batch, so batch-mates shift scores a bit
    handler = ArticleModelHandler(result.path, max_batch_size=8, runtime="torch")
    assert handler.batch_elements_kwargs() == {"min_batch_size": 8, "max_batch_size": 8}
    model = handler.load_model()
    texts = ["Chinese firm buys land next to an air base.", "A bakery opens downtown.",
             "The grid depends on imported inverters with remote access.",
             "Semiconductor export controls and a state-backed chip fund.", "Rain tomorrow."]
    batch = [Incoming(KafkaRecord("raw", 0, n, None, b"", 0),
                      Article(id=f"id-{n}", url=f"https://x.test/{n}", feed_url="f", source="s",
                              title=f"T{n}", content=text, published_at=NOW, collected_at=NOW))
             for n, text in enumerate(texts)]
    results = list(handler.run_inference(batch, model))
    assert [r.article.id for r in results] == [f"id-{n}" for n in range(5)]
    assert [r.record.offset for r in results] == list(range(5))
    alone = Predictor.load(result.path, runtime="torch")
    for item, out in zip(batch, results, strict=True):
        single = alone.predict([document_of(item.article)])[0]
        assert out.article.labels == single.labels
        assert out.article.scores == pytest.approx(single.scores, abs=1e-4)  # as if alone
        assert out.article.model_version == result.version
