"""``newswatch alert run``: classified events in, alerts out (Slack, or the console).

Per batch of events from ``newswatch.articles.classified``: match every rule in
one ``_msearch``; for each match, in event order, claim the alert in the alerts
index, stay quiet if the same story reached the analyst under this rule within
the realert window, else post it (or, for a rule with ``digest_minutes``, queue
it in the alerts index: once the oldest queued match is that old, one message
lists them all); then commit the batch's offsets. A permanent
Slack refusal marks the alert failed and dead-letters it. Elasticsearch or Slack
being away (an error of a rule's search, an outage, rate limits past the retry
budget) is waited out: the same batch is handled again, with reading paused, and
nothing is committed before it is handled; alerts already sent are not sent again
(their state says so) and a pending one is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from confluent_kafka import Consumer, KafkaError
from elasticsearch import ApiError, Elasticsearch, TransportError
from pydantic import ValidationError

from pipelines.alerts.matcher import MatchingUnavailable, matching_ids
from pipelines.alerts.matching import alert_for, realert_since
from pipelines.alerts.rules import AlertRule
from pipelines.alerts.slack import SlackRejected, SlackUnavailable, SlackWebhook
from pipelines.alerts.slack_message import (
    alert_text,
    digest_message,
    digest_text,
    single_message,
)
from pipelines.alerts.state import AlertState
from pipelines.errors import NewswatchError
from pipelines.kafka_connection import KafkaConnection
from pipelines.schema import Alert, ClassifiedArticle, DeadLetter, utc_now

log = logging.getLogger(__name__)


class KafkaUnavailable(NewswatchError):
    """The alerter's consumer got no partition to read."""


@dataclass
class BatchOutcome:
    events: int = 0
    bad_events: int = 0
    sent: list[Alert] = field(default_factory=list)
    suppressed: int = 0
    failed: int = 0
    already: int = 0
    queued: int = 0
    digests: int = 0

    def add(self, other: BatchOutcome) -> None:
        self.events += other.events
        self.bad_events += other.bad_events
        self.sent += other.sent
        self.suppressed += other.suppressed
        self.failed += other.failed
        self.already += other.already
        self.queued += other.queued
        self.digests += other.digests

    def summary(self) -> str:
        return (f"events={self.events} bad={self.bad_events} sent={len(self.sent)} "
                f"suppressed={self.suppressed} failed={self.failed} already={self.already} "
                f"queued={self.queued} digests={self.digests}")


