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
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__
from .config import ModelConfig, RunConfig, TrainConfig, as_written, from_dict, to_dict
from .device import distributed_rank_world
from .errors import ConfigError, ModelDirError, TrainingError
from .featurekinds import Features, features_from_dict, kind_of
from .files import atomic_path, write_text_atomic
from .labels import TASKS
from .manifest import Clip, summary

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.pt"


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_config(folder: str | Path) -> dict[str, Any]:
    """The config.json of a model directory, checked to be complete."""
    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelDirError(f"{folder} is not a model directory (no {CONFIG_NAME}): give the folder that "
                            "`quadpred pretrain` or `quadpred transfer` wrote")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{path} is not valid JSON: the model directory is damaged; train or copy it again") from exc
    from .methods import model_builders

    kinds = model_builders()
    if not isinstance(info, dict) or info.get("kind") not in kinds:
        kind = info.get("kind") if isinstance(info, dict) else None
        raise ModelDirError(f"{path}: unknown model kind {kind!r}; expected one of {', '.join(kinds)}")
    missing = [key for key in ("model", "features") if not isinstance(info.get(key), dict)]
    if missing:
        raise ModelDirError(f"{path}: no {' or '.join(repr(k) for k in missing)} settings; the model directory is "
                            "damaged or from another tool")
    major = str(info.get("quadpred_version", __version__)).split(".")[0]
    if major != __version__.split(".")[0]:
        raise ModelDirError(f"{path}: written by quadpred {info['quadpred_version']}, which this quadpred "
                            f"({__version__}) cannot read; use that version or retrain")
    if "labels" in info and {task: list(names) for task, names in info["labels"].items()} != \
            {task: list(names) for task, names in TASKS.items()}:
        raise ModelDirError(f"{path}: its labels {info['labels']} are not quadpred's "
                            f"{ {t: list(n) for t, n in TASKS.items()} } in that order; the outputs would be "
                            "mislabelled: use a model trained by quadpred")
    return info


def describe_run(kind: str, stage: str, run: RunConfig, features: Features, clips: Sequence[Clip],
                 **extra: Any) -> dict[str, Any]:
    """The config.json of a run: what it trains, on which settings, features and data."""
    return {"kind": kind, "stage": stage, "model": to_dict(run.model), "train": to_dict(run.train),
            "features": to_dict(features), "labels": {t: list(n) for t, n in TASKS.items()},
            "data": summary(list(clips)), "languages": sorted({c.language for c in clips}),
            "quadpred_version": __version__, **extra}


def _comparable(info: dict[str, Any]) -> dict[str, Any]:
    """A run description as it reads back from its file, with settings a newer version added
    filled in with their defaults (a run is the same if only such defaults are new)."""
    info = json.loads(json.dumps(info))  # tuples become lists, as in the file
    info.pop("quadpred_version", None)
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        if isinstance(info.get(section), dict):
            info[section] = as_written(cls, info[section], where=section)
    return info


def setting_differences(saved: Any, wanted: Any, where: str = "") -> list[str]:
    """'key: saved -> wanted' for every setting that differs (nested keys joined by dots)."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [line for key in sorted(set(saved) | set(wanted), key=str)
                for line in setting_differences(saved.get(key), wanted.get(key),
                                                f"{where}.{key}" if where else str(key))]
    if saved == wanted:
        return []
    shown = [json.dumps(v)[:40] for v in (saved, wanted)]
    return [f"{where or 'run'}: {shown[0]} -> {shown[1]}"]


def open_run(folder: Path, info: dict[str, Any], force: bool) -> bool:
    """Prepare ``folder`` for a run described by ``info``; True if it is already finished.
    Under torch.distributed, rank 0 prepares it and the others wait."""
    rank, world = distributed_rank_world()
    finished = False
    config_path = folder / CONFIG_NAME
    if config_path.is_file():
        changed = setting_differences(_comparable(json.loads(config_path.read_text())), _comparable(info))
        if not changed and not force:
            finished = is_complete(folder)
        elif not force:
            raise TrainingError(f"{folder} holds a run with other settings or data ({'; '.join(changed[:3])}): "
                                "choose another output folder or pass --force to start afresh")
        elif rank == 0:
            shutil.rmtree(folder)
    if rank == 0 and not finished and not config_path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_json(config_path, info)
    if world > 1:
        torch.distributed.barrier()
    return finished


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
    try:
        state = torch.load(folder / WEIGHTS_NAME, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged or foreign file
        raise ModelDirError(f"{folder / WEIGHTS_NAME} cannot be read as weights ({type(exc).__name__}); the file is "
                            "truncated, damaged or not a quadpred model: train or copy it again") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelDirError(f"{folder / WEIGHTS_NAME} holds no state dict of tensors; not a quadpred model")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def configs_of(info: dict[str, Any]) -> tuple[ModelConfig, Features]:
    try:
        return (from_dict(ModelConfig, info["model"], where="config.json model"),
                features_from_dict(info["features"], where="config.json features"))
    except (ConfigError, TypeError, KeyError) as exc:
        raise ModelDirError(f"config.json: {exc}") from exc


def input_features(info: dict[str, Any]) -> Features:
    """The feature settings of a model directory as its network reads them: chunk and hops of
    one input (featurekinds.chunking; e.g. model.chunk_seconds), the rest as stored."""
    model, features = configs_of(info)
    return kind_of(features).input_settings(features, model)


def check_same_features(model_dir: str | Path, source: Features, store: Any) -> None:
    """TrainingError unless the model directory's features ``source`` are those of ``store`` (a
    store.FeatureStore: same spectrogram settings and chunk), so that its encoder reads what it
    was trained on."""
    if type(source) is not type(store.config) or source.spectrogram_key() != store.config.spectrogram_key() or \
            source.chunk_frames != store.config.chunk_frames:
        raise TrainingError(f"{model_dir} was trained on other features than the store {store.folder}: "
                            "extract the clips with the same feature settings")


def load_model(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a directory in eval mode on the CPU, and its config.json."""
    from .methods import model_builders

    info = read_config(folder)
    model_config, feature_config = configs_of(info)
    model = model_builders()[info["kind"]](model_config, feature_config)
    try:
        model.load_state_dict(load_state(folder))
    except RuntimeError as exc:  # missing, unexpected or differently shaped tensors
        first = str(exc).strip().splitlines()[-1].strip()[:200]
        raise ModelDirError(f"{folder}: the weights do not fit the network its config.json describes ({first}); "
                            "the config or the weights were changed: train or copy the directory again") from exc
    return model.eval(), info


def load_encoder_state(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The encoder weights of any model directory (pretrained SCAE/CPC or a transfer model)."""
    info = read_config(folder)
    state = load_state(folder)
    encoder = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    if not encoder:
        raise ModelDirError(f"{folder} holds no encoder weights")
    return encoder, info
