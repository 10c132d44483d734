"""The collector against local feed servers and the real Kafka: exact topic contents."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime

import pytest

from pipelines.collect.normalize import article_id, canonical_url
from tests.integration.collect_helpers import collect_once, feeds, topic_articles
from tests.support.feed_server import Reply, feed_reply, gzipped, rss, trickle

pytestmark = pytest.mark.integration

RSS2 = rss([
    {"title": "Chinese fund buys Hokkaido forest", "link": "http://news.test/a?utm_source=x",
     "description": "&lt;p&gt;A fund bought &lt;b&gt;300 ha&lt;/b&gt;.&lt;/p&gt;",
     "content:encoded": "<![CDATA[<p>Full story: the fund <i>bought</i> forest.</p>"
                        "<script>alert(1)</script>]]>",
     "pubDate": "Mon, 02 Nov 2026 09:30:00 +0900", "dc:creator": "Aiko Sato",
     "category": "land"},
    {"title": "No date &amp; no link", "guid isPermaLink=\"false\"": "tag:news.test,2026:2",
     "description": "Text only."},
])
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Test</title><id>urn:x</id>
<updated>2026-11-01T00:00:00Z</updated>
<entry><title type="html">Ministry moves to &lt;em&gt;foreign&lt;/em&gt; cloud</title>
<link rel="alternate" href="https://news.test/cloud#section"/><id>urn:e1</id>
<updated>2026-11-01T12:00:00Z</updated><author><name>Ken Ito</name></author>
<summary>Summary &amp; more.</summary>
<content type="html">&lt;p&gt;The ministry will run on a US hyperscaler.&lt;/p&gt;</content></entry>
</feed>"""
RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://news.test/"><title>RDF Test</title><link>http://news.test/</link>
<description>d</description></channel>
<item rdf:about="http://news.test/rdf1"><title>RDF item</title><link>http://news.test/rdf1</link>
<description>Port operator sold to foreign investor.</description>
<dc:date>2026-10-30T08:00:00+00:00</dc:date></item>
</rdf:RDF>"""
LATIN1 = rss([{"title": "Caf\u00e9 cr\u00e8me in M\u00fcnchen", "link": "http://news.test/latin",
               "description": "Gr\u00fc\u00dfe aus K\u00f6ln, sch\u00f6ne Gr\u00fc\u00dfe."}],
             encoding="iso-8859-1")
SJIS = rss([{"title": "\u5916\u8cc7\u306b\u3088\u308b\u571f\u5730\u8cb7\u53ce",
             "link": "http://news.test/sjis",
             "description": "\u5317\u6d77\u9053\u306e\u68ee\u6797\u304c\u5916\u56fd"
                            "\u8cc7\u672c\u306b\u8cb7\u53ce\u3055\u308c\u305f\u3002"}],
           encoding="shift_jis")


def test_every_format_lands_once_with_exact_fields(raw, server, tmp_path):
    urls = {
        "rss": server.add("/rss", feed_reply(RSS2)),
        "atom": server.add("/atom", feed_reply(ATOM, "application/atom+xml")),
        "rdf": server.add("/rdf", feed_reply(RDF, "application/rdf+xml")),
        "latin1": server.add("/latin1", feed_reply(LATIN1, "text/xml; charset=iso-8859-1")),
        "sjis": server.add("/sjis", feed_reply(SJIS, "application/xml")),
        "gzip": server.add("/gz", gzipped(rss([{"title": "Zipped", "link": "http://news.test/z",
                                                "description": "compressed body"}]))),
    }
    config = feeds(*[{"url": u, "name": n, "tags": ["t-" + n]} for n, u in urls.items()])
    before = datetime.now(UTC)
    outcomes = collect_once(raw, config, tmp_path / "state.sqlite")
    assert {u: (o.status, o.new) for u, o in outcomes.items()} == {
        urls["rss"]: ("ok", 2), urls["atom"]: ("ok", 1), urls["rdf"]: ("ok", 1),
        urls["latin1"]: ("ok", 1), urls["sjis"]: ("ok", 1), urls["gzip"]: ("ok", 1)}

    articles = {a.url or a.title: a for a in topic_articles(raw)}
    assert len(articles) == 7 == len(topic_articles(raw))  # each item exactly once

    a = articles["http://news.test/a"]  # tracking parameter dropped from the canonical link
    assert a.id == article_id("http://news.test/a", None, urls["rss"], a.title)
    assert (a.title, a.summary) == ("Chinese fund buys Hokkaido forest", "A fund bought 300 ha.")
    assert a.content == "Full story: the fund bought forest."  # script dropped with its text
    assert a.published_at == datetime(2026, 11, 2, 0, 30, tzinfo=UTC)
    assert not a.published_at_inferred
    assert (a.source, a.feed_url, a.authors, a.tags) == ("rss", urls["rss"], ["Aiko Sato"],
                                                         ["t-rss", "land"])
    assert a.language == "en"

    undated = articles["No date & no link"]
    assert undated.url == "" and undated.id == article_id(None, "tag:news.test,2026:2",
                                                          urls["rss"], "")
    assert undated.published_at_inferred and undated.published_at >= before

    atom = articles["https://news.test/cloud"]
    assert atom.title == "Ministry moves to foreign cloud"
    assert atom.content == "The ministry will run on a US hyperscaler."
    assert (atom.summary, atom.authors) == ("Summary & more.", ["Ken Ito"])
    assert atom.published_at == datetime(2026, 11, 1, 12, tzinfo=UTC)

    assert articles["http://news.test/rdf1"].summary == "Port operator sold to foreign investor."
    assert articles["http://news.test/latin"].title == "Caf\u00e9 cr\u00e8me in M\u00fcnchen"
    sjis = articles["http://news.test/sjis"]
    assert sjis.title == "\u5916\u8cc7\u306b\u3088\u308b\u571f\u5730\u8cb7\u53ce"
    assert sjis.language == "ja"
    assert articles["http://news.test/z"].summary == "compressed body"


def test_conditional_get_then_only_new_items(raw, server, tmp_path):
    version = {"etag": '"v1"', "items": [{"title": "One", "link": "http://news.test/1"}]}

    def route(seen):
        if seen.headers.get("if-none-match") == version["etag"]:
            return Reply(304, b"", {"ETag": version["etag"]})
        return feed_reply(rss(version["items"]), ETag=version["etag"],
                          **{"Last-Modified": "Mon, 02 Nov 2026 00:00:00 GMT"})

    url = server.add("/cond", route)
    config, state = feeds({"url": url}), tmp_path / "state.sqlite"
    assert collect_once(raw, config, state)[url].new == 1
    second = collect_once(raw, config, state)[url]
    assert (second.status, second.new) == ("not_modified", 0)
    assert server.hits("/cond")[1].headers["if-none-match"] == '"v1"'
    assert server.hits("/cond")[1].headers["if-modified-since"] == "Mon, 02 Nov 2026 00:00:00 GMT"

    version.update(etag='"v2"', items=[{"title": "Two", "link": "http://news.test/2"},
                                       *version["items"]])
    assert collect_once(raw, config, state)[url].new == 1
    assert [a.title for a in topic_articles(raw)] == ["One", "Two"]


def test_429_retry_after_is_honoured(raw, server, tmp_path):
    calls = []

    def route(seen):
        calls.append(seen.at)
        if len(calls) == 1:
            return Reply(429, b"slow down", {"Retry-After": "1"})
        return feed_reply(rss([{"title": "After wait", "link": "http://news.test/w"}]))

    url = server.add("/busy", route)
    outcome = collect_once(raw, feeds({"url": url}), tmp_path / "s.sqlite")[url]
    assert (outcome.status, outcome.new) == ("ok", 1)
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.95
    assert server.hits("/busy")[0].headers["user-agent"].startswith("newswatch/")


def test_bad_feeds_fail_alone_with_clear_errors(raw, server, tmp_path):
    good = server.add("/good", feed_reply(rss([{"title": "Good", "link": "http://news.test/g"}])))
    partly = server.add("/partly", feed_reply(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>P</title>'
        b'<item><title>Readable</title><link>http://news.test/r</link></item>'
        b'<item><title>Broken &bogus; entity</title><link>http://news.test/b</link></item>'
        b'<item><title>Unclosed'))
    html_page = server.add("/html", Reply(200, b"<html><body><h1>Hello</h1></body></html>",
                                          {"Content-Type": "text/html"}))
    wrong_enc = server.add("/enc", feed_reply(
        rss([{"title": "Gr\u00fc\u00dfe", "link": "http://news.test/enc"}], encoding="latin-1"),
        "application/rss+xml; charset=utf-8"))
    huge = server.add("/huge", Reply(200, b"<rss>" + b"x" * 20_000_000,
                                     {"Content-Type": "application/rss+xml"}))
    slow = server.add("/slow", lambda _seen: Reply(200, trickle(b"<rss version='2.0'>", 0.2, 30),
                                                   {"Content-Type": "application/rss+xml"}))
    loop = server.add("/loop", Reply(302, b"", {"Location": "/loop2"}))
    server.add("/loop2", Reply(302, b"", {"Location": "/loop"}))
    missing = server.add("/missing", Reply(404, b"no"))
    gone = server.add("/gone", Reply(410, b"gone"))
    broken = server.add("/broken", Reply(500, b"oops"))
    dns = "http://no-such-host.invalid/feed"
    config = feeds(*[{"url": u} for u in (good, partly, html_page, wrong_enc, huge, slow, loop,
                                          missing, gone, broken, dns)],
                   limits={"max_body_bytes": 5_000_000, "total_timeout_s": 3.0})
    state = tmp_path / "s.sqlite"
    started = time.monotonic()
    out = collect_once(raw, config, state)
    assert time.monotonic() - started < 30  # the trickler did not hold the cycle hostage

    assert (out[good].status, out[good].new) == ("ok", 1)
    # feedparser's lenient parser still reads every entry of the broken document
    assert (out[partly].status, out[partly].new) == ("ok", 3)
    assert "malformed feed" in out[partly].warning
    assert (out[wrong_enc].status, out[wrong_enc].new) == ("ok", 1)
    expected_errors = {
        html_page: "not a readable feed (text/html)",
        huge: "body larger than 5000000 bytes",
        slow: "no complete answer within 3s",
        loop: "redirect loop",
        missing: "HTTP 404",
        broken: "HTTP 500",
        dns: "DNS lookup of no-such-host.invalid failed",
        gone: "HTTP 410 Gone",
    }
    for url, needle in expected_errors.items():
        assert out[url].status in ("error", "gone"), (url, out[url])
        assert needle in out[url].error, (url, out[url].error)
    assert out[gone].status == "gone"

    titles = sorted(a.title for a in topic_articles(raw))
    assert titles == ["", "Broken &bogus; entity", "Good", "Gr\u00fc\u00dfe", "Readable"]

    again = collect_once(raw, config, state)  # a gone feed is no longer polled
    assert again[gone].status == "skipped" and len(server.hits("/gone")) == 1
    assert again[good].new == 0 and len(topic_articles(raw)) == 5  # nothing published twice


def test_permanent_redirect_moves_the_feed(raw, server, tmp_path):
    new = server.add("/new", feed_reply(rss([{"title": "Moved", "link": "http://news.test/m"}])))
    old = server.add("/old", Reply(301, b"", {"Location": new}))
    state = tmp_path / "s.sqlite"
    assert collect_once(raw, feeds({"url": old}), state)[old].new == 1
    collect_once(raw, feeds({"url": old}), state)
    assert len(server.hits("/old")) == 1 and len(server.hits("/new")) == 2


def test_ssrf_guard_refuses_loopback_unless_allowed(raw, server, tmp_path):
    url = server.add("/private", feed_reply(rss([{"title": "x", "link": "http://news.test/x"}])))
    config = feeds({"url": url, "allow_private": False})
    outcome = collect_once(raw, config, tmp_path / "s.sqlite")[url]
    assert outcome.status == "error"
    assert "resolves to 127.0.0.1, a loopback address; refused" in outcome.error
    assert server.hits("/private") == []  # not even one request went out


def test_gzip_bomb_is_capped_after_decompression(raw, server, tmp_path):
    bomb = gzip.compress(b"<rss>" + b" " * 50_000_000)
    url = server.add("/bomb", Reply(200, bomb, {"Content-Type": "application/rss+xml",
                                               "Content-Encoding": "gzip"}))
    out = collect_once(raw, feeds({"url": url}, limits={"max_body_bytes": 1_000_000}),
                       tmp_path / "s.sqlite")[url]
    assert out.status == "error" and "body larger than 1000000 bytes" in out.error
    assert len(bomb) < 1_000_000  # the cap applies to what the body expands to


def test_canonical_link_is_what_the_id_hashes(raw):
    assert canonical_url("HTTP://News.Test:80/a?utm_medium=x&id=3#top") == "http://news.test/a?id=3"


ARTICLE_PAGE = b"""<html><head><title>Port deal</title></head><body>
<nav>Home | World | Business</nav>
<article><h1>Foreign operator takes over the port</h1>
<p>A foreign state-owned operator signed a fifty-year lease on the container terminal of the
country's second-largest port on Monday, the transport ministry said in a statement.</p>
<p>The agreement gives the operator control of cranes, berths and the terminal's data systems,
and officials said an economic-security review had found no grounds to block it.</p>
<p>Opposition lawmakers asked the government to publish the review before the deal closes.</p>
</article><footer>Copyright</footer></body></html>"""


def test_full_text_of_the_linked_page_is_extracted(raw, server, tmp_path):
    page = server.add("/story", Reply(200, ARTICLE_PAGE, {"Content-Type": "text/html"}))
    url = server.add("/full", feed_reply(rss([{"title": "Port deal", "link": page,
                                                "description": "Short teaser."}])))
    outcome = collect_once(raw, feeds({"url": url, "fetch_full_text": True,
                                               "allow_private_links": True}),
                           tmp_path / "s.sqlite")[url]
    assert (outcome.status, outcome.new) == ("ok", 1)
    [article] = topic_articles(raw)
    assert article.summary == "Short teaser."
    assert "fifty-year lease on the container terminal" in article.content
    assert "publish the review before the deal closes" in article.content
    assert "Copyright" not in article.content and "Home | World" not in article.content