class Alerter:
    def __init__(self, client: Elasticsearch, articles_index: str, rules: Sequence[AlertRule],
                 state: AlertState, webhook: SlackWebhook | None,
                 dead_letter: Callable[[DeadLetter], None],
                 console: Callable[[str], None]) -> None:
        self.client = client
        self.articles_index = articles_index
        self.rules = [r for r in rules if r.enabled]
        self.state = state
        self.webhook = webhook
        self.dead_letter = dead_letter
        self.console = console

    def handle(self, events: Sequence[ClassifiedArticle],
               allow_missing: bool = False) -> BatchOutcome:
        """Alert on a batch of events. An event whose article the articles alias does not
        show yet (an alias being switched to a rebuilt index, a refresh still to come)
        raises MatchingUnavailable, so the batch is handled again rather than matched
        against nothing; ``allow_missing`` goes on without those articles."""
        outcome = BatchOutcome(events=len(events))
        if not events:
            return outcome
        self.client.indices.refresh(index=self.articles_index)  # the newest are searchable
        ids = [e.id for e in events]
        found = self.client.count(index=self.articles_index,
                                  query={"ids": {"values": ids}})["count"]
        if found < len(set(ids)):
            missing = (f"{len(set(ids)) - found} of {len(set(ids))} articles are not "
                       f"searchable in {self.articles_index}")
            if not allow_missing:
                raise MatchingUnavailable(f"{missing} yet")
            log.error("alerts going on without them: %s", missing)
        matched = matching_ids(self.client, self.articles_index, self.rules, ids)
        for article in events:
            for rule in self.rules:
                if article.id in matched.get(rule.name, ()):
                    self._alert(rule, article, outcome)
        return outcome

    def _alert(self, rule: AlertRule, article: ClassifiedArticle, outcome: BatchOutcome) -> None:
        now = utc_now()
        alert = alert_for(rule, article, now)
        if not self.state.claim(alert):
            outcome.already += 1
            return
        since = realert_since(rule, now)
        if since is not None and self.state.story_recently_alerted(alert, since):
            self.state.finish(alert, "suppressed", now)
            outcome.suppressed += 1
            return
        if rule.digest_minutes is not None:
            self.state.queue(alert)
            outcome.queued += 1
            return
        if self.webhook is None:
            self.console(alert_text(alert))
            self.state.finish(alert, "console", utc_now())
            outcome.sent.append(alert)
            return
        try:
            self.webhook.post(single_message(alert))
        except SlackRejected as exc:
            self.state.finish(alert, "failed", utc_now(), str(exc))
            self.dead_letter(DeadLetter.from_failure(
                "alerts.slack", alert.to_json_bytes(), exc, key=f"{rule.name}:{article.id}"))
            outcome.failed += 1
            return
        self.state.finish(alert, "sent", utc_now())
        outcome.sent.append(alert)

    def flush_digests(self, now: datetime | None = None) -> BatchOutcome:
        """Send each digest rule's queued alerts as one message once the oldest is due.

        A crash between the post and the state update sends that digest again on
        restart (at least once); a queued alert is never lost.
        """
        outcome = BatchOutcome()
        now = now or utc_now()
        for rule in self.rules:
            if rule.digest_minutes is None:
                continue
            queued = self.state.queued(rule.name)
            if not queued or queued[0].matched_at + timedelta(minutes=rule.digest_minutes) > now:
                continue
            if self.webhook is None:
                self.console(digest_text(rule.name, queued))
                self.state.finish_many(queued, "console", utc_now())
            else:
                try:
                    self.webhook.post(digest_message(rule.name, queued))
                except SlackRejected as exc:
                    self.state.finish_many(queued, "failed", utc_now(), str(exc))
                    for alert in queued:
                        self.dead_letter(DeadLetter.from_failure(
                            "alerts.slack", alert.to_json_bytes(), exc,
                            key=f"{rule.name}:{alert.article_id}"))
                    outcome.failed += len(queued)
                    continue
                self.state.finish_many(queued, "sent", utc_now())
            outcome.sent += queued
            outcome.digests += 1
        return outcome


def parse_events(values: Sequence[bytes]) -> tuple[list[ClassifiedArticle], list[bytes]]:
    good, bad = [], []
    for value in values:
        try:
            good.append(ClassifiedArticle.model_validate_json(value))
        except ValidationError:
            bad.append(value)
    return good, bad


# Elasticsearch or Slack being away, not the event's fault: the batch is handled again.
STORE_AWAY = (SlackUnavailable, MatchingUnavailable, ApiError, TransportError)


def handle_until_done(alerter: Alerter, events: Sequence[ClassifiedArticle],
                      consumer: Consumer, stop: Callable[[], bool],
                      max_backoff_s: float = 60.0,
                      missing_wait_s: float = 300.0) -> BatchOutcome | None:
    """Handle one batch; while Elasticsearch or Slack is away, wait and handle it again.
    Reading is paused meanwhile and the consumer keeps its group membership, however
    long Slack asks to wait. Articles the index does not show are waited for up to
    ``missing_wait_s``, then the batch goes on without them (logged). None when stopped
    before the batch was handled (its offsets are then not committed, and the next run
    handles it)."""
    delay, paused = 1.0, False
    started = time.monotonic()
    try:
        while True:
            try:
                return alerter.handle(events,
                                      allow_missing=time.monotonic() - started > missing_wait_s)
            except STORE_AWAY as exc:
                log.warning("alerts batch not handled, retrying in %.0fs: %s: %s", delay,
                            type(exc).__name__, exc)
            if not paused:
                consumer.pause(consumer.assignment())
                paused = True
            until = time.monotonic() + delay
            while time.monotonic() < until:
                if stop():
                    return None
                consumer.poll(0.2)  # paused: serves the group, returns no message
            delay = min(delay * 2, max_backoff_s)
    finally:
        if paused:
            consumer.resume(consumer.assignment())


