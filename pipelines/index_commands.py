"""``newswatch index list | prune``: the article indices behind the alias.

A replay ``--into-new-index`` leaves the previous index in place, so a bad model
can be rolled back by pointing the alias back; ``prune`` deletes the ones no
longer behind the alias once you are sure.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.console import console
from pipelines.es_admin import alias_targets, es_client
from pipelines.settings import Settings

app = typer.Typer(help="The article indices behind the articles alias: list, prune.",
                  no_args_is_help=True)


def _indices(settings: Settings) -> list[str]:
    client = es_client(settings)
    pattern = f"{settings.articles_alias}-*"
    return sorted(client.indices.get(index=pattern, allow_no_indices=True).body)


@app.command("list")
def list_indices(ctx: typer.Context) -> None:
    """Every article index: documents, model versions, and whether the alias points at it."""
    settings: Settings = ctx.obj
    client = es_client(settings)
    live = set(alias_targets(client, settings.articles_alias))
    table = Table("", "index", "documents", "model versions")
    for name in _indices(settings):
        answer = client.search(index=name, size=0, aggs={
            "versions": {"terms": {"field": "model_version", "size": 20}}})
        versions = ", ".join(f"{b['key']} ({b['doc_count']})"
                             for b in answer["aggregations"]["versions"]["buckets"])
        table.add_row("*" if name in live else "", name,
                      str(answer["hits"]["total"]["value"]), versions or "-")
    console.print(table)
    console.print(f"* = behind the alias {settings.articles_alias}")


@app.command("prune")
def prune(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Delete without asking.")] = False,
) -> None:
    """Delete the article indices the alias no longer points at (after a rebuild)."""
    settings: Settings = ctx.obj
    client = es_client(settings)
    live = set(alias_targets(client, settings.articles_alias))
    stale = [name for name in _indices(settings) if name not in live]
    if not stale:
        console.print(f"nothing to prune: every article index is behind "
                      f"{settings.articles_alias}")
        return
    console.print("not behind the alias: " + ", ".join(stale))
    if not yes and not typer.confirm(f"delete {len(stale)} indices?", default=False):
        raise typer.Exit(1)
    client.indices.delete(index=",".join(stale))
    console.print(f"deleted {len(stale)} indices: {', '.join(stale)}")
