"""``newswatch deadletters list | show | redrive``: what failed, why, and sending it back."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from pipelines.console import console
from pipelines.deadletters.store import chosen, read_letters, redrive
from pipelines.errors import ConfigError
from pipelines.settings import Settings

app = typer.Typer(help="Dead letters: list them, show one, re-drive them once the cause is "
                       "fixed.", no_args_is_help=True)

Step = Annotated[str | None, typer.Option(
    help="Only letters of this step, e.g. pipeline.index, pipeline.parse, alerts.slack.")]
Since = Annotated[datetime | None, typer.Option(
    help="Only letters that failed at or after this time (UTC unless it says otherwise).")]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@app.command("list")
def list_letters(ctx: typer.Context, step: Step = None, since: Since = None) -> None:
    """One row per dead letter: offset, step, when, where from, the error."""
    settings: Settings = ctx.obj
    letters = chosen(read_letters(settings.kafka, settings.topic_deadletter), step,
                     _utc(since))
    table = Table("offset", "step", "failed at", "from", "error",
                  title=f"{len(letters)} dead letters in {settings.topic_deadletter}")
    for stored in letters:
        letter = stored.letter
        where = f"{letter.source_topic}/{letter.source_partition}/{letter.source_offset}"
        table.add_row(str(stored.offset), letter.step, f"{letter.failed_at:%Y-%m-%d %H:%M:%S}",
                      Text(where), Text(f"{letter.error_type}: {letter.error}"[:300]))
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, offset: int) -> None:
    """The whole dead letter at OFFSET, with its payload decoded where it is text."""
    settings: Settings = ctx.obj
    letters = [s for s in read_letters(settings.kafka, settings.topic_deadletter)
               if s.offset == offset]
    if not letters:
        raise ConfigError(f"no dead letter at offset {offset} in {settings.topic_deadletter} "
                          "(see `newswatch deadletters list`)")
    letter = letters[0].letter
    body = letter.model_dump(mode="json")
    payload = base64.b64decode(letter.payload_b64)
    body["payload"] = payload.decode("utf-8", "replace")
    del body["payload_b64"]
    console.print_json(json.dumps(body, ensure_ascii=False))


@app.command("redrive")
def redrive_letters(ctx: typer.Context, step: Step = None, since: Since = None,
                    yes: Annotated[bool, typer.Option(
                        "--yes", help="Send without listing first.")] = False) -> None:
    """Send the chosen dead letters' original records back to the raw topic.

    Do it once their cause is fixed: the pipeline classifies and indexes them like
    any article, and documents are keyed by article id, so a record re-driven twice
    is still one document. Without --yes it only says what it would send.
    """
    settings: Settings = ctx.obj
    letters = chosen(read_letters(settings.kafka, settings.topic_deadletter), step,
                     _utc(since))
    if not yes:
        console.print(f"{len(letters)} dead letters would be re-driven to {settings.topic_raw}; "
                      "run again with --yes to send them")
        return
    report = redrive(settings.kafka, settings.topic_raw, letters)
    by_step = ", ".join(f"{s} {n}" for s, n in sorted(report.sent.items())) or "none"
    console.print(f"re-drove {report.total} records to {settings.topic_raw} ({by_step})")
    for other, count in sorted(report.skipped_steps.items()):
        console.print(f"{count} {other} letters not re-driven: their payload is not a raw "
                      "article record")
    if report.skipped_truncated:
        console.print(f"{len(report.skipped_truncated)} letters not re-driven: their payload "
                      f"was cut to fit the topic (offsets {report.skipped_truncated[:20]})")
