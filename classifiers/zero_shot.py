"""A first model that needs no fine-tuning: each label's description, compared with the text.

On a fresh machine `newswatch run` needs a model before the first article can be
classified, and fine-tuning takes minutes on two cores. The base model's
similarity to the label descriptions is ready in seconds and scores better on the
seed articles than a one-epoch fine-tune (see the `zero_shot` baseline of any
`newswatch train`).

It is an ordinary MultiLabelClassifier, so the registry, the pipeline, `classify`
and the ONNX path take it unchanged: head row j is SCALE times the embedding of
label j's description (embeddings are unit vectors, so the logit is SCALE times
the cosine), and the bias moves each label's tuned threshold to 0.5. The
thresholds are tuned on the seed articles themselves: nothing is trained, but
the figures are in-sample.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from classifiers.baselines import description_vectors
from classifiers.data import Corpus
from classifiers.labels import LABELS
from classifiers.metrics import report, tune_thresholds
from classifiers.model import MultiLabelClassifier, load_tokenizer
from classifiers.predictor import Document, Predictor
from classifiers.registry import Registry
from classifiers.scoring import torch_scorer
from classifiers.train import Progress, TrainingConfig, no_progress
from classifiers.training_run import TrainResult, register

APPROACH = "zero_shot"
SCALE = 20.0  # cosines of related texts differ by hundredths; this spreads them over (0, 1)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def _seed_scores(model: MultiLabelClassifier, tokenizer: PreTrainedTokenizerBase,
                 corpus: Corpus,
                 config: TrainingConfig) -> np.ndarray:
    predictor = Predictor(torch_scorer(model, tokenizer.pad_token_id), tokenizer, LABELS,
                          [0.5] * len(LABELS), window_tokens=config.window_tokens,
                          window_stride=config.window_stride)
    documents = [Document(a.id, a.title, a.text) for a in corpus.articles]
    return np.array([[p.scores[label] for label in LABELS]
                     for p in predictor.predict(documents)])


def zero_shot_model(base_dir: Path, corpus: Corpus, config: TrainingConfig,
                    ) -> tuple[MultiLabelClassifier, PreTrainedTokenizerBase, dict]:
    """The zero-shot classifier with its thresholds at 0.5, and its metrics on the seeds."""
    tokenizer = load_tokenizer(base_dir)
    model = MultiLabelClassifier.from_base(base_dir, LABELS)
    vectors = description_vectors(model, tokenizer, config.window_tokens)
    with torch.no_grad():
        model.head.weight.copy_(SCALE * vectors)
        model.head.bias.zero_()
    truth = np.array([a.targets() for a in corpus.articles])
    unshifted = _seed_scores(model, tokenizer, corpus, config)
    tuned = tune_thresholds(truth, unshifted)
    shift = np.array([_logit(t) for t in tuned], dtype=np.float32)
    with torch.no_grad():
        model.head.bias.copy_(torch.from_numpy(-shift))
    logits = np.vectorize(_logit)(unshifted).astype(np.float32) - shift
    scores = 1 / (1 + np.exp(-logits))  # what the shifted model gives, without scoring again
    seeds = report(LABELS, truth, scores, [0.5] * len(LABELS))
    metrics = {"chosen": {"approach": APPROACH, **seeds}, "approaches": {},
               "baselines": {APPROACH: seeds},
               "seed_scores": {a.id: [round(float(s), 4) for s in row]
                               for a, row in zip(corpus.articles, scores, strict=True)},
               "note": "not fine-tuned: the base model's similarity to each label's "
                       "description, thresholds tuned on the seed articles themselves "
                       "(in-sample figures)"}
    return model, tokenizer, metrics


def build(config: TrainingConfig, corpus: Corpus, base_dir: Path, registry: Registry, *,
          promote: bool = False, export_onnx: bool = False,
          progress: Progress = no_progress) -> TrainResult:
    started = time.perf_counter()
    progress("zero-shot model from the label descriptions", 0, 1)
    model, tokenizer, metrics = zero_shot_model(base_dir, corpus, config)
    progress("zero-shot model from the label descriptions", 1, 1)
    return register(registry, corpus, config, APPROACH, model, tokenizer, [0.5] * len(LABELS),
                    metrics, started=started, fit_seconds=0.0, promote=promote,
                    export_onnx=export_onnx, progress=progress)
