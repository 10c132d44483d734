"""Pure alert logic: the story an article belongs to, the alert it makes, repeats."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from pipelines.alerts.rules import AlertRule
from pipelines.schema import Alert, ClassifiedArticle


def story_id(article: ClassifiedArticle) -> str:
    """Articles with the same normalised title are one story (syndication, re-posts)."""
    words = re.findall(r"\w+", (article.title or article.url).casefold())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()[:16]


def alert_id(rule: str, article_id: str) -> str:
    """One alert per rule and article, ever: the state document's id."""
    return f"{rule}:{article_id}"


def alert_for(rule: AlertRule, article: ClassifiedArticle, now: datetime) -> Alert:
    return Alert(rule=rule.name, article_id=article.id, story_id=story_id(article),
                 title=article.title, url=article.url, source=article.source,
                 published_at=article.published_at, labels=list(article.labels),
                 scores=dict(article.scores), evidence=dict(article.evidence), matched_at=now)


def realert_since(rule: AlertRule, now: datetime) -> datetime | None:
    """Start of the window in which a second article of the same story stays quiet."""
    if rule.realert_minutes <= 0:
        return None
    return now - timedelta(minutes=rule.realert_minutes)


def backtest(rule: AlertRule, matched: Iterable[ClassifiedArticle]) -> list[Alert]:
    """What the live alerter would have done with these matches, in publication order:
    ``sent`` (or queued for a digest), or ``suppressed`` as a repeat of a story within
    the rule's realert window. History's clock is each article's publication time."""
    last_alerted: dict[str, datetime] = {}
    alerts = []
    for article in matched:
        alert = alert_for(rule, article, article.published_at)
        since = realert_since(rule, article.published_at)
        previous = last_alerted.get(alert.story_id)
        if since is not None and previous is not None and previous >= since:
            alerts.append(alert.model_copy(update={"status": "suppressed"}))
            continue
        last_alerted[alert.story_id] = article.published_at
        alerts.append(alert.model_copy(update={"status": "sent"}))
    return alerts
