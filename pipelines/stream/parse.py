"""Raw Kafka records to Articles; a record that is not one becomes a dead letter."""

from __future__ import annotations

import apache_beam as beam

from pipelines.articles import RecordError, parse_article
from pipelines.stream.dead_letters import parse_failures
from pipelines.stream.kafka_source import KafkaRecord
from pipelines.stream.model_handler import Incoming

PARSE_STEP = "pipeline.parse"


def to_incoming(record: KafkaRecord) -> Incoming:
    return Incoming(record, parse_article(record.value))


class ParseArticles(beam.PTransform):
    """Outputs ``good`` (Incoming) and ``dead`` (DeadLetter)."""

    def expand(self, records: beam.PCollection[KafkaRecord]) -> dict[str, beam.PCollection]:
        parsed = records | "Parse" >> beam.Map(to_incoming).with_exception_handling(
            main_tag="good", dead_letter_tag="bad", exc_class=RecordError)
        dead = parsed.bad | "ToDeadLetters" >> beam.Map(parse_failures(PARSE_STEP))
        return {"good": parsed.good, "dead": dead}
