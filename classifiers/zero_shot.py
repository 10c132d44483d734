"""A model that needs no training: each label's description, compared with the text.

Kept as an approach (`newswatch train --approach zero-shot`) and as the baseline
every trained model must beat; the first model of `newswatch run` is now the
frozen-encoder head (`--approach head`), trained in about a minute.

It is an ordinary MultiLabelClassifier, so the registry, the pipeline, `classify`
and the ONNX path take it unchanged: head row j is SCALE times the embedding of
label j's description (embeddings are unit vectors, so the logit is SCALE times
the cosine), and the bias moves each label's tuned threshold to 0.5. The
thresholds are tuned on the real corpus's validation split, and it is reported on
the test split like every trained model.
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
from classifiers.metrics import brier_scores, report, tune_thresholds
from classifiers.model import MultiLabelClassifier, load_tokenizer
from classifiers.registry import Registry
from classifiers.train import Progress, TrainingConfig, no_progress
from classifiers.training_run import (
    TrainResult,
    document_scores,
    judged_sets,
    register,
    truth_of,
)

APPROACH = "zero_shot"
SCALE = 20.0  # cosines of related texts differ by hundredths; this spreads them over (0, 1)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def zero_shot_model(base_dir: Path, corpus: Corpus, config: TrainingConfig,
                    ) -> tuple[MultiLabelClassifier, PreTrainedTokenizerBase, dict]:
    """The zero-shot classifier with its thresholds at 0.5 (tuned on the validation split),
    and its metrics on the validation and test splits and the seed articles."""
    sets = judged_sets(corpus)
    tokenizer = load_tokenizer(base_dir)
    model = MultiLabelClassifier.from_base(base_dir, LABELS)
    vectors = description_vectors(model, tokenizer, config.window_tokens)
    with torch.no_grad():
        model.head.weight.copy_(SCALE * vectors)
        model.head.bias.zero_()
    unshifted = {name: document_scores(model, tokenizer, examples, config)
                 for name, examples in sets.items()}
    truth = {name: truth_of(examples) for name, examples in sets.items()}
    # Tuned on the cosines themselves, so that its labels are exactly the zero-shot
    # baseline's (midpoints between sigmoids would fall elsewhere).
    cosines = {name: _logit(u) / SCALE for name, u in unshifted.items()}
    shift = SCALE * np.array(tune_thresholds(truth["validation"], cosines["validation"]))
    with torch.no_grad():
        model.head.bias.copy_(torch.from_numpy(-shift.astype(np.float32)))
    scores = {name: document_scores(model, tokenizer, examples, config)
              for name, examples in sets.items()}
    reports = {name: report(LABELS, truth[name], scores[name], [0.5] * len(LABELS))
               for name in sets}
    metrics = {"chosen": {"approach": APPROACH, "split": "test", **reports["test"],
                          "brier": brier_scores(truth["test"], scores["test"])},
               "approaches": {APPROACH: reports}, "baselines": {},
               "scores": {name: {e.id: [round(float(x), 4) for x in row]
                                 for e, row in zip(sets[name], scores[name], strict=True)}
                          for name in sets},
               "note": "not fine-tuned: the base model's similarity to each label's "
                       "description, thresholds tuned on the validation split; 'chosen' is "
                       "the test split"}
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
