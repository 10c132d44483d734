"""A tiny but real training run, shared by the classifier tests (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

from classifiers.data import Corpus, Example
from classifiers.train import TrainingConfig

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def tiny_config(**changes: object) -> TrainingConfig:
    values = dict(approach="plain", seed=7, threads=2, folds=2, max_length=48, epochs=1,
                  batch_size=8, pairs_per_example=1, head_steps=20, window_tokens=64,
                  window_stride=16)
    return TrainingConfig(**(values | changes))


def tiny_corpus() -> Corpus:
    """Four seed articles, a slice of their passages, and a few written examples."""
    full = Corpus.from_dir(SEEDS)
    keep = {"004-0", "004-2", "004-5", "001"}
    articles = [a for a in full.articles if a.id in keep]
    passages = [p for p in full.passages if p.group in keep][:24]
    written: list[Example] = full.written[::8]
    return Corpus(articles, passages, written, [])
