"""``newswatch train | classify | evaluate | models``: the classifier from the command line."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pipelines.console import console, err_console
from pipelines.errors import ConfigError, NewswatchError
from pipelines.settings import Settings

models_app = typer.Typer(help="The model registry: list and promote trained models.",
                         no_args_is_help=True, rich_markup_mode="markdown")


class Approach(StrEnum):
    auto = "auto"
    head = "head"
    plain = "plain"
    setfit = "setfit"
    zero_shot = "zero-shot"


@contextmanager
def progress_bar() -> Iterator[Any]:
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err_console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(description: str, done: int, total: int) -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total)
            bar.update(tasks[description], completed=done, total=total)
        yield update


def registry(settings: Settings) -> Any:
    from classifiers.registry import Registry

    return Registry(settings.models_dir)


def train(
    ctx: typer.Context,
    promote: Annotated[bool, typer.Option(help="Make the new model the current one.")] = False,
    approach: Annotated[Approach | None, typer.Option(
        help="head (a head on the frozen encoder: about a minute, the first model of "
        "`newswatch run`), plain (fine-tune encoder and head), setfit (contrastive tuning "
        "of the encoder, then a head), auto (head and plain, the better on the validation "
        "split; setfit lost to plain there, 0.83 to 0.87), or zero-shot (nothing trained: "
        "each label's description compared with the text) "
        "[default: auto].")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Random seed; same seed, same data, same model [default: 13].")] = None,
    epochs: Annotated[int | None, typer.Option(
        min=1, help="Epochs of the plain fine-tune [default: 6].")] = None,
    onnx: Annotated[bool, typer.Option(help="Export and check the int8 ONNX path.")] = True,
    with_feedback: Annotated[bool, typer.Option(
        "--with-feedback", help="Also train on analysts' labels (`newswatch label`), except "
        "the held-out slice that `models compare` judges on.")] = False,
    config: Annotated[Path | None, typer.Option(
        help="Training config JSON (every field of TrainingConfig; the options above win).")]
    = None,
) -> None:
    """Train the classifier on the seeds and the real corpus's train split, and register it.

    Each approach is trained on the train split (plus the seed passages and written
    examples, plus feedback with --with-feedback); the one with the best macro-F1 on the
    validation split is kept, with one threshold per label tuned on validation. It is
    then scored once on the test split, which nothing was trained or tuned on, next to
    the keyword-rule and zero-shot baselines; the int8 ONNX path is exported and
    checked, and the model, its metrics and its model card go to STATE_DIR/models/VERSION.
    `newswatch evaluate` prints the same test-split report again.
    """
    from dataclasses import replace

    from classifiers.base_model import base_model_dir
    from classifiers.train import TrainingConfig
    from classifiers.training_run import NoValidationData
    from classifiers.training_run import train as run_training

    settings: Settings = ctx.obj
    zero_shot = approach is Approach.zero_shot
    if zero_shot and with_feedback:
        raise ConfigError("--with-feedback needs a fine-tuned approach (plain, setfit or "
                          "auto): a zero-shot model learns nothing from labels")
    try:
        base = (TrainingConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
                if config else TrainingConfig())
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"training config {config}: {exc}") from exc
    given = {"approach": approach.value if approach and not zero_shot else None, "seed": seed,
             "epochs": epochs}
    training_config = replace(base, **{k: v for k, v in given.items() if v is not None})
    extra = []
    if with_feedback:
        from pipelines.feedback.commands import load_feedback
        from pipelines.feedback.examples import as_example, split

        for_training, held_out = split(load_feedback(settings))
        if not for_training:
            raise ConfigError("no feedback to train on yet: label articles with "
                              "`newswatch label ARTICLE_ID --labels ...` first"
                              + (f" ({len(held_out)} labelled articles are all in the "
                                 "held-out slice)" if held_out else ""))
        extra = [as_example(f) for f in for_training]
        console.print(f"training on the seeds plus {len(extra)} analyst-labelled articles "
                      f"({len(held_out)} held out for `models compare`)")
    corpus = load_corpus(settings, extra)
    if zero_shot:
        from classifiers.zero_shot import build as run_training
    try:
        with progress_bar() as update:
            result = run_training(training_config, corpus, base_model_dir(), registry(settings),
                                  promote=promote, export_onnx=onnx, progress=update)
    except NoValidationData as exc:
        raise ConfigError(f"{settings.seeds_dir}: {exc}") from exc
    print_metrics(result.metrics)
    console.print(f"model [bold]{result.version}[/] ({result.approach}) saved to {result.path} "
                  f"in {result.seconds:.0f}s" + (" and promoted to current" if promote else ""))


def load_corpus(settings: Settings, extra: list | None = None) -> Any:
    from classifiers.data import Corpus, DataError
    from classifiers.real_corpus import CorpusError

    try:
        return Corpus.from_dir(settings.seeds_dir, extra=extra or [])
    except (DataError, CorpusError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the seed corpus in {settings.seeds_dir}: {exc}") from exc


def metrics_table(title: str, rows: dict[str, dict]) -> Table:
    """One row per model: F1 per label, macro-F1 and exact-set accuracy."""
    from classifiers.labels import LABELS

    table = Table("model", *LABELS, "macro-F1", "exact set", title=title)
    for name, rep in rows.items():
        table.add_row(name, *[f"{rep['per_label'][x]['f1']:.2f}" for x in LABELS],
                      f"{rep['macro_f1']:.2f}", f"{rep['exact_match']:.2f}")
    return table


def print_metrics(metrics: dict) -> None:
    chosen = metrics["chosen"]
    for split in ("test", "validation"):
        rows = {f"{name}{' (chosen)' if name == chosen['approach'] else ''}": reps[split]
                for name, reps in metrics["approaches"].items()}
        rows |= {f"{name} (baseline)": reps[split]
                 for name, reps in metrics["baselines"].items()}
        n = next(iter(rows.values()))["n"]
        what = ("nothing trained or tuned on it" if split == "test"
                else "chose the approach, tuned the thresholds")
        console.print(metrics_table(f"F1 on the {split} split ({n} articles; {what})", rows))
    if "brier" in chosen:
        console.print("calibration on the test split (Brier score, lower is better): "
                      + ", ".join(f"{k} {v:.3f}" for k, v in chosen["brier"].items()))
    console.print(f"thresholds: {chosen['thresholds']}")


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """List trained models; the current one is marked."""
    infos = registry(ctx.obj).list()
    if not infos:
        console.print("no models yet: run `newswatch train --promote`")
        return
    table = Table("", "version", "approach", "test macro-F1", "runtime", "created")
    for info in infos:
        table.add_row("*" if info.current else "", info.version, info.approach,
                      f"{info.macro_f1:.2f}" if info.macro_f1 is not None else "-",
                      info.runtime, info.created_at)
    console.print(table)


@models_app.command("promote")
def models_promote(ctx: typer.Context, version: str) -> None:
    """Make VERSION the current model (what classify and the pipeline use by default)."""
    from classifiers.registry import ModelNotFound

    try:
        registry(ctx.obj).promote(version)
    except ModelNotFound as exc:
        raise NewswatchError(str(exc)) from exc
    console.print(f"current model: {version}")


@models_app.command("rollback")
def models_rollback(ctx: typer.Context) -> None:
    """Promote again the model that was current before the current one.

    A running pipeline that follows the registry switches back within seconds; a second
    rollback returns to the model rolled back from.
    """
    models = registry(ctx.obj)
    previous = models.previous()
    if previous is None:
        raise NewswatchError("nothing to roll back to: no earlier promoted model exists "
                             "(see `newswatch models list`)")
    current = models.current()
    models.promote(previous)
    console.print(f"current model: {previous} (was {current})")


@models_app.command("compare")
def models_compare(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(help="Model version or directory.")],
    second: Annotated[str, typer.Argument(help="Model version or directory.")],
) -> None:
    """Per-label F1 of two models side by side, on the same held-out data.

    Two views: the real corpus's test split, as each model recorded it when trained
    (neither trained or tuned on it), and the held-out slice of the analysts' feedback,
    which neither model trained on, scored now by both.
    """
    from pipelines.feedback.commands import load_feedback
    from pipelines.feedback.examples import split
    from pipelines.model_comparison import compare_models

    settings: Settings = ctx.obj
    models = registry(settings)
    try:
        dirs = [models.resolve(first), models.resolve(second)]
    except LookupError as exc:
        raise ConfigError(str(exc)) from exc
    _train, held_out = split(load_feedback(settings))
    comparison = compare_models(dirs, held_out)
    console.print(comparison.table())
    for line in comparison.notes:
        console.print(line)


def read_documents(path: Path, need_labels: bool = False) -> list[dict]:
    """Every line, validated before any work: a bad line fails the run, naming its number."""
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                raise ConfigError(f"{path} line {number}: empty line (one JSON object a line)")
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path} line {number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{path} line {number}: not a JSON object")
            if not isinstance(row.get("text"), str):
                raise ConfigError(f"{path} line {number}: no \"text\" string")
            if "id" not in row:
                raise ConfigError(f"{path} line {number}: no \"id\"")
            if row.get("title") is not None and not isinstance(row["title"], str):
                raise ConfigError(f"{path} line {number}: \"title\" must be a string or null")
            if need_labels and not isinstance(row.get("labels"), list):
                raise ConfigError(f"{path} line {number}: no \"labels\" list")
            rows.append(row)
    return rows


def load_predictor(settings: Settings, model: str | None) -> Any:
    from classifiers.predictor import Predictor
    from classifiers.registry import ModelNotFound

    try:
        directory = registry(settings).resolve(model)
    except ModelNotFound as exc:
        raise NewswatchError(str(exc)) from exc
    return Predictor.load(directory, threads=os.cpu_count() or 1)


def predict_rows(predictor: Any, rows: list[dict], batch: int = 64) -> list[Any]:
    from classifiers.predictor import Document

    results = []
    with progress_bar() as update:
        for start in range(0, len(rows), batch):
            chunk = rows[start:start + batch]
            results += predictor.predict([Document(str(r["id"]), r.get("title") or None,
                                                   r["text"]) for r in chunk])
            update("classifying", len(results), len(rows))
    return results


def classify(
    ctx: typer.Context,
    input: Annotated[Path, typer.Option("--input", help="JSONL: id, title, text per line.")],
    output: Annotated[Path, typer.Option("--output", help="JSONL: id, scores, labels, "
                                                           "evidence per input line.")],
    model: Annotated[str | None, typer.Option(help="Model dir or version (default: current).")]
    = None,
) -> None:
    """Classify articles from a JSONL file.

    One output line per input line, in input order:
    `{"id", "scores": {label: 0..1}, "labels": [...], "evidence": {label: passage}}`.
    A bad input line fails the run before anything is written.
    """
    settings: Settings = ctx.obj
    rows = read_documents(input)
    predictor = load_predictor(settings, model)
    predictions = predict_rows(predictor, rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=output.parent, delete=False,
                                     prefix=f".{output.name}.", suffix=".partial") as handle:
        for row, prediction in zip(rows, predictions, strict=True):
            handle.write(json.dumps({"id": row["id"], "scores": prediction.scores,
                                     "labels": prediction.labels,
                                     "evidence": prediction.evidence}, ensure_ascii=False) + "\n")
    os.replace(handle.name, output)
    err_console.print(f"classified {len(rows)} documents with model {predictor.version} "
                      f"({predictor.runtime}) -> {output}")


def evaluate(
    ctx: typer.Context,
    input: Annotated[Path | None, typer.Option(
        "--input", help="JSONL: id, title, text, labels [default: the real corpus's test "
        "split, with the baselines beside the model].")] = None,
    model: Annotated[str | None, typer.Option(help="Model dir or version (default: current).")]
    = None,
) -> None:
    """Evaluate a model: per-label precision/recall/F1, macro-F1, exact-set accuracy and
    calibration (Brier score per label).

    Without --input it judges the model on the real corpus's test split (which no
    training run trains or tunes on) next to the keyword-rule and zero-shot baselines
    on the same articles, as the model's metrics.json recorded at training time.
    """
    import numpy as np

    from classifiers.labels import LABELS
    from classifiers.metrics import brier_scores, report

    settings: Settings = ctx.obj
    if input is None:
        corpus = load_corpus(settings)
        if not corpus.test:
            raise ConfigError(f"{settings.seeds_dir}/real has no test split; give --input")
        rows = [{"id": e.id, "title": e.title, "text": e.text, "labels": list(e.labels)}
                for e in corpus.test]
        where = "the real corpus's test split"
    else:
        rows = read_documents(input, need_labels=True)
        where = str(input)
    unknown = {x for r in rows for x in r["labels"]} - set(LABELS)
    if unknown:
        raise ConfigError(f"{where}: unknown labels {sorted(unknown)}; known: {list(LABELS)}")
    predictor = load_predictor(settings, model)
    predictions = predict_rows(predictor, rows)
    truth = np.array([[label in r["labels"] for label in LABELS] for r in rows])
    scores = np.array([[p.scores[label] for label in LABELS] for p in predictions])
    result = report(LABELS, truth, scores, predictor.thresholds)
    table = Table("label", "precision", "recall", "F1", "TP", "FP", "FN", "TN", "Brier",
                  title=f"{len(rows)} documents of {where}, model {predictor.version}")
    brier = brier_scores(truth, scores)
    for label, m in result["per_label"].items():
        tn = len(rows) - m["tp"] - m["fp"] - m["fn"]
        table.add_row(label, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}",
                      str(m["tp"]), str(m["fp"]), str(m["fn"]), str(tn), f"{brier[label]:.3f}")
    console.print(table)
    console.print(f"macro-F1 {result['macro_f1']:.3f}; exact label-set match "
                  f"{result['exact_match']:.3f}")
    if input is None:
        from classifiers.base_model import base_model_dir
        from classifiers.training_run import baseline_reports_on

        rows_by_name = {f"model {predictor.version}": result}
        for name, rep in baseline_reports_on(corpus, base_model_dir()).items():
            rows_by_name[f"{name} (baseline)"] = rep
        console.print(metrics_table("the same test split, beside the baselines "
                                    "(zero-shot thresholds tuned on validation)", rows_by_name))
