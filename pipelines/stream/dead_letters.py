"""Turning Beam's failure outputs into DeadLetter records.

Beam's ``with_exception_handling()`` is our error policy: a step declares which
exceptions mean "this record is bad" and Beam routes the record, with the
error, to a dead-letter output instead of failing the bundle. Anything else
still fails the bundle, so a broken server never turns good records into dead
letters.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from pipelines.redact import redact_text
from pipelines.schema import DeadLetter
from pipelines.stream.kafka_source import KafkaRecord


def _error_text(error: Any) -> tuple[str, str]:
    """(type name, message) from Beam's ``(type, repr, traceback)`` or an exception."""
    if isinstance(error, BaseException):
        return type(error).__name__, str(error)
    if isinstance(error, tuple) and len(error) >= 2:
        exc_type, message = error[0], error[1]
        return getattr(exc_type, "__name__", str(exc_type)), str(message)
    return "Error", str(error)


def letter_for(record: KafkaRecord, step: str, error: Any) -> DeadLetter:
    error_type, message = _error_text(error)
    return DeadLetter(
        step=step, error=redact_text(message), error_type=error_type,
        payload_b64=base64.b64encode(record.value).decode("ascii"),
        key=record.key.decode("utf-8", "replace") if record.key is not None else None,
        **record.where,  # type: ignore[arg-type]
    )


def parse_failures(step: str) -> Any:
    """For ``Map``: ``(KafkaRecord, error)`` -> DeadLetter."""
    def convert(failed: tuple[KafkaRecord, Any]) -> DeadLetter:
        record, error = failed
        return letter_for(record, step, error)
    return convert


def split_unclassifiable(step: str) -> Any:
    """For ``FlatMap``: classified articles pass; an Unclassifiable becomes a DeadLetter on the
    tagged output ``dead``."""
    from apache_beam import pvalue

    from pipelines.stream.model_handler import Unclassifiable

    def split(result: Any) -> Iterator[Any]:
        if isinstance(result, Unclassifiable):
            yield pvalue.TaggedOutput("dead", letter_for(result.record, step, result.error))
        else:
            yield result
    return split
