"""A tiny but real training run, shared by the classifier tests (seconds, not minutes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from classifiers.data import Corpus, Example
from classifiers.splits import RealSplits
from classifiers.train import TrainingConfig

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
TINY_REAL = {"train": 12, "validation": 10, "test": 10}


def tiny_config(**changes: object) -> TrainingConfig:
    values = dict(approach="plain", seed=7, threads=2, max_length=48, epochs=1,
                  batch_size=8, pairs_per_example=1, head_steps=20, setfit_head_steps=20,
                  head_window_tokens=64, head_window_stride=16, window_tokens=64,
                  window_stride=16)
    return TrainingConfig(**(values | changes))


def _every(examples: list[Example], n: int) -> list[Example]:
    """n examples spread over the list (deterministic)."""
    step = max(1, len(examples) // n)
    return examples[::step][:n]


def tiny_corpus() -> Corpus:
    """Four seed articles, a slice of their passages, a few written examples, and a few
    real-corpus items of each split (the splits as shipped, so never mixed)."""
    full = Corpus.from_dir(SEEDS)
    keep = {"004-0", "004-2", "004-5", "001"}
    articles = [a for a in full.articles if a.id in keep]
    passages = [p for p in full.passages if p.group in keep][:24]
    written: list[Example] = full.written[::8]
    real = full.real
    assert real is not None, "the real corpus (seeds/real) is part of the repository"
    tiny = RealSplits(*(_every(getattr(real, split), n) for split, n in TINY_REAL.items()),
                      items=real.items)
    return Corpus(articles, passages, written, [], tiny)


def write_tiny_seeds(target: Path) -> Path:
    """A seeds folder holding tiny_corpus(), for CLI runs (NEWSWATCH_SEEDS_DIR)."""
    corpus = tiny_corpus()
    target.mkdir(parents=True, exist_ok=True)

    def rows(examples: list[Example]) -> str:
        return "".join(json.dumps({"id": e.id, "article": e.group, "title": e.title or None,
                                   "text": e.text, "labels": list(e.labels)}) + "\n"
                       for e in examples)

    (target / "articles.jsonl").write_text(rows(corpus.articles))
    (target / "passages.jsonl").write_text(rows(corpus.passages))
    (target / "written.jsonl").write_text(rows(corpus.written))
    real = target / "real"
    real.mkdir(exist_ok=True)
    assert corpus.real is not None
    chosen = [corpus.real.items[e.id] for split in TINY_REAL
              for e in getattr(corpus.real, split)]
    shipped = json.loads((SEEDS / "real" / "splits.json").read_text())
    (real / "tiny.jsonl").write_text("".join(
        json.dumps({**{k: v for k, v in vars(i).items() if k != "extra"},
                    "labels": list(i.labels), **i.extra}) + "\n" for i in chosen))
    (real / "splits.json").write_text(json.dumps(
        {"sites": {i.site: shipped["sites"][i.site] for i in chosen}}))
    for seed_text in SEEDS.glob("0*.txt"):
        shutil.copy(seed_text, target / seed_text.name)
    return target
