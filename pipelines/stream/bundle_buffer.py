"""Holding elements until a bundle ends, and emitting results from ``finish_bundle``.

The sinks write in bulk: they buffer a bundle's elements and flush when the
buffer is full or the bundle ends. Outputs made at flush time must carry the
timestamp and window of their input, which ``finish_bundle`` does not have, so
the buffer keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

T = TypeVar("T")


@dataclass(frozen=True)
class Held(Generic[T]):
    value: T
    timestamp: Timestamp
    window: BoundedWindow


def emit(held: Held[Any], output: object, tag: str | None = None) -> WindowedValue | TaggedOutput:
    """An output for ``finish_bundle`` (windowed) in the input's timestamp and window."""
    windowed = WindowedValue(output, held.timestamp, [held.window])
    return TaggedOutput(tag, windowed) if tag else windowed


def unwrap(outputs: Iterator[WindowedValue | TaggedOutput], in_finish: bool) -> Iterator[Any]:
    """From ``process`` outputs go out bare (Beam adds the window); from finish_bundle windowed."""
    for out in outputs:
        if in_finish:
            yield out
        elif isinstance(out, TaggedOutput):
            yield TaggedOutput(out.tag, out.value.value)
        else:
            yield out.value
