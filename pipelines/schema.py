"""The records that flow between the stages, each with its own schema version.

Every stage (collectors, the Beam pipeline, the alerter, replay) reads and
writes these and nothing else, so a record on a topic or in an index always
says which shape it has. Bump a version when a field changes meaning or is
removed; adding an optional field keeps the version.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from classifiers.labels import LABELS

ARTICLE_SCHEMA_VERSION = 1
CLASSIFIED_SCHEMA_VERSION = 1
ALERT_SCHEMA_VERSION = 1
DEADLETTER_SCHEMA_VERSION = 1
FEEDBACK_SCHEMA_VERSION = 1


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]


def describe_errors(exc: ValidationError, whole: str, limit: int | None = None) -> str:
    """pydantic's errors as one line a user can act on: ``field.path: message; ...``.
    ``whole`` names the object when an error is about all of it."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg']}"
                     for e in exc.errors()[:limit])


def utc_now() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    """Frozen, strict about unknown fields: a typo in a producer is an error, not a loss."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


class Article(Record):
    """One news item as collected from a feed."""

    schema_version: Literal[1] = ARTICLE_SCHEMA_VERSION
    id: str = Field(min_length=1, description="stable hash of the canonical link")
    url: str
    feed_url: str
    source: str
    title: str = ""
    summary: str = ""
    content: str = ""
    published_at: UtcDatetime
    published_at_inferred: bool = Field(
        default=False,
        description="true when the feed gave no usable date and collection time was used",
    )
    collected_at: UtcDatetime
    language: str | None = None
    authors: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @property
    def text(self) -> str:
        """What the classifier reads: the fullest body available."""
        return self.content or self.summary


def _known_labels(labels: list[str]) -> list[str]:
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; known: {list(LABELS)}")
    return labels


class ClassifiedArticle(Article):
    """An article with the classifier's verdict: what is indexed and published downstream."""

    schema_version: Literal[1] = CLASSIFIED_SCHEMA_VERSION  # type: ignore[assignment]
    labels: Annotated[list[str], AfterValidator(_known_labels)] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    evidence: dict[str, str] = Field(default_factory=dict)
    model_version: str
    classified_at: UtcDatetime
    indexed_at: UtcDatetime | None = None

    @field_validator("scores")
    @classmethod
    def _scores_are_probabilities(cls, scores: dict[str, float]) -> dict[str, float]:
        _known_labels(list(scores))
        bad = {k: v for k, v in scores.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"scores must lie in [0, 1]: {bad}")
        return scores


class Alert(Record):
    """One rule matching one article: the unit of a Slack message and of alert state."""

    schema_version: Literal[1] = ALERT_SCHEMA_VERSION
    rule: str
    article_id: str
    story_id: str
    title: str
    url: str
    source: str
    published_at: UtcDatetime
    labels: list[str]
    scores: dict[str, float]
    evidence: dict[str, str]
    matched_at: UtcDatetime
    status: Literal["pending", "queued", "sent", "console", "failed", "suppressed"] = "pending"
    sent_at: UtcDatetime | None = None
    error: str | None = None


class Feedback(Record):
    """An analyst's labels for one article: what the model is retrained on and judged by."""

    schema_version: Literal[1] = FEEDBACK_SCHEMA_VERSION
    article_id: str
    labels: Annotated[list[str], AfterValidator(_known_labels)]
    note: str | None = None
    analyst: str
    labelled_at: UtcDatetime
    previous_labels: Annotated[list[str], AfterValidator(_known_labels)] = Field(
        description="the labels before this one: the analyst's earlier ones, else the model's")
    model_labels: Annotated[list[str], AfterValidator(_known_labels)]
    model_version: str = Field(description="the model whose labels the analyst saw")
    title: str
    text: str
    url: str
    source: str


class DeadLetter(Record):
    """A record a step could not handle, kept whole so it can be inspected and replayed."""

    schema_version: Literal[1] = DEADLETTER_SCHEMA_VERSION
    step: str = Field(description="the stage and step that failed, e.g. 'pipeline.parse'")
    error: str
    error_type: str
    payload_b64: str = Field(description="the original bytes, base64")
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    key: str | None = None
    failed_at: UtcDatetime = Field(default_factory=utc_now)
    payload_size: int | None = Field(default=None, description="bytes of the original payload")
    payload_sha256: str | None = Field(default=None, description="of the original payload")
    payload_truncated: bool = Field(default=False, description="payload_b64 holds only the "
                                    "start of the original (too large for the topic)")

    def fitted(self, max_bytes: int) -> DeadLetter:
        """This letter cut to at most ``max_bytes`` of JSON: the payload keeps its start,
        and its full size and sha256 say what the original was. A letter larger than the
        topic takes would otherwise stop the pipeline on one offset for ever."""
        encoded = self.to_json_bytes()
        if len(encoded) <= max_bytes:
            return self
        payload = base64.b64decode(self.payload_b64)
        error = self.error[:4000]
        shell = self.model_copy(update={"payload_b64": "", "error": error,
                                        "payload_size": len(payload),
                                        "payload_sha256": hashlib.sha256(payload).hexdigest(),
                                        "payload_truncated": True})
        room = max(0, (max_bytes - len(shell.to_json_bytes())) * 3 // 4 - 4)
        return shell.model_copy(update={"payload_b64": base64.b64encode(
            payload[:room]).decode("ascii")})

    @classmethod
    def from_failure(
        cls, step: str, payload: bytes, error: BaseException, **where: str | int | None
    ) -> DeadLetter:
        return cls(
            step=step,
            error=str(error),
            error_type=type(error).__name__,
            payload_b64=base64.b64encode(payload).decode("ascii"),
            **where,
        )

    @property
    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)
