"""The zero-shot first model: an ordinary registry model, ready in seconds, whose labels
are exactly the zero-shot baseline's at its tuned thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifiers.base_model import base_model_dir
from classifiers.baselines import zero_shot_scores
from classifiers.labels import LABELS
from classifiers.metrics import report, tune_thresholds
from classifiers.predictor import Document, Predictor
from classifiers.registry import Registry
from classifiers.zero_shot import build
from tests.classifier_fixtures import tiny_config, tiny_corpus
from tests.unit.test_classify_cli import newswatch


@pytest.fixture(scope="module")
def zero_shot(tmp_path_factory):
    registry = Registry(tmp_path_factory.mktemp("zs") / "models")
    return registry, build(tiny_config(), tiny_corpus(), base_model_dir(), registry,
                           promote=True)


def test_it_is_a_registry_model_with_thresholds_at_one_half(zero_shot):
    registry, result = zero_shot
    assert registry.current() == result.version
    assert json.loads((result.path / "labels.json").read_text()) == list(LABELS)
    assert json.loads((result.path / "thresholds.json").read_text()) == dict.fromkeys(LABELS, 0.5)
    training = json.loads((result.path / "training.json").read_text())
    assert training["approach"] == "zero_shot"
    assert not any(p.suffix in {".bin", ".pkl", ".pt"} for p in result.path.rglob("*"))
    assert [(i.version, i.approach) for i in registry.list()] == [(result.version, "zero_shot")]


def test_loaded_scores_are_the_recorded_ones_and_label_as_the_tuned_baseline(zero_shot):
    """Thresholds tuned on the validation split; the test split is labelled exactly as the
    zero-shot baseline at those thresholds, and the loaded model gives the recorded scores."""
    _registry, result = zero_shot
    corpus = tiny_corpus()
    config = tiny_config()
    predictor = Predictor.load(result.path)
    documents = [Document(e.id, e.title, e.text) for e in corpus.test]
    predictions = predictor.predict(documents)  # one batch
    scores = np.array([[p.scores[label] for label in LABELS] for p in predictions])
    metrics = json.loads((result.path / "metrics.json").read_text())
    recorded = np.array([metrics["scores"]["test"][e.id] for e in corpus.test])
    assert np.allclose(scores, recorded, atol=1e-3)

    def cosines(examples):
        return zero_shot_scores([e.full_text for e in examples], base_model_dir(),
                                config.window_tokens, config.window_stride)

    validation_truth = np.array([e.targets() for e in corpus.validation])
    tuned = tune_thresholds(validation_truth, cosines(corpus.validation))
    test_cosines = cosines(corpus.test)
    test_truth = np.array([e.targets() for e in corpus.test])
    assert (scores >= 0.5).tolist() == (test_cosines >= np.array(tuned)).tolist()
    assert (metrics["chosen"]["per_label"]
            == report(LABELS, test_truth, test_cosines, tuned)["per_label"])
    for prediction in predictions:
        assert prediction.labels == [x for x in LABELS if prediction.scores[x] >= 0.5]
        assert set(prediction.evidence) == set(prediction.labels)


def test_zero_shot_with_feedback_is_a_clear_error(tmp_path):
    result = newswatch(tmp_path, "train", "--approach", "zero-shot", "--with-feedback")
    assert result.returncode != 0
    assert "--with-feedback needs a fine-tuned approach" in result.stderr
    assert "Traceback" not in result.stderr
