"""feedparser's own test corpus (~2,100 feeds), served over HTTP through the collector.

No crash, a clear outcome for every feed, and nothing executable in what is published.
Skipped only where ../shared/feeds/feedparser is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.schema import Article
from tests.integration.collect_helpers import collect_once, feeds
from tests.support.feed_server import FeedServer, Reply
from tests.support.kafka_read import read_topic

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "feeds" / "feedparser"
HEADER = re.compile(rb"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)
ACTIVE = re.compile(r"<\s*/?\s*(script|iframe|object|embed|style|applet|form|meta|link)\b"
                    r"|\bon[a-z]+\s*=|javascript:|vbscript:", re.IGNORECASE)


def served_headers(body: bytes) -> dict[str, str]:
    comment = body.split(b"-->", 1)[0] if b"<!--" in body[:400] else b""
    headers = {k.decode(): v.decode("utf-8", "replace") for k, v in HEADER.findall(comment)}
    headers.setdefault("Content-type", "application/xml")
    return headers


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is absent")
def test_feedparser_corpus(stack, topic, tmp_path):
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".xml", ".rdf"))
    assert len(files) > 2000
    server = FeedServer()
    try:
        urls = {}
        for path in files:
            body = path.read_bytes()
            urls[server.add("/" + path.relative_to(CORPUS).as_posix(),
                            Reply(200, body, served_headers(body)))] = path
        config = feeds(*[{"url": u} for u in urls],
                       politeness={"per_host_concurrency": 16, "max_concurrency": 64})
        outcomes = collect_once(stack.model_copy(update={"topic_raw": topic}), config,
                                tmp_path / "state.sqlite")
    finally:
        server.close()

    assert set(outcomes) == set(urls)
    by_status: dict[str, int] = {}
    for url, outcome in outcomes.items():
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
        assert outcome.status in ("ok", "error"), (urls[url], outcome)
        if outcome.status == "error":
            assert outcome.error and "internal error" not in outcome.error, (urls[url], outcome)
    assert by_status["ok"] > 1500, by_status

    articles = [Article.model_validate_json(v)
                for _k, v in read_topic(stack.kafka_bootstrap, topic, timeout_s=120)]
    assert articles, "the corpus yields articles"
    print(f"corpus: {len(files)} feeds, outcomes {by_status}, {len(articles)} articles")
    assert len({a.id for a in articles}) == len(articles)  # one article per id across feeds
    for article in articles:
        for name, value in article.model_dump().items():
            values = value if isinstance(value, list) else [value]
            for text in values:
                if isinstance(text, str):
                    assert not ACTIVE.search(text), (name, text[:200], article.feed_url)
        assert article.url == "" or article.url.startswith(("http://", "https://"))
