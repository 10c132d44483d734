"""``newswatch alerts list | add | remove | test``: managing the rules file.

``add`` and ``remove`` rewrite the YAML file (comments are not kept);
``backtest`` (and ``test``, its last-days shorthand) runs one rule over the
articles in Elasticsearch and lists what it would have sent, without sending
anything or touching the alert state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.alerts.matcher import history_matches, validate_rules
from pipelines.alerts.matching import backtest
from pipelines.alerts.rules import AlertRule, dump_rules, load_rules
from pipelines.alerts.slack_message import alert_text
from pipelines.console import console
from pipelines.errors import ConfigError
from pipelines.es_admin import es_client
from pipelines.schema import utc_now
from pipelines.settings import Settings

app = typer.Typer(help="Alert rules: list, add, remove, and test them before use.",
                  no_args_is_help=True)

RulesOption = Annotated[Path | None, typer.Option(
    "--rules", help="Rules file (default: config/alerts.yaml, NEWSWATCH_ALERTS_FILE).")]


def _file(settings: Settings, rules: Path | None) -> Path:
    return rules or settings.alerts_file


@app.command("list")
def list_rules(ctx: typer.Context, rules: RulesOption = None) -> None:
    """Show the rules, and every rule that would be left out, with the reason."""
    loaded = load_rules(_file(ctx.obj, rules))
    table = Table("name", "query", "labels (min score)", "sources", "realert min",
                  "digest min", "enabled")
    for rule in loaded.rules:
        table.add_row(rule.name, rule.query,
                      ", ".join(f"{k} {v:g}" for k, v in rule.labels.items()) or "-",
                      ", ".join(rule.sources) or "-", f"{rule.realert_minutes:g}",
                      f"{rule.digest_minutes:g}" if rule.digest_minutes else "-",
                      "yes" if rule.enabled else "no")
    console.print(table)
    for problem in loaded.problems:
        console.print(f"left out: {problem}", markup=False)


@app.command("add")
def add_rule(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Rule name (letters, digits, . _ -).")],
    query: Annotated[str, typer.Option(help="Elasticsearch query_string, as in Kibana.")] = "*",
    label: Annotated[list[str] | None, typer.Option(
        help="LABEL=MIN_SCORE, repeatable, e.g. property_purchase=0.6")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only this source; repeatable.")]
    = None,
    realert_minutes: Annotated[float, typer.Option(help="Quiet period per story.")] = 60.0,
    digest_minutes: Annotated[float | None, typer.Option(
        help="Send one message per period listing the matches instead of one each.")] = None,
    rules: RulesOption = None,
) -> None:
    """Add a rule (checked like every rule; an existing name is an error)."""
    labels = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        try:
            labels[key] = float(value) if sep else 0.0
        except ValueError as exc:
            raise ConfigError(f"--label {item!r}: expected LABEL=MIN_SCORE") from exc
    path = _file(ctx.obj, rules)
    append_rule(path, name=name, query=query, labels=labels, sources=source or [],
                realert_minutes=realert_minutes, digest_minutes=digest_minutes)
    console.print(f"added rule {name!r} to {path}")


def append_rule(path: Path, *, name: str, query: str, labels: dict[str, float],
                sources: list[str], realert_minutes: float = 60.0,
                digest_minutes: float | None = None) -> AlertRule:
    """Add a rule to the rules file, checked like every rule; an existing name, an unknown
    label or a bad threshold is the caller's mistake (ConfigError). `alerts add` and the
    board's "save as rule" both write rules through here."""
    loaded = load_rules(path)
    if any(r.name == name for r in loaded.rules):
        raise ConfigError(f"a rule named {name!r} exists in {path}; remove it first")
    try:
        rule = AlertRule(name=name, query=query, labels=labels, sources=sources,
                         realert_minutes=realert_minutes, digest_minutes=digest_minutes)
    except ValueError as exc:
        raise ConfigError(f"rule {name!r}: {exc}") from exc
    path.write_text(dump_rules([*loaded.rules, rule]), encoding="utf-8")
    return rule


@app.command("remove")
def remove_rule(ctx: typer.Context, name: str, rules: RulesOption = None) -> None:
    """Remove a rule by name."""
    path = _file(ctx.obj, rules)
    loaded = load_rules(path)
    kept = [r for r in loaded.rules if r.name != name]
    if len(kept) == len(loaded.rules):
        raise ConfigError(f"no rule named {name!r} in {path}")
    path.write_text(dump_rules(kept), encoding="utf-8")
    console.print(f"removed rule {name!r} from {path}")


@app.command("backtest")
def backtest_rule(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The rule's name.")],
    since: Annotated[datetime, typer.Option(
        help="Articles published from this time (UTC unless a zone is given).")],
    until: Annotated[datetime | None, typer.Option(help="... and before this one "
                                                   "(default: now).")] = None,
    rules: RulesOption = None,
) -> None:
    """List what a rule would have sent over history; nothing is sent or recorded.

    Matching is the live alerter's (the rule's query and filters, run by Elasticsearch
    over the articles' ids); the realert window per story is applied with each
    article's publication time as the clock. Tune a rule here before enabling it.
    """
    settings: Settings = ctx.obj
    start = since if since.tzinfo else since.replace(tzinfo=UTC)
    stop = until or utc_now()
    stop = stop if stop.tzinfo else stop.replace(tzinfo=UTC)
    _print_backtest(settings, name, rules, start, stop, f"since {start:%Y-%m-%d %H:%M} UTC")


@app.command("test")
def test_rule(
    ctx: typer.Context,
    name: str,
    days: Annotated[float, typer.Option(help="How far back to look.")] = 7.0,
    rules: RulesOption = None,
) -> None:
    """`backtest` over the last DAYS: what a rule would have sent (nothing is sent)."""
    now = utc_now()
    _print_backtest(ctx.obj, name, rules, now - timedelta(days=days), now,
                    f"in the last {days:g} days")


def _print_backtest(settings: Settings, name: str, rules: Path | None, since: datetime,
                    until: datetime, period: str) -> None:
    loaded = load_rules(_file(settings, rules))
    rule = next((r for r in loaded.rules if r.name == name), None)
    if rule is None:
        raise ConfigError(f"no usable rule named {name!r} (see `newswatch alerts list`)")
    client = es_client(settings)
    _good, problems = validate_rules(client, settings.articles_alias, [rule])
    if problems:
        raise ConfigError(str(problems[0]))
    client.indices.refresh(index=settings.articles_alias)
    alerts = backtest(rule, history_matches(client, settings.articles_alias, rule, since,
                                            until))
    sent = [a for a in alerts if a.status == "sent"]
    for alert in alerts:
        prefix = "" if alert.status == "sent" else "  quiet (same story): "
        console.print(prefix + alert_text(alert), markup=False, highlight=False)
    console.print(f"rule {name!r} would have sent {len(sent)} alerts {period} "
                  f"({len(alerts) - len(sent)} more kept quiet as repeats of a story)"
                  + (f"; as digests every {rule.digest_minutes:g} minutes"
                     if rule.digest_minutes else ""))