def consume(consumer: Consumer, alerter: Alerter, dead_letter_bytes: Callable[[bytes], None],
            *, once: bool, stop: Callable[[], bool], batch_size: int = 100,
            assignment_timeout_s: float = 60.0, digest_check_s: float = 1.0,
            max_backoff_s: float = 60.0) -> BatchOutcome:
    """Poll, handle, commit, until ``stop()`` (or, with ``once``, until caught up).

    ``once`` ends when every assigned partition has reported its end (the consumer
    needs ``enable.partition.eof``), not after a quiet spell: on a broker that has
    just started, joining the group alone can take longer than any quiet spell, and
    the events waiting there would be left unhandled. Due digests are checked every
    ``digest_check_s`` and once more at the end.
    """
    total = BatchOutcome()
    started = time.monotonic()
    digests_checked = time.monotonic()
    at_end: set[tuple[str, int]] = set()
    while not stop():
        if time.monotonic() - digests_checked >= digest_check_s:
            digests_checked = time.monotonic()
            _log_digests(alerter.flush_digests(), total)
        first = consumer.poll(0.5)  # returns as soon as one event is there
        messages = ([first, *consumer.consume(batch_size - 1, timeout=0)]
                    if first is not None else [])
        values = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add((message.topic(), message.partition()))
                else:
                    log.warning("kafka read error=%s", error)
                continue
            at_end.discard((message.topic(), message.partition()))
            values.append(message.value() or b"")
        if values:
            events, bad = parse_events(values)
            outcome = handle_until_done(alerter, events, consumer, stop, max_backoff_s)
            if outcome is None:
                break  # stopped while the stores were away: nothing committed
            for value in bad:
                dead_letter_bytes(value)
            outcome.bad_events = len(bad)
            consumer.commit(asynchronous=False)
            log.info("alerts %s", outcome.summary())
            total.add(outcome)
        if once and _caught_up(consumer, at_end, started, assignment_timeout_s):
            break
    _log_digests(alerter.flush_digests(), total)
    return total


def _caught_up(consumer: Consumer, at_end: set[tuple[str, int]], started: float,
               assignment_timeout_s: float) -> bool:
    assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
    if not assigned:
        if time.monotonic() - started > assignment_timeout_s:
            raise KafkaUnavailable(
                f"no partition of the classified topic was assigned to this consumer "
                f"within {assignment_timeout_s:.0f} s: is Kafka up, and does the topic exist?")
        return False
    return assigned <= at_end


def _log_digests(outcome: BatchOutcome, total: BatchOutcome) -> None:
    if outcome.digests or outcome.failed:
        log.info("alert digests digests=%d alerts=%d failed=%d", outcome.digests,
                 len(outcome.sent), outcome.failed)
        total.add(outcome)


def dead_letter_producer(kafka: KafkaConnection, topic: str) -> tuple[
        Callable[[DeadLetter], None], Callable[[bytes], None]]:
    producer = kafka.producer("newswatch-alerts")

    def letter(dead: DeadLetter) -> None:
        producer.produce(topic, key=(dead.key or "").encode(), value=dead.to_json_bytes())
        producer.flush(30)

    def raw(value: bytes) -> None:
        letter(DeadLetter.from_failure("alerts.parse", value,
                                       ValueError("not a ClassifiedArticle")))

    return letter, raw
