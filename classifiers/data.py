"""Labelled examples: reading them, grouping them for cross-validation, hashing them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers.labels import LABELS


class DataError(ValueError):
    """A labelled file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    id: str
    group: str  # examples of one group (article) never sit on both sides of a split
    title: str
    text: str
    labels: tuple[str, ...]

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text

    def targets(self) -> list[float]:
        return [1.0 if label in self.labels else 0.0 for label in LABELS]


def read_examples(path: Path) -> list[Example]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            labels = tuple(row["labels"])
            text = row["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: not a labelled example ({exc})") from exc
        unknown = set(labels) - set(LABELS)
        if unknown:
            raise DataError(f"{path}:{number}: unknown labels {sorted(unknown)}")
        examples.append(Example(str(row["id"]), str(row.get("article") or row["id"]),
                                row.get("title") or "", text, labels))
    return examples


@dataclass(frozen=True)
class Corpus:
    """What training sees: seed articles (evaluation), passages and written examples."""

    articles: list[Example]
    passages: list[Example]
    written: list[Example]
    extra: list[Example]  # e.g. analyst feedback

    @classmethod
    def from_dir(cls, seeds: Path, extra: Sequence[Example] = ()) -> Corpus:
        return cls(read_examples(seeds / "articles.jsonl"),
                   read_examples(seeds / "passages.jsonl"),
                   read_examples(seeds / "written.jsonl"), list(extra))

    def training_examples(self, held_out_articles: Iterable[str] = ()) -> list[Example]:
        """Passages of the articles not held out, plus every written and extra example."""
        held = set(held_out_articles)
        return [p for p in self.passages if p.group not in held] + self.written + self.extra

    def fingerprint(self) -> str:
        """sha256 of everything training reads, in a stable order."""
        digest = hashlib.sha256()
        for example in [*self.articles, *self.passages, *self.written, *self.extra]:
            digest.update(json.dumps([example.id, example.group, example.title, example.text,
                                      list(example.labels)], ensure_ascii=False).encode())
        return digest.hexdigest()


def grouped_folds(articles: Sequence[Example], k: int) -> list[list[str]]:
    """k folds of article ids, spreading each label's positives across folds (deterministic)."""
    ordered = sorted(articles, key=lambda a: (tuple(sorted(a.labels)) or ("~",), a.id))
    folds: list[list[str]] = [[] for _ in range(k)]
    for position, article in enumerate(ordered):
        folds[position % k].append(article.id)
    return [fold for fold in folds if fold]
