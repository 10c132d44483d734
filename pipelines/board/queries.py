"""The board's Elasticsearch requests and the shapes its pages show, as pure functions.

Nothing here talks to a server: every function takes plain values and returns a
request body or a view, so the unit tests pin exactly what each page asks
Elasticsearch and what it makes of the answer. Feed-supplied strings are passed
through untouched (the templates escape them); the one thing a template cannot
make safe, a link's scheme, is decided here (``safe_href``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from classifiers.labels import LABELS
from pipelines.alerts.matching import story_id
from pipelines.schema import ClassifiedArticle

LIVE_SIZE = 50
PAGE_SIZE = 20
MAX_RESULT_WINDOW = 10_000  # Elasticsearch's default index.max_result_window
FACET_SIZE = 20
DEFAULT_THRESHOLD = 0.5
TRIAGE_MARGIN = 0.15
TRIAGE_SIZE = 30
ALERT_STATUSES = ("sent", "console", "queued", "pending", "suppressed", "failed")


# --- small helpers -----------------------------------------------------------------

def safe_href(url: str | None) -> str | None:
    """A feed's link as an href only when it is http(s): ``javascript:`` and ``data:``
    links survive HTML escaping, so anything else is shown as text, not linked."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def parse_time(value: str | None) -> datetime | None:
    """An Elasticsearch date (ISO 8601) as an aware datetime, None when absent or odd."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def shown_time(value: str | None) -> str:
    """UTC, to the minute: what an analyst compares across sources."""
    parsed = parse_time(value)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if parsed else "-"


def _label_list(values: list[str] | None) -> list[str]:
    return [v for v in dict.fromkeys(values or []) if v in LABELS]


def _clean_list(values: list[str] | None, limit: int = 20) -> list[str]:
    return [v.strip() for v in dict.fromkeys(values or []) if v and v.strip()][:limit]


# --- what a page shows of one article -----------------------------------------------

@dataclass(frozen=True)
class ScoreView:
    """One label's score as a bar: its width in percent and whether the model carries it."""

    label: str
    score: float
    percent: int
    carried: bool


@dataclass(frozen=True)
class ArticleView:
    """An article as the list pages show it; every string is the feed's, unescaped."""

    id: str
    title: str
    href: str | None
    url: str
    source: str
    published: str
    indexed: str
    indexed_at: str | None
    labels: list[str]
    scores: list[ScoreView]
    model_version: str


def shape_article(source: dict[str, Any], doc_id: str | None = None) -> ArticleView:
    """The list view of a stored document; tolerant of fields an older version lacked."""
    scores = source.get("scores") or {}
    labels = [label for label in source.get("labels") or [] if isinstance(label, str)]
    bars = []
    for label in LABELS:
        raw = scores.get(label)
        if not isinstance(raw, int | float):
            continue
        value = min(1.0, max(0.0, float(raw)))
        bars.append(ScoreView(label, value, round(value * 100), label in labels))
    url = str(source.get("url") or "")
    return ArticleView(
        id=str(doc_id or source.get("id") or ""), title=str(source.get("title") or "(untitled)"),
        href=safe_href(url), url=url, source=str(source.get("source") or "?"),
        published=shown_time(source.get("published_at")),
        indexed=shown_time(source.get("indexed_at")), indexed_at=source.get("indexed_at"),
        labels=labels, scores=bars, model_version=str(source.get("model_version") or "?"))


def shape_hits(response: dict[str, Any]) -> list[ArticleView]:
    return [shape_article(hit.get("_source") or {}, hit.get("_id"))
            for hit in response.get("hits", {}).get("hits", [])]


def total_hits(response: dict[str, Any]) -> int:
    total = response.get("hits", {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, dict) else total)


# --- Live ---------------------------------------------------------------------------

def article_filters(labels: list[str] | None = None, sources: list[str] | None = None,
                    ) -> list[dict[str, Any]]:
    """The Live page's filters: any of the chosen labels, any of the chosen sources."""
    filters: list[dict[str, Any]] = []
    chosen = _label_list(labels)
    if chosen:
        filters.append({"terms": {"labels": chosen}})
    wanted = _clean_list(sources)
    if wanted:
        filters.append({"terms": {"source": wanted}})
    return filters


