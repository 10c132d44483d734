"""A local HTTP server that answers like Slack's incoming-webhook endpoint.

Replies are scripted in order (status, headers, body); once the script is used
up every post gets Slack's ``200 ok``. ``outage(seconds)`` answers 503 to every post
for that long, as Slack does when it is down. Every request is recorded with its time,
JSON body and the status it got.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Posted:
    at: float
    path: str
    payload: dict[str, Any]
    status: int


@dataclass
class SlackServer:
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    posts: list[Posted] = field(default_factory=list)
    down_until: float = 0.0

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if time.monotonic() < server.down_until:
                    status, headers, text = 503, {}, "service_unavailable"
                else:
                    status, headers, text = (server.script.pop(0) if server.script
                                             else (200, {}, "ok"))
                server.posts.append(Posted(time.monotonic(), self.path, json.loads(body),
                                           status))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *_args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/services/T000/B000/XXXX"

    def outage(self, seconds: float) -> None:
        """Answer 503 to every post for ``seconds`` from now."""
        self.down_until = time.monotonic() + seconds

    def close(self) -> None:
        self._httpd.shutdown()
