"""The ONNX Runtime path: export, dynamic int8 quantisation, and the F1 check.

int8 moves scores (by up to 0.2 on MiniLM), so it is judged by what an analyst sees:
its decisions. Training tunes the int8 path's own thresholds on the validation split,
as for the torch model, then scores the test split with both: the int8 path is the
default when its test macro-F1 is within ``F1_TOLERANCE`` of torch's, every label's F1
within ``LABEL_F1_TOLERANCE``, and it is faster. runtime.json records the check, the
decision flips against torch and the int8 thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from classifiers.metrics import report, tune_thresholds
from classifiers.model import MultiLabelClassifier
from classifiers.scoring import WINDOWS_PER_BATCH, WindowScorer, padded_batches
from classifiers.windows import Window

F1_TOLERANCE = 0.01  # |test macro-F1 (int8) - test macro-F1 (torch)|
LABEL_F1_TOLERANCE = 0.02  # the same, per label


class _Logits(torch.nn.Module):
    def __init__(self, model: MultiLabelClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(input_ids, attention_mask))


def export(model: MultiLabelClassifier, directory: Path) -> Path:
    """model.onnx (fp32) and model.int8.onnx (dynamic int8 quantisation of the weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    fp32, int8 = directory / "model.onnx", directory / "model.int8.onnx"
    example = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    torch.onnx.export(
        _Logits(model), example, str(fp32), input_names=["input_ids", "attention_mask"],
        output_names=["probabilities"], opset_version=17, dynamo=False,
        dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                      "attention_mask": {0: "batch", 1: "tokens"},
                      "probabilities": {0: "batch"}},
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()  # only the quantised graph is served; the safetensors stay the source
    return int8


def onnx_scorer(path: Path, pad_id: int, batch_size: int = WINDOWS_PER_BATCH,
                threads: int = 2) -> WindowScorer:
    """Probabilities per window from the int8 graph, in length-sorted batches. Dynamic
    quantisation scales each batch's activations, so scores depend a little on the batch
    size: the F1 check runs the size that is served."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])

    def score(windows: Sequence[Window]) -> np.ndarray:
        out: np.ndarray | None = None
        for index, ids, mask in padded_batches(windows, batch_size, pad_id):
            probs = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if out is None:
                out = np.zeros((len(windows), probs.shape[1]), dtype=np.float32)
            out[index] = probs
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)
    return score


@dataclass(frozen=True)
class SplitScores:
    """Per document and label: the truth, torch's probabilities, the int8 path's."""

    truth: np.ndarray
    torch: np.ndarray
    int8: np.ndarray


def judge_int8(labels: Sequence[str], validation: SplitScores, test: SplitScores,
               torch_thresholds: Sequence[float], seconds: dict[str, float]) -> dict:
    """Whether the int8 path may be the default: its own thresholds tuned on validation,
    then both paths' F1 on the test split. Pure: the scores are computed by the caller."""
    thresholds = tune_thresholds(validation.truth, validation.int8)
    reference = report(labels, test.truth, test.torch, torch_thresholds)
    candidate = report(labels, test.truth, test.int8, thresholds)
    macro_delta = round(candidate["macro_f1"] - reference["macro_f1"], 4)
    label_deltas = {label: round(candidate["per_label"][label]["f1"]
                                 - reference["per_label"][label]["f1"], 4) for label in labels}
    flips = int(np.sum((test.int8 >= np.asarray(thresholds))
                       != (test.torch >= np.asarray(torch_thresholds))))
    passed = (abs(macro_delta) <= F1_TOLERANCE
              and all(abs(d) <= LABEL_F1_TOLERANCE for d in label_deltas.values()))
    faster = seconds["int8"] < seconds["torch"]
    return {"check": "test split, int8 thresholds tuned on validation",
            "f1_tolerance": F1_TOLERANCE, "label_f1_tolerance": LABEL_F1_TOLERANCE,
            "macro_f1": {"torch": reference["macro_f1"], "int8": candidate["macro_f1"]},
            "macro_f1_delta": macro_delta, "label_f1_delta": label_deltas,
            "flips": flips, "decisions": int(test.truth.size),
            "flip_rate": round(flips / test.truth.size, 4) if test.truth.size else 0.0,
            "thresholds": {label: round(float(t), 4) for label, t in zip(labels, thresholds,
                                                                         strict=True)},
            "passed": passed, "torch_s": round(seconds["torch"], 3),
            "int8_s": round(seconds["int8"], 3),
            "default": "onnx" if passed and faster else "torch"}