def live_body(labels: list[str] | None = None, sources: list[str] | None = None,
              size: int = LIVE_SIZE) -> dict[str, Any]:
    """The newest classified articles, newest indexed first, and the sources to filter by."""
    return {"query": {"bool": {"filter": article_filters(labels, sources)}},
            "sort": [{"indexed_at": {"order": "desc", "unmapped_type": "date"}},
                     {"id": "desc"}],
            "size": size, "track_total_hits": False,
            "aggs": {"sources": {"terms": {"field": "source", "size": 50}}}}


LIVE_LOOKBACK_S = 15.0


def newer_body(since: str, labels: list[str] | None = None,
               sources: list[str] | None = None, size: int = 100) -> dict[str, Any]:
    """The newest articles indexed at or after ``since``, newest first.

    A Live page asks from a little before the newest article it has (``follow_from``):
    the pipeline stamps ``indexed_at`` before its bulk request, and a document becomes
    searchable up to a refresh interval later, so an article can turn up with a time
    older than one already shown. Ids already sent are skipped (``unseen``).
    """
    filters = [*article_filters(labels, sources),
               {"range": {"indexed_at": {"gte": since}}}]
    return {"query": {"bool": {"filter": filters}},
            "sort": [{"indexed_at": {"order": "desc"}}, {"id": "desc"}], "size": size,
            "track_total_hits": False}


def follow_from(cursor: str, lookback_s: float = LIVE_LOOKBACK_S) -> str:
    """Where the next Live poll starts: ``lookback_s`` before the newest time seen."""
    parsed = parse_time(cursor) or datetime.now(UTC)
    return (parsed - timedelta(seconds=lookback_s)).isoformat()


def unseen(views: list[ArticleView], seen: dict[str, str], since: str) -> list[ArticleView]:
    """The views not yet sent, oldest first; ``seen`` (id -> index time) records them and
    forgets those older than ``since``, so a page open for days keeps a small memory."""
    floor = parse_time(since)
    for key in [k for k, v in seen.items()
                if floor is not None and (parse_time(v) or floor) < floor]:
        del seen[key]
    fresh = [v for v in reversed(views) if v.id not in seen]
    for view in fresh:
        seen[view.id] = view.indexed_at or since
    return fresh


def arrivals_body(now: datetime) -> dict[str, Any]:
    """How many articles arrived (were indexed) in the last hour and the last day."""
    def since(delta: timedelta) -> dict[str, Any]:
        return {"range": {"indexed_at": {"gte": (now - delta).isoformat()}}}
    return {"size": 0, "track_total_hits": False,
            "aggs": {"arrived": {"filters": {"filters": {
                "hour": since(timedelta(hours=1)), "day": since(timedelta(days=1))}}}}}


def shape_arrivals(response: dict[str, Any]) -> dict[str, int]:
    buckets = response.get("aggregations", {}).get("arrived", {}).get("buckets", {})
    return {name: int(buckets.get(name, {}).get("doc_count", 0)) for name in ("hour", "day")}


def bucket_counts(response: dict[str, Any], agg: str) -> list[tuple[str, int]]:
    """A terms aggregation as (key, count) pairs, biggest first (as Elasticsearch gives)."""
    buckets = response.get("aggregations", {}).get(agg, {}).get("buckets", [])
    return [(str(b.get("key")), int(b.get("doc_count", 0))) for b in buckets]


def newest_indexed(views: list[ArticleView], fallback: str) -> str:
    """The cursor a Live page follows from: its newest article's index time."""
    stamps = [v.indexed_at for v in views if v.indexed_at]
    return max(stamps, key=lambda s: parse_time(s) or datetime.min.replace(tzinfo=UTC),
               default=fallback)


# --- Search -------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchForm:
    """The Search page's inputs, checked; ``problems`` are shown, never raised."""

    q: str = ""
    label: str = ""
    min_score: float = 0.0
    source: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    problems: list[str] = field(default_factory=list)

    @property
    def query_string(self) -> str:
        return self.q.strip() or "*"

    def params(self, page: int | None = None) -> dict[str, str]:
        """The form as query parameters (for paging and facet links)."""
        values = {"q": self.q, "label": self.label,
                  "min_score": f"{self.min_score:g}" if self.min_score else "",
                  "source": self.source,
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else "",
                  "page": str(page or self.page)}
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def _parse_date(value: str, name: str, problems: list[str]) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"{name}: expected a date like 2026-12-01, got {value[:40]!r}")
        return None


