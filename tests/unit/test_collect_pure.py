"""The collectors' pure logic: normalising, ids, text, scheduling, SSRF policy, config."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from pipelines.collect.collector import backoff_delay, next_poll_time
from pipelines.collect.feeds_config import load_feeds
from pipelines.collect.fetcher import parse_retry_after
from pipelines.collect.normalize import (
    article_id,
    canonical_url,
    detect_language,
    entry_to_article,
    skip_hours,
    ttl_seconds,
)
from pipelines.collect.ssrf import BlockedAddress, pick_address, why_blocked
from pipelines.collect.state import StateStore
from pipelines.collect.text import html_to_text
from pipelines.errors import ConfigError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "text"), [
    ("<p>One</p><p>Two &amp; three</p>", "One\nTwo & three"),
    ("safe<script>location.href='x'</script> text", "safe text"),
    ("&lt;b&gt;escaped&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;ok", "escaped ok"),
    ("a < b and c > d", "a < b and c > d"),
    ("<style>p{}</style><!-- c -->Caf\u00e9\u3000\u3000latte", "Caf\u00e9 latte"),
    ("", ""),
    (None, ""),
])
def test_html_to_text(raw, text):
    assert html_to_text(raw) == text


@pytest.mark.parametrize(("url", "canonical"), [
    ("HTTPS://Example.COM:443/a/b?utm_source=rss&x=1#frag", "https://example.com/a/b?x=1"),
    ("http://example.com", "http://example.com/"),
    ("http://example.com:8080/p", "http://example.com:8080/p"),
    ("javascript:alert(1)", None),
    ("data:text/html,hi", None),
    ("http://exa mple.com/", None),
    ("", None),
])
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_article_id_falls_back_from_link_to_guid_to_title():
    by_link = article_id("https://e.org/1", "g", "https://e.org/rss", "t")
    assert by_link == article_id("https://e.org/1", "other", "https://x/rss", "other")
    assert article_id(None, "g", "f", "t") != article_id(None, None, "f", "t")
    assert article_id(None, None, "f", "t") == article_id(None, "  ", "f", "t")
    assert len(by_link) == 32


def test_entry_to_article_exact_fields():
    parsed = feedparser.parse(b"""<?xml version="1.0"?><rss version="2.0"
      xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>F</title>
      <language>ja</language>
      <item><title>T &amp;amp; U</title><link>https://e.org/x?fbclid=1</link>
      <guid>g-1</guid><author>a@e.org (Ann)</author><category>c1</category>
      <description>&lt;b&gt;Short&lt;/b&gt;</description>
      <content:encoded><![CDATA[<p>Long body of the article about land.</p>]]></content:encoded>
      <pubDate>Sun, 01 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>""")
    article = entry_to_article(parsed.entries[0], feed_url="https://e.org/rss", source="F",
                               tags=("japan",), collected_at=NOW, declared_language="ja")
    assert article.model_dump(exclude={"id"}) == {
        "schema_version": 1, "url": "https://e.org/x", "feed_url": "https://e.org/rss",
        "source": "F", "title": "T & U", "summary": "Short",
        "content": "Long body of the article about land.",
        "published_at": datetime(2026, 11, 1, 10, tzinfo=UTC), "published_at_inferred": False,
        "collected_at": NOW, "language": "en", "authors": ["Ann"],
        "tags": ["japan", "c1"]}
    assert article.id == article_id("https://e.org/x", "g-1", "", "")


def test_future_dates_are_not_trusted():
    parsed = feedparser.parse(b"""<rss version="2.0"><channel><item><title>x</title>
      <pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item></channel></rss>""")
    article = entry_to_article(parsed.entries[0], feed_url="f", source="s", tags=(),
                               collected_at=NOW)
    assert (article.published_at, article.published_at_inferred) == (NOW, True)


def test_language_detection_and_short_text_fallback():
    assert detect_language("The ministry will move its systems to a foreign cloud.") == "en"
    assert detect_language("\u653f\u5e9c\u306f\u30af\u30e9\u30a6\u30c9\u3092\u5c0e\u5165"
                           "\u3059\u308b\u3068\u767a\u8868\u3057\u305f\u3002\u3053\u308c\u306f"
                           "\u5927\u304d\u306a\u5909\u5316\u3060\u3002") == "ja"
    assert detect_language("Hi", declared="en-US") == "en"
    assert detect_language("Hi") is None


def test_ttl_and_skip_hours():
    assert ttl_seconds({"ttl": "30"}) == 1800
    assert ttl_seconds({"ttl": "soon"}) is None and ttl_seconds({}) is None
    body = b"<rss><channel><skipHours><hour>0</hour><hour> 1 </hour><hour>25</hour></skipHours>"
    assert skip_hours(body) == frozenset({0, 1})
    unclosed = b"<rss><channel>" + b"<skipHours><hour>3</hour>" * 20_000  # once quadratic
    assert skip_hours(unclosed) == frozenset()
    assert skip_hours(b"<SKIPHOURS a='b'><hour>5</hour></SkipHours>") == frozenset({5})
    midnight = datetime(2026, 11, 23, 23, 30, tzinfo=UTC).timestamp()
    # 23:30 + 15 min = 23:45 -> fine; + 1 h = 00:30 is skipped, so 02:00
    assert next_poll_time(midnight, 900, None, frozenset({0, 1})) == midnight + 900
    assert datetime.fromtimestamp(next_poll_time(midnight, 3600, None, frozenset({0, 1})),
                                  UTC).hour == 2
    assert next_poll_time(0.0, 60, 1800, frozenset()) == 1800  # ttl wins when longer


def test_backoff_honours_retry_after_else_grows_with_jitter():
    rng = random.Random(1)
    assert backoff_delay(900, 3, 42.0, rng) == 42.0
    delays = [backoff_delay(60, n, None, rng) for n in range(4)]
    assert all(0.8 * 60 * 2 ** n <= d <= 1.2 * 60 * 2 ** n for n, d in enumerate(delays))
    assert backoff_delay(900, 50, None, rng) <= 6 * 3600 * 1.2


def test_retry_after_parsing():
    assert parse_retry_after("120") == 120.0
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("Mon, 23 Nov 2026 12:01:00 GMT", now) == 60.0
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("100.64.0.1", "CGNAT (shared) address space"),
    ("0.0.0.0", "unspecified"), ("::ffff:127.0.0.1", "loopback"), ("fd00::1", "private"),
    ("224.0.0.1", "multicast"), ("8.8.8.8", None), ("2606:4700::1111", None),
    # IPv4 inside IPv6: 6to4, NAT64, v4-compatible; and the old site-local range
    ("2002:7f00:1::1", "loopback"), ("2002:c0a8:101::1", "private"),
    ("64:ff9b::a00:1", "private"), ("::127.0.0.1", "loopback"), ("fec0::1", "site-local"),
    ("2002:808:808::1", None), ("64:ff9b::808:808", None),
])
def test_ssrf_policy(address, reason):
    assert why_blocked(address) == reason


def test_ssrf_checks_every_address_of_a_name():
    with pytest.raises(BlockedAddress, match="localhost resolves to .*refused"):
        asyncio.run(pick_address("localhost", 80, allow_private=False))
    assert asyncio.run(pick_address("127.0.0.1", 80, allow_private=True)) == "127.0.0.1"


def test_feeds_file_one_bad_feed_does_not_stop_the_others(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: https://ok.example/rss\n  - url: ftp://bad.example/x\n"
                    "  - {name: no url}\n  - url: https://ok.example/rss\n"
                    "  - url: https://two.example/rss\n    interval_s: 60\n    tags: [a]\n")
    config, errors = load_feeds(path)
    assert [f.url for f in config.feeds] == ["https://ok.example/rss", "https://two.example/rss"]
    assert config.feeds[0].display_name == "ok.example" and config.feeds[0].interval_s == 900
    assert config.feeds[1].tags == ("a",)
    assert len(errors) == 3
    assert "feed #2 (ftp://bad.example/x) skipped: url: Value error, feed url must be http(s)" \
        in errors[0]
    assert "feed #3" in errors[1] and "url: Field required" in errors[1]
    assert "feed #4 (https://ok.example/rss) skipped: listed twice" in errors[2]


@pytest.mark.parametrize("text", ["feeds: [", "just a string", "feeds: 3"])
def test_feeds_file_that_is_not_a_feeds_file(tmp_path: Path, text):
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=str(path)):
        load_feeds(path)


def test_state_remembers_only_after_success_and_stays_bounded(tmp_path: Path):
    store = StateStore(tmp_path / "s.sqlite", seen_ids_kept=3)
    assert store.unseen(["a", "b"]) == {"a", "b"}
    store.record_success("f", published_ids=["a", "b"], etag='"e"', last_modified=None,
                         next_poll_at=10.0, now=1.0)
    assert store.unseen(["a", "b", "c"]) == {"c"}
    store.record_success("f", published_ids=["c", "d"], etag='"e2"', last_modified="x",
                         next_poll_at=20.0, now=2.0)
    assert store.unseen(["a", "b", "c", "d"]) == {"a"}  # oldest forgotten, bounded at 3
    store.record_success("f", published_ids=[], etag='"e2"', last_modified="x",
                         next_poll_at=20.0, now=2.5)
    assert store.unseen(["b", "c", "d"]) == set()
    store.record_error("f", "HTTP 500", next_poll_at=99.0, now=3.0)
    store.close()
    again = StateStore(tmp_path / "s.sqlite").feed("f")  # survives a restart
    assert (again.etag, again.last_modified, again.items_published, again.errors,
            again.consecutive_errors, again.next_poll_at, again.last_error) == \
        ('"e2"', "x", 4, 1, 1, 99.0, "HTTP 500")
    assert time.time() > again.last_success_at - 1e9
