"""`newswatch run` starts the board, prints its URL, and the seed articles reach Live."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from pipelines.seed_feed import seed_feed_xml

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_prints_the_board_url_and_live_shows_the_seed_articles(fresh_env, tmp_path):
    penv = fresh_env
    expected = seed_feed_xml(penv.settings.seeds_dir).decode().count("<item>")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": []}))
    port = _free_port()
    alerts_index = f"{penv.settings.articles_alias}-alerts"
    env = {**penv.env, "NEWSWATCH_ALERTS_INDEX": alerts_index,
           "NEWSWATCH_ALERTS_GROUP_ID": f"{penv.settings.pipeline_group_id}-alerts",
           "NEWSWATCH_BOARD_PORT": str(port)}
    log_path = tmp_path / "run.log"
    process = subprocess.Popen([sys.executable, "-m", "pipelines", "run", "--feeds", str(feeds)],
                               env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    started = time.monotonic()
    try:
        url = None
        rows: list[str] = []
        while len(rows) < expected:
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() - started < 300, (rows, log_path.read_text()[-3000:])
            if url is None:
                found = re.search(r"board:\s+(http://\S+)", log_path.read_text())
                url = found.group(1) if found else None
            if url is not None:
                try:
                    page = httpx.get(url + "live", timeout=10).text
                except httpx.HTTPError:
                    page = ""
                rows = re.findall(r'<article class="item" data-id="([^"]+)"', page)
            time.sleep(1)
        assert url == f"http://127.0.0.1:{port}/"
        assert set(rows) == set(penv.indexed())
        assert "seed articles (local)" in page
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal
        code = process.wait(timeout=120)
        if penv.es.indices.exists(index=alerts_index):
            penv.es.indices.delete(index=alerts_index)
    text = log_path.read_text()
    assert code == 0, text[-3000:]
    assert "newswatch stopped." in text and "Traceback" not in text
