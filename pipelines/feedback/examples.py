"""Pure feedback logic: the held-out slice, and feedback as training examples.

One article in five (by a hash of its id, so the choice never changes as feedback
grows) is held out: never trained on by ``train --with-feedback``, always used by
``models compare``. Any two models are then judged on feedback neither has seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from classifiers.data import Example
from pipelines.schema import Feedback

HELD_OUT_ONE_IN = 5


def is_held_out(article_id: str) -> bool:
    return int(hashlib.sha256(article_id.encode()).hexdigest()[:8], 16) % HELD_OUT_ONE_IN == 0


def seed_row(feedback: Feedback) -> dict[str, object]:
    """The export line: the shape of ``seeds/*.jsonl``."""
    return {"id": f"feedback/{feedback.article_id}", "article": feedback.article_id,
            "title": feedback.title, "text": feedback.text, "labels": feedback.labels,
            "source": "feedback"}


def as_example(feedback: Feedback) -> Example:
    return Example(f"feedback/{feedback.article_id}", feedback.article_id, feedback.title,
                   feedback.text, tuple(feedback.labels))


def split(items: Iterable[Feedback]) -> tuple[list[Feedback], list[Feedback]]:
    """(for training, held out)."""
    train, held = [], []
    for item in items:
        (held if is_held_out(item.article_id) else train).append(item)
    return train, held
