"""Pure article logic shared by the streaming pipeline and replay: no I/O here.

Parsing a raw record, turning a prediction into a classified article, and the
latency histogram that gives the pipeline's p95 without any runner support for
percentiles. Tested without servers (tests/unit/test_articles.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import ValidationError

from classifiers.predictor import Document, Prediction
from pipelines.schema import Article, ClassifiedArticle, describe_errors


class RecordError(ValueError):
    """A raw record that is not an Article; the message says what was wrong."""


def parse_article(value: bytes) -> Article:
    """Decode one raw-topic value; raise RecordError naming the problem."""
    if not value:
        raise RecordError("empty record value")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"value is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        return Article.model_validate_json(text)
    except ValidationError as exc:
        raise RecordError(f"not a valid Article: {describe_errors(exc, 'record', 5)}") from exc


def document_of(article: Article) -> Document:
    """What the classifier reads of an article."""
    return Document(id=article.id, title=article.title or None, text=article.text)


def classified_article(article: Article, prediction: Prediction, model_version: str,
                       classified_at: datetime) -> ClassifiedArticle:
    if prediction.id != article.id:
        raise ValueError(f"prediction for {prediction.id} paired with article {article.id}")
    return ClassifiedArticle(
        **article.model_dump(exclude={"schema_version"}),
        labels=list(prediction.labels),
        scores=dict(prediction.scores),
        evidence=dict(prediction.evidence),
        model_version=model_version,
        classified_at=classified_at,
    )


# Upper bounds (ms) of the latency histogram's buckets; the last bucket is open.
LATENCY_BUCKETS_MS: tuple[int, ...] = (
    100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 20_000, 30_000, 60_000,
    120_000, 300_000,
)


def latency_bucket(latency_ms: float) -> str:
    """The name of the histogram counter a latency falls in, e.g. ``le_500`` or ``gt_300000``."""
    index = bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)
    if index == len(LATENCY_BUCKETS_MS):
        return f"gt_{LATENCY_BUCKETS_MS[-1]}"
    return f"le_{LATENCY_BUCKETS_MS[index]}"


def percentile_from_buckets(counts: Mapping[str, int], q: float) -> float | None:
    """The upper bound of the bucket holding the q-quantile (an upper estimate), or None."""
    ordered: Sequence[tuple[float, int]] = sorted(
        (float(name[3:]) if name.startswith("le_") else float("inf"), count)
        for name, count in counts.items()
    )
    total = sum(count for _, count in ordered)
    if total == 0:
        return None
    needed = q * total
    seen = 0
    for bound, count in ordered:
        seen += count
        if seen >= needed:
            return bound
    return ordered[-1][0]
