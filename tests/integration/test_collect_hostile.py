"""Hostile feeds against the real collector and Kafka: each case is fed as an attacker would
send it, and the outcome asserted exactly (what was published, what was said, what was not)."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from tests.integration.collect_helpers import FAST, collect_once, feeds, topic_articles
from tests.support.feed_server import Reply, feed_reply, rss

pytestmark = pytest.mark.integration


# Runs the collector as its child and reports that child's peak RSS: only a fresh parent
# sees one child's figure (RUSAGE_CHILDREN covers every child it has waited for).
PEAK = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
        "print(f'PEAK_KIB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', "
        "file=sys.stderr); sys.exit(code)")


def collect_cli(raw, feeds_body: dict, tmp_path: Path, state: Path | None = None,
                ) -> tuple[subprocess.CompletedProcess, int]:
    """`newswatch collect --once` as a user runs it; returns the run and its peak RSS (KiB)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump(feeds_body))
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "NEWSWATCH_KAFKA_BOOTSTRAP": raw.kafka_bootstrap, "NEWSWATCH_TOPIC_RAW": raw.topic_raw,
           "NEWSWATCH_STATE_DIR": str(tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-c", PEAK, sys.executable, "-m", "pipelines", "collect", "--feeds",
         str(feeds_file), "--once", "--state-file", str(state or tmp_path / "c.sqlite")], env=env,
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180, check=False)
    body, _, peak = run.stderr.rpartition("PEAK_KIB=")
    return subprocess.CompletedProcess(run.args, run.returncode, run.stdout, body), int(peak)


def test_a_body_that_is_a_local_path_is_parsed_as_data_not_opened(raw, server, tmp_path):
    secret = tmp_path / "local.rss"
    secret.write_bytes(rss([{"title": "Local file item", "link": "http://local.test/secret",
                             "description": "read from the collector's disk"}]))
    good = rss([{"title": "Good item", "link": "http://news.test/good", "description": "ok"}])
    path_url = server.add("/path", feed_reply(str(secret).encode()))
    zero_url = server.add("/zero", feed_reply(b"/dev/zero"))
    good_url = server.add("/good", feed_reply(good))
    outcomes = collect_once(raw, feeds({"url": path_url}, {"url": zero_url}, {"url": good_url}),
                            tmp_path / "s.sqlite")
    assert outcomes[path_url].status == "error" and outcomes[zero_url].status == "error"
    assert "not a readable feed" in outcomes[path_url].error
    assert [a.title for a in topic_articles(raw)] == ["Good item"]


