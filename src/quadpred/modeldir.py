"""The self-describing model directory: everything `predict` and later stages need.

    config.json    kind, stage, model / feature / train settings, label names, data summary
    weights.pt     the state dict (best epoch)
    history.json   one row per epoch (also history.csv)
    summary.json   how training went: epochs, best epoch, losses, time, device
    metrics.json   scores on the validation and test splits (transfer models)
    checkpoint.pt  only while training: the state to resume from
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import FeatureConfig, ModelConfig, SmileConfig, feature_config_from_dict, from_dict
from .errors import ModelDirError
from .io import atomic_path, write_text_atomic

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.pt"
KINDS = ("scae", "cpc", "dae", "emotion", "dae-emotion")


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_config(folder: str | Path) -> dict[str, Any]:
    """The config.json of a model directory, checked to be complete."""
    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelDirError(f"{folder} is not a model directory (no {CONFIG_NAME}): give the folder that "
                            "`quadpred pretrain` or `quadpred transfer` wrote")
    info = json.loads(path.read_text())
    if info.get("kind") not in KINDS:
        raise ModelDirError(f"{path}: unknown model kind {info.get('kind')!r}")
    return info


def is_complete(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / WEIGHTS_NAME).is_file() and (folder / "summary.json").is_file()


def save_weights(model: nn.Module, folder: Path, *, half: bool = False) -> None:
    """weights.pt, atomically; ``half`` stores floating tensors as float16 (shipped models)."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        torch.save(state, tmp)


def load_state(folder: str | Path) -> dict[str, torch.Tensor]:
    folder = Path(folder)
    if not is_complete(folder):
        raise ModelDirError(f"model directory {folder} is incomplete (training unfinished?): re-run the command "
                            "that wrote it to resume")
    state = torch.load(folder / WEIGHTS_NAME, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def configs_of(info: dict[str, Any]) -> tuple[ModelConfig, FeatureConfig | SmileConfig]:
    return (from_dict(ModelConfig, info["model"], where="config.json model"),
            feature_config_from_dict(info["features"], where="config.json features"))


def load_model(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a directory in eval mode on the CPU, and its config.json."""
    from .models import build_cpc, build_dae, build_dae_emotion_net, build_emotion_net, build_scae

    info = read_config(folder)
    model_config, feature_config = configs_of(info)
    builder = {"scae": build_scae, "cpc": build_cpc, "emotion": build_emotion_net, "dae": build_dae,
               "dae-emotion": build_dae_emotion_net}[info["kind"]]
    model = builder(model_config, feature_config)
    model.load_state_dict(load_state(folder))
    return model.eval(), info


def load_encoder_state(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The encoder weights of any model directory (pretrained SCAE/CPC or a transfer model)."""
    info = read_config(folder)
    state = load_state(folder)
    encoder = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    if not encoder:
        raise ModelDirError(f"{folder} holds no encoder weights")
    return encoder, info
