"""The poll cycle: fetch every due feed concurrently, normalise, publish, then remember.

Each feed is handled on its own: whatever one feed does (hangs, sends junk,
redirects forever, 20 MB of nonsense) ends as a ``FeedOutcome`` for that feed,
and the others carry on. A feed's state (validators, seen ids) is saved only
after Kafka acknowledged its new articles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from pipelines.collect.feeds_config import FeedConfig, FeedsFile
from pipelines.collect.fetcher import Fetcher, FetchResult
from pipelines.collect.metrics import CollectorMetrics
from pipelines.collect.normalize import ParsedFeed
from pipelines.collect.parse_pool import ParsePool, ParseRefused
from pipelines.collect.publisher import ArticlePublisher, PublishError
from pipelines.collect.state import StateStore
from pipelines.schema import Article

log = logging.getLogger(__name__)

Status = Literal["ok", "not_modified", "error", "gone", "skipped"]
MAX_BACKOFF_S = 6 * 3600.0


@dataclass(frozen=True)
class FeedOutcome:
    feed: FeedConfig
    status: Status
    entries: int = 0
    new: int = 0
    error: str | None = None
    warning: str | None = None
    url: str = ""


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def next_poll_time(now: float, interval_s: float, ttl_s: float | None,
                   skipped_hours: frozenset[int]) -> float:
    """When to poll next: the feed's interval, at least its <ttl>, outside its <skipHours>."""
    when = now + max(interval_s, ttl_s or 0.0)
    for _ in range(24):
        hour = datetime.fromtimestamp(when, UTC).hour
        if hour not in skipped_hours:
            break
        when = (when // 3600 + 1) * 3600
    return when


def backoff_delay(interval_s: float, consecutive_errors: int, retry_after_s: float | None,
                  rng: random.Random) -> float:
    """Retry-After when the server gave one, else exponential backoff with jitter."""
    if retry_after_s is not None:
        return retry_after_s
    base = min(MAX_BACKOFF_S, interval_s * (2 ** min(consecutive_errors, 10)))
    return base * rng.uniform(0.8, 1.2)


class Collector:
    def __init__(self, config: FeedsFile, state: StateStore, publisher: ArticlePublisher,
                 fetcher: Fetcher, metrics: CollectorMetrics | None = None,
                 clock: Callable[[], float] = time.time,
                 *, parse_pool: ParsePool) -> None:
        self.config = config
        # feedparser is pure Python and CPU-bound: parsing in worker processes keeps the
        # event loop fetching while the cores parse, each parse under its caps.
        self.parse_pool = parse_pool
        self.state = state
        self.publisher = publisher
        self.fetcher = fetcher
        self.metrics = metrics or CollectorMetrics()
        self.clock = clock
        self.rng = random.Random()
        politeness = config.politeness
        self._all = asyncio.Semaphore(politeness.max_concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(politeness.per_host_concurrency))
        self._host_next: dict[str, float] = defaultdict(float)
        # Ids being published right now by some feed: two feeds carrying the same
        # article in one cycle must not both send it.
        self._in_flight: set[str] = set()

    @contextlib.asynccontextmanager
    async def _polite(self, url: str) -> AsyncIterator[None]:
        """At most N requests per host at once, spaced by the per-host interval. A request
        waits for its host (slot and spacing) before it takes one of the global slots, so
        one slow host cannot hold every slot while other hosts' feeds wait."""
        host = _host(url)
        async with self._per_host[host]:
            wait = self._host_next[host] - time.monotonic()
            self._host_next[host] = max(self._host_next[host], time.monotonic()) + \
                self.config.politeness.per_host_interval_s
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._all:
                yield

    async def run_cycle(self, *, only_due: bool = True) -> list[FeedOutcome]:
        started = time.monotonic()
        now = self.clock()
        feeds = [f for f in self.config.feeds
                 if not only_due or self.state.feed(f.url).next_poll_at <= now]
        outcomes = await asyncio.gather(*(self.poll_feed(f) for f in feeds))
        counts = defaultdict(int)
        for outcome in outcomes:
            counts[outcome.status] += 1
        log.info("cycle feeds=%d ok=%d not_modified=%d errors=%d gone=%d skipped=%d new=%d "
                 "duration_s=%.2f", len(outcomes), counts["ok"], counts["not_modified"],
                 counts["error"], counts["gone"], counts["skipped"],
                 sum(o.new for o in outcomes), time.monotonic() - started)
        return list(outcomes)

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.run_cycle()
            due = [self.state.feed(f.url).next_poll_at for f in self.config.feeds]
            pause = max(1.0, min(due, default=60.0) - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(pause, 60.0))

    async def poll_feed(self, feed: FeedConfig) -> FeedOutcome:
        """Poll one feed; whatever happens becomes this feed's outcome, never the cycle's."""
        try:
            outcome = await self._poll(feed)
        except Exception as exc:  # the per-feed error boundary: logged with traceback, counted
            log.exception("feed=%s internal error", feed.display_name)
            outcome = self._fail(feed, feed.url, f"internal error: {type(exc).__name__}: {exc}")
        self.metrics.polls.labels(feed.display_name, outcome.status).inc()
        if outcome.status in ("error", "gone"):
            self.metrics.errors.labels(feed.display_name).inc()
            log.warning("feed=%s url=%s status=%s error=%s", feed.display_name, outcome.url,
                        outcome.status, outcome.error)
        elif outcome.status in ("ok", "not_modified"):
            self.metrics.published.labels(feed.display_name).inc(outcome.new)
            self.metrics.last_success.labels(feed.display_name).set(self.clock())
        return outcome

    async def _poll(self, feed: FeedConfig) -> FeedOutcome:
        state = self.state.feed(feed.url)
        if state.gone:
            return FeedOutcome(feed, "skipped", url=feed.url,
                               error="gone (HTTP 410): remove it from the feeds file")
        url = state.moved_to or feed.url
        result = await self._fetch_with_retry_after(feed, url, state.etag, state.last_modified)
        if result.status == "error" or result.status == "gone":
            return self._fail(feed, url, result.error or "unknown error",
                              gone=result.status == "gone", retry_after_s=result.retry_after_s)
        now = self.clock()
        moved = result.permanent_redirect
        if result.status == "not_modified":
            self.state.record_success(
                feed.url, published_ids=[], etag=result.etag or state.etag,
                last_modified=result.last_modified or state.last_modified,
                next_poll_at=next_poll_time(now, feed.interval_s, None, frozenset()),
                moved_to=moved, now=now)
            return FeedOutcome(feed, "not_modified", url=url)
        return await self._take_entries(feed, url, result)

    def _fail(self, feed: FeedConfig, url: str, error: str, *, gone: bool = False,
              retry_after_s: float | None = None, entries: int = 0) -> FeedOutcome:
        """Record a failed poll, with its back-off, and describe it: the one place that does."""
        now = self.clock()
        delay = backoff_delay(feed.interval_s, self.state.feed(feed.url).consecutive_errors,
                              retry_after_s, self.rng)
        self.state.record_error(feed.url, error, next_poll_at=now + delay, gone=gone, now=now)
        return FeedOutcome(feed, "gone" if gone else "error", entries, url=url, error=error)

    async def _fetch_with_retry_after(self, feed: FeedConfig, url: str, etag: str | None,
                                      last_modified: str | None) -> FetchResult:
        limit = self.config.limits.max_inline_retry_after_s
        for _attempt in range(3):
            async with self._polite(url):
                result = await self.fetcher.fetch(url, allow_private=feed.allow_private,
                                                  etag=etag, last_modified=last_modified)
            wait = result.retry_after_s
            if result.http_status not in (429, 503) or wait is None or wait > limit:
                return result
            log.info("feed=%s status=%d retry_after_s=%g", feed.display_name,
                     result.http_status, wait)
            self._host_next[_host(url)] = time.monotonic() + wait
        return result

    async def _take_entries(self, feed: FeedConfig, url: str,
                            result: FetchResult) -> FeedOutcome:
        headers = {"content-location": result.final_url, **result.headers}
        try:
            parsed: ParsedFeed = await self.parse_pool.parse(
                result.body, headers, feed_url=feed.url, name=feed.name,
                fallback_name=feed.display_name, tags=feed.tags,
                collected_at=datetime.now(UTC))
        except ParseRefused as exc:
            return self._fail(feed, url, str(exc))
        if not parsed.readable:
            content_type = result.headers.get("content-type", "unknown type")
            return self._fail(feed, url, f"not a readable feed ({content_type}): "
                                         f"{parsed.warning or 'no entries'}")
        if parsed.warning:
            log.info("feed=%s warning=%s", feed.display_name, parsed.warning)
        articles = {a.id: a for a in parsed.articles}
        fresh_ids = self.state.unseen(articles) - self._in_flight
        fresh = [a for a in articles.values() if a.id in fresh_ids]
        self._in_flight |= fresh_ids
        try:
            if feed.fetch_full_text and fresh:
                fresh = await asyncio.gather(*(self._with_full_text(feed, a) for a in fresh))
            refused = await self.publisher.publish(fresh) if fresh else []
        except PublishError as exc:  # Kafka's trouble, not the feed's: retry next cycle
            return self._fail(feed, url, str(exc), entries=parsed.entries, retry_after_s=0.0)
        finally:
            self._in_flight -= fresh_ids
        now = self.clock()
        self.state.record_success(
            feed.url, published_ids=[a.id for a in fresh],
            etag=result.etag, last_modified=result.last_modified,
            next_poll_at=next_poll_time(now, feed.interval_s, parsed.ttl_s, parsed.skipped_hours),
            moved_to=result.permanent_redirect, now=now)
        for problem in refused:
            log.warning("feed=%s %s", feed.display_name, problem)
        warning = "; ".join(filter(None, [parsed.warning, *refused])) or None
        return FeedOutcome(feed, "ok", parsed.entries, len(fresh) - len(refused), url=url,
                           warning=warning)

    async def _with_full_text(self, feed: FeedConfig, article: Article) -> Article:
        """The linked page's main text (trafilatura), when it is longer than the feed's."""
        if not article.url:
            return article
        async with self._polite(article.url):
            page = await self.fetcher.fetch(
                article.url, allow_private=feed.allow_private_links,
                accept="text/html,*/*;q=0.5",
                total_timeout_s=self.config.limits.full_text_timeout_s)
        if page.status != "ok":
            log.info("feed=%s full text of %s not fetched: %s", feed.display_name, article.url,
                     page.error)
            return article
        import trafilatura  # heavy import (~1 s), needed only by full-text feeds

        text = await asyncio.to_thread(trafilatura.extract, page.body)
        if text and len(text) > len(article.content):
            return article.model_copy(update={"content": text})
        return article
