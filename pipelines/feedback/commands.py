"""``newswatch label`` and ``newswatch feedback export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from classifiers.labels import LABELS
from pipelines.console import console, err_console
from pipelines.errors import ConfigError
from pipelines.es_admin import es_client
from pipelines.feedback.examples import is_held_out, seed_row
from pipelines.feedback.store import FeedbackStore, record_labels
from pipelines.schema import Feedback
from pipelines.settings import Settings

app = typer.Typer(help="Analysts' feedback: export it for training.", no_args_is_help=True)


def parse_labels(value: str | None, none: bool) -> list[str]:
    """The labels an analyst typed, checked; ``--none`` is an explicit empty set."""
    if none == (value is not None):
        raise ConfigError("give either --labels a,b or --none (the article has no label)")
    if none:
        return []
    labels = sorted({part.strip() for part in (value or "").split(",") if part.strip()})
    unknown = [label for label in labels if label not in LABELS]
    if unknown or not labels:
        raise ConfigError(f"unknown labels {unknown or [value]}; known: {', '.join(LABELS)}")
    return labels


def label(
    ctx: typer.Context,
    article_id: Annotated[str, typer.Argument(help="The article's id (the _id in Kibana).")],
    labels: Annotated[str | None, typer.Option(
        "--labels", help=f"Comma-separated, from: {', '.join(LABELS)}.")] = None,
    none: Annotated[bool, typer.Option("--none", help="The article has none of the labels.")]
    = False,
    note: Annotated[str | None, typer.Option(help="Why, for whoever reads it later.")] = None,
) -> None:
    """Record your labels for an article: what the next `train --with-feedback` learns.

    Stores who (NEWSWATCH_ANALYST, default your login), when, the labels before yours
    and the model version whose labels you saw, in the feedback index. Labelling the
    same article again replaces your earlier labels (they are kept as previous_labels).
    """
    settings: Settings = ctx.obj
    chosen = parse_labels(labels, none)
    _feedback, article = record_labels(es_client(settings), settings.articles_alias,
                                       settings.feedback_index, settings.analyst, article_id,
                                       chosen, note)
    console.print(f"recorded {article_id}: {', '.join(chosen) or 'no label'} "
                  f"(model {article.model_version} said {', '.join(article.labels) or 'none'})"
                  + (" - held out for `models compare`" if is_held_out(article_id) else ""))


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="JSONL file (default: standard output).")]
    = None,
) -> None:
    """Write every feedback label as training JSONL, the shape of seeds/*.jsonl."""
    settings: Settings = ctx.obj
    items = FeedbackStore(es_client(settings), settings.feedback_index).all()
    lines = [json.dumps(seed_row(f), ensure_ascii=False) + "\n" for f in items]
    if out is None:
        sys.stdout.writelines(lines)
    else:
        out.write_text("".join(lines), encoding="utf-8")
    held = sum(is_held_out(f.article_id) for f in items)
    err_console.print(f"exported {len(items)} labelled articles ({held} held out from "
                      f"`train --with-feedback` for `models compare`)"
                      + (f" to {out}" if out else ""))


def load_feedback(settings: Settings) -> list[Feedback]:
    return FeedbackStore(es_client(settings), settings.feedback_index).all()
