"""``newswatch pipeline run`` and ``newswatch pipeline replay``.

Beam is imported inside the commands: it takes a second or two to import, which
every other ``newswatch`` command (and ``--help``) should not pay.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from confluent_kafka import TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from classifiers.registry import ModelNotFound, Registry
from pipelines.console import console, err_console
from pipelines.errors import ConfigError, NewswatchError
from pipelines.es_admin import (
    articles_template,
    ensure_articles_index,
    es_client,
    new_index_name,
    switch_alias,
)
from pipelines.kafka_admin import ensure_topics, topic_specs
from pipelines.kafka_connection import KafkaConnection
from pipelines.settings import Settings
from pipelines.stack.prism import ensure_prism

if TYPE_CHECKING:
    from apache_beam.runners.runner import PipelineResult

    from pipelines.stream.group_lock import GroupLock
    from pipelines.stream.kafka_source import PartitionRange
    from pipelines.stream.pipeline import PipelineConfig

log = logging.getLogger("newswatch.pipeline")

app = typer.Typer(
    help="The Beam pipeline: raw articles from Kafka -> classifier -> Elasticsearch -> "
    "classified topic. Beam options (runner and its settings) go after `--`, e.g. "
    "`newswatch pipeline run -- --runner=FlinkRunner --flink_master=HOST:8081`; "
    "without them the local Prism runner is used.",
    no_args_is_help=True,
)

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


class PipelineFailed(NewswatchError):
    """The runner reported the job failed; its error is in the message."""


def beam_args(settings: Settings, extra: list[str]) -> list[str]:
    """Beam's options: the user's, else the local Prism runner with in-process workers."""
    given = [*settings.pipeline_runner_args, *extra]
    if any(arg.startswith("--runner") for arg in given):
        return given
    # No dynamic splits: the source only checkpoints, and Prism's split requests on an
    # open offset range serve nothing (docs/adr/0004-stream-runner.md).
    return ["--runner=PrismRunner", f"--prism_location={ensure_prism(settings)}",
            "--environment_type=LOOPBACK", "--prism_log_level=warn",
            "--experiments=prism_disable_sdf_split", *given]


def model_dir(settings: Settings, model: str | None) -> Path:
    try:
        return Registry(settings.models_dir).resolve(model or settings.model)
    except ModelNotFound as exc:
        raise ConfigError(str(exc)) from exc


def _config(settings: Settings, model: Path, index: str, ranges: list[PartitionRange],
            *, streaming: bool, follow: bool = False) -> PipelineConfig:
    from pipelines.stream.pipeline import PipelineConfig

    return PipelineConfig(
        kafka=settings.kafka, raw_topic=settings.topic_raw,
        deadletter_topic=settings.topic_deadletter, es=settings.elasticsearch, index=index,
        model_dir=model,
        group_id=settings.pipeline_group_id if streaming else "newswatch-replay",
        ranges=ranges, classified_topic=settings.topic_classified if streaming else None,
        commit_offsets=streaming, max_batch_size=settings.pipeline_batch_size,
        bulk_size=settings.pipeline_bulk_size, threads=settings.pipeline_threads,
        follow_registry=settings.models_dir if follow else None)


def _failed(result: PipelineResult) -> None:
    from apache_beam.runners.runner import PipelineState

    if result.state == PipelineState.FAILED:
        raise PipelineFailed("the pipeline failed; the runner's error is logged above. "
                             "Uncommitted records are read again on the next start.")


def _supervise(result: PipelineResult, settings: Settings, lock: GroupLock,
               stopping: dict[str, float | None]) -> bool:
    """Watch the running job: summary lines, a drain on a signal or a lost group lock, and
    a cancel when the drain takes too long. True when it cancelled the job."""
    from apache_beam.runners.runner import PipelineState

    from pipelines.stream import monitor
    from pipelines.stream.kafka_source import request_drain

    previous = monitor.Snapshot()
    last = time.monotonic()
    while not PipelineState.is_terminal(result.state):
        time.sleep(0.5)
        now = time.monotonic()
        since = stopping["since"]
        if lock.lost and since is None:
            log.error("pipeline draining: another pipeline took consumer group %s",
                      settings.pipeline_group_id)
            stopping["since"] = since = now
            request_drain()
        if since is not None and now - since > settings.pipeline_drain_timeout_s:
            log.warning("pipeline drain took longer than %.0fs; cancelling",
                        settings.pipeline_drain_timeout_s)
            # In-flight bundles of a cancelled job fail by design (nothing of theirs is
            # committed); the worker's reports of them, and of its client closing under a
            # request, are not news.
            for noisy in ("apache_beam", "elastic_transport"):
                logging.getLogger(noisy).setLevel(logging.CRITICAL)
            result.cancel()
            return True
        if now - last >= settings.pipeline_summary_interval_s:
            current = monitor.snapshot(result)
            lag = monitor.group_lag(settings.kafka, settings.pipeline_group_id,
                                    settings.topic_raw)
            log.info(monitor.summary_line(previous, current, now - last, lag,
                                          settings.topic_deadletter))
            previous, last = current, now
    return False


@app.command("run", context_settings=EXTRA)
def run_streaming(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(
        help="Model version or directory, kept for the whole run (default: the promoted "
        "one, followed: `newswatch models promote` switches the running pipeline).")] = None,
) -> None:
    """Classify the raw topic continuously into the articles alias, until SIGTERM or Ctrl-C.

    Without --model (and NEWSWATCH_MODEL) the pipeline follows the registry: a model
    promoted while it runs is loaded and used from the next batch on, and every
    document carries the version that classified it.

    Offsets are committed only after Elasticsearch (or the dead-letter topic) has
    acknowledged a bundle's articles, so a crash loses nothing; a restart reads the
    unacknowledged ones again and the fixed document ids keep one copy of each. One
    summary line is logged per interval (NEWSWATCH_PIPELINE_SUMMARY_INTERVAL_S). On
    SIGTERM the pipeline drains: in-flight bundles finish and are committed.
    """

    from pipelines.stream import monitor
    from pipelines.stream.group_lock import GroupLock
    from pipelines.stream.kafka_source import (
        ConsumerConfig,
        committed_or_earliest,
        partitions_of,
        request_drain,
        reset_drain,
    )
    from pipelines.stream.pipeline import run

    settings: Settings = ctx.obj
    directory = model_dir(settings, model)
    ensure_topics(settings.kafka, topic_specs(settings))
    ensure_articles_index(es_client(settings), settings.deploy_dir, settings.articles_alias)
    lock = GroupLock(settings.kafka, settings.pipeline_group_id)
    lock.acquire()  # before the offsets are read: one pipeline per group
    try:
        consumer = ConsumerConfig(settings.kafka, settings.pipeline_group_id)
        ranges = committed_or_earliest(consumer, settings.topic_raw,
                                       partitions_of(settings.kafka, settings.topic_raw))
        follow = (model or settings.model) is None
        config = _config(settings, directory, settings.articles_alias, ranges, streaming=True,
                         follow=follow)
        reset_drain()
        # The runner process starts with SIGINT ignored (children inherit that), so a Ctrl-C
        # in the terminal, which reaches the whole process group, drains the pipeline
        # through our handler below instead of killing the runner under it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        result = run(beam_args(settings, ctx.args), config)
        log.info("pipeline started model=%s follow_promoted=%s topic=%s index=%s group=%s from=%s",
                 config.model_version, follow, settings.topic_raw, settings.articles_alias,
                 settings.pipeline_group_id, ",".join(f"{r.partition}:{r.start}" for r in ranges))

        stopping: dict[str, float | None] = {"since": None}

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if stopping["since"] is None:
                log.info("pipeline draining signal=%s (in-flight bundles finish and commit)",
                         signal.Signals(signum).name)
                stopping["since"] = time.monotonic()
                request_drain()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        cancelled = _supervise(result, settings, lock, stopping)
        try:
            result.wait_until_finish()
        except RuntimeError:
            # The runner reports a cancelled job as an error; we cancelled it on purpose.
            if not cancelled:
                raise
        if cancelled:
            log.warning("pipeline cancelled: the bundles still in flight (e.g. waiting for "
                        "Elasticsearch) were not committed and are read again on the next start")
        _failed(result)
        final = monitor.snapshot(result)
        log.info("pipeline stopped state=%s indexed=%d dead_lettered=%d repeats=%d", result.state,
                 final.get("indexed"), monitor.dead_lettered(final, settings.topic_deadletter),
                 final.get("repeats_skipped"))
    finally:
        lock.release()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def replay_ranges(kafka: KafkaConnection, topic: str, since: datetime,
                  until: datetime | None) -> list[PartitionRange]:
    """Offsets of the records with timestamps in [since, until) (until None: up to now)."""
    from pipelines.stream.kafka_source import PartitionRange, partitions_of

    consumer = kafka.consumer("newswatch-replay")
    try:
        partitions = partitions_of(kafka, topic)

        def offsets_at(moment: datetime | None) -> dict[int, int]:
            ends = {}
            for p in partitions:
                ends[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            if moment is None:
                return ends
            wanted = [TopicPartition(topic, p, int(moment.timestamp() * 1000))
                      for p in partitions]
            found = consumer.offsets_for_times(wanted, timeout=30)
            return {tp.partition: (tp.offset if tp.offset >= 0 else ends[tp.partition])
                    for tp in found}

        starts, stops = offsets_at(since), offsets_at(until)
        return [PartitionRange(topic, p, starts[p], max(starts[p], stops[p]))
                for p in partitions]
    finally:
        consumer.close()


def ensure_replay_index(settings: Settings, index: str) -> None:
    """A named target index, created with the articles mapping when it does not exist."""
    client = es_client(settings)
    if index == settings.articles_alias:
        ensure_articles_index(client, settings.deploy_dir, index)
        return
    if client.indices.exists(index=index):
        return
    template = articles_template(settings.deploy_dir, settings.articles_alias)["template"]
    client.indices.create(index=index, mappings=template["mappings"],
                          settings=template.get("settings"))


@app.command("replay", context_settings=EXTRA)
def replay(
    ctx: typer.Context,
    since: Annotated[datetime | None, typer.Option(
        help="First Kafka record time to replay (UTC unless a zone is given; default: the "
        "oldest record the raw topic retains).")] = None,
    until: Annotated[datetime | None, typer.Option(
        help="Stop before this record time (default: everything up to now).")] = None,
    model: Annotated[str | None, typer.Option(
        help="Model version or directory (default: the promoted one).")] = None,
    index: Annotated[str | None, typer.Option(
        help="Target index (created if missing; default: the live articles alias).")] = None,
    into_new_index: Annotated[bool, typer.Option(
        "--into-new-index", help="Rebuild the articles index from the raw topic into a new "
        "index, then switch the articles alias to it atomically. The old index stays until "
        "`newswatch index prune`.")] = False,
) -> None:
    """Reclassify the retained raw topic over a time range, bounded; ends by itself.

    The same transforms as `pipeline run`, over closed offset ranges. Articles already
    in the target with the same model version are skipped (duplicates); nothing is
    published to the classified topic, so history does not re-alert. Prints read,
    indexed, dead-lettered and duplicates skipped.

    With --into-new-index: replay into a new dated index, switch the alias to it in
    one request (Kibana, alerts and the running pipeline see the old index or the new
    one, never neither), then replay what arrived during the rebuild into it too.
    """
    settings: Settings = ctx.obj
    start = _utc(since) or datetime.fromtimestamp(0, UTC)
    stop = _utc(until)
    if stop is not None and stop <= start:
        raise ConfigError(f"--until {stop.isoformat()} is not after --since {start.isoformat()}")
    if into_new_index and (index is not None or stop is not None):
        raise ConfigError("--into-new-index rebuilds the whole articles index: it takes "
                          "neither --index nor --until")
    directory = model_dir(settings, model)
    ranges = replay_ranges(settings.kafka, settings.topic_raw, start, stop)
    if not into_new_index:
        target = index or settings.articles_alias
        ensure_replay_index(settings, target)
        counts = _replay(settings, ctx.args, directory, target, ranges)
        _print_counts(f"replay into {target} with model {directory.name}", {"": counts})
        return

    client = es_client(settings)
    alias = settings.articles_alias
    ensure_articles_index(client, settings.deploy_dir, alias)
    target = new_index_name(alias, datetime.now(UTC))
    ensure_replay_index(settings, target)
    log.info("rebuild started index=%s model=%s records=%d", target, directory.name,
             sum(r.stop - r.start for r in ranges))
    rebuilt = _replay(settings, ctx.args, directory, target, ranges)
    previous = switch_alias(client, alias, target)
    caught_up = _replay(settings, ctx.args, directory, target,
                        catch_up_ranges(settings.kafka, ranges))
    _print_counts(f"rebuilt {target} with model {directory.name}",
                  {"rebuild": rebuilt, "arrived meanwhile": caught_up})
    console.print(f"alias {alias} -> {target} (was {', '.join(previous) or 'nothing'}); "
                  "the old index stays until `newswatch index prune`")


def catch_up_ranges(kafka: KafkaConnection, done: list[PartitionRange]) -> list[PartitionRange]:
    """From where ``done`` stopped to the partitions' ends now."""
    from pipelines.stream.kafka_source import PartitionRange

    consumer = kafka.consumer("newswatch-replay")
    try:
        ends = [consumer.get_watermark_offsets(TopicPartition(r.topic, r.partition),
                                               timeout=30)[1] for r in done]
        return [PartitionRange(r.topic, r.partition, r.stop, max(r.stop, end))
                for r, end in zip(done, ends, strict=True)]
    finally:
        consumer.close()


