"""The ``newswatch`` command: every user-facing entry point is a subcommand here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from pipelines import index_commands, kibana
from pipelines.alerts import commands as alert_commands
from pipelines.alerts import manage as alert_manage
from pipelines.board.commands import board
from pipelines.collect.commands import collect
from pipelines.console import err_console
from pipelines.deadletters import commands as deadletter_commands
from pipelines.errors import NewswatchError
from pipelines.feedback import commands as feedback_commands
from pipelines.logs import configure_logging
from pipelines.ml_commands import classify, evaluate, models_app, train
from pipelines.settings import load_settings
from pipelines.stack import commands as stack_commands
from pipelines.stack import local_stack
from pipelines.stream import commands as pipeline_commands

log = logging.getLogger("newswatch")

app = typer.Typer(
    name="newswatch",
    help=(
        "Monitor news feeds for foreign influence on a country's economy and security: "
        "collect articles into Kafka, classify them with a fine-tuned transformer, index them "
        "in Elasticsearch, and alert on Slack.\n\n"
        "Settings come from NEWSWATCH_* environment variables and an optional YAML file "
        "(--config or NEWSWATCH_CONFIG); e.g. NEWSWATCH_KAFKA_BOOTSTRAP, NEWSWATCH_ES_URL."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(stack_commands.app, name="stack")
app.command()(collect)
app.command()(train)
app.command()(classify)
app.command()(evaluate)
app.add_typer(models_app, name="models")
app.add_typer(pipeline_commands.app, name="pipeline")
app.add_typer(alert_commands.app, name="alert")
app.add_typer(alert_manage.app, name="alerts")
app.add_typer(kibana.app, name="kibana")
app.add_typer(index_commands.app, name="index")
app.command()(feedback_commands.label)
app.add_typer(feedback_commands.app, name="feedback")
app.add_typer(deadletter_commands.app, name="deadletters")
app.command()(board)


@app.callback()
def _configure(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="YAML file of settings (field: value).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    configure_logging(log_level)
    ctx.obj = load_settings(config)
    ctx.meta["config_file"] = config


@app.command()
def run(
    ctx: typer.Context,
    feeds: Annotated[Path, typer.Option(help="Feeds to watch (plus the seed articles, "
                                             "served locally).")] = Path("config/feeds.yaml"),
    stack: Annotated[bool, typer.Option(
        help="Start the embedded local Kafka + Elasticsearch (--no-stack: use the ones "
             "configured, e.g. under docker compose).")] = True,
) -> None:
    """Run the whole product on the embedded local stack: Kafka + Elasticsearch, a model
    (if none is promoted, the first one: a head on the frozen encoder, trained on the
    shipped corpus in about a minute; `newswatch train --promote` trains the full
    one), the collector, the pipeline and the alerter. Ctrl-C stops
    those three cleanly; Kafka and Elasticsearch keep the data and stay up for the next
    run until `newswatch stack down`."""
    from pipelines.run_local import run_product

    settings = ctx.obj
    if stack:
        with err_console.status("bringing the local stack up…"):
            statuses = local_stack.up(settings)
        stack_commands.print_status(statuses)
    else:
        local_stack.ensure_stores(settings)
    run_product(settings, ctx.meta.get("config_file"), feeds)


def main() -> None:
    """Console entry point: user errors print as one clear message, never a stack trace."""
    try:
        app()
    except NewswatchError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        raise SystemExit(error.exit_code) from None
