"""The seed articles as a local RSS feed, so that something flows even offline.

`newswatch run` serves it on a loopback port and lists it beside
config/feeds.yaml; the collector then treats it like any other feed.
"""

from __future__ import annotations

import json
import threading
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from pipelines.schema import utc_now


def seed_feed_xml(seeds_dir: Path) -> bytes:
    """RSS 2.0 of seeds/articles.jsonl: one item per seed article, stable links."""
    now = format_datetime(utc_now())
    items = []
    for line in (seeds_dir / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        link = f"https://seeds.newswatch.invalid/articles/{row['id']}"
        items.append(
            f"<item><title>{escape(row.get('title') or row['id'])}</title>"
            f"<link>{escape(link)}</link><guid>{escape(link)}</guid>"
            f"<pubDate>{now}</pubDate>"
            f"<description>{escape(row['text'])}</description></item>")
    body = ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            "<title>newswatch seed articles</title><link>https://seeds.newswatch.invalid/</link>"
            "<description>The seed corpus, served locally</description><language>en</language>"
            + "".join(items) + "</channel></rss>")
    return body.encode("utf-8")


class SeedFeedServer:
    """Serves the seed feed at http://127.0.0.1:PORT/seeds.xml until closed."""

    def __init__(self, seeds_dir: Path) -> None:
        body = seed_feed_xml(seeds_dir)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, name="seed-feed", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/seeds.xml"

    def close(self) -> None:
        self._httpd.shutdown()
