"""The feeds file (YAML): which feeds to poll, how often, and how politely.

    feeds:
      - url: https://example.org/rss      # the only required key
        name: Example                     # default: the URL's host
        interval_s: 900
        tags: [japan, business]
        fetch_full_text: false            # fetch the linked page and extract its text
        allow_private: false              # allow loopback/private addresses (tests, intranets)
        allow_private_links: false        # ...and for the articles' own links (full text)
    politeness:                           # optional; these are the defaults
      per_host_concurrency: 2
      per_host_interval_s: 1.0
    limits:                               # optional; these are the defaults
      max_body_bytes: 10000000
      ...

A feed with a bad entry is reported by its position and URL; the other feeds
still load (one broken feed never stops the others).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.config_files import read_yaml
from pipelines.errors import ConfigError
from pipelines.redact import redact_text, redact_url
from pipelines.schema import describe_errors


class FeedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    name: str = ""
    interval_s: float = Field(default=900.0, ge=10.0)
    tags: tuple[str, ...] = ()
    fetch_full_text: bool = False
    allow_private: bool = False  # the feed URL (and its redirects) may be a private address
    # Article links come from the feed's content, not from the user: they may reach a
    # private address only when this says so too (an intranet news site).
    allow_private_links: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"feed url must be http(s)://host/..., got "
                             f"{redact_url(value)!r}")
        return value.strip()

    @property
    def display_name(self) -> str:
        return self.name or (urlsplit(self.url).hostname or self.url)


class Politeness(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_interval_s: float = Field(default=1.0, ge=0.0)
    max_concurrency: int = Field(default=32, ge=1)


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = Field(default=60.0, description="whole fetch, against tricklers")
    max_body_bytes: int = 10_000_000
    max_redirects: int = 5
    full_text_timeout_s: float = 20.0
    max_inline_retry_after_s: float = Field(
        default=30.0, description="a shorter Retry-After is waited out within the cycle"
    )
    seen_ids_kept: int = Field(default=200_000, description="bounded memory of published ids")
    parse_workers: int = Field(default=0, ge=0,
                               description="processes that parse feeds; 0 = one per CPU")
    parse_timeout_s: float = Field(default=30.0, gt=0,
                                   description="longest parse of one feed document")
    parse_memory_mb: int = Field(default=1024, ge=0,
                                 description="address-space cap of a parse worker; 0 = none")
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch; feed monitor)"


class FeedsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    feeds: tuple[FeedConfig, ...]
    politeness: Politeness = Politeness()
    limits: Limits = Limits()


def load_feeds(path: Path) -> tuple[FeedsFile, list[str]]:
    """Load the feeds file; returns the config and one error message per rejected feed."""
    raw = read_yaml(path, "feeds file")
    if not isinstance(raw, dict) or not isinstance(raw.get("feeds"), list):
        raise ConfigError(f"feeds file {path} must be a mapping with a 'feeds:' list")
    feeds, errors, seen = [], [], set()
    for position, entry in enumerate(raw["feeds"], start=1):
        label = redact_text(str(entry.get("url", "?")) if isinstance(entry, dict)
                            else repr(entry))
        try:
            feed = FeedConfig.model_validate(entry)
        except ValidationError as exc:
            problems = redact_text(describe_errors(exc, "entry"))
            errors.append(f"{path}: feed #{position} ({label}) skipped: {problems}")
            continue
        if feed.url in seen:
            errors.append(f"{path}: feed #{position} ({redact_url(feed.url)}) skipped: "
                          "listed twice")
            continue
        seen.add(feed.url)
        feeds.append(feed)
    try:
        config = FeedsFile(feeds=tuple(feeds), **{k: v for k, v in raw.items() if k != "feeds"})
    except ValidationError as exc:
        raise ConfigError(f"feeds file {path}: {exc}") from exc
    return config, errors
