"""`newswatch collect` as a long-running service: it keeps polling, serves its counters,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from tests.support.feed_server import FeedServer, feed_reply, rss
from tests.support.kafka_read import read_topic

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_service_polls_serves_counters_and_stops_on_sigterm(stack, topic, tmp_path):
    server = FeedServer()
    items = [{"title": "First", "link": "http://news.test/s/1"}]
    server.add("/live", lambda _seen: feed_reply(rss(items)))
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({
        "feeds": [{"url": server.url("/live"), "name": "live", "interval_s": 10,
                   "allow_private": True}],
        "politeness": {"per_host_interval_s": 0}}))
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "NEWSWATCH_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
           "NEWSWATCH_TOPIC_RAW": topic, "NEWSWATCH_STATE_DIR": str(tmp_path / "state")}
    service = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "collect", "--feeds", str(feeds_file),
         "--metrics-port", str(port)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(read_topic(stack.kafka_bootstrap, topic)) < 1:
            assert time.monotonic() < deadline and service.poll() is None
            time.sleep(0.3)
        items.append({"title": "Second", "link": "http://news.test/s/2"})
        while len(read_topic(stack.kafka_bootstrap, topic)) < 2:  # next cycle, 10 s later
            assert time.monotonic() < deadline + 30 and service.poll() is None
            time.sleep(0.5)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'newswatch_collector_items_published_total{feed="live"} 2.0' in metrics
        assert 'newswatch_collector_polls_total{feed="live",status="ok"}' in metrics
        assert 'newswatch_collector_last_success_timestamp_seconds{feed="live"}' in metrics
    finally:
        service.send_signal(signal.SIGTERM)
        _out, err = service.communicate(timeout=60)
        server.close()
    assert service.returncode == 0, err
    assert "cycle feeds=1 ok=1" in err  # one key=value line per cycle
    assert len(read_topic(stack.kafka_bootstrap, topic)) == 2
