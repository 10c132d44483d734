"""Labelled examples: reading them, grouping them for cross-validation, hashing them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from classifiers.labels import LABELS

if TYPE_CHECKING:
    from classifiers.splits import RealSplits


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
    """What training sees: the seed articles (a second, small report), their passages, the
    written examples, the real corpus's three splits, and extra examples (analyst feedback).

    Training reads passages, written examples, the real train split and extra; thresholds
    and the choice of approach read the validation split only; the test split is read
    once, to report.
    """

    articles: list[Example]
    passages: list[Example]
    written: list[Example]
    extra: list[Example]  # e.g. analyst feedback
    real: RealSplits | None = field(default=None)

    @classmethod
    def from_dir(cls, seeds: Path, extra: Sequence[Example] = ()) -> Corpus:
        from classifiers.splits import RealSplits

        real = RealSplits.from_dir(seeds / "real") if (seeds / "real").is_dir() else None
        return cls(read_examples(seeds / "articles.jsonl"),
                   read_examples(seeds / "passages.jsonl"),
                   read_examples(seeds / "written.jsonl"), list(extra), real)

    def training_examples(self, held_out_articles: Iterable[str] = ()) -> list[Example]:
        """Passages of the articles not held out, every written, real-train and extra example."""
        held = set(held_out_articles)
        real_train = self.real.train if self.real else []
        return ([p for p in self.passages if p.group not in held] + self.written
                + real_train + self.extra)

    @property
    def validation(self) -> list[Example]:
        return self.real.validation if self.real else []

    @property
    def test(self) -> list[Example]:
        return self.real.test if self.real else []

    def fingerprint(self) -> str:
        """sha256 of everything training reads or is judged on, in a stable order."""
        digest = hashlib.sha256()
        real = [*self.real.train, *self.real.validation, *self.real.test] if self.real else []
        for example in [*self.articles, *self.passages, *self.written, *self.extra, *real]:
            digest.update(json.dumps([example.id, example.group, example.title, example.text,
                                      list(example.labels)], ensure_ascii=False).encode())
        return digest.hexdigest()
