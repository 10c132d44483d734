"""The analyst's board: page loads with 10,000 indexed articles, and index -> Live.

Peer: the page's own Elasticsearch requests sent straight to the cluster (the
floor any board over this store has; Kibana's Discover pays it too), so the
figures say what the board adds on top of the store.

- Live and Search page loads, p50/p95 over N loads each: the HTTP response of the
  server-rendered page (httpx), and the full load in headless Chromium
  (navigation timing: request start -> load event, styles and script included).
- index -> Live: an article indexed (as the pipeline writes it, no forced refresh)
  while Live is open in Chromium, until its row is in the page (the time the
  page's MutationObserver saw it, on the same clock).

The board runs as `newswatch board` in its own process, on a fresh alias.

    .venv/bin/python bench/board_bench.py --articles 10000 --loads 20 --live 20
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from elasticsearch.helpers import bulk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_env import bench_env  # noqa: E402

from pipelines.board import queries  # noqa: E402
from pipelines.schema import ClassifiedArticle  # noqa: E402

LABELS = ("tech_influence", "property_purchase", "infrastructure_dependency")
SOURCES = [f"source-{n:02d}" for n in range(30)]
WORDS = ("port land chip cloud fund buyer base grid cable lab ministry council harbour "
         "satellite farmland reactor rail network vendor subsidy").split()
SEARCH = "/search?q=land+OR+port&label=property_purchase&min_score=0.5"


def fake(n: int, now: datetime, rng: random.Random) -> ClassifiedArticle:
    scores = {label: round(rng.random(), 3) for label in LABELS}
    labels = sorted(label for label, score in scores.items() if score >= 0.5)
    words = " ".join(rng.choice(WORDS) for _ in range(120))
    when = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
    return ClassifiedArticle(
        id=f"bench-{n:06d}", url=f"https://news.test/{n}", feed_url="https://news.test/feed",
        source=rng.choice(SOURCES), title=f"{rng.choice(WORDS).title()} {n} "
        + " ".join(rng.choice(WORDS) for _ in range(6)), content=words,
        published_at=when, collected_at=when, labels=labels, scores=scores,
        evidence={label: words[:200] for label in labels}, model_version="bench",
        classified_at=when, indexed_at=when)


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the board exited with {process.returncode}")
        try:
            if httpx.get(url + "static/board.css", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the board did not start")


def http_loads(client: httpx.Client, path: str, loads: int) -> list[float]:
    client.get(path)  # warm: connection, templates, Elasticsearch caches alike for both
    times = []
    for _ in range(loads):
        start = time.perf_counter()
        response = client.get(path)
        response.raise_for_status()
        times.append(time.perf_counter() - start)
    return times


def store_loads(bench, body_of: list[dict], loads: int) -> list[float]:
    """The same page's Elasticsearch requests, sent directly, one after another."""
    alias = bench.settings.articles_alias
    times = []
    for _ in range(loads + 1):
        start = time.perf_counter()
        for body in body_of:
            bench.es.search(index=alias, **body)
        times.append(time.perf_counter() - start)
    return times[1:]


def browser():
    from tests.support.chromium import chromium_driver

    return chromium_driver(Path(tempfile.mkdtemp(prefix="nw-bench-chromium-")))


def browser_loads(driver, url: str, loads: int) -> list[float]:
    driver.get(url)
    times = []
    for _ in range(loads):
        driver.get(url)
        timing = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return [n.requestStart, n.loadEventEnd];")
        times.append((timing[1] - timing[0]) / 1000)
    return times


WATCH = """
window.__seen = {};
new MutationObserver((records) => {
  for (const r of records) for (const node of r.addedNodes)
    if (node.dataset && node.dataset.id) window.__seen[node.dataset.id] = Date.now();
}).observe(document.getElementById('articles'), {childList: true});
"""


def live_latency(bench, driver, url: str, count: int, now: datetime) -> list[float]:
    driver.get(url + "live")
    time.sleep(1.0)  # the event stream opens (a bench may sleep: it measures, not waits)
    driver.execute_script(WATCH)
    rng = random.Random(7)
    latencies = []
    for n in range(count):
        article = fake(900_000 + n, now, rng).model_copy(
            update={"indexed_at": datetime.now(UTC)})
        sent = time.time()
        bench.es.index(index=bench.settings.articles_alias, id=article.id,
                       document=article.model_dump(mode="json"))
        deadline = time.monotonic() + 15
        seen = None
        while seen is None and time.monotonic() < deadline:
            seen = driver.execute_script("return window.__seen[arguments[0]]", article.id)
            time.sleep(0.02)
        if seen is None:
            raise SystemExit(f"{article.id} did not appear on Live within 15 s")
        latencies.append(seen / 1000 - sent)
        time.sleep(rng.uniform(0.3, 1.3))  # arrivals spread over the poll and refresh cycles
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--live", type=int, default=20)
    args = parser.parse_args()

    port = free_port()
    state = Path(tempfile.mkdtemp(prefix="nw-bench-board-"))
    bench = bench_env(board_port=port, state_dir=str(state))
    board = None
    try:
        now = datetime.now(UTC)
        rng = random.Random(13)
        start = time.perf_counter()
        bulk(bench.es, ({"_index": bench.settings.articles_alias, "_id": a.id,
                         "_source": a.model_dump(mode="json")}
                        for a in (fake(n, now, rng) for n in range(args.articles))),
             chunk_size=1000, refresh="true")
        print(f"indexed {args.articles} articles in {time.perf_counter() - start:.1f} s")

        board = subprocess.Popen([sys.executable, "-m", "pipelines", "board"],
                                 env={**bench.env, "NEWSWATCH_BOARD_PORT": str(port),
                                      "NEWSWATCH_STATE_DIR": str(state)},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        wait_up(url, board)

        form = queries.parse_search({"q": "land OR port", "label": "property_purchase",
                                     "min_score": "0.5"})
        live_requests = [queries.live_body(), queries.arrivals_body(now)]
        with httpx.Client(base_url=url.rstrip("/"), timeout=30) as client:
            rows = {
                "Live   page (HTTP)": http_loads(client, "/live", args.loads),
                "Live   store only ": store_loads(bench, live_requests, args.loads),
                "Search page (HTTP)": http_loads(client, SEARCH, args.loads),
                "Search store only ": store_loads(bench, [queries.search_body(form)],
                                                  args.loads),
            }
        driver = browser()
        try:
            rows["Live   page (Chromium load)"] = browser_loads(driver, url + "live",
                                                               args.loads)
            rows["Search page (Chromium load)"] = browser_loads(driver, url + SEARCH[1:],
                                                                args.loads)
            rows["index -> on open Live page"] = live_latency(bench, driver, url, args.live,
                                                             now)
        finally:
            driver.quit()
        print(f"\n{args.articles} articles; {args.loads} loads each; {args.live} live "
              "arrivals; medians and 95th percentiles")
        for name, values in rows.items():
            print(f"  {name:30s} {percentiles(values)}")
    finally:
        if board is not None:
            board.terminate()
            board.wait(timeout=30)
        bench.cleanup()


if __name__ == "__main__":
    main()
