"""``newswatch alert run``."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from pipelines.alerts.alerter import Alerter, consume, dead_letter_producer
from pipelines.alerts.matcher import validate_rules
from pipelines.alerts.rules import load_rules
from pipelines.alerts.slack import SlackWebhook
from pipelines.alerts.state import AlertState
from pipelines.console import console
from pipelines.errors import ConfigError
from pipelines.es_admin import ensure_articles_index, es_client
from pipelines.settings import Settings

log = logging.getLogger("newswatch.alerts")

app = typer.Typer(help="Alerts: rules matched against new articles, sent to Slack.",
                  no_args_is_help=True)


@app.command("run")
def run_alerts(
    ctx: typer.Context,
    rules: Annotated[Path | None, typer.Option(
        help="Rules file (default: config/alerts.yaml, NEWSWATCH_ALERTS_FILE).")] = None,
    once: Annotated[bool, typer.Option(
        help="Handle every event waiting on the classified topic and send the digests "
             "that are due, then exit (digests not yet due stay queued for the next run).",
    )] = False,
) -> None:
    """Match classified articles against the rules and alert on Slack.

    Rules are checked at start (labels, and the query by Elasticsearch itself); a bad
    rule is reported by name and the others run. With NEWSWATCH_SLACK_WEBHOOK_URL unset,
    alerts go to the console and the alerts index. A restart neither repeats nor loses
    an alert: the state is in the alerts index (NEWSWATCH_ALERTS_INDEX).
    """
    settings: Settings = ctx.obj
    loaded = load_rules(rules or settings.alerts_file)
    client = es_client(settings)
    ensure_articles_index(client, settings.deploy_dir, settings.articles_alias)
    good, bad_queries = validate_rules(client, settings.articles_alias, loaded.rules,
                                       loaded.positions)
    for problem in [*loaded.problems, *bad_queries]:
        log.error("alert rule left out: %s", problem)
    if not good:
        raise ConfigError("no usable alert rule: fix the rules file (errors above)")
    state = AlertState(client, settings.alerts_index)
    state.ensure_index()
    webhook = (SlackWebhook(settings.slack_webhook_url,
                            max_attempts=settings.alerts_slack_max_attempts)
               if settings.slack_webhook_url is not None else None)
    letter, raw_letter = dead_letter_producer(settings.kafka, settings.topic_deadletter)
    alerter = Alerter(client, settings.articles_alias, good, state, webhook, letter,
                      lambda text: console.print(text, markup=False, highlight=False))
    consumer = settings.kafka.consumer(settings.alerts_group_id, {
        "auto.offset.reset": "earliest",
        "enable.partition.eof": once})  # --once ends at the partitions' ends
    consumer.subscribe([settings.topic_classified])
    stopping = {"now": False}

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("alerts started rules=%s destination=%s", ",".join(r.name for r in good),
             "slack" if webhook else "console")
    try:
        total = consume(consumer, alerter, raw_letter, once=once,
                        stop=lambda: stopping["now"],
                        max_backoff_s=settings.alerts_retry_max_backoff_s)
    finally:
        consumer.close()
        if webhook is not None:
            webhook.close()
    log.info("alerts stopped %s", total.summary())
