"""Model export: an ONNX file that gives the three tasks' probabilities of log-mel chunks.

Input ``logmel`` (batch, 1, n_mels, chunk_frames) float32; outputs ``quadrant`` (batch, 4),
``arousal`` (batch, 2), ``valence`` (batch, 2), softmax probabilities. The feature settings
travel beside it as ``<name>.features.json`` (the log-mel is computed outside the graph).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .config import to_dict
from .errors import ModelDirError, QuadpredError
from .files import atomic_path, write_text_atomic
from .modeldir import input_features, load_model


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p = self.model.probabilities(x)
        return p["quadrant"], p["arousal"], p["valence"]


def export_onnx(model_dir: str | Path, path: str | Path, *, opset: int = 17) -> Path:
    """Write the transfer model of ``model_dir`` as ONNX to ``path`` (batch size free)."""
    try:
        import onnx  # noqa: F401 - the exporter writes its protobuf with it
    except ImportError as exc:
        raise QuadpredError("ONNX export needs the onnx package: pip install 'quadpred[export]'") from exc
    model, info = load_model(model_dir)
    if info["kind"] != "emotion":
        raise ModelDirError(f"{model_dir} is a {info['kind']} model; export a transfer model (stage feat-ext/full)")
    features = to_dict(input_features(info))  # the chunk the network reads (model.chunk_seconds)
    example = torch.zeros(2, 1, features["n_mels"], features["chunk_frames"])
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # the TorchScript exporter needs no extra package; the torch.export one needs onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_Probabilities(model).eval(), (example,), str(tmp), input_names=["logmel"],
                          output_names=["quadrant", "arousal", "valence"], dynamic_axes={"logmel": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    write_text_atomic(path.with_suffix(".features.json"), json.dumps(features, indent=2) + "\n")
    return path


def onnx_difference(model_dir: str | Path, path: str | Path, *, chunks: int = 8, seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over the three outputs for random log-mel-like chunks."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise QuadpredError("checking the ONNX file needs onnxruntime: pip install 'quadpred[export]'") from exc
    model, info = load_model(model_dir)
    features = to_dict(input_features(info))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((chunks, 1, features["n_mels"], features["chunk_frames"])) * 3 - 5).astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ours = session.run(None, {"logmel": x})
    with torch.inference_mode():
        reference = _Probabilities(model)(torch.from_numpy(x))
    return max(float(np.abs(a - b.numpy()).max()) for a, b in zip(ours, reference))
