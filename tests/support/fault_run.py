"""The combined fault-injection run: every store fault at once, under a steady load.

Articles are produced to the raw topic at a steady rate while, on a fixed timeline,
the articles index refuses writes (``index.blocks.write``), Slack answers 503, the
pipeline and the alerter are ``kill -9``ed and started again, and the Kafka broker is
restarted. Afterwards every article must be indexed exactly once, nothing good
dead-lettered, and every article alerted on Slack exactly once.

The alerter is killed while Slack is down: a webhook post cannot be made idempotent
(Slack takes no key), so a kill in the milliseconds between a successful post and
the alert's state update sends that one alert again on restart. That window is the
documented at-least-once edge of webhook delivery (README, "Alerts"); everything
else here must hold exactly.

Driven by tests/integration/test_fault_injection.py and bench/fault_run.py.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from confluent_kafka import KafkaError

from pipelines.kafka_admin import group_positions
from pipelines.schema import Article
from pipelines.settings import Settings
from pipelines.stack import local_stack
from pipelines.stack.processes import read_pidfile, stop_group
from tests.integration.pipeline_helpers import PipelineEnv, article, stop
from tests.support.kafka_read import read_topic
from tests.support.slack_server import SlackServer

URL_ID = re.compile(r"https://news\.test/(\d+)")
WATCHED_EVERY = 5  # every fifth article matches the alert rule: Slack takes one message a second


def watched(n: int) -> bool:
    return n % WATCHED_EVERY == 0


def fault_article(n: int) -> Article:
    word = "watched" if watched(n) else "routine"
    return article(n, title=f"Fault run {n}: {word} terminal stake and chip plant {n}")


@dataclass(frozen=True)
class FaultPlan:
    """The load and the timeline, in seconds from the first article."""

    articles: int = 600  # every fifth alerts (WATCHED_EVERY)
    rate_per_s: float = 4.0
    es_block_at_s: float = 10.0
    es_block_s: float = 60.0
    pipeline_kill_at_s: float = 35.0  # while the index refuses writes
    # Alerts flow once the index takes writes again: Slack goes down then, so the
    # alerter meets the outage with a backlog.
    slack_outage_at_s: float = 75.0
    slack_outage_s: float = 90.0
    alerter_kill_at_s: float = 100.0  # while Slack is down (see the module docstring)
    broker_restart_at_s: float = 120.0
    settle_timeout_s: float = 360.0


@dataclass
class FaultReport:
    produced: int = 0
    produce_errors: int = 0
    indexed_ids: set[str] = field(default_factory=set)
    index_count: int = 0
    dead_letters: int = 0
    alert_counts: Counter[str] = field(default_factory=Counter)
    slack_refused: int = 0
    pipeline_exit: int | None = None
    alerter_exit: int | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)
    settle_s: float = 0.0

    def lost(self, expected: set[str]) -> list[str]:
        return sorted(expected - self.indexed_ids)

    def alerts_lost(self, expected: set[str]) -> list[str]:
        """Watched articles that never reached Slack."""
        return sorted({i for i in expected if watched(int(i.rsplit("-", 1)[1]))}
                      - set(self.alert_counts))

    def alerts_doubled(self) -> list[str]:
        return sorted(i for i, n in self.alert_counts.items() if n > 1)

    def lines(self, expected: set[str]) -> list[str]:
        return [
            *(f"  t={at:6.1f}s  {what}" for at, what in self.timeline),
            f"articles produced {self.produced} (producer errors {self.produce_errors})",
            f"indexed {len(self.indexed_ids)} distinct, {self.index_count} documents; "
            f"lost {len(self.lost(expected))}, doubled {self.index_count - len(self.indexed_ids)}",
            f"dead letters {self.dead_letters}",
            f"Slack: {sum(self.alert_counts.values())} alerts posted for "
            f"{len(self.alert_counts)} articles; lost {len(self.alerts_lost(expected))}, "
            f"sent twice {len(self.alerts_doubled())}; {self.slack_refused} posts refused (503)",
            f"settled {self.settle_s:.0f}s after the last article; exits: pipeline "
            f"{self.pipeline_exit}, alerter {self.alerter_exit}",
        ]


class Stage:
    """One `newswatch` stage as a process that can be killed and started again."""

    def __init__(self, penv: PipelineEnv, args: list[str], name: str,
                 env_extra: dict[str, str]) -> None:
        self.penv, self.args, self.name, self.env_extra = penv, args, name, env_extra
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.penv.settings.state_dir / f"{self.name}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        handle = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines", *self.args],
            env={**self.penv.env, **self.env_extra}, stdout=handle,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def wait_for(self, text: str, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.log.read_text():
            assert self.process is not None and self.process.poll() is None, self.tail()
            assert time.monotonic() < deadline, self.tail()
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.process is not None and self.process.poll() is None, self.tail()
        stop(self.process, signal.SIGKILL)

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else "(no log)"


def restart_broker(stack: Settings) -> None:
    """Stop the local broker (SIGTERM, as an operator would) and start it again."""
    kafka = local_stack.servers(stack)[0]
    pid = read_pidfile(kafka.pidfile)
    assert pid is not None, "the local Kafka broker is not newswatch's: cannot restart it"
    stop_group(pid)
    local_stack.up(stack)


def _load(penv: PipelineEnv, plan: FaultPlan, started: float, report: FaultReport) -> None:
    producer = penv.settings.kafka.producer("fault-load")

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            report.produce_errors += 1

    for n in range(plan.articles):
        time.sleep(max(0.0, started + n / plan.rate_per_s - time.monotonic()))
        item = fault_article(n)
        producer.produce(penv.settings.topic_raw, key=item.id.encode(),
                         value=item.to_json_bytes(), on_delivery=delivered)
        producer.poll(0)
        report.produced += 1
    assert producer.flush(300) == 0


def _write_index(penv: PipelineEnv) -> str:
    aliases = penv.es.indices.get_alias(name=penv.settings.articles_alias).body
    (index,) = aliases
    return index


def _committed_to_end(penv: PipelineEnv, group: str, topic: str) -> bool:
    return all(done == high for done, high in
               group_positions(penv.settings.kafka, group, topic).values())


def run_faults(penv: PipelineEnv, stack: Settings, plan: FaultPlan,
               say: Callable[[str], None] = lambda _line: None) -> FaultReport:
    """Run the load and the faults; return what happened (the caller judges it)."""
    settings = penv.settings
    slack = SlackServer()
    rules = settings.state_dir / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{"name": "watched", "query": "title:watched",
                                                "realert_minutes": 0}]}))
    alerts_env = {"NEWSWATCH_SLACK_WEBHOOK_URL": slack.url,
                  "NEWSWATCH_ALERTS_INDEX": f"{settings.articles_alias}-alerts-state",
                  "NEWSWATCH_ALERTS_GROUP_ID": f"{settings.pipeline_group_id}-alerts",
                  "NEWSWATCH_ALERTS_RETRY_MAX_BACKOFF_S": "5"}
    pipeline = Stage(penv, ["pipeline", "run"], "pipeline", {})
    alerter = Stage(penv, ["alert", "run", "--rules", str(rules)], "alerter", alerts_env)
    report = FaultReport()
    index = _write_index(penv)
    started = 0.0

    def mark(what: str) -> None:
        report.timeline.append((time.monotonic() - started, what))
        say(f"t={time.monotonic() - started:6.1f}s {what}")

    try:
        pipeline.start()
        alerter.start()
        pipeline.wait_for("pipeline started")
        alerter.wait_for("alerts started")
        started = time.monotonic()
        load = threading.Thread(target=_load, args=(penv, plan, started, report), daemon=True)
        load.start()
        events: list[tuple[float, str, Callable[[], None]]] = sorted([
            (plan.es_block_at_s, "Elasticsearch: write block on", lambda: penv.es.indices
             .put_settings(index=index, settings={"index.blocks.write": True})),
            (plan.es_block_at_s + plan.es_block_s, "Elasticsearch: write block off",
             lambda: penv.es.indices.put_settings(index=index,
                                                  settings={"index.blocks.write": False})),
            (plan.slack_outage_at_s, f"Slack: 503 for {plan.slack_outage_s:.0f}s",
             lambda: slack.outage(plan.slack_outage_s)),
            (plan.pipeline_kill_at_s, "pipeline: kill -9, started again",
             lambda: (pipeline.kill9(), pipeline.start())),
            (plan.alerter_kill_at_s, "alerter: kill -9, started again",
             lambda: (alerter.kill9(), alerter.start())),
            (plan.broker_restart_at_s, "Kafka broker: stopped and started",
             lambda: restart_broker(stack)),
        ], key=lambda e: e[0])
        for at, what, action in events:
            time.sleep(max(0.0, started + at - time.monotonic()))
            action()
            mark(what)
        load.join()
        mark(f"last of {report.produced} articles produced")
        settled_from = time.monotonic()
        deadline = settled_from + plan.settle_timeout_s
        expected = {article(n).id for n in range(plan.articles)}
        alerted = {article(n).id for n in range(plan.articles) if watched(n)}
        while True:
            report.alert_counts = _alerted(slack)
            if (penv.count() >= len(expected) and set(report.alert_counts) >= alerted
                    and _committed_to_end(penv, settings.pipeline_group_id, settings.topic_raw)
                    and _committed_to_end(penv, alerts_env["NEWSWATCH_ALERTS_GROUP_ID"],
                                          settings.topic_classified)):
                break
            assert pipeline.process.poll() is None, pipeline.tail()
            assert alerter.process.poll() is None, alerter.tail()
            assert time.monotonic() < deadline, (
                f"not settled after {plan.settle_timeout_s:.0f}s: {penv.count()} indexed, "
                f"{len(report.alert_counts)} of {len(alerted)} alerted\n{pipeline.tail()}\n"
                f"{alerter.tail()}")
            time.sleep(1.0)
        report.settle_s = time.monotonic() - settled_from
        mark("everything indexed, alerted and committed")
    finally:
        if pipeline.process is not None:
            report.pipeline_exit = stop(pipeline.process, signal.SIGTERM)
        if alerter.process is not None:
            report.alerter_exit = stop(alerter.process, signal.SIGTERM)
        slack.close()
        penv.es.indices.put_settings(index=index, settings={"index.blocks.write": False})
        penv.es.indices.delete(index=alerts_env["NEWSWATCH_ALERTS_INDEX"],
                               ignore_unavailable=True)
    report.indexed_ids = set(penv.indexed())
    report.index_count = penv.count()
    report.dead_letters = len(read_topic(settings.kafka_bootstrap, settings.topic_deadletter))
    report.alert_counts = _alerted(slack)
    report.slack_refused = sum(p.status == 503 for p in slack.posts)
    return report


def _alerted(slack: SlackServer) -> Counter[str]:
    """Article ids of the alerts Slack accepted, one count per accepted post."""
    counts: Counter[str] = Counter()
    for post in list(slack.posts):
        if post.status == 200:
            for number in set(URL_ID.findall(str(post.payload))):
                counts[article(int(number)).id] += 1
    return counts

