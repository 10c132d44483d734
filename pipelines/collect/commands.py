"""``newswatch collect``: poll RSS/Atom feeds and publish new articles to Kafka."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from pipelines.collect.collector import Collector, FeedOutcome
from pipelines.collect.feeds_config import FeedsFile, load_feeds
from pipelines.collect.fetcher import Fetcher
from pipelines.collect.metrics import CollectorMetrics
from pipelines.collect.parse_pool import ParsePool
from pipelines.collect.publisher import ArticlePublisher
from pipelines.collect.state import StateStore
from pipelines.console import console
from pipelines.errors import ConfigError, NewswatchError
from pipelines.kafka_admin import ensure_topics, kafka_answers, topic_specs
from pipelines.redact import redact_text
from pipelines.settings import Settings

log = logging.getLogger(__name__)

STATUS_STYLE = {"ok": "green", "not_modified": "cyan", "error": "red", "gone": "magenta",
                "skipped": "yellow"}


def summary_table(outcomes: list[FeedOutcome]) -> Table:
    table = Table("feed", "status", "entries", "new", "problem", title="collect --once")
    for o in sorted(outcomes, key=lambda o: (o.status != "error", o.feed.display_name)):
        style = STATUS_STYLE.get(o.status, "white")
        # Feed-supplied text (names, Location headers, errors) is shown as text, never
        # read as Rich markup: a "[/]" in it must not crash the summary.
        table.add_row(Text(o.feed.display_name), Text(o.status, style=style), str(o.entries),
                      str(o.new), Text(redact_text(o.error or o.warning or "")))
    return table


def collect(
    ctx: typer.Context,
    feeds: Annotated[Path, typer.Option(help="YAML feeds file, e.g. config/feeds.yaml.")],
    once: Annotated[bool, typer.Option(
        help="Poll every feed once, print a summary, exit.")] = False,
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve Prometheus counters on 127.0.0.1:PORT/metrics.")] = None,
    state_file: Annotated[Path | None, typer.Option(
        help="SQLite state (validators, seen ids). Default: STATE_DIR/collector.sqlite.")] = None,
) -> None:
    """Poll RSS/Atom feeds and publish each new article to the raw Kafka topic.

    Feeds are fetched concurrently and politely (per-host limits, conditional GET,
    Retry-After), parsed by feedparser, normalised to the Article schema and sent with
    acks=all. A broken feed is reported and never stops the others. Without --once it
    keeps polling each feed at its interval until Ctrl-C / SIGTERM.
    """
    settings: Settings = ctx.obj
    config, rejected = load_feeds(feeds)
    for problem in rejected:
        log.error(problem)
    if not config.feeds:
        raise ConfigError(f"{feeds} has no usable feed")
    if not kafka_answers(settings.kafka):
        raise NewswatchError(f"Kafka at {settings.kafka} does not answer; start the "
                             "local stack with `newswatch stack up` or set "
                             "NEWSWATCH_KAFKA_BOOTSTRAP")
    raw = [s for s in topic_specs(settings) if s.name == settings.topic_raw]
    ensure_topics(settings.kafka, raw)
    outcomes = asyncio.run(run_collector(settings, config, once, metrics_port,
                                    state_file or settings.state_dir / "collector.sqlite"))
    if once:
        console.print(summary_table(outcomes))


async def run_collector(settings: Settings, config: FeedsFile, once: bool,
                        metrics_port: int | None, state_file: Path) -> list[FeedOutcome]:
    """The collector's real entry point (the CLI and the tests both drive it)."""
    state = StateStore(state_file, config.limits.seen_ids_kept)
    publisher = ArticlePublisher(settings.kafka, settings.topic_raw)
    fetcher = Fetcher(config.limits)
    metrics = CollectorMetrics()
    if metrics_port:
        metrics.serve(metrics_port)
    pool = ParsePool(config.limits.parse_workers or os.cpu_count() or 1,
                     timeout_s=config.limits.parse_timeout_s,
                     memory_mb=config.limits.parse_memory_mb)
    collector = Collector(config, state, publisher, fetcher, metrics, parse_pool=pool)
    try:
        if once:
            return await collector.run_cycle(only_due=False)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("collecting feeds=%d topic=%s (Ctrl-C stops)", len(config.feeds),
                 settings.topic_raw)
        await collector.run_forever(stop)
        return []
    finally:
        pool.shutdown()
        await fetcher.aclose()
        publisher.close()
        state.close()
