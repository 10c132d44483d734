"""Driving the real collector against a local feed server and reading the real topic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pipelines.collect.collector import FeedOutcome
from pipelines.collect.commands import run_collector
from pipelines.collect.feeds_config import FeedsFile
from pipelines.schema import Article
from pipelines.settings import Settings
from tests.support.kafka_read import read_topic

FAST = {"politeness": {"per_host_concurrency": 8, "per_host_interval_s": 0.0},
        "limits": {"total_timeout_s": 5.0, "read_timeout_s": 3.0, "connect_timeout_s": 3.0,
                   "max_inline_retry_after_s": 5.0}}


def feeds(*entries: dict[str, Any], **overrides: Any) -> FeedsFile:
    body: dict[str, Any] = {**FAST, "feeds": [{"allow_private": True, **e} for e in entries]}
    for key, value in overrides.items():
        body[key] = {**body.get(key, {}), **value}
    return FeedsFile.model_validate(body)


def collect_once(settings: Settings, config: FeedsFile, state: Path) -> dict[str, FeedOutcome]:
    outcomes = asyncio.run(run_collector(settings, config, True, None, state))
    return {o.feed.url: o for o in outcomes}


def topic_articles(settings: Settings) -> list[Article]:
    records = read_topic(settings.kafka_bootstrap, settings.topic_raw)
    articles = [Article.model_validate_json(value) for _key, value in records]
    assert [k.decode() for k, _ in records] == [a.id for a in articles]  # key = article id
    return articles
