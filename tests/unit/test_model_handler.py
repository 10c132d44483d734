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
    assert model.get().version == result.version
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


def _batch(n: int) -> list[Incoming]:
    return [Incoming(KafkaRecord("raw", 0, i, None, b"", 0),
                     Article(id=f"id-{i}", url=f"https://x.test/{i}", feed_url="f", source="s",
                             title=f"T{i}", content="Land near a base was bought.",
                             published_at=NOW, collected_at=NOW)) for i in range(n)]


def test_a_following_handler_switches_to_a_promoted_model_between_batches(trained, tmp_path,
                                                                         caplog):
    import shutil

    from classifiers.registry import Registry
    from pipelines.stream.model_watch import ModelSlot, PromotedVersion

    _registry, result = trained
    registry = Registry(tmp_path / "models")
    shutil.copytree(result.path, registry.root / "model-a")
    registry.promote("model-a")
    handler = ArticleModelHandler(registry.root / "model-a", runtime="torch",
                                  follow_registry=registry.root)
    slot = ModelSlot(handler._load(registry.root / "model-a"), handler._load,
                     PromotedVersion(registry.root, check_every_s=0))
    first = list(handler.run_inference(_batch(3), slot))
    assert {r.article.model_version for r in first} == {"model-a"}

    shutil.copytree(result.path, registry.root / "model-b")
    registry.promote("model-b")
    second = list(handler.run_inference(_batch(3), slot))
    assert [r.article.model_version for r in second] == ["model-b"] * 3
    assert [r.article.id for r in second] == ["id-0", "id-1", "id-2"]

    (registry.root / "model-c").mkdir()  # promoted by hand, but not a loadable model
    (registry.root / "model-c" / "labels.json").write_text("[]")
    registry.promote("model-c")
    with caplog.at_level("ERROR"):
        third = list(handler.run_inference(_batch(2), slot))
    assert [r.article.model_version for r in third] == ["model-b"] * 2
    assert "promoted model model-c does not load" in caplog.text
    assert "staying on model-b" in caplog.text

    (registry.root / "model-d").mkdir()  # a model whose weights file is corrupt
    shutil.copytree(result.path, registry.root / "model-d", dirs_exist_ok=True)
    (registry.root / "model-d" / "head.safetensors").write_bytes(b"\x00garbage" * 10)
    (registry.root / "model-d" / "runtime.json").write_text('{"default": "torch"}')
    registry.promote("model-d")
    with caplog.at_level("ERROR"):
        fourth = list(handler.run_inference(_batch(2), slot))
    assert [r.article.model_version for r in fourth] == ["model-b"] * 2
    assert "promoted model model-d does not load (SafetensorError" in caplog.text

    shutil.copytree(result.path, registry.root / "model-e")  # loads, but other labels
    (registry.root / "model-e" / "labels.json").write_text(
        '["tech_influence", "property_purchase", "infrastructure_risk"]')
    registry.promote("model-e")
    with caplog.at_level("ERROR"):
        fifth = list(handler.run_inference(_batch(2), slot))
    assert [r.article.model_version for r in fifth] == ["model-b"] * 2
    assert ("promoted model model-e does not load (ModelRefused: its labels ['tech_influence', "
            "'property_purchase', 'infrastructure_risk'] are not the pipeline's") in caplog.text


class _Poisoned:
    """A scorer that fails on one article's text the way a data fault would, or on every
    batch the way a broken runtime would."""

    def __init__(self, scorer, error: type[Exception], poison: str | None) -> None:
        self.scorer, self.error, self.poison = scorer, error, poison

    def __call__(self, windows):
        if self.poison is None or any(self.poison in w.text for w in windows):
            raise self.error("cannot handle this input")
        return self.scorer(windows)


def _slot_with(result, error, poison):
    from pipelines.stream.model_watch import ModelSlot

    predictor = Predictor.load(result.path, runtime="torch")
    predictor.scorer = _Poisoned(predictor.scorer, error, poison)
    return ModelSlot(predictor, Predictor.load)


def test_only_the_article_at_fault_is_unclassifiable_and_its_batch_mates_are_classified(
        trained):
    from pipelines.stream.model_handler import ArticleNotClassifiable, Classified, Unclassifiable

    _registry, result = trained
    handler = ArticleModelHandler(result.path, runtime="torch")
    batch = _batch(3)
    batch[1] = Incoming(batch[1].record, batch[1].article.model_copy(
        update={"content": "POISON in the text"}))
    out = list(handler.run_inference(batch, _slot_with(result, ValueError, "POISON")))
    assert [type(r) for r in out] == [Classified, Unclassifiable, Classified]
    assert [r.record.offset for r in out] == [0, 1, 2]
    assert out[1].article_id == "id-1" and isinstance(out[1].error, ArticleNotClassifiable)
    assert "the model cannot classify article id-1: ValueError" in str(out[1].error)


def test_a_runtime_failure_is_not_the_articles_fault_and_fails_the_batch(trained):
    _registry, result = trained
    handler = ArticleModelHandler(result.path, runtime="torch")
    with pytest.raises(RuntimeError, match="cannot handle this input"):
        list(handler.run_inference(_batch(3), _slot_with(result, RuntimeError, None)))