def _replay(settings: Settings, beam_extra: list[str], directory: Path, target: str,
            ranges: list[PartitionRange]) -> dict[str, int]:
    """Run one bounded replay with a progress bar; its counts."""
    from apache_beam.runners.runner import PipelineState

    from pipelines.stream import monitor
    from pipelines.stream.pipeline import run

    total = sum(r.stop - r.start for r in ranges)
    if total == 0:
        return {"read": 0, "indexed": 0, "dead-lettered": 0, "duplicates skipped": 0}
    config = _config(settings, directory, target, ranges, streaming=False)
    result = run(beam_args(settings, beam_extra), config)
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("replay", total=total)
        while not PipelineState.is_terminal(result.state):
            time.sleep(1.0)
            progress.update(task, completed=monitor.snapshot(result).get("records_read"))
    result.wait_until_finish()
    _failed(result)
    final = monitor.snapshot(result)
    counts = {
        "read": final.get("records_read"),
        "indexed": final.get("indexed"),
        "dead-lettered": monitor.dead_lettered(final, settings.topic_deadletter),
        "duplicates skipped": final.get("repeats_skipped"),
    }
    log.info("replay " + " ".join(f"{k.replace(' ', '_').replace('-', '_')}={v}"
                                  for k, v in counts.items()) + f" index={target}")
    return counts


def _print_counts(title: str, rows: dict[str, dict[str, int]]) -> None:
    table = Table(title=title)
    names = list(next(iter(rows.values())))
    if len(rows) > 1:
        table.add_column("phase")
    for name in names:
        table.add_column(name, justify="right")
    for phase, counts in rows.items():
        table.add_row(*([phase] if len(rows) > 1 else []), *(str(counts[n]) for n in names))
    console.print(table)
