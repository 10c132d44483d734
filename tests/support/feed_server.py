"""A real local HTTP server for feed tests: routes answer with status, headers and body.

A route is a function of the request that returns a ``Reply``; bodies may be a
generator (to trickle bytes). Every request is recorded, with its headers and
time, so tests can assert what the collector sent.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    at: float
    client_port: int = 0  # which TCP connection the request came on


Route = Callable[[Seen], Reply]


class FeedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()},
                            time.monotonic(), self.client_address[1])
                server.requests.append(seen)
                route = server.routes.get(self.path.split("?")[0])
                reply = route(seen) if route else Reply(404, b"not found")
                try:
                    self._send(reply)
                except OSError:  # the client gave up (timeouts, caps): expected in tests
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if isinstance(reply.body, bytes):
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in reply.body:
                    self.wfile.write(chunk)
                    self.wfile.flush()

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, route: Route | Reply) -> str:
        self.routes[path] = route if callable(route) else (lambda _seen, r=route: r)
        return self.url(path)

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def feed_reply(body: bytes, content_type: str = "application/rss+xml; charset=utf-8",
               **headers: str) -> Reply:
    return Reply(200, body, {"Content-Type": content_type, **headers})


def gzipped(body: bytes, content_type: str = "application/rss+xml") -> Reply:
    return Reply(200, gzip.compress(body), {"Content-Type": content_type,
                                             "Content-Encoding": "gzip"})


def trickle(prefix: bytes, every_s: float = 0.5, forever_s: float = 120.0) -> Iterator[bytes]:
    yield prefix
    end = time.monotonic() + forever_s
    while time.monotonic() < end:
        time.sleep(every_s)
        yield b" "


def rss(items: list[dict[str, str]], *, title: str = "Test Feed", extra: str = "",
        encoding: str = "utf-8") -> bytes:
    """A small RSS 2.0 document; item dicts hold raw XML snippets per element."""
    parts = [f'<?xml version="1.0" encoding="{encoding}"?>',
             '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
             'xmlns:dc="http://purl.org/dc/elements/1.1/">',
             f"<channel><title>{title}</title><link>http://example.org/</link>{extra}"]
    for item in items:
        parts.append("<item>" + "".join(f"<{k}>{v}</{k.split(' ')[0]}>"
                                        for k, v in item.items()) + "</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode(encoding, errors="xmlcharrefreplace")
