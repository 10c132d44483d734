"""The one inference API: a batch of documents in, per-label scores, labels and evidence out.

Long documents are cut into overlapping token windows; a label's score is the
maximum over the document's windows, and that window's text is the label's
evidence. The Beam model handler and ``newswatch classify`` both call this.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from classifiers.model import MultiLabelClassifier, load_tokenizer, read_labels
from classifiers.scoring import WINDOWS_PER_BATCH, WindowScorer, aggregate, torch_scorer
from classifiers.windows import make_windows

Runtime = Literal["auto", "torch", "onnx"]


@dataclass(frozen=True)
class Document:
    id: str
    title: str | None
    text: str

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Prediction:
    id: str
    scores: dict[str, float]
    labels: list[str]
    evidence: dict[str, str]


class Predictor:
    def __init__(self, scorer: WindowScorer, tokenizer: object, labels: Sequence[str],
                 thresholds: Sequence[float], *, window_tokens: int = 256,
                 window_stride: int = 64, version: str = "unsaved",
                 runtime: str = "torch") -> None:
        self.scorer = scorer
        self.tokenizer = tokenizer
        self.labels = tuple(labels)
        self.thresholds = tuple(thresholds)
        self.window_tokens = window_tokens
        self.window_stride = window_stride
        self.version = version
        self.runtime = runtime

    @classmethod
    def load(cls, model_dir: Path, runtime: Runtime = "auto", threads: int = 2,
             batch_size: int = WINDOWS_PER_BATCH) -> Predictor:
        """Load a saved model; ``auto`` takes the runtime that training recorded as the
        default (runtime.json: int8 ONNX when it passed the F1 check and is faster). The
        int8 path decides with its own thresholds, tuned on validation at training time."""
        torch.set_num_threads(threads)
        thresholds = json.loads((model_dir / "thresholds.json").read_text())
        training = json.loads((model_dir / "training.json").read_text())
        info_path = model_dir / "runtime.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        chosen = info.get("default", "torch") if runtime == "auto" else runtime
        if chosen == "onnx":  # the graph holds encoder and head: no torch weights in memory
            from classifiers.onnx_export import onnx_scorer

            labels = read_labels(model_dir)
            tokenizer = load_tokenizer(model_dir / "encoder")
            scorer = onnx_scorer(model_dir / "model.int8.onnx", tokenizer.pad_token_id,
                                 batch_size, threads)
            thresholds = info.get("thresholds", thresholds)
        else:
            model, tokenizer = MultiLabelClassifier.load(model_dir)
            labels = model.labels
            scorer = torch_scorer(model, tokenizer.pad_token_id, batch_size)
        config = training["config"]
        return cls(scorer, tokenizer, labels, [thresholds[label] for label in labels],
                   window_tokens=config["window_tokens"], window_stride=config["window_stride"],
                   version=model_dir.name, runtime=chosen)

    def predict(self, documents: Sequence[Document]) -> list[Prediction]:
        if not documents:
            return []
        texts = [d.full_text for d in documents]
        windows = make_windows(self.tokenizer, texts, self.window_tokens, self.window_stride)
        doc_scores, best = aggregate(windows, self.scorer(windows), len(documents))
        predictions = []
        for d, document in enumerate(documents):
            scores = {label: round(float(doc_scores[d, j]), 6)
                      for j, label in enumerate(self.labels)}
            labels = [label for j, label in enumerate(self.labels)
                      if doc_scores[d, j] >= self.thresholds[j]]
            evidence = {label: windows[best[d][self.labels.index(label)]].text
                        for label in labels}
            predictions.append(Prediction(document.id, scores, labels, evidence))
        return predictions
