"""Configuration dataclasses, their JSON files and dotted ``key=value`` overrides.

Every number of the study is a field here with the study's value as default, so
the paper preset is simply the defaults.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import ConfigError

T = TypeVar("T")

log = logging.getLogger(__name__)

FLOAT32_EPS = float(np.finfo(np.float32).eps)


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Log-mel front end of the published model (SYSTEM.md, Features).

    The published script calls ``librosa.stft(y, win_length=1024, hop_length=512)``,
    so the FFT size is librosa's default 2048 and the Hann window of 1024 samples is
    zero-padded to it. It ran librosa 0.7, whose STFT padded by reflection.
    """

    sample_rate: int = 16000
    n_fft: int = 2048
    win_length: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    pad_mode: str = "reflect"
    log_eps: float = FLOAT32_EPS
    chunk_frames: int = 31
    train_hop_frames: int = 15
    predict_hop_frames: int = 31
    store_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ConfigError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}: lower win_length")
        if self.pad_mode not in ("reflect", "constant"):
            raise ConfigError(f"pad_mode {self.pad_mode!r} unknown: use 'reflect' or 'constant'")
        if self.store_dtype not in ("float32", "float16"):
            raise ConfigError(f"store_dtype {self.store_dtype!r} unknown: use 'float32' or 'float16'")
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "chunk_frames",
                     "train_hop_frames", "predict_hop_frames"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def min_samples(self) -> int:
        """Fewest samples that give one whole chunk (centred frames)."""
        return (self.chunk_frames - 1) * self.hop_length

    def spectrogram_key(self) -> str:
        """Short hash of the fields that change stored spectrograms (not the chunking)."""
        return store_key(self)

    @property
    def rows(self) -> int:
        """Rows of a stored array (n_mels)."""
        return self.n_mels

    def with_chunk_seconds(self, seconds: float | None) -> FeatureConfig:
        """This config with network inputs of ``seconds`` (model.chunk_seconds; None: as it is):
        half-overlapping in training, one prediction per chunk."""
        if seconds is None:
            return self
        frames = round(seconds * self.sample_rate / self.hop_length)
        return dataclasses.replace(self, chunk_frames=frames, train_hop_frames=max(1, frames // 2),
                                   predict_hop_frames=frames)


@dataclasses.dataclass(frozen=True)
class SmileConfig:
    """Hand-crafted features of the DAE baseline (SYSTEM.md; Coutinho & Schuller 2017): the
    INTERSPEECH 2013 ComParE low-level descriptors and their deltas (65 + 65), mean and standard
    deviation over ``window_seconds`` windows every ``hop_seconds`` -> 260 values per step.

    ``chunk_frames`` (steps per training sequence) and the hops are set by the DAE variant.
    """

    kind: str = "smile"
    feature_set: str = "IS13"
    window_seconds: float = 1.0
    hop_seconds: float = 0.5
    sample_rate: int = 16000
    store_dtype: str = "float32"
    chunk_frames: int = 9
    train_hop_frames: int = 4
    predict_hop_frames: int = 9

    def __post_init__(self) -> None:
        if self.kind != "smile":
            raise ConfigError(f"SmileConfig kind must be 'smile', got {self.kind!r}")
        if self.window_seconds <= 0 or self.hop_seconds <= 0:
            raise ConfigError("window_seconds and hop_seconds must be positive")

    @property
    def rows(self) -> int:
        return 260

    @property
    def hop_length(self) -> int:
        """Samples between steps (so that hop_length / sample_rate is the step in seconds)."""
        return round(self.hop_seconds * self.sample_rate)

    @property
    def min_samples(self) -> int:
        return round(self.window_seconds * self.sample_rate)

    def spectrogram_key(self) -> str:
        """Short hash of the fields that change stored features (not the sequences)."""
        return store_key(self)

    def with_sequence(self, seconds: float) -> SmileConfig:
        """This config with training sequences of ``seconds`` (half-overlapping) for a DAE variant."""
        steps = 1 + round((seconds - self.window_seconds) / self.hop_seconds)
        return dataclasses.replace(self, chunk_frames=steps, train_hop_frames=max(1, steps // 2),
                                   predict_hop_frames=steps)


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """The convolutional encoder shared by the SCAE, CPC and the emotion CNN (SYSTEM.md, Models):
    ``channels`` per conv block, ``pools`` its mel pooling factors (one per block plus a final
    one), ``dropout`` after each block."""

    channels: tuple[int, ...] = (32, 64, 128)
    pools: tuple[int, ...] = (4, 4, 2, 2)
    dropout: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "pools", tuple(int(p) for p in self.pools))
        if len(self.pools) != len(self.channels) + 1:
            raise ConfigError(f"model.encoder.pools needs one factor per conv block plus a final one: "
                              f"{len(self.channels) + 1} values for channels {list(self.channels)}, got {list(self.pools)}")

    def mel_reduction(self) -> int:
        """The product of the pooling factors: mel bands in per band out."""
        reduction = 1
        for factor in self.pools:
            reduction *= factor
        return reduction


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """The multi-task part of the emotion model on the encoder's output: ``trunk_layers`` shared
    dense layers of ``units``, then ``task_layers`` per task (quadrant, arousal, valence).
    ``time_pool``: 'none' (the study's) flattens the encoder's output, every frame its own
    inputs; 'mean-max' gives each channel and band its mean and maximum over the frames, so the
    first dense layer reads 2 values per channel and band whatever the chunk's length (on the
    default sizes 512 inputs instead of 7,936: 2.7 M weights instead of 6.5 M)."""

    units: int = 512
    trunk_layers: int = 3
    task_layers: int = 2
    dropout: float = 0.25
    time_pool: str = "none"

    def __post_init__(self) -> None:
        if self.time_pool not in TIME_POOLS:
            raise ConfigError(f"model.head.time_pool {self.time_pool!r} unknown: use {' or '.join(map(repr, TIME_POOLS))}")


TIME_POOLS = ("none", "mean-max")


@dataclasses.dataclass(frozen=True)
class CPCConfig:
    """Contrastive predictive coding: code and context sizes, ``steps`` predicted ahead from
    sequences of ``segments`` chunks, the ``objective`` ('infonce' or 'binary')."""

    code_dim: int = 256
    context_dim: int = 256
    steps: int = 3
    segments: int = 6
    objective: str = "infonce"

    def __post_init__(self) -> None:
        if self.objective not in ("infonce", "binary"):
            raise ConfigError(f"model.cpc.objective {self.objective!r} unknown: use 'infonce' or 'binary'")
        if self.steps >= self.segments:
            raise ConfigError(f"model.cpc.steps ({self.steps}) must be below model.cpc.segments ({self.segments})")


@dataclasses.dataclass(frozen=True)
class DAEConfig:
    """The LSTM denoising autoencoder of hand-crafted feature sequences (Coutinho & Schuller 2017):
    ``hidden`` units, sequences of ``seconds``, the emotion head's ``head_hidden`` units."""

    hidden: int = 100
    seconds: float = 5.0
    head_hidden: int = 100


# the flat keys of ModelConfig before it had sections (model directories and configs written then,
# old --set keys) -> their place now
RENAMED_MODEL_KEYS: dict[str, str] = {
    "channels": "encoder.channels", "pools": "encoder.pools", "conv_dropout": "encoder.dropout",
    "dense_units": "head.units", "trunk_layers": "head.trunk_layers", "head_layers": "head.task_layers",
    "dense_dropout": "head.dropout", "cpc_code_dim": "cpc.code_dim", "cpc_context_dim": "cpc.context_dim",
    "cpc_steps": "cpc.steps", "cpc_segments": "cpc.segments", "cpc_objective": "cpc.objective",
    "dae_hidden": "dae.hidden", "dae_seconds": "dae.seconds", "dae_head_hidden": "dae.head_hidden",
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Network sizes (SYSTEM.md, Models), one section per part; the defaults are the study's.

    ``input_norm``: the emotion model standardises each mel band with the mean and standard
    deviation of its training inputs (kept with the weights), as the study's scripts did not.
    ``chunk_seconds``: the emotion model's input length on log-mels (None: the features' chunk,
    31 frames, ~1 s, the study's); training chunks overlap by half and `predict` gives one
    prediction per chunk. The encoder is convolutional, so an SCAE pretrained on 1-s speech
    chunks transfers to longer music chunks; pretraining itself reads the features' chunk.
    """

    RENAMED_KEYS: typing.ClassVar[dict[str, str]] = RENAMED_MODEL_KEYS

    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)
    cpc: CPCConfig = dataclasses.field(default_factory=CPCConfig)
    dae: DAEConfig = dataclasses.field(default_factory=DAEConfig)
    input_norm: bool = False
    chunk_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.chunk_seconds is not None and not 0.1 <= self.chunk_seconds <= 60:
            raise ConfigError(f"model.chunk_seconds is the network's input in seconds, 0.1 to 60; got {self.chunk_seconds}")
        for name, value in (("head.units", self.head.units), ("head.trunk_layers", self.head.trunk_layers),
                            ("head.task_layers", self.head.task_layers), ("cpc.code_dim", self.cpc.code_dim),
                            ("cpc.context_dim", self.cpc.context_dim), ("cpc.steps", self.cpc.steps),
                            ("dae.hidden", self.dae.hidden), ("dae.head_hidden", self.dae.head_hidden)):
            if value <= 0:
                raise ConfigError(f"model.{name} must be positive, got {value}")


# default learning rate of each transfer stage (SYSTEM.md; the baseline as full); a pretraining's is
# in its methods.PRETRAININGS entry
STAGE_LEARNING_RATES: dict[str, float] = {"feat-ext": 1e-4, "full": 5e-4, "baseline": 5e-4}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run. ``lr=None`` takes the stage's default (``STAGE_LEARNING_RATES``, or the
    pretraining method's).

    ``lr_decay`` is Keras's inverse-time decay per step, lr / (1 + decay * step), the
    schedule whose rate the study tuned. ``balance``: 'weights' weighs each class's loss by
    its inverse frequency, 'sampler' draws balanced batches, 'none' neither. ``max_batches``
    caps the batches per epoch (quick runs); ``cache_embeddings`` trains the feat-ext heads on
    encoder outputs computed once (the encoder is frozen, so the result is the same).
    ``precision``: 'auto' (default: bf16 where the CPU or GPU computes it natively, fp32
    elsewhere; device.resolve_precision), 'fp32', 'bf16' (about 2x faster on CPUs with
    AVX-512-BF16 or AMX, and on GPUs; emulated and ~10x slower on other CPUs) or 'fp16' (GPUs). ``augment``: 'specaugment' masks a
    random band of mel bands and a random span of frames of every training input of a transfer
    stage, 'band-shift' moves each input up or down by up to 3 mel bands (a pitch shift of about
    a semitone; augment.py); 'none' (default) leaves them as they are.

    The recipe of the cross-validated search (crossval.py), each off by default: ``schedule``
    'cosine' decays the rate to 0 over ``epochs`` after ``warmup_epochs`` of linear warm-up
    ('inverse-time' is the study's); ``select`` chooses the epoch whose weights are kept and
    drives early stopping: 'loss' (the validation chunk loss, the study's), 'song-loss' (log-loss
    of the songs' mean quadrant probabilities) or 'song-f1' (their macro F); ``label_smoothing``
    of the cross-entropies; ``mixup`` (Beta(alpha, alpha) mixing of training pairs; 0: none);
    ``ema``: decay of an exponential moving average of the weights, which is then the model
    that is validated and kept (0: none). ``average_last``: the share of the epochs at the end
    whose end-of-epoch weights (and batch-norm statistics) are averaged into the kept model, as
    stochastic weight averaging does (0: none; 0.5: the last half); the epoch is then not chosen
    (``select`` only reports) and training runs all ``epochs``. ``distil``: the weight of the
    teachers' mean probabilities in each task's loss, (1 - distil) x cross-entropy with the labels
    + distil x cross-entropy with the teachers (0: none; teachers.py, `transfer --teachers`,
    `cv --teachers`). ``weight_decay``: decoupled weight decay (AdamW; Loshchilov & Hutter): each
    step shrinks every weight matrix and kernel by lr x weight_decay, biases and batch-norm
    parameters untouched (0: none, plain Adam, the study's).
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float | None = None
    lr_decay: float = 0.0
    patience: int = 5
    min_delta: float = 0.0
    noise_sd: float = 0.3
    loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    balance: str = "weights"
    seed: int = 0
    max_batches: int | None = None
    cache_embeddings: bool = True
    precision: str = "auto"
    augment: str = "none"
    schedule: str = "inverse-time"
    warmup_epochs: float = 0.0
    select: str = "loss"
    label_smoothing: float = 0.0
    mixup: float = 0.0
    ema: float = 0.0
    average_last: float = 0.0
    distil: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss_weights", tuple(float(w) for w in self.loss_weights))
        if len(self.loss_weights) != 3:
            raise ConfigError(f"loss_weights needs 3 values (quadrant, arousal, valence), got {list(self.loss_weights)}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ConfigError(f"precision {self.precision!r} unknown: use 'auto', 'fp32', 'bf16' (CPU or GPU) or 'fp16' (GPU)")
        if self.balance not in ("weights", "sampler", "none"):
            raise ConfigError(f"balance {self.balance!r} unknown: use 'weights', 'sampler' or 'none'")
        if self.augment not in AUGMENTATIONS:
            raise ConfigError(f"augment {self.augment!r} unknown: use {' or '.join(map(repr, AUGMENTATIONS))}")
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.lr_decay < 0:
            raise ConfigError(f"lr_decay must be >= 0, got {self.lr_decay}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} unknown: use {' or '.join(map(repr, SCHEDULES))}")
        if self.select not in SELECTIONS:
            raise ConfigError(f"select {self.select!r} unknown: use {' or '.join(map(repr, SELECTIONS))}")
        if self.warmup_epochs < 0 or self.mixup < 0:
            raise ConfigError("warmup_epochs and mixup must be >= 0")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.ema < 1:
            raise ConfigError(f"label_smoothing and ema must be in [0, 1), got {self.label_smoothing} and {self.ema}")
        if not 0 <= self.average_last <= 1:
            raise ConfigError(f"average_last is a share of the epochs, in [0, 1]; got {self.average_last}")
        if self.average_last and self.ema:
            raise ConfigError("train.ema and train.average_last both average the weights: set one of them")
        if not 0 <= self.distil <= 1:
            raise ConfigError(f"distil is the teachers' share of the loss, in [0, 1]; got {self.distil}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0 (0: none), got {self.weight_decay}")

    def with_default_lr(self, default: float) -> TrainConfig:
        """This config with ``lr`` set: the user's, or ``default`` (the stage's STAGE_LEARNING_RATES
        entry, or the pretraining's methods.PRETRAININGS one)."""
        return self if self.lr is not None else dataclasses.replace(self, lr=default)


AUGMENTATIONS = ("none", "specaugment", "band-shift")
SCHEDULES = ("inverse-time", "cosine")
SELECTIONS = ("loss", "song-loss", "song-f1")

# recipes of the emotion models, as dotted settings over a run's: 'study' changes nothing (the
# defaults are the study's), 'cv' is the recipe that artist-grouped cross-validation chose for
# every network (docs/results.md, 'Cross-validation'): 8 epochs of at most 180 batches, cosine decay
# after half an epoch of warm-up, the last half's weights averaged (since 2026-12-03; chosen over the
# epoch of the best validation songs' log-loss, which now only reports, by two kept-epochs
# cross-validations: docs/results.md, "How the epoch is chosen")
RECIPES: dict[str, dict[str, Any]] = {
    "study": {},
    "cv": {"train.lr": 3e-4, "train.epochs": 8, "train.patience": 8, "train.max_batches": 180,
           "train.select": "song-loss", "train.schedule": "cosine", "train.warmup_epochs": 0.5,
           "train.average_last": 0.5},
}
# what a recipe adds for a network from random weights: the cv recipe standardises its inputs (a
# pretrained encoder keeps the inputs it was pretrained on)
RECIPES_FROM_RANDOM: dict[str, dict[str, Any]] = {"study": {}, "cv": {"model.input_norm": True}}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Model and training settings of one run; ``--set model.head.units=128 train.epochs=5``."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config dataclass."""
    return dataclasses.asdict(config)


def store_key(config: Any) -> str:
    """Hash of a feature config's fields that change stored arrays; the chunking fields are left
    out, as chunks are cut at read time."""
    return config_hash({k: v for k, v in to_dict(config).items()
                        if k not in ("chunk_frames", "train_hop_frames", "predict_hop_frames")})


def config_hash(data: dict[str, Any]) -> str:
    """12-hex-digit hash of a JSON-serialisable dict, stable across runs."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def from_dict(cls: type[T], data: dict[str, Any], *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys by name; keys the class has
    renamed (its ``RENAMED_KEYS``, e.g. a flat key now in a section) are read at their new place."""
    data = _moved_renamed_keys(cls, data)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        sub = _dataclass_in(hints[name])
        kwargs[name] = from_dict(sub, value, where=f"{where}.{name}") if sub and isinstance(value, dict) \
            else checked(value, hints[name], f"{where}.{name}")
    return cls(**kwargs)


def _moved_renamed_keys(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each old key of ``cls.RENAMED_KEYS`` moved to its dotted new place; the old
    key wins over a value already there (it is what the file or user wrote)."""
    renamed = getattr(cls, "RENAMED_KEYS", {})
    if not any(key in renamed for key in data):
        return data
    data = json.loads(json.dumps(data))
    for old in [key for key in data if key in renamed]:
        *sections, last = renamed[old].split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{old} moved to {renamed[old]}, but {section} is not a section here: fix the config")
        node[last] = data.pop(old)
    return data


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def checked(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it has the type ``hint`` (an int is taken for a float), else a ConfigError
    naming the key and the expected type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint in (dict, list) or origin is dict:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return checked(value, option, where)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        element = args[0] if args else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where} must be a list of {len(args)} values, got {list(value)!r}")
            return tuple(checked(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        items = [checked(v, element, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint in _TYPE_WORDS:
        fits = isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not fits:
            raise ConfigError(f"{where} must be {_TYPE_WORDS[hint]}, got {value!r}")
    return value


def _dataclass_in(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg  # type: ignore[return-value]
    return None


def as_written(cls: type, data: dict[str, Any], *, where: str = "config") -> dict[str, Any]:
    """``data`` read as ``cls`` and written back as this version writes it (renamed keys at their
    new place, settings added since filled in with their defaults, tuples as lists): two records
    of the same settings compare equal."""
    return json.loads(json.dumps(to_dict(from_dict(cls, data, where=where))))


def save_json(config: Any, path: str | Path) -> None:
    """Write a config dataclass as indented JSON, atomically."""
    from .files import write_text_atomic

    write_text_atomic(Path(path), json.dumps(to_dict(config), indent=2, sort_keys=True) + "\n")


def load_json(cls: type[T], path: str | Path) -> T:
    """Read a config dataclass from a JSON file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found: check the path")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON (line {exc.lineno}): fix the file") from exc
    return from_dict(cls, data, where=str(path))


def apply_overrides(config: T, overrides: list[str]) -> T:
    """Return a copy of ``config`` with dotted ``key=value`` overrides applied.

    Values are parsed as JSON where possible (``n_mels=64``, ``fmax=null``) and kept
    as strings otherwise (``pad_mode=constant``). Unknown keys are rejected.
    """
    data = to_dict(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value: write e.g. n_mels=64")
        key, raw = item.split("=", 1)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        _set_dotted(data, _renamed_path(type(config), key.strip().split(".")), value,
                    f"override {key!r}", type(config).__name__)
    return from_dict(type(config), data, where="overrides")


def _set_dotted(data: dict[str, Any], parts: list[str], value: Any, what: str, owner: str) -> None:
    """Set ``data`` (a config as a nested dict) at the key path ``parts``; a ConfigError names
    ``what`` was asked and the sections or keys that exist."""
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"{what}: {part!r} is not a section of {owner}")
        node = node[part]
    if parts[-1] not in node:
        raise ConfigError(f"{what}: unknown key; known keys: {', '.join(node)}")
    node[parts[-1]] = value


def setting(config: Any, key: str) -> Any:
    """The value of dotted ``key`` in a config dataclass (``setting(model, "dae.hidden")``)."""
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def with_settings(config: T, values: dict[str, Any]) -> T:
    """A copy of ``config`` with dotted keys set to ``values`` (checked as a file's would be)."""
    data = to_dict(config)
    for key, value in values.items():
        _set_dotted(data, key.split("."), value, f"setting {key!r}", type(config).__name__)
    return from_dict(type(config), data, where=type(config).__name__)


def _renamed_path(cls: type, parts: list[str]) -> list[str]:
    """Dotted key ``parts`` under ``cls`` with a renamed key (``model.dense_units``) replaced by its
    new path (``model.head.units``), said once in a warning."""
    resolved: list[str] = []
    while parts:
        renamed = getattr(cls, "RENAMED_KEYS", {})
        if parts[0] in renamed:
            new = renamed[parts[0]].split(".")
            old_key, new_key = ".".join([*resolved, parts[0]]), ".".join([*resolved, *new])
            if old_key not in _WARNED_RENAMES:
                _WARNED_RENAMES.add(old_key)
                log.warning("%s is now %s: the old key still works, the new one is what --help and files show",
                            old_key, new_key)
            parts = [*new, *parts[1:]]
        part, parts = parts[0], parts[1:]
        resolved.append(part)
        hint = typing.get_type_hints(cls).get(part) if dataclasses.is_dataclass(cls) else None
        cls = _dataclass_in(hint) if hint is not None else None
    return resolved


_WARNED_RENAMES: set[str] = set()
