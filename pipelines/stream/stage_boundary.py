"""A data edge out of the fused stage, so that the runner waits for bundles without spinning.

Everything after the Kafka read is fused into one stage whose steps only write
to external systems. The Prism runner (2.77) busy-polls for the whole life of a
bundle of a stage that has no output to another stage: a full core burnt while
the model works (docs/adr/0004-stream-runner.md). Emitting one small count per
bundle to a following stage gives the runner something to wait on. The count
also feeds a metric: articles handed on per bundle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue


class _CountPerBundle(beam.DoFn):
    def start_bundle(self) -> None:
        self._count = 0

    def process(self, _element: Any) -> None:
        self._count += 1

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self._count:
            yield WindowedValue(self._count, MIN_TIMESTAMP, [GlobalWindow()])


class EndOfStage(beam.PTransform):
    """Consumes a terminal PCollection: one count per bundle crosses to a no-op stage."""

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        sizes = beam.metrics.Metrics.distribution("newswatch", "bundle_articles")

        def record(count: int) -> None:
            sizes.update(count)

        return (pcoll
                | "CountPerBundle" >> beam.ParDo(_CountPerBundle())
                | "Boundary" >> beam.Reshuffle()
                | "Record" >> beam.Map(record))
