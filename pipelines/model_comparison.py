"""Two models judged side by side: per-label F1 on the real corpus's test split that each
recorded when trained, and on the held-out slice of analysts' feedback, scored now.

Feedback a model trained on (its ``training.json`` lists the feedback articles) is
left out of the held-out slice, so both models are judged on data neither saw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.table import Table

from classifiers.labels import LABELS
from classifiers.metrics import report
from classifiers.predictor import Document, Predictor
from pipelines.schema import Feedback


@dataclass
class ModelScores:
    version: str
    test_split: dict[str, float]
    feedback: dict[str, float] | None


@dataclass
class Comparison:
    models: list[ModelScores]
    feedback_articles: int
    notes: list[str] = field(default_factory=list)

    def table(self) -> Table:
        a, b = self.models
        table = Table("label", f"{a.version}\ntest split", f"{b.version}\ntest split",
                      f"{a.version}\nfeedback", f"{b.version}\nfeedback",
                      title=f"F1 per label (held-out feedback: {self.feedback_articles} "
                            "articles)")
        for key in [*LABELS, "macro-F1"]:
            def cell(scores: dict[str, float] | None, key: str = key) -> str:
                return f"{scores[key]:.2f}" if scores and key in scores else "-"
            table.add_row(key, cell(a.test_split), cell(b.test_split), cell(a.feedback),
                          cell(b.feedback))
        return table


def _f1s(rep: dict) -> dict[str, float]:
    return {**{label: rep["per_label"][label]["f1"] for label in LABELS},
            "macro-F1": rep["macro_f1"]}


def compare_models(model_dirs: list[Path], held_out: list[Feedback]) -> Comparison:
    trainings = [json.loads((d / "training.json").read_text()) for d in model_dirs]
    trained_on = {g for t in trainings for g in t.get("extra_groups", [])}
    judged = [f for f in held_out if f.article_id not in trained_on]
    notes = []
    if len(judged) < len(held_out):
        notes.append(f"{len(held_out) - len(judged)} held-out articles left out: a model "
                     "trained on them")
    datasets = {t["examples"].get("real_test") for t in trainings}
    if len(datasets) > 1:
        notes.append(f"the models were judged on test splits of different sizes "
                     f"({sorted(map(str, datasets))}): compare that column with care")
    if not judged:
        notes.append("no held-out feedback yet: label articles with `newswatch label` "
                     "(one in five is held out)")
    truth = np.array([[label in f.labels for label in LABELS] for f in judged])
    documents = [Document(f.article_id, f.title, f.text) for f in judged]
    models = []
    for directory in model_dirs:
        metrics = json.loads((directory / "metrics.json").read_text())
        feedback = None
        if judged:
            predictor = Predictor.load(directory)
            scores = np.array([[p.scores[label] for label in LABELS]
                               for p in predictor.predict(documents)])
            feedback = _f1s(report(LABELS, truth, scores, predictor.thresholds))
        models.append(ModelScores(directory.name, _f1s(metrics["chosen"]), feedback))
    return Comparison(models, len(judged), notes)
