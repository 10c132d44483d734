"""Alert rules and Slack messages without servers: validation, escaping, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.alerts.rules import AlertRule, parse_rules
from pipelines.alerts.slack_message import (
    MAX_BLOCKS,
    MAX_SECTION_CHARS,
    alert_text,
    digest_message,
    escape,
    single_message,
)
from pipelines.errors import ConfigError
from pipelines.schema import Alert

WHEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _alert(**changes: object) -> Alert:
    values: dict[str, object] = dict(
        rule="ports", article_id="a1", story_id="s1", title="State firm buys port stake",
        url="https://news.test/a1", source="Nikkei", published_at=WHEN,
        labels=["infrastructure_dependency"], scores={"infrastructure_dependency": 0.91,
                                                      "tech_influence": 0.2},
        evidence={"infrastructure_dependency": "The terminal operator sold 35%."},
        matched_at=WHEN)
    return Alert(**(values | changes))


def test_a_bad_rule_is_named_and_the_others_load():
    loaded = parse_rules({"rules": [
        {"name": "ports", "query": "port OR terminal",
         "labels": {"infrastructure_dependency": 0.5}},
        {"name": "typo", "labels": {"tech_influense": 0.5}},
        {"name": "bad threshold", "labels": {"tech_influence": 2}},
        {"name": "ports"},
        {"query": "no name"},
        {"name": "land", "labels": {"property_purchase": 0.4}, "sources": ["Kyodo"]},
    ]})
    assert [r.name for r in loaded.rules] == ["ports", "land"]
    problems = [str(p) for p in loaded.problems]
    assert "rule 'typo' (#2): labels: Value error, unknown labels ['tech_influense']" in problems[0]
    assert "rule 'bad threshold' (#3): name: String should match pattern" in problems[1]
    assert problems[2] == "rule 'ports' (#4): a rule with this name came before"
    assert problems[3].startswith("rule '?' (#5): name: Field required")
    with pytest.raises(ConfigError, match="list under 'rules'"):
        parse_rules({"rule": []})


def test_the_es_query_is_the_rule_over_the_new_ids_only():
    rule = AlertRule(name="land", query="title:(land OR base)",
                     labels={"property_purchase": 0.4}, sources=["Kyodo"])
    assert rule.es_filter(["a", "b"]) == {"bool": {
        "must": [{"query_string": {"query": "title:(land OR base)"}}],
        "filter": [{"ids": {"values": ["a", "b"]}},
                   {"term": {"labels": "property_purchase"}},
                   {"range": {"scores.property_purchase": {"gte": 0.4}}},
                   {"terms": {"source": ["Kyodo"]}}]}}


def test_feed_text_cannot_ping_or_forge_links():
    alert = _alert(title="<!channel> buy now <https://evil.test|click> & more",
                   source="<@U123>", evidence={"infrastructure_dependency": "a <b> & c"})
    message = single_message(alert)
    dumped = str(message)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped
    assert "<https://evil.test|click>" not in dumped
    assert message["blocks"][1]["text"]["text"] == (
        "*<https://news.test/a1|&lt;!channel&gt; buy now &lt;https://evil.test¦click&gt; "
        "&amp; more>*")
    assert message["blocks"][2]["elements"][0]["text"] == (
        "&lt;@U123&gt; · 2026-11-23 09:30 UTC · rule ports")
    assert message["blocks"][4]["text"]["text"] == (
        "*Evidence (infrastructure_dependency):*\n> a &lt;b&gt; &amp; c")
    assert alert_text(alert).startswith("[ports] &lt;!channel&gt;")
    assert escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    in_url = single_message(_alert(url="https://news.test/a1?x=<!channel>"))
    assert in_url["text"].endswith("https://news.test/a1?x=&lt;!channel&gt;")  # the fallback
    assert "<!channel>" not in str(in_url)


def test_exact_payload_of_one_alert():
    assert single_message(_alert()) == {
        "text": "[ports] State firm buys port stake (Nikkei) infrastructure_dependency 0.91 "
                "https://news.test/a1",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                         "text": "newswatch: ports"}},
            {"type": "section", "text": {
                "type": "mrkdwn", "text": "*<https://news.test/a1|State firm buys port stake>*"}},
            {"type": "context", "elements": [{
                "type": "mrkdwn", "text": "Nikkei · 2026-11-23 09:30 UTC · rule ports"}]},
            {"type": "section", "text": {"type": "mrkdwn",
                                          "text": "*Labels:* infrastructure_dependency 0.91"}},
            {"type": "section", "text": {"type": "mrkdwn", "text":
                "*Evidence (infrastructure_dependency):*\n> The terminal operator sold 35%."}},
        ],
        "unfurl_links": False, "unfurl_media": False}
    assert single_message(_alert())["text"] == (
        "[ports] State firm buys port stake (Nikkei) infrastructure_dependency 0.91 "
        "https://news.test/a1")


def test_limits_hold_for_huge_inputs():
    alert = _alert(title="T" * 10_000, evidence={"infrastructure_dependency": "E " * 10_000})
    for block in single_message(alert)["blocks"]:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= MAX_SECTION_CHARS
    digest = digest_message("ports", [_alert(article_id=str(n)) for n in range(120)])
    assert len(digest["blocks"]) == MAX_BLOCKS
    assert digest["blocks"][-1]["elements"][0]["text"] == "and 72 more in the alerts index"
    assert digest["blocks"][0]["text"]["text"] == "newswatch digest: ports (120 matches)"