def parse_search(params: dict[str, str]) -> SearchForm:
    """The form from query parameters; a bad value is dropped with a problem saying why."""
    problems: list[str] = []
    label = params.get("label", "").strip()
    if label and label not in LABELS:
        problems.append(f"label: unknown {label[:40]!r}; known: {', '.join(LABELS)}")
        label = ""
    min_score = 0.0
    raw_score = params.get("min_score", "").strip()
    if raw_score:
        try:
            min_score = float(raw_score)
        except ValueError:
            min_score = math.nan
        if not 0.0 <= min_score <= 1.0:
            problems.append(f"min score: expected a number from 0 to 1, got {raw_score[:20]!r}")
            min_score = 0.0
    try:
        page = max(1, int(params.get("page", "1") or "1"))
    except ValueError:
        page = 1
    page = min(page, MAX_RESULT_WINDOW // PAGE_SIZE)
    return SearchForm(q=params.get("q", "")[:2000], label=label, min_score=min_score,
                      source=params.get("source", "").strip()[:200],
                      date_from=_parse_date(params.get("from", ""), "from", problems),
                      date_to=_parse_date(params.get("to", ""), "to", problems),
                      page=page, problems=problems)


def search_filters(form: SearchForm) -> list[dict[str, Any]]:
    """Label (carried, with at least the score), source and publication-date filters:
    the label filter means what an alert rule's label threshold means."""
    filters: list[dict[str, Any]] = []
    if form.label:
        filters.append({"term": {"labels": form.label}})
        if form.min_score > 0:
            filters.append({"range": {f"scores.{form.label}": {"gte": form.min_score}}})
    if form.source:
        filters.append({"term": {"source": form.source}})
    dates: dict[str, str] = {}
    if form.date_from:
        dates["gte"] = form.date_from.isoformat()
    if form.date_to:
        dates["lt"] = (form.date_to + timedelta(days=1)).isoformat()
    if dates:
        filters.append({"range": {"published_at": dates}})
    return filters


def search_body(form: SearchForm) -> dict[str, Any]:
    """The query_string search (Kibana's and the alert rules' syntax), a page of hits,
    and facet counts of labels and sources over everything that matched."""
    sort: list[Any] = [{"published_at": {"order": "desc"}}, {"id": "desc"}]
    if form.query_string != "*":
        sort = ["_score", *sort]
    return {"query": {"bool": {"must": [{"query_string": {"query": form.query_string}}],
                               "filter": search_filters(form)}},
            "sort": sort, "from": (form.page - 1) * PAGE_SIZE, "size": PAGE_SIZE,
            "track_total_hits": True,
            "aggs": {"labels": {"terms": {"field": "labels", "size": len(LABELS)}},
                     "sources": {"terms": {"field": "source", "size": FACET_SIZE}}}}


def page_count(total: int) -> int:
    return max(1, min(math.ceil(total / PAGE_SIZE), MAX_RESULT_WINDOW // PAGE_SIZE))


def rule_from_search(form: SearchForm) -> dict[str, Any]:
    """What saving a search as an alert rule passes to ``newswatch alerts add``'s code."""
    return {"query": form.query_string,
            "label": [f"{form.label}={form.min_score:g}"] if form.label else [],
            "source": [form.source] if form.source else []}


# --- Article ------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """A stretch of the article's text; ``labels`` name the evidence it is part of."""

    text: str
    labels: tuple[str, ...] = ()


def _find(text: str, passage: str) -> tuple[int, int] | None:
    """Where ``passage`` is in ``text``: exactly, else with any run of whitespace as one."""
    passage = passage.strip()
    if not passage:
        return None
    start = text.find(passage)
    if start >= 0:
        return start, start + len(passage)
    words = passage.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.search(pattern, text)
    return (match.start(), match.end()) if match else None


def evidence_segments(text: str, evidence: dict[str, str]) -> tuple[list[Segment], list[str]]:
    """The text cut into segments, each marked with the labels whose evidence covers it,
    and the labels whose passage was not found in the text (shown beside it instead)."""
    spans: dict[str, tuple[int, int]] = {}
    missing: list[str] = []
    for label in LABELS:
        passage = evidence.get(label)
        if not passage:
            continue
        where = _find(text, passage)
        if where is None:
            missing.append(label)
        else:
            spans[label] = where
    cuts = sorted({0, len(text), *(p for span in spans.values() for p in span)})
    segments = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        covering = tuple(label for label, (s, e) in spans.items() if s <= start and end <= e)
        if start < end:
            segments.append(Segment(text[start:end], covering))
    return segments, missing


def same_story_body(title: str, exclude_id: str, size: int = 50) -> dict[str, Any]:
    """Candidates for the same story: every title word present. ``same_story`` then keeps
    those whose normalised title is the alerter's story (``pipelines.alerts.matching``)."""
    return {"query": {"bool": {"must": [{"match": {"title": {"query": title or "",
                                                             "operator": "and"}}}],
                               "must_not": [{"ids": {"values": [exclude_id]}}]}},
            "sort": [{"published_at": {"order": "desc"}}], "size": size,
            "track_total_hits": False}


def same_story(article: ClassifiedArticle, candidates: list[dict[str, Any]]) -> list[ArticleView]:
    """The candidates that the alerter counts as the article's story."""
    wanted = story_id(article)
    kept = []
    for hit in candidates:
        source = hit.get("_source") or {}
        probe = article.model_copy(update={"title": str(source.get("title") or ""),
                                           "url": str(source.get("url") or "")})
        if story_id(probe) == wanted:
            kept.append(shape_article(source, hit.get("_id")))
    return kept


def article_alerts_body(article_id: str) -> dict[str, Any]:
    return {"query": {"term": {"article_id": article_id}},
            "sort": [{"matched_at": {"order": "desc"}}], "size": 50}


# --- Triage -------------------------------------------------------------------------

def triage_body(thresholds: dict[str, float], alerted_ids: list[str], labelled_ids: list[str],
                margin: float = TRIAGE_MARGIN, size: int = 200) -> dict[str, Any]:
    """Articles an analyst's word helps most: a score within ``margin`` of its label's
    threshold, or one that caused an alert; not those already labelled."""
    should: list[dict[str, Any]] = []
    for label in LABELS:
        threshold = thresholds.get(label, DEFAULT_THRESHOLD)
        should.append({"range": {f"scores.{label}": {"gte": max(0.0, threshold - margin),
                                                     "lte": min(1.0, threshold + margin)}}})
    if alerted_ids:
        should.append({"ids": {"values": alerted_ids}})
    query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    if labelled_ids:
        query["bool"]["must_not"] = [{"ids": {"values": labelled_ids}}]
    return {"query": query, "size": size, "track_total_hits": True,
            "sort": [{"indexed_at": {"order": "desc", "unmapped_type": "date"}}]}


@dataclass(frozen=True)
class TriageItem:
    article: ArticleView
    nearest: float
    """How close its nearest score is to that label's threshold (0 = on it)."""
    alerted: bool
    evidence: dict[str, str]


def triage_queue(hits: list[dict[str, Any]], thresholds: dict[str, float],
                 alerted_ids: set[str], size: int = TRIAGE_SIZE) -> list[TriageItem]:
    """The queue in review order: articles that alerted first, then by nearness of a
    score to its threshold, then newest."""
    items = []
    for hit in hits:
        source = hit.get("_source") or {}
        view = shape_article(source, hit.get("_id"))
        nearest = min((abs(s.score - thresholds.get(s.label, DEFAULT_THRESHOLD))
                       for s in view.scores), default=1.0)
        evidence = {k: str(v) for k, v in (source.get("evidence") or {}).items()
                    if k in LABELS}
        items.append(TriageItem(view, round(nearest, 4), view.id in alerted_ids, evidence))
    items.sort(key=lambda i: (not i.alerted, i.nearest, _desc_time(i.article.indexed_at)))
    return items[:size]


def _desc_time(value: str | None) -> float:
    parsed = parse_time(value)
    return -parsed.timestamp() if parsed else 0.0


def alerted_ids_body(size: int = 500) -> dict[str, Any]:
    """The articles that caused an alert (sent, printed or queued), newest first."""
    return {"size": 0, "query": {"terms": {"status": ["sent", "console", "queued"]}},
            "aggs": {"articles": {"terms": {"field": "article_id", "size": size,
                                            "order": {"newest": "desc"}},
                                  "aggs": {"newest": {"max": {"field": "matched_at"}}}}}}


def feedback_since_body(since: datetime | None) -> dict[str, Any]:
    """Labels given after the promoted model was trained: what a retrain would add."""
    query: dict[str, Any] = {"match_all": {}}
    if since is not None:
        query = {"range": {"labelled_at": {"gt": since.isoformat()}}}
    return {"query": query}


# --- Trends -------------------------------------------------------------------------

TREND_FIELDS = ("published_at", "collected_at")


def trends_body(now: datetime, days: int = 30, time_field: str = "published_at",
                ) -> dict[str, Any]:
    """Articles per label per day over the last ``days``, and top sources per label."""
    if time_field not in TREND_FIELDS:
        time_field = "published_at"
    start = (now - timedelta(days=days - 1)).date().isoformat()
    per_label = {label: {"filter": {"term": {"labels": label}}, "aggs": {
        "days": {"date_histogram": {"field": time_field, "calendar_interval": "day",
                                    "min_doc_count": 0,
                                    "extended_bounds": {"min": start,
                                                        "max": now.date().isoformat()}}},
        "sources": {"terms": {"field": "source", "size": 10}}}} for label in LABELS}
    return {"size": 0, "track_total_hits": False,
            "query": {"range": {time_field: {"gte": start}}}, "aggs": per_label}


@dataclass(frozen=True)
class TrendSeries:
    label: str
    days: list[tuple[str, int]]
    points: str
    """SVG polyline points in a 600 x 160 box."""
    top_sources: list[tuple[str, int]]
    total: int


CHART_W, CHART_H = 600, 160


def shape_trends(response: dict[str, Any]) -> list[TrendSeries]:
    """Each label's daily counts as a polyline on one shared scale, and its top sources."""
    aggs = response.get("aggregations", {})
    raw = {label: [(str(b.get("key_as_string", ""))[:10], int(b.get("doc_count", 0)))
                   for b in aggs.get(label, {}).get("days", {}).get("buckets", [])]
           for label in LABELS}
    peak = max((count for days in raw.values() for _, count in days), default=0) or 1
    series = []
    for label in LABELS:
        days = raw[label]
        step = CHART_W / max(1, len(days) - 1)
        points = " ".join(f"{i * step:.1f},{CHART_H - count / peak * (CHART_H - 10):.1f}"
                          for i, (_, count) in enumerate(days))
        sources = [(str(b.get("key")), int(b.get("doc_count", 0)))
                   for b in aggs.get(label, {}).get("sources", {}).get("buckets", [])]
        series.append(TrendSeries(label, days, points, sources, sum(c for _, c in days)))
    return series


# --- Alerts -------------------------------------------------------------------------

def alerts_body(status: str | None = None, size: int = 100) -> dict[str, Any]:
    """The newest alerts (of one status, if chosen) and the count of each status."""
    query: dict[str, Any] = {"match_all": {}}
    if status in ALERT_STATUSES:
        query = {"term": {"status": status}}
    return {"query": query, "size": size, "sort": [{"matched_at": {"order": "desc"}}],
            "track_total_hits": True,
            "aggs": {"statuses": {"terms": {"field": "status", "size": 10}},
                     "rules": {"terms": {"field": "rule", "size": 50}}}}


@dataclass(frozen=True)
class AlertView:
    rule: str
    article_id: str
    title: str
    href: str | None
    source: str
    status: str
    matched: str
    sent: str
    error: str


def shape_alerts(response: dict[str, Any]) -> list[AlertView]:
    views = []
    for hit in response.get("hits", {}).get("hits", []):
        source = hit.get("_source") or {}
        views.append(AlertView(
            rule=str(source.get("rule") or "?"), article_id=str(source.get("article_id") or ""),
            title=str(source.get("title") or "(untitled)"), href=safe_href(source.get("url")),
            source=str(source.get("source") or "?"), status=str(source.get("status") or "?"),
            matched=shown_time(source.get("matched_at")), sent=shown_time(source.get("sent_at")),
            error=str(source.get("error") or "")))
    return views
