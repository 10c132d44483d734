"""Multi-label metrics and per-label threshold tuning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LabelMetrics:
    precision: float
    recall: float
    f1: float
    support: int
    tp: int
    fp: int
    fn: int


def label_metrics(truth: np.ndarray, predicted: np.ndarray) -> LabelMetrics:
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LabelMetrics(round(precision, 4), round(recall, 4), round(f1, 4), int(truth.sum()),
                        tp, fp, fn)


def report(labels: Sequence[str], truth: np.ndarray, scores: np.ndarray,
           thresholds: Sequence[float]) -> dict:
    """Per-label precision/recall/F1, macro-F1 and exact-match ratio, as plain JSON."""
    truth = truth.astype(bool)
    predicted = scores >= np.asarray(thresholds)[None, :]
    per_label = {label: asdict(label_metrics(truth[:, j], predicted[:, j]))
                 for j, label in enumerate(labels)}
    macro = float(np.mean([m["f1"] for m in per_label.values()]))
    exact = float(np.mean(np.all(truth == predicted, axis=1))) if len(truth) else 0.0
    return {"per_label": per_label, "macro_f1": round(macro, 4),
            "exact_match": round(exact, 4), "n": int(len(truth)),
            "thresholds": {label: round(float(t), 4) for label, t in zip(labels, thresholds,
                                                                         strict=True)}}


def tune_thresholds(truth: np.ndarray, scores: np.ndarray,
                    default: float = 0.5) -> list[float]:
    """Per label, the threshold that maximises F1 on these (validation) predictions.

    Candidates are midpoints between consecutive distinct scores; ties go to the
    threshold closest to ``default``, so that a perfectly separated label does not
    get an extreme threshold.
    """
    thresholds = []
    truth = truth.astype(bool)
    for j in range(truth.shape[1]):
        values = np.unique(scores[:, j])
        candidates = np.concatenate([[default], (values[:-1] + values[1:]) / 2])
        best = max(candidates, key=lambda t: (
            label_metrics(truth[:, j], scores[:, j] >= t).f1, -abs(t - default)))
        thresholds.append(float(best))
    return thresholds


def brier_scores(truth: np.ndarray, probabilities: np.ndarray,
                 labels: Sequence[str] | None = None) -> dict[str, float]:
    """Per label, the mean squared gap between the probability and the 0/1 truth: how far
    the scores can be read as probabilities (0 is perfect; always 0.5 scores 0.25)."""
    from classifiers.labels import LABELS

    names = labels or LABELS
    gaps = (np.asarray(probabilities, dtype=float) - np.asarray(truth, dtype=float)) ** 2
    return {label: round(float(gaps[:, j].mean()), 4) for j, label in enumerate(names)}
