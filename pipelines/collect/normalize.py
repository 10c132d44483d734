"""Feed entries to Articles. Pure: no I/O, the same code for live collection and replay."""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
import py3langid
from pydantic import ValidationError

from pipelines.collect.text import html_to_text
from pipelines.schema import Article

_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid)$", re.IGNORECASE)
_MIN_LANGUAGE_TEXT = 20
_FUTURE_SLACK = timedelta(days=1)


def canonical_url(url: str | None) -> str | None:
    """A stable form of an article link, or None if it is not an http(s) URL.

    Lower-cases scheme and host, drops default ports, fragments and tracking
    parameters, so that the same article linked two ways gets one id.
    """
    if not url:
        return None
    url = url.strip()
    if any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _TRACKING.match(k)])
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def article_id(link: str | None, guid: str | None, feed_url: str, title: str) -> str:
    """Stable id: hash of the canonical link, else of the GUID, else of feed URL + title."""
    if link:
        basis = f"url:{link}"
    elif guid and guid.strip():
        basis = f"guid:{guid.strip()}"
    else:
        basis = f"title:{feed_url}\n{title}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def _entry_link(entry: Mapping[str, Any]) -> str | None:
    for candidate in [entry.get("link"), *(
            link.get("href") for link in entry.get("links", []) or []
            if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate")]:
        if isinstance(candidate, str) and (canonical := canonical_url(candidate)):
            return canonical
    return None


def _timestamp(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if isinstance(parsed, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _content(entry: Mapping[str, Any]) -> str:
    """The fullest body: content:encoded / atom:content, longest first."""
    bodies = [html_to_text(c.get("value")) for c in entry.get("content", []) or []
              if isinstance(c, Mapping)]
    return max(bodies, key=len, default="")


def _unique(values: Iterable[str]) -> list[str]:
    return [v for v in dict.fromkeys(v for v in values if v)]


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of the text; the feed's declared language for texts too short to tell."""
    if len(text) >= _MIN_LANGUAGE_TEXT:
        return py3langid.classify(text)[0]
    if declared:
        return declared.split("-")[0].lower()[:8] or None
    return None


def entry_to_article(entry: Mapping[str, Any], *, feed_url: str, source: str,
                     tags: Iterable[str], collected_at: datetime,
                     declared_language: str | None = None) -> Article:
    """One feedparser entry as an Article; every text field is clean plain text."""
    link = _entry_link(entry)
    title = html_to_text(entry.get("title"))
    summary = html_to_text(entry.get("summary"))
    content = _content(entry)
    if content == summary:
        content = ""
    published = _timestamp(entry)
    inferred = published is None or published > collected_at + _FUTURE_SLACK
    authors = [html_to_text(a.get("name")) for a in entry.get("authors", []) or []
               if isinstance(a, Mapping)] or [html_to_text(entry.get("author"))]
    entry_tags = [html_to_text(t.get("term")) for t in entry.get("tags", []) or []
                  if isinstance(t, Mapping)]
    guid = entry.get("id") if isinstance(entry.get("id"), str) else None
    return Article(
        id=article_id(link, guid, feed_url, title),
        url=link or "",
        feed_url=feed_url,
        source=source,
        title=title,
        summary=summary,
        content=content,
        published_at=collected_at if inferred else published,
        published_at_inferred=inferred,
        collected_at=collected_at,
        language=detect_language(" ".join((title, summary, content))[:2000], declared_language),
        authors=_unique(authors),
        tags=_unique([*tags, *entry_tags]),
    )


_HOUR = re.compile(rb"<hour\b[^>]*>\s*(\d{1,2})\s*</hour>", re.IGNORECASE)


def skip_hours(body: bytes) -> frozenset[int]:
    """The RSS <skipHours> (UTC hours a reader should not poll); feedparser keeps only one.

    Found with two linear scans (the first opening tag, then its closing tag), never a
    lazy regex across the body: a body of many unclosed <skipHours> made that quadratic.
    """
    head = body[:200_000]
    lowered = head.lower()
    start = lowered.find(b"<skiphours")
    if start < 0:
        return frozenset()
    opened = lowered.find(b">", start)
    end = lowered.find(b"</skiphours>", opened)
    if opened < 0 or end < 0:
        return frozenset()
    block = head[opened + 1:end]
    return frozenset(h for h in (int(m) for m in _HOUR.findall(block)) if 0 <= h < 24)


def ttl_seconds(feed: Mapping[str, Any]) -> float | None:
    """The RSS <ttl> in seconds (minutes in the feed), if sane."""
    ttl = feed.get("ttl")
    try:
        minutes = float(ttl) if ttl is not None else None
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes and 0 < minutes <= 7 * 24 * 60 else None


@dataclass(frozen=True)
class ParsedFeed:
    """What one fetched feed document yields: its articles and what went wrong on the way."""

    articles: tuple[Article, ...]
    entries: int
    readable: bool
    warning: str | None
    ttl_s: float | None
    skipped_hours: frozenset[int]


def parse_feed(body: bytes, headers: Mapping[str, str], *, feed_url: str, name: str,
               fallback_name: str, tags: Iterable[str], collected_at: datetime) -> ParsedFeed:
    """Parse feed bytes with feedparser and normalise every readable entry.

    feedparser gets the bytes (as a file object) and the response headers, never a URL,
    a path or a string (it would fetch or open those itself). A feed that is partly broken still
    yields its readable entries; the problems are described in ``warning``.
    Top-level and pure, so it runs in a worker process and in the replay alike.
    """
    # A file object, never bytes: feedparser reads a bytes argument that looks like a
    # path (b"/etc/passwd", b"/dev/zero") as a local file before it reads it as data.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=dict(headers))
    problems = []
    if parsed.bozo:
        problems.append(f"malformed feed ({type(parsed.bozo_exception).__name__}: "
                        f"{parsed.bozo_exception})")
    readable = bool(parsed.entries) or (not parsed.bozo and bool(parsed.get("version")))
    source = name or html_to_text(parsed.feed.get("title")) or fallback_name
    articles: dict[str, Article] = {}
    broken = 0
    for entry in parsed.entries if readable else []:
        try:
            article = entry_to_article(entry, feed_url=feed_url, source=source, tags=tags,
                                       collected_at=collected_at,
                                       declared_language=parsed.feed.get("language"))
        except (ValidationError, ValueError, TypeError, KeyError, AttributeError):
            broken += 1
            continue
        articles.setdefault(article.id, article)
    if broken:
        problems.append(f"{broken} unreadable entries skipped")
    return ParsedFeed(tuple(articles.values()), len(parsed.entries), readable,
                      "; ".join(problems) or None, ttl_seconds(parsed.feed), skip_hours(body))
