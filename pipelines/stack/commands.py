"""``newswatch stack``: the embedded local Kafka + Elasticsearch."""

from __future__ import annotations

import typer
from rich.table import Table

from pipelines.console import console, err_console
from pipelines.settings import Settings
from pipelines.stack import local_stack

app = typer.Typer(
    help=(
        "Run a real single-node Kafka and Elasticsearch on this machine, without Docker. "
        "The first `up` fetches both from Maven Central into the cache dir "
        "(NEWSWATCH_CACHE_DIR); data and logs live in the state dir (NEWSWATCH_STATE_DIR)."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def print_status(statuses: list[local_stack.ServerStatus]) -> None:
    table = Table("server", "address", "answers", "started here (pid)")
    for s in statuses:
        table.add_row(s.name, s.address, "[green]yes[/]" if s.answers else "[red]no[/]",
                      str(s.pid) if s.pid else "-")
    console.print(table)


@app.command()
def up(ctx: typer.Context) -> None:
    """Start Kafka and Elasticsearch (a no-op when both already answer), wait until they are
    healthy, and create the topics, the index template and the articles alias."""
    settings: Settings = ctx.obj
    with err_console.status("bringing the local stack up…"):
        statuses = local_stack.up(settings)
    print_status(statuses)


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the servers started from this state dir; leaves no process behind."""
    settings: Settings = ctx.obj
    still_open = local_stack.down(settings)
    if still_open:
        err_console.print(f"[yellow]ports still listening, not started from "
                          f"{settings.state_dir}: {still_open}[/]")
        raise typer.Exit(1)


@app.command()
def status(ctx: typer.Context) -> None:
    """Show whether Kafka and Elasticsearch answer; exit 0 only when both do."""
    statuses = local_stack.status(ctx.obj)
    print_status(statuses)
    if not all(s.answers for s in statuses):
        raise typer.Exit(1)
