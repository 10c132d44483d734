"""RunInference's view of our classifier: load once per worker, apply to a batch.

Loading and applying are separate, as in Beam's ``ModelHandler`` contract: the
runner shares one loaded ``Predictor`` per worker process and calls
``run_inference`` with batches formed by ``BatchElements``. The output is one
``Classified`` per input, in input order: a batch of N articles gives N results
(tests/unit/test_model_handler.py drives batches larger than one).

Only an article's own fault becomes a dead letter: when a batch fails with an error
that data can cause (``DATA_ERRORS``), each article is classified alone and the one
that still fails comes out as ``Unclassifiable`` (failures are data, routed to the
dead-letter topic downstream); its batch-mates are classified as usual. Any other
error (the model, memory, the runtime) fails the bundle: nothing is committed, and
the records are read again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apache_beam.ml.inference.base import ModelHandler

from classifiers.predictor import Prediction, Predictor
from pipelines.articles import classified_article, document_of
from pipelines.schema import Article, ClassifiedArticle, utc_now
from pipelines.stream.kafka_source import KafkaRecord
from pipelines.stream.model_watch import ModelSlot, PromotedVersion, check_labels


@dataclass(frozen=True)
class Incoming:
    """An article on its way through the pipeline, with the record it came from."""

    record: KafkaRecord
    article: Article


@dataclass(frozen=True)
class Classified:
    record: KafkaRecord
    article: ClassifiedArticle


@dataclass(frozen=True)
class Unclassifiable:
    """An article the model cannot take for what it holds, with the error, for its letter."""

    record: KafkaRecord
    article_id: str
    error: ArticleNotClassifiable


class ArticleNotClassifiable(ValueError):
    """The article itself cannot be classified (the model failed on it alone)."""


# Errors an article's content can cause in tokenising and windowing.
DATA_ERRORS = (ValueError, UnicodeError, IndexError, OverflowError)


# The runner reads partitions in parallel threads of one worker and RunInference shares
# one model between them; the model already uses every core it is given, so parallel
# calls only thrash the CPU caches. One batch at a time per worker process.
_inference_lock = threading.Lock()


class ArticleModelHandler(ModelHandler[Incoming, Classified, ModelSlot]):
    """Classifies articles with a saved newswatch model directory.

    With ``follow_registry`` (a registry root), the model promoted there replaces
    the loaded one between batches (pipelines/stream/model_watch.py).
    """

    def __init__(self, model_dir: Path, *, max_batch_size: int = 64,
                 threads: int = 2, runtime: str = "auto",
                 follow_registry: Path | None = None) -> None:
        # Batches are bounded by size here and by time by the source: a bundle
        # covers at most one short poll, and BatchElements flushes at bundle end, so
        # a lone article is never held back waiting for the batch to fill.
        super().__init__(min_batch_size=max_batch_size, max_batch_size=max_batch_size)
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.runtime = runtime
        self.follow_registry = follow_registry

    def _load(self, model_dir: Path) -> Predictor:
        check_labels(model_dir)
        return Predictor.load(model_dir, runtime=self.runtime,  # type: ignore[arg-type]
                              threads=self.threads)

    def load_model(self) -> ModelSlot:
        promoted = (PromotedVersion(self.follow_registry)
                    if self.follow_registry is not None else None)
        return ModelSlot(self._load(self.model_dir), self._load, promoted)

    def run_inference(self, batch: Sequence[Incoming], model: ModelSlot,
                      inference_args: Mapping[str, Any] | None = None,
                      ) -> Iterable[Classified | Unclassifiable]:
        with _inference_lock:
            predictor = model.get()
            try:
                predictions: list[Prediction | ArticleNotClassifiable] = list(
                    predictor.predict([document_of(item.article) for item in batch]))
            except DATA_ERRORS:
                predictions = [self._alone(predictor, item) for item in batch]
        classified_at = utc_now()
        return [
            Unclassifiable(item.record, item.article.id, prediction)
            if isinstance(prediction, ArticleNotClassifiable) else
            Classified(item.record, classified_article(item.article, prediction,
                                                       predictor.version, classified_at))
            for item, prediction in zip(batch, predictions, strict=True)
        ]

    @staticmethod
    def _alone(predictor: Predictor, item: Incoming) -> Prediction | ArticleNotClassifiable:
        try:
            return predictor.predict([document_of(item.article)])[0]
        except DATA_ERRORS as exc:
            return ArticleNotClassifiable(f"the model cannot classify article "
                                          f"{item.article.id}: {type(exc).__name__}: {exc}")

    def get_num_bytes(self, batch: Sequence[Incoming]) -> int:
        return sum(len(item.record.value) for item in batch)

    def get_metrics_namespace(self) -> str:
        return "newswatch.classify"
