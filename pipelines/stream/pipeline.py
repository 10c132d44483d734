"""The newswatch Beam pipeline, as composite transforms with names that say what they do.

    ReadRawArticles -> ParseArticles -> DropRepeats -> Classify (RunInference)
      -> IndexInElasticsearch -> PublishClassified
    and every failure -> PublishDeadLetters

Everything after the read is element-wise, so the runner fuses it into the
read's bundle; the read commits a bundle's Kafka offsets only when the whole
bundle (index write and topic publishes included) has succeeded. The same
graph runs streaming (open offset ranges, ``newswatch pipeline run``) and
bounded (closed ranges, ``newswatch pipeline replay``).

``run(argv, config, test_pipeline)`` is the entry point the CLI and the tests
share; ``argv`` holds Beam's own options (runner and its settings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineResult

from pipelines.es_connection import ElasticsearchConnection
from pipelines.kafka_connection import KafkaConnection
from pipelines.stream.dead_letters import split_unclassifiable
from pipelines.stream.es_sink import DEAD, IndexConfig, WriteToElasticsearch
from pipelines.stream.kafka_sink import ProducerConfig, PublishClassified, PublishDeadLetters
from pipelines.stream.kafka_source import (
    OPEN_END,
    ConsumerConfig,
    PartitionRange,
    ReadFromKafkaPartitions,
)
from pipelines.stream.model_handler import ArticleModelHandler
from pipelines.stream.parse import ParseArticles
from pipelines.stream.repeats import STORED, DropRepeats, RepeatsConfig
from pipelines.stream.stage_boundary import EndOfStage
from pipelines.stream.worker_pool import on_loopback

CLASSIFY_STEP = "pipeline.classify"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the transforms need, as plain data that pickles into the workers."""

    kafka: KafkaConnection
    raw_topic: str
    deadletter_topic: str
    es: ElasticsearchConnection
    index: str
    model_dir: Path
    group_id: str
    ranges: Sequence[PartitionRange] = field(default_factory=list)
    classified_topic: str | None = None
    commit_offsets: bool = True
    max_batch_size: int = 64
    bulk_size: int = 200
    threads: int = 2
    runtime: str = "auto"
    follow_registry: Path | None = None
    """A registry root: switch to the model promoted there while running."""

    @property
    def model_version(self) -> str:
        return self.model_dir.name

    @property
    def streaming(self) -> bool:
        return any(r.stop == OPEN_END for r in self.ranges)


class PublishDeadLettersTo(beam.PTransform):
    def __init__(self, config: PipelineConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, letters: beam.PCollection) -> beam.PCollection:
        return letters | beam.ParDo(PublishDeadLetters(
            ProducerConfig(self.config.kafka, self.config.deadletter_topic)))


def build(pipeline: beam.Pipeline, config: PipelineConfig) -> None:
    """Add the newswatch graph to ``pipeline``."""
    records = pipeline | "ReadRawArticles" >> ReadFromKafkaPartitions(
        ConsumerConfig(config.kafka, config.group_id, commit=config.commit_offsets),
        list(config.ranges))
    parsed = records | "ParseArticles" >> ParseArticles()
    _ = parsed["dead"] | "ParseDeadLetters" >> PublishDeadLettersTo(config)

    checked = parsed["good"] | "DropRepeats" >> beam.ParDo(DropRepeats(RepeatsConfig(
        config.es, config.index, config.model_version, config.follow_registry))
    ).with_outputs(STORED, main="new")

    handler = ArticleModelHandler(config.model_dir, max_batch_size=config.max_batch_size,
                                  threads=config.threads, runtime=config.runtime,
                                  follow_registry=config.follow_registry)
    # No exception handling around RunInference: an error there is the model's or the
    # runtime's, not the record's, and fails the bundle (read again, nothing committed).
    # The handler hands back an article's own fault as an Unclassifiable value.
    results = (checked.new | "Classify" >> RunInference(handler)
               | "SplitUnclassifiable" >> beam.FlatMap(split_unclassifiable(CLASSIFY_STEP))
               .with_outputs(DEAD, main="classified"))
    classified = results.classified
    _ = results[DEAD] | "InferenceDeadLetters" >> PublishDeadLettersTo(config)

    written = classified | "IndexInElasticsearch" >> beam.ParDo(WriteToElasticsearch(
        IndexConfig(config.es, config.index, bulk_size=config.bulk_size,
                    unavailable_timeout_s=None if config.streaming else 120.0))).with_outputs(
        DEAD, main="indexed")
    _ = written[DEAD] | "IndexDeadLetters" >> PublishDeadLettersTo(config)
    _ = written.indexed | "EndOfStage" >> EndOfStage()

    if config.classified_topic:
        producer = ProducerConfig(config.kafka, config.classified_topic)
        _ = written.indexed | "PublishClassified" >> beam.ParDo(PublishClassified(producer))
        _ = (checked[STORED]
             | "RepublishStoredRepeats" >> beam.ParDo(PublishClassified(producer)))


def run(argv: Sequence[str], config: PipelineConfig,
        test_pipeline: beam.Pipeline | None = None) -> PipelineResult:
    """Build and start the pipeline; returns at once with the running job's result."""
    options = PipelineOptions(list(argv))
    on_loopback(options)  # in-process workers, listening on 127.0.0.1 only
    if config.streaming:
        options.view_as(StandardOptions).streaming = True
    pipeline = test_pipeline or beam.Pipeline(options=options)
    build(pipeline, config)
    return pipeline.run()
