from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from pipelines.errors import ConfigError, DownloadError, StackError
from pipelines.schema import Article, ClassifiedArticle, DeadLetter

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _article(**changes) -> Article:
    fields = dict(id="x1", url="https://e.org/1", feed_url="https://e.org/rss", source="E",
                  title="t", summary="s", content="", published_at=T, collected_at=T)
    return Article(**(fields | changes))


def test_article_round_trips_through_json_bytes():
    article = _article(authors=["a"], tags=["b"], language="en")
    assert Article.model_validate_json(article.to_json_bytes()) == article
    assert article.schema_version == 1
    assert article.text == "s"  # falls back to the summary when there is no content


def test_timestamps_must_be_aware_and_are_normalised_to_utc():
    with pytest.raises(ValidationError, match="time zone"):
        _article(published_at=datetime(2026, 1, 1))
    tokyo = timezone(timedelta(hours=9))
    assert _article(published_at=datetime(2026, 1, 1, 9, tzinfo=tokyo)).published_at == \
        datetime(2026, 1, 1, 0, tzinfo=UTC)


def test_unknown_fields_and_labels_are_rejected():
    with pytest.raises(ValidationError, match="extra"):
        Article.model_validate(_article().model_dump() | {"colour": "red"})
    base = _article().model_dump() | {"model_version": "m", "classified_at": T}
    with pytest.raises(ValidationError, match="unknown labels"):
        ClassifiedArticle(**base, labels=["gossip"])
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        ClassifiedArticle(**base, scores={"tech_influence": 1.5})


def test_dead_letter_keeps_the_original_bytes_and_the_error():
    payload = b"\xff\xfe not json"
    letter = DeadLetter.from_failure("pipeline.parse", payload, ValueError("bad json"),
                                     source_topic="raw", source_partition=2, source_offset=7)
    again = DeadLetter.model_validate_json(letter.to_json_bytes())
    assert again.payload == payload
    assert (again.step, again.error, again.error_type) == ("pipeline.parse", "bad json",
                                                           "ValueError")
    assert (again.source_topic, again.source_partition, again.source_offset) == ("raw", 2, 7)


@pytest.mark.parametrize("error", [StackError("port 9092 is in use"), ConfigError("bad"),
                                   DownloadError("no network")])
def test_errors_survive_pickling(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)


def test_a_dead_letter_too_large_for_its_topic_is_cut_to_fit_and_says_what_it_was():
    import base64
    import hashlib

    payload = bytes(range(256)) * 12_000  # 3 MB: base64 alone would be 4 MB
    letter = DeadLetter.from_failure("pipeline.parse", payload, ValueError("x" * 50_000),
                                     source_topic="raw", source_partition=1, source_offset=9)
    small = letter.fitted(900_000)
    encoded = small.to_json_bytes()
    assert 890_000 < len(encoded) <= 900_000
    kept = base64.b64decode(small.payload_b64)
    assert payload.startswith(kept) and len(kept) > 600_000
    assert (small.payload_truncated, small.payload_size, small.payload_sha256) == (
        True, len(payload), hashlib.sha256(payload).hexdigest())
    assert small.error == "x" * 4000 and small.source_offset == 9
    assert DeadLetter.model_validate_json(encoded) == small
    short = DeadLetter.from_failure("pipeline.parse", b"tiny", ValueError("bad"))
    assert short.fitted(900_000) is short and not short.payload_truncated