def double_gzip_bomb(inflated: int) -> bytes:
    """``inflated`` spaces, gzip inside gzip (a few KB on the wire), built without holding
    the inflated bytes in memory."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1 << 20)
    layer = b"".join(inner.compress(chunk) for _ in range(inflated >> 20)) + inner.flush()
    return zlib.compress(layer, 9, wbits=16 + zlib.MAX_WBITS)


def test_a_nested_gzip_bomb_is_refused_with_bounded_memory(raw, server, tmp_path):
    bomb = double_gzip_bomb(400 << 20)
    assert len(bomb) < 50_000  # what the server sends
    headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip, gzip"}
    bomb_url = server.add("/bomb", Reply(200, bomb, headers))
    good = rss([{"title": "After the bomb", "link": "http://news.test/after",
                 "description": "still published"}])
    good_url = server.add("/good", feed_reply(good))
    body = {**FAST, "limits": {**FAST["limits"], "max_body_bytes": 5_000_000},
            "feeds": [{"url": bomb_url, "allow_private": True},
                      {"url": good_url, "allow_private": True}]}
    state = tmp_path / "collector.sqlite"
    quiet, quiet_peak = collect_cli(raw, {**body, "feeds": body["feeds"][1:]}, tmp_path / "a",
                                    state)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    run, peak = collect_cli(raw, body, tmp_path / "b", state)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "body larger than 5000000 bytes (counted after decompression)" in run.stdout
    assert [a.title for a in topic_articles(raw)] == ["After the bomb"]  # once: 2nd run saw it
    print(f"\npeak RSS: collector with the bomb {peak / 1024:.0f} MiB, "
          f"without {quiet_peak / 1024:.0f} MiB")
    assert peak < quiet_peak + 64 * 1024  # KiB: the bomb costs less than 64 MiB


def test_one_item_link_redirecting_nowhere_costs_only_its_full_text(raw, server, tmp_path):
    bad = server.add("/article/bad", Reply(302, b"", {"Location": "http://["}))
    port = server.add("/article/port", Reply(302, b"", {"Location": "http://h.test:99999/x"}))
    page = server.add("/article/good", Reply(200, (
        b"<html><body><article><p>" + b"The full text of the good article. " * 30
        + b"</p></article></body></html>"), {"Content-Type": "text/html"}))
    items = [{"title": t, "link": link, "description": "short"}
             for t, link in (("Bad", bad), ("Port", port), ("Good", page))]
    url = server.add("/feed", feed_reply(rss(items)))
    outcome = collect_once(raw, feeds({"url": url, "fetch_full_text": True,
                                               "allow_private_links": True}),
                           tmp_path / "s.sqlite")[url]
    assert outcome.status == "ok" and outcome.new == 3
    published = {a.title: a for a in topic_articles(raw)}
    assert set(published) == {"Bad", "Port", "Good"}
    for title in ("Bad", "Port"):  # as the feed gave them: no full text
        assert (published[title].summary, published[title].content) == ("short", "")
    assert published["Good"].content.startswith("The full text of the good article.")


def test_feed_text_holding_rich_markup_is_printed_as_text(raw, server, tmp_path):
    url = server.add("/moved", Reply(302, b"", {"Location": "gopher://x.test/[/]odd[bold]"}))
    run, _peak = collect_cli(raw, {**FAST, "feeds": [{"url": url, "allow_private": True}]},
                             tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "not an http(s) URL: gopher://x.test/[/]odd[bold]" in " ".join(run.stdout.split())
    assert "Traceback" not in run.stderr


def test_a_password_in_a_feed_url_is_never_printed(raw, server, tmp_path):
    good = server.add("/good", feed_reply(rss([{"title": "G", "link": "http://news.test/g",
                                                "description": "d"}])))
    body = {**FAST, "feeds": [{"url": "ftp://reader:S3CRET-PASS@feeds.test/rss"},
                              {"url": "https://reader:S3CRET-PASS@127.0.0.1:1/rss",
                               "allow_private": True},
                              {"url": good, "allow_private": True}]}
    run, _peak = collect_cli(raw, body, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    everything = run.stdout + run.stderr
    assert "S3CRET-PASS" not in everything
    assert "feed #1 (ftp://***@feeds.test/rss) skipped" in " ".join(run.stderr.split())
    assert "connection to 127.0.0.1:1 failed" in " ".join(run.stdout.split())
    assert [a.title for a in topic_articles(raw)] == ["G"]


def test_one_slow_host_does_not_hold_the_slots_other_hosts_need(raw, server, tmp_path):
    import time as clock

    def slow(_seen):
        clock.sleep(2.0)
        return feed_reply(rss([]))

    slow_urls = [server.add(f"/slow{n}", slow).replace("127.0.0.1", "localhost")
                 for n in range(3)]
    fast_url = server.add("/fast", feed_reply(rss([{"title": "Fast", "link": "http://f.test/1",
                                                    "description": "d"}])))
    config = feeds(*({"url": u} for u in [*slow_urls, fast_url]),
                   politeness={"max_concurrency": 2, "per_host_concurrency": 1,
                               "per_host_interval_s": 0.0})
    outcomes = collect_once(raw, config, tmp_path / "s.sqlite")
    assert {o.status for o in outcomes.values()} == {"ok"}
    first_slow = min(server.hits(f"/slow{n}")[0].at for n in range(3))
    # The fast host was asked while the first slow reply was still being awaited: the
    # slow host's queued feeds did not sit on the second global slot.
    assert server.hits("/fast")[0].at < first_slow + 1.5
    assert [a.title for a in topic_articles(raw)] == ["Fast"]


def test_article_links_do_not_inherit_the_feeds_allow_private(raw, server, tmp_path):
    page = server.add("/internal/page", Reply(200, b"<html><body><article><p>"
                                              + b"Internal only. " * 60 + b"</p></article>"
                                              b"</body></html>", {"Content-Type": "text/html"}))
    url = server.add("/feed", feed_reply(rss([{"title": "Item", "link": page,
                                               "description": "feed text"}])))
    outcome = collect_once(raw, feeds({"url": url, "fetch_full_text": True}),  # private feed
                           tmp_path / "s.sqlite")[url]
    assert outcome.status == "ok" and outcome.new == 1
    assert server.hits("/internal/page") == []  # the link's private address was not asked
    (article,) = topic_articles(raw)
    assert (article.summary, article.content) == ("feed text", "")


def test_an_article_over_kafkas_message_limit_is_named_and_the_rest_published(
        raw, server, tmp_path):
    huge = "word " * 250_000  # 1.25 MB of text: more than Kafka takes in one message
    url = server.add("/feed", feed_reply(rss([
        {"title": "Huge", "link": "http://news.test/huge", "description": huge},
        {"title": "Small", "link": "http://news.test/small", "description": "fits"}])))
    outcome = collect_once(raw, feeds({"url": url}), tmp_path / "s.sqlite")[url]
    assert outcome.status == "ok" and outcome.new == 1
    assert "article http://news.test/huge is " in outcome.warning
    assert "bytes, over Kafka's message limit: not published" in outcome.warning
    assert [a.title for a in topic_articles(raw)] == ["Small"]


def entity_bomb(levels: int = 9) -> bytes:
    """The billion laughs: ten of each entity in the next, ``levels`` deep."""
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, levels + 1)]
    return (f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(entities)}]>'
            f'<rss version="2.0"><channel><title>t</title><item><title>&l{levels};</title>'
            '<link>http://bomb.test/1</link></item></channel></rss>').encode()


def test_parse_bombs_end_as_their_feeds_errors_with_bounded_memory(raw, server, tmp_path):
    huge_attribute = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                      b'<item><title x="' + b"A" * 60_000_000 + b'">t</title>'
                      b'<link>http://bomb.test/2</link></item></channel></rss>')
    slow = rss([{"title": f"Item {n}", "link": f"http://slow.test/{n}",
                 "description": "a few words " * 20} for n in range(30_000)])
    urls = {
        "laughs": server.add("/laughs", feed_reply(entity_bomb())),
        "attribute": server.add("/attribute", feed_reply(huge_attribute)),
        "slow": server.add("/slow", feed_reply(slow)),
        "good": server.add("/good", feed_reply(rss([{"title": "Good", "description": "ok",
                                                     "link": "http://news.test/ok"}]))),
    }
    body = {**FAST, "limits": {**FAST["limits"], "max_body_bytes": 80_000_000,
                               "parse_timeout_s": 2.0, "parse_memory_mb": 600,
                               "parse_workers": 2},
            "feeds": [{"url": u, "name": name, "allow_private": True}
                      for name, u in urls.items()]}
    run, peak = collect_cli(raw, body, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines()
            if line.count("│") >= 5 and line.split("│")[1].strip() in urls}
    print(f"\npeak RSS of the collector and its parse workers: {peak / 1024:.0f} MiB")
    for name in ("attribute", "slow"):
        assert "│ error" in rows[name] and "parsing took longer than 2s; refused" in rows[name]
    # expat's amplification limit stops the entities; the lenient parser keeps the item
    # with its entity unexpanded
    assert "limit on input amplification factor" in rows["laughs"]
    titles = sorted(a.title for a in topic_articles(raw))
    assert titles == ["&l9;", "Good"]
    assert peak < 900 * 1024  # KiB: the 600 MiB cap of a worker, plus the collector's body


def test_a_connection_is_never_shared_by_two_host_names_on_one_address(server):
    import asyncio

    from pipelines.collect.feeds_config import Limits
    from pipelines.collect.fetcher import Fetcher

    url = server.add("/feed", feed_reply(rss([])))
    by_name = url.replace("127.0.0.1", "localhost")

    async def fetch_all() -> list[str]:
        fetcher = Fetcher(Limits())
        try:
            return [(await fetcher.fetch(u, allow_private=True)).status
                    for u in (by_name, by_name, url)]
        finally:
            await fetcher.aclose()

    assert asyncio.run(fetch_all()) == ["ok", "ok", "ok"]
    first, again, other = server.hits("/feed")
    assert first.headers["host"].startswith("localhost") and other.headers["host"].startswith(
        "127.0.0.1")
    assert first.client_port == again.client_port  # one name: its connection is kept alive
    assert other.client_port != first.client_port  # another name, same address: its own
