"""``newswatch board``: parse the options, print the URL, serve until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.board.server import BoardServer
from pipelines.console import console
from pipelines.settings import Settings


def board(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(
        help="Address to listen on (default NEWSWATCH_BOARD_HOST, 127.0.0.1). Anything "
             "but loopback needs NEWSWATCH_BOARD_TOKEN.")] = None,
    port: Annotated[int | None, typer.Option(
        help="Port (default NEWSWATCH_BOARD_PORT, 8765).")] = None,
) -> None:
    """The analyst's board: Live, Search, Article, Triage, Trends, Alerts and Health pages
    over the articles alias and the alerts and feedback indices. Ctrl-C stops it."""
    settings: Settings = ctx.obj
    update = {k: v for k, v in (("board_host", host), ("board_port", port)) if v is not None}
    server = BoardServer(settings.model_copy(update=update) if update else settings)
    console.print(f"the board: {server.url}  (reading {settings.elasticsearch.shown_url}, "
                  f"alias {settings.articles_alias}; Ctrl-C stops it)", highlight=False)
    server.run()
