"""The real-events corpus (seeds/real/*.jsonl): its record, its checks and its coverage counts.

Items are real news events rewritten in the project's own words (seeds/real/GUIDELINE.md).
Only the standard library is used here, so harvesters can validate a slice with the
system Python before the project's environment exists.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from classifiers.labels import LABELS

KINDS = ("positive", "hard_negative", "easy_negative")
NEGATIVE_KINDS = ("domestic_property", "domestic_outage", "domestic_it",
                  "own_companies_abroad", "foreign_no_effect", "other_near_miss")
MULTIPLE = "Multiple"  # actor_country of a measure aimed at every foreign buyer or vendor
SHORT_CHARS = (400, 2000)
LONG_CHARS = (3000, 6000)
REQUIRED = ("id", "story", "url", "outlet", "site", "year", "receiving_country",
            "actor_country", "title", "text", "labels", "kind", "negative_kind", "long",
            "rationale", "labelled_by")


class CorpusError(ValueError):
    """A corpus line breaks the guideline; the message names the file, line and field."""


@dataclass(frozen=True)
class RealItem:
    id: str
    story: str
    url: str
    outlet: str
    site: str
    year: int | None
    receiving_country: str
    actor_country: str | None
    title: str
    text: str
    labels: tuple[str, ...]
    kind: str
    negative_kind: str | None
    long: bool
    rationale: str
    labelled_by: str
    extra: dict = field(default_factory=dict, compare=False)


def site_of(url: str) -> str:
    """The URL's host without a leading www., the unit the splits are grouped by."""
    return (urlsplit(url).hostname or "").removeprefix("www.")


def parse_item(row: dict, where: str) -> RealItem:
    """One validated item; every broken rule is named with its field."""
    missing = [key for key in REQUIRED if key not in row]
    if missing:
        raise CorpusError(f"{where}: missing fields {missing}")
    problems = []
    labels = row["labels"]
    if not isinstance(labels, list) or set(labels) - set(LABELS) or len(set(labels)) != len(labels):
        problems.append(f"labels {labels!r} are not a list of distinct labels of {list(LABELS)}")
    kind = row["kind"]
    if kind not in KINDS:
        problems.append(f"kind {kind!r} is not one of {list(KINDS)}")
    elif (kind == "positive") != bool(labels):
        problems.append(f"kind {kind!r} does not agree with labels {labels!r}")
    if kind == "hard_negative" and row["negative_kind"] not in NEGATIVE_KINDS:
        problems.append(f"negative_kind {row['negative_kind']!r} is not one of "
                        f"{list(NEGATIVE_KINDS)}")
    if not isinstance(row["long"], bool):
        problems.append("long must be true or false")
    low, high = LONG_CHARS if row["long"] is True else SHORT_CHARS
    text = row["text"] if isinstance(row["text"], str) else ""
    if not low <= len(text) <= high:
        problems.append(f"text has {len(text)} characters, not {low}-{high}")
    url = row["url"]
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        problems.append(f"url {url!r} is not an http(s) URL")
    elif row["site"] != site_of(url):
        problems.append(f"site {row['site']!r} is not the URL's host {site_of(url)!r}")
    year = row["year"]
    if year is not None and not (isinstance(year, int) and 1990 <= year <= 2026):
        problems.append(f"year {year!r} is not a year up to 2026 or null")
    for key in ("id", "story", "outlet", "receiving_country", "title", "rationale",
                "labelled_by"):
        if not isinstance(row[key], str) or not row[key].strip():
            problems.append(f"{key} is empty")
    if kind == "positive" and not row["actor_country"]:
        problems.append("a positive item names its actor_country")
    if problems:
        raise CorpusError(f"{where} ({row.get('id')}): " + "; ".join(problems))
    return RealItem(**{key: row[key] for key in REQUIRED if key != "labels"},
                    labels=tuple(labels),
                    extra={key: value for key, value in row.items() if key not in REQUIRED})


def read_items(paths: Iterable[Path]) -> list[RealItem]:
    """Every item of the given files, checked one by one and then across files."""
    items = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{number}: not JSON ({exc})") from exc
            items.append(parse_item(row, f"{path}:{number}"))
    check_unique(items)
    return items


def corpus_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def check_unique(items: Sequence[RealItem]) -> None:
    """One item per id, per story and per source URL (a syndicated story is kept once)."""
    for key in ("id", "story", "url"):
        counts = Counter(getattr(item, key).rstrip("/").lower() for item in items)
        repeated = sorted(value for value, count in counts.items() if count > 1)
        if repeated:
            raise CorpusError(f"{key} used by more than one item: {repeated[:10]}")


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def shared_runs(item_text: str, source_text: str, run: int = 8) -> list[str]:
    """Runs of `run` words the item shares with its source: copied wording, not facts."""
    source_words = words(source_text)
    source_runs = {" ".join(source_words[i:i + run]) for i in range(len(source_words) - run + 1)}
    item_words = words(item_text)
    found = []
    for i in range(len(item_words) - run + 1):
        candidate = " ".join(item_words[i:i + run])
        if candidate in source_runs:
            found.append(candidate)
    return found


@dataclass(frozen=True)
class Coverage:
    items: int
    positives: dict[str, int]
    none: int
    hard_negatives: int
    receiving_countries: int
    actor_countries: int
    years: dict[int, int]
    long_items: int
    sites: int

    def as_dict(self) -> dict:
        return {"items": self.items, "positives": self.positives, "none": self.none,
                "hard_negatives": self.hard_negatives,
                "receiving_countries": self.receiving_countries,
                "actor_countries": self.actor_countries, "long_items": self.long_items,
                "sites": self.sites, "years": {str(k): v for k, v in sorted(self.years.items())}}


def coverage(items: Sequence[RealItem]) -> Coverage:
    """The counts the corpus must reach (issue 13), computed from the items themselves."""
    positives = {label: sum(label in item.labels for item in items) for label in LABELS}
    return Coverage(
        items=len(items), positives=positives,
        none=sum(not item.labels for item in items),
        hard_negatives=sum(item.kind == "hard_negative" for item in items),
        receiving_countries=len({item.receiving_country for item in items if item.labels}),
        actor_countries=len({item.actor_country for item in items
                             if item.labels and item.actor_country != MULTIPLE}),
        years=dict(Counter(item.year for item in items if item.year is not None)),
        long_items=sum(item.long for item in items),
        sites=len({item.site for item in items}))
