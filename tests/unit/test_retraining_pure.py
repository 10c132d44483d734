"""Pure pieces of the retraining loop: the held-out slice, feedback rows, label input,
the registry's rollback target, alert backtesting, rebuilt index names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classifiers.registry import Registry
from pipelines.alerts.matching import backtest
from pipelines.alerts.rules import AlertRule
from pipelines.errors import ConfigError
from pipelines.es_admin import new_index_name
from pipelines.feedback.commands import parse_labels
from pipelines.feedback.examples import as_example, is_held_out, seed_row, split
from pipelines.schema import ClassifiedArticle, Feedback

WHEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _feedback(article_id: str, labels: list[str]) -> Feedback:
    return Feedback(article_id=article_id, labels=labels, analyst="ana", labelled_at=WHEN,
                    previous_labels=[], model_labels=[], model_version="m1", title="T",
                    text="body", url="https://x.test", source="s")


def test_the_held_out_slice_is_one_in_five_and_never_changes():
    ids = [f"article-{n}" for n in range(2000)]
    held = [i for i in ids if is_held_out(i)]
    assert 0.17 < len(held) / len(ids) < 0.23
    assert held[:3] == [i for i in ids if is_held_out(i)][:3]  # a function of the id alone
    train, held_items = split([_feedback(i, []) for i in ids[:50]])
    assert {f.article_id for f in held_items} == {i for i in ids[:50] if is_held_out(i)}
    assert len(train) + len(held_items) == 50


def test_feedback_becomes_a_seed_shaped_row_and_an_example():
    item = _feedback("a1", ["tech_influence"])
    assert seed_row(item) == {"id": "feedback/a1", "article": "a1", "title": "T",
                              "text": "body", "labels": ["tech_influence"],
                              "source": "feedback"}
    example = as_example(item)
    assert (example.id, example.group, example.labels) == ("feedback/a1", "a1",
                                                           ("tech_influence",))


def test_feedback_refuses_unknown_labels():
    with pytest.raises(ValueError, match="unknown labels \\['spying'\\]"):
        _feedback("a1", ["spying"])


@pytest.mark.parametrize(("labels", "none", "message"), [
    (None, False, "give either --labels a,b or --none"),
    ("tech_influence", True, "give either --labels a,b or --none"),
    ("tech_influence,landgrab", False, "unknown labels ['landgrab']"),
    (" , ", False, "unknown labels [' , ']"),
])
def test_label_input_errors_name_what_was_wrong(labels, none, message):
    with pytest.raises(ConfigError) as caught:
        parse_labels(labels, none)
    assert message in str(caught.value)


def test_label_input_is_normalised():
    assert parse_labels("property_purchase, tech_influence,property_purchase", False) == [
        "property_purchase", "tech_influence"]
    assert parse_labels(None, True) == []


def test_rollback_goes_to_the_model_promoted_before(tmp_path):
    registry = Registry(tmp_path)
    for version in ("a", "b", "c"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "labels.json").write_text("[]")
    assert registry.previous() is None
    registry.promote("a")
    assert registry.previous() is None
    registry.promote("b")
    registry.promote("b")
    assert registry.previous() == "a"
    registry.promote("c")
    assert registry.previous() == "b"
    (tmp_path / "b" / "labels.json").unlink()  # deleted since: skipped
    assert registry.previous() == "a"


def _article(n: int, title: str, minutes: int) -> ClassifiedArticle:
    at = WHEN + timedelta(minutes=minutes)
    return ClassifiedArticle(id=f"a{n}", url=f"https://x.test/{n}", feed_url="f", source="s",
                             title=title, published_at=at, collected_at=at,
                             labels=["property_purchase"],
                             scores={"tech_influence": 0.1, "property_purchase": 0.9,
                                     "infrastructure_dependency": 0.1},
                             evidence={}, model_version="m", classified_at=at, indexed_at=at)


def test_backtest_keeps_a_story_quiet_within_the_realert_window_only():
    rule = AlertRule(name="land", realert_minutes=60)
    alerts = backtest(rule, [_article(1, "Land bought", 0), _article(2, "Land  bought!", 30),
                             _article(3, "Other story", 40), _article(4, "Land bought", 61)])
    assert [(a.article_id, a.status) for a in alerts] == [
        ("a1", "sent"), ("a2", "suppressed"), ("a3", "sent"), ("a4", "sent")]
    no_window = backtest(AlertRule(name="land", realert_minutes=0),
                         [_article(1, "Land bought", 0), _article(2, "Land bought", 1)])
    assert [a.status for a in no_window] == ["sent", "sent"]


def test_a_rebuilt_index_sits_under_the_alias_pattern():
    assert new_index_name("newswatch-articles", WHEN) == "newswatch-articles-20261123-080000"
