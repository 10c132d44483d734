"""Pure ML for newswatch: training, evaluation and inference of the article classifier.

Nothing here imports Beam, Kafka, Elasticsearch or ``pipelines``: the classifier
is usable (and testable) on its own, and the stream stages depend on it, never
the reverse. A test enforces this.
"""
