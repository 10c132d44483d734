"""The board's routes in-process (Starlette's TestClient), with no Elasticsearch at all:
a broken store is a clear message, never a stack trace; writes need the CSRF token;
the host and token rules hold."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from pipelines.board.app import create_app
from pipelines.settings import load_settings

BASE = "http://127.0.0.1:8765"
PAGES = ["/live", "/search?q=land", "/article/a1", "/triage", "/trends", "/alerts"]


@pytest.fixture
def down(tmp_path):
    """The board with Elasticsearch on a port where nothing listens."""
    settings = load_settings(es_url="http://127.0.0.1:9", state_dir=tmp_path / "state",
                             kafka_bootstrap="127.0.0.1:9")
    return TestClient(create_app(settings), base_url=BASE, raise_server_exceptions=False)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)


@pytest.mark.parametrize("path", PAGES)
def test_a_broken_elasticsearch_is_a_clear_message_not_a_trace(down, path):
    response = down.get(path)
    assert response.status_code == 503
    assert "Elasticsearch at http://127.0.0.1:9 does not answer" in response.text
    assert "newswatch stack up" in response.text
    for trace in ("Traceback", "File \"", "elastic_transport", "ConnectionRefused"):
        assert trace not in response.text


def test_health_shows_each_broken_part_in_its_place(down):
    response = down.get("/health")
    assert response.status_code == 200
    assert "Elasticsearch at http://127.0.0.1:9 did not answer" in response.text
    assert "Kafka at" in response.text or "dead-letter topic could not be read" in response.text
    assert "Traceback" not in response.text


def test_every_response_carries_the_security_headers(down):
    response = down.get("/live")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    cookie = response.headers["set-cookie"]
    assert "nw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_writes_without_the_pages_csrf_token_are_refused(down):
    page = down.get("/live").text
    for path, body in (("/api/feedback/a1", {"labels": []}),
                       ("/api/rules", {"name": "x", "q": "*"})):
        refused = down.post(path, json=body)
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
        forged = down.post(path, json=body, headers={"x-csrf-token": "0" * 64})
        assert forged.status_code == 403
    # With the token the request gets through to the (absent) store: a clear 503.
    passed = down.post("/api/feedback/a1", json={"labels": []},
                       headers={"x-csrf-token": _csrf(page)})
    assert passed.status_code == 503 and "does not answer" in passed.json()["error"]
    bad_labels = down.post("/api/feedback/a1", json={"labels": ["spying"]},
                           headers={"x-csrf-token": _csrf(page)})
    assert bad_labels.status_code == 400 and "unknown labels" in bad_labels.json()["error"]


def test_a_foreign_host_name_is_refused_on_loopback(down):
    rebound = TestClient(down.app, base_url="http://rebind.evil.test:8765")
    assert rebound.get("/live").status_code == 421


def test_static_assets_are_package_files(down):
    script = down.get("/static/board.js")
    assert script.status_code == 200 and "EventSource" in script.text
    assert down.get("/static/board.css").status_code == 200


def test_with_a_token_every_page_needs_it(tmp_path):
    token = "a-long-enough-board-token"
    settings = load_settings(es_url="http://127.0.0.1:9", state_dir=tmp_path,
                             board_host="0.0.0.0", board_token=token)
    client = TestClient(create_app(settings), base_url="http://board.example:8765",
                        raise_server_exceptions=False)
    first = client.get("/live", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login"
    assert client.post("/api/rules", json={}).status_code == 401
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    signed_in = client.post("/login", data={"token": token}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert client.get("/live").status_code == 503  # through the gate, to the absent store
    bearer = TestClient(client.app, base_url="http://board.example:8765",
                        raise_server_exceptions=False)
    assert bearer.get("/live", headers={"authorization": f"Bearer {token}"}).status_code == 503


class _Request:
    """What the event stream reads of a request: whether the browser left."""

    async def is_disconnected(self) -> bool:
        return False


class _Client:
    """An Elasticsearch stand-in answering every search with the same hits."""

    def __init__(self, hits: list[dict]) -> None:
        self.hits = hits

    def search(self, index: str, **body):
        from types import SimpleNamespace
        return SimpleNamespace(body={"hits": {"hits": self.hits}, "aggregations": {
            "arrived": {"buckets": {"hour": {"doc_count": 1}, "day": {"doc_count": 2}}}}})


def _events(board, count: int) -> list[str]:
    import asyncio

    async def collect() -> list[str]:
        stream = board._follow(_Request(), [], [], "2026-12-07T10:00:00Z")
        got = []
        async for chunk in stream:
            got.append(chunk)
            if len(got) == count:
                board.closing.set()
                break
        await stream.aclose()
        return got
    return asyncio.run(collect())


def test_live_stream_sends_escaped_rows_once_each_then_counts(tmp_path):
    from pipelines.board.app import Board

    hostile = "<script>alert(1)</script>\nsecond line"
    hit = {"_id": "a1", "_source": {"id": "a1", "title": hostile, "source": "Kyodo",
                                    "url": "https://news.test/1", "labels": [],
                                    "scores": {"tech_influence": 0.2},
                                    "indexed_at": "2026-12-07T11:00:00Z",
                                    "model_version": "m1"}}
    board = Board(load_settings(state_dir=tmp_path), client=_Client([hit]), live_poll_s=0.01)
    retry, article, counts = _events(board, 3)
    assert retry == "retry: 2000\n\n"
    assert article.startswith("event: article\n") and article.endswith("\n\n")
    lines = article.strip("\n").split("\n")[1:]
    assert all(line.startswith("data: ") for line in lines)
    data = "\n".join(line[len("data: "):] for line in lines)
    assert 'data-id="a1"' in data and "&lt;script&gt;alert(1)&lt;/script&gt;" in data
    assert "<script>" not in data
    assert counts == 'event: counts\ndata: {"hour": 1, "day": 2}\n\n'


def test_live_stream_says_when_elasticsearch_is_away(tmp_path):
    from pipelines.board.app import Board

    board = Board(load_settings(state_dir=tmp_path, es_url="http://127.0.0.1:9"),
                  live_poll_s=0.01)
    retry, unavailable = _events(board, 2)
    assert unavailable.startswith("event: unavailable\ndata: ")
    assert "Elasticsearch at http://127.0.0.1:9 does not answer" in unavailable
