"""The ONNX Runtime path: export, dynamic int8 quantisation, and the tolerance check.

The quantised model is the default only when its scores stay within
``TOLERANCE`` of the torch model on every window of the seed corpus and it is
faster; training records the outcome in runtime.json.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from classifiers.model import MultiLabelClassifier
from classifiers.scoring import WindowScorer, padded_batches, torch_scorer
from classifiers.windows import Window

TOLERANCE = 0.05  # max absolute difference of any label's probability on any window


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


def onnx_scorer(path: Path, pad_id: int, batch_size: int = 32, threads: int = 2) -> WindowScorer:
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


def compare(model: MultiLabelClassifier, onnx_path: Path, pad_id: int,
            windows: Sequence[Window], threads: int = 2) -> dict:
    """Max score difference and speed of the int8 ONNX path against torch on ``windows``."""
    reference_scorer = torch_scorer(model, pad_id)
    candidate_scorer = onnx_scorer(onnx_path, pad_id, threads=threads)
    started = time.perf_counter()
    reference = reference_scorer(windows)
    torch_s = time.perf_counter() - started
    started = time.perf_counter()
    candidate = candidate_scorer(windows)
    onnx_s = time.perf_counter() - started
    max_diff = float(np.max(np.abs(reference - candidate))) if len(windows) else 0.0
    within = max_diff <= TOLERANCE
    faster = onnx_s < torch_s
    return {"tolerance": TOLERANCE, "max_abs_diff": round(max_diff, 5), "within": within,
            "torch_s": round(torch_s, 3), "onnx_s": round(onnx_s, 3), "windows": len(windows),
            "default": "onnx" if within and faster else "torch"}
