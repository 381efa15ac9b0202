"""The predictor: a model directory in, per-second quadrant / arousal / valence probabilities out.

    predictor = Predictor.from_dir("runs/eng2eng/full")
    result = predictor.predict("song.mp3")          # or predict(samples, sr=44100)
    result.means["quadrant"], result.top_quadrant, result.to_frame()

Files are read in blocks (streaming.py), so an hour-long file needs ~60 MB of features, not
its decoded audio. :func:`predict_files` runs a batch with one output set per file and a
summary table; files already done are skipped, so an interrupted batch resumes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__
from .audio import ReadLimits, audio_files_below, mono_from_array, to_model_input
from .device import infer, resolve_device, resolve_precision
from .errors import AudioError, ModelDirError, QuadpredError
from .features import chunk, chunk_starts, compute_log_mel
from .files import atomic_path, bar_off, hash_files, remove_stale_temporaries, write_text_atomic
from .labels import QUADRANT_MEANINGS, QUADRANTS, TASKS
from .layout import Setting
from .modeldir import CONFIG_NAME, WEIGHTS_NAME, input_features, load_model
from .streaming import stream_log_mel

log = logging.getLogger("quadpred")

SHIPPED_MODELS = Path(__file__).parent / "pretrained"


@dataclass
class Prediction:
    """Probabilities of one recording, one row per analysed chunk.

    start, end: (steps,) seconds; probabilities: {task: (steps, classes)}; labels: {task: class names}.
    """

    source: str
    duration: float
    start: np.ndarray
    end: np.ndarray
    probabilities: dict[str, np.ndarray]
    labels: dict[str, tuple[str, ...]]
    model: str
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    embeddings: np.ndarray | None = None  # (steps, units): the layer the tasks share, when asked for

    @property
    def means(self) -> dict[str, np.ndarray]:
        """Mean probability of each class over the recording: {task: (classes,)}."""
        return {task: p.mean(axis=0) for task, p in self.probabilities.items()}

    @property
    def top_quadrant(self) -> str:
        return self.labels["quadrant"][int(np.argmax(self.means["quadrant"]))]

    def columns(self) -> dict[str, np.ndarray]:
        """Flat columns: start, end, one per task and class (e.g. 'quadrant_Q1'), top quadrant."""
        columns: dict[str, np.ndarray] = {"start": self.start, "end": self.end}
        for task, probabilities in self.probabilities.items():
            for index, name in enumerate(self.labels[task]):
                columns[f"{task}_{name}"] = probabilities[:, index]
        columns["top_quadrant"] = np.array(self.labels["quadrant"])[self.probabilities["quadrant"].argmax(axis=1)]
        return columns

    def to_frame(self) -> Any:
        """A pandas DataFrame of :meth:`columns` (pandas is optional: pip install pandas)."""
        try:
            import pandas
        except ImportError as exc:
            raise QuadpredError("to_frame() needs pandas: pip install pandas") from exc
        return pandas.DataFrame(self.columns())

    def to_csv(self) -> str:
        columns = self.columns()
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(columns)
        for row in zip(*columns.values()):
            writer.writerow([f"{v:.4f}" if isinstance(v, (float, np.floating)) else v for v in row])
        return text.getvalue()

    def to_json(self) -> dict[str, Any]:
        """The whole result: means, per-step probabilities, label order and meaning, and what made it."""
        return {"file": self.source, "model": self.model, "quadpred_version": __version__,
                "provenance": self.provenance, "duration": round(self.duration, 3),
                "labels": {t: list(names) for t, names in self.labels.items()},
                "quadrant_meanings": {q: QUADRANT_MEANINGS[q] for q in self.labels["quadrant"] if q in QUADRANT_MEANINGS},
                "top_quadrant": self.top_quadrant,
                "means": {t: dict(zip(self.labels[t], np.round(m.astype(np.float64), 4).tolist()))
                          for t, m in self.means.items()},
                "start": np.round(self.start, 3).tolist(), "end": np.round(self.end, 3).tolist(),
                "probabilities": {t: np.round(p.astype(np.float64), 4).tolist() for t, p in self.probabilities.items()}}


def _check_emotion_model(info: dict[str, Any], name: str) -> None:
    if info.get("kind") != "emotion":
        raise ModelDirError(f"{name} is a {info.get('kind')} model, not an emotion model: give the folder of "
                            "a transfer stage (e.g. runs/transfer/eng2eng/scae/r0/full)")


class MeanOfModels(torch.nn.Module):
    """An ensemble: the mean of its members' class probabilities (e.g. the repeats of one method)."""

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def probabilities(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(batch, 1, n_mels, frames) -> {task: (batch, classes)}."""
        outputs = [member.probabilities(x) for member in self.members]
        return {task: torch.stack([o[task] for o in outputs]).mean(dim=0) for task in outputs[0]}

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """The members' shared layers side by side: (batch, members * units) (their spaces differ,
        so they are not averaged)."""
        return torch.cat([member.representation(x) for member in self.members], dim=1)


class Predictor:
    """A loaded transfer model with its feature settings; ``hop_seconds`` between predictions."""

    def __init__(self, model: torch.nn.Module, info: dict[str, Any], *, name: str = "model", device: str = "cpu",
                 hop_seconds: float | None = None, batch_size: int = 256, precision: str = "auto",
                 digest: str = "") -> None:
        _check_emotion_model(info, name)
        # channels-last: oneDNN's fast layout for the convolutions (2x at a file's ~30 chunks)
        self.model = model.eval().to(device, memory_format=torch.channels_last)
        self.info = info
        self.name = name
        self.device = torch.device(device)
        self.features = input_features(info)
        frames_per_second = self.features.sample_rate / self.features.hop_length
        self.hop_frames = self.features.predict_hop_frames if hop_seconds is None else \
            max(1, round(hop_seconds * frames_per_second))
        self.batch_size = batch_size
        self.precision = resolve_precision(precision, self.device)  # as run, so provenance compares what ran
        stored = info.get("labels", TASKS)
        self.labels = {task: tuple(stored[task]) for task in TASKS}  # quadrant, arousal, valence
        self.digest = digest

    @property
    def hop_seconds(self) -> float:
        """Seconds between predictions: whole STFT frames, so 31 frames of 512 samples at 16 kHz
        is 0.992 s, not 1 s."""
        return self.hop_frames * self.features.hop_length / self.features.sample_rate

    @property
    def provenance(self) -> dict[str, Any]:
        """What decides the numbers of an output: the model (name and content hash), the
        quadpred version, the hop and the precision. Resumed batches compare it."""
        return {"model": self.name, "model_sha256": self.digest, "quadpred_version": __version__,
                "hop_seconds": round(self.hop_seconds, 6), "precision": self.precision}

    @classmethod
    def from_dir(cls, folder: str | Path, *, device: str = "auto", hop_seconds: float | None = None,
                 precision: str = "auto") -> Predictor:
        """``precision`` 'auto' runs the network in bfloat16 autocast where the CPU or GPU has it
        natively (about 2x faster; probabilities within ~1e-2 of fp32), in fp32 elsewhere."""
        model, info = load_model(folder)
        return cls(model, info, name=model_name(folder), device=str(resolve_device(device)), hop_seconds=hop_seconds,
                   precision=precision, digest=model_digest([folder]))

    @classmethod
    def from_dirs(cls, folders: Sequence[str | Path], *, device: str = "auto", hop_seconds: float | None = None,
                  precision: str = "auto") -> Predictor:
        """One model directory, or the ensemble of several: the mean of their probabilities (they must
        share the feature settings and labels, e.g. the repeats of one method of an experiment)."""
        if not folders:
            raise QuadpredError("no model directory given: pass one, or several for their ensemble")
        if len(folders) == 1:
            return cls.from_dir(folders[0], device=device, hop_seconds=hop_seconds, precision=precision)
        members, infos = zip(*(load_model(folder) for folder in folders))
        for folder, info in zip(folders, infos):
            _check_emotion_model(info, str(folder))
            if input_features(info) != input_features(infos[0]) or info.get("labels") != infos[0].get("labels"):
                raise ModelDirError(f"{folder}: its feature settings, input length or labels differ from those of "
                                    f"{folders[0]}; an ensemble needs models trained on the same features and chunks")
        info = {**infos[0], "ensemble": [str(folder) for folder in folders]}
        return cls(MeanOfModels(members), info, name=ensemble_name(folders),
                   device=str(resolve_device(device)), hop_seconds=hop_seconds, precision=precision,
                   digest=model_digest(folders))

    @classmethod
    def shipped(cls, speech: str = "eng", music: str = "eng", *, fast: bool = False, **kwargs: Any) -> Predictor:
        """One of the models shipped with quadpred, by speech and music language. A shipped model is
        one model directory, or an ensemble of ``member*/`` directories (the folds of a
        cross-validation), whose mean is predicted; ``fast`` takes its first member alone."""
        folder = SHIPPED_MODELS / f"{speech}2{music}"
        if music == "man":
            raise QuadpredError("no Mandarin-music model ships: quadpred has no real Mandarin music to train one; "
                                "train your own with `quadpred transfer` and pass --model")
        members = shipped_members(folder)
        if not members:
            available = sorted(p.name for p in SHIPPED_MODELS.glob("*2*") if shipped_members(p))
            raise QuadpredError(f"no shipped model for speech {speech!r} and music {music!r} "
                                f"(shipped: {', '.join(available) or 'none yet'}); pass --model DIR of a model "
                                "from `quadpred transfer`")
        return cls.from_dirs(members[:1] if fast else members, **kwargs)

    def _chunks_outputs(self, spectrogram: np.ndarray, embeddings: bool) -> dict[str, np.ndarray]:
        """{task: (steps, classes)} probabilities of every chunk, and with ``embeddings`` also
        "embeddings": (steps, units) of the shared layer (computed in float32)."""
        x = torch.from_numpy(chunk(spectrogram, chunk_frames=self.features.chunk_frames, hop_frames=self.hop_frames))
        batches = [x[begin:begin + self.batch_size] for begin in range(0, len(x), self.batch_size)]
        outputs = dict(infer(self.model.probabilities, batches, self.device, precision=self.precision))
        if embeddings:
            outputs["embeddings"] = infer(self.model.representation, batches, self.device)
        return outputs

    def spectrogram(self, audio: str | Path | np.ndarray, sr: int | None = None, *,
                    block_seconds: float = 30.0, limits: ReadLimits = ReadLimits()) -> tuple[np.ndarray, float, str]:
        """(n_mels, frames) log-mel, duration in seconds and a name, of a file (read in blocks,
        within ``limits``) or of a signal at ``sr``: a NumPy array, torch tensor or list shaped
        (samples,) or (channels, samples) (see :func:`audio.mono_from_array`)."""
        config = self.features
        if not isinstance(audio, (str, Path)):
            if sr is None:
                raise QuadpredError("predict(array) needs its sample rate: predict(samples, sr=44100)")
            y = to_model_input(mono_from_array(audio), sr, target_rate=config.sample_rate, name="array")
            return compute_log_mel(y, config), len(y) / config.sample_rate, "array"
        spectrogram, duration = stream_log_mel(audio, config, block_seconds=block_seconds, limits=limits)
        return spectrogram, duration, str(audio)

    def predict(self, audio: str | Path | np.ndarray, sr: int | None = None, *, block_seconds: float = 30.0,
                embeddings: bool = False) -> Prediction:
        """Probabilities of a file (read in blocks) or of a signal at ``sr`` ((samples,) or (channels,
        samples)); ``embeddings``: also each step's shared-layer representation (``.embeddings``)."""
        return self.from_spectrogram(*self.spectrogram(audio, sr, block_seconds=block_seconds), embeddings=embeddings)

    def from_spectrogram(self, spectrogram: np.ndarray, duration: float, source: str, *,
                         embeddings: bool = False) -> Prediction:
        """Probabilities of every chunk of a (n_mels, frames) log-mel (and their embeddings)."""
        config = self.features
        starts = chunk_starts(spectrogram.shape[1], chunk_frames=config.chunk_frames, hop_frames=self.hop_frames)
        if len(starts) == 0:
            needed = (config.chunk_frames - 1) * config.hop_length / config.sample_rate
            raise AudioError(f"{source}: too short ({duration:.3f} s); at least {needed:.3f} s are needed for one "
                             "prediction")
        seconds_per_frame = config.hop_length / config.sample_rate
        outputs = self._chunks_outputs(spectrogram, embeddings)
        vectors = outputs.pop("embeddings", None)
        return Prediction(source=source, duration=duration, start=starts * seconds_per_frame,
                          end=(starts + config.chunk_frames) * seconds_per_frame, probabilities=outputs,
                          labels=self.labels, model=self.name, provenance=self.provenance, embeddings=vectors)


def shipped_models() -> list[dict[str, Any]]:
    """One record per shipped model: name, members, stage, pretraining speech, training clips,
    held-out song-level quadrant F and how it was estimated."""
    records = []
    for folder in sorted(p for p in SHIPPED_MODELS.glob("*2*") if shipped_members(p)):
        members = shipped_members(folder)
        infos = [json.loads((member / CONFIG_NAME).read_text()) for member in members]
        if (folder / "cv.json").is_file():
            cv = json.loads((folder / "cv.json").read_text())
            score, how = cv["pooled"]["song_f1"], f"{cv['k']}-fold cross-validation, pooled out of fold"
        elif (folder / "metrics.json").is_file():
            score, how = json.loads((folder / "metrics.json").read_text())["test"]["song"]["quadrant"]["f1"], \
                "its grid run's test split (one split)"
        else:
            score, how = None, "not estimated"
        stages = dict.fromkeys(str(info.get("stage")) for info in infos)  # in member order, once each
        records.append({"name": folder.name, "members": len(members), "stage": " + ".join(stages),
                        "speech": Setting.parse(folder.name).speech,
                        "clips": infos[0].get("data", {}).get("clips"), "song_f1": score, "estimated_by": how})
    return records


def resolve_model(name: str | Path) -> list[Path]:
    """The model directories a ``--model`` value names: a model directory, a folder of an
    ensemble's ``member<k>/`` model directories (as shipped models are laid out), or a shipped
    model's name (``eng2eng``), which may be an ensemble."""
    path = Path(name)
    if path.is_dir() and (members := shipped_members(path)):
        return members
    if path.exists():
        return [path]  # a model directory, or load_model says what it lacks
    members = shipped_members(SHIPPED_MODELS / str(name))
    if not members:
        shipped = ", ".join(m["name"] for m in shipped_models())
        raise ModelDirError(f"{name} is neither a model directory nor a shipped model (shipped: {shipped}); "
                            "`quadpred models` lists them")
    return members


def shipped_members(folder: Path) -> list[Path]:
    """The model directories of a shipped model: the folder itself, or its ``member*/`` folders."""
    if (folder / CONFIG_NAME).is_file():
        return [folder]
    return sorted(p.parent for p in folder.glob(f"member*/{CONFIG_NAME}"))


def model_name(folder: str | Path) -> str:
    """How outputs name a model directory: 'shipped/<name>' for a shipped model, else its path
    relative to the working folder (never the user's absolute layout; the content hash of
    :func:`model_digest` identifies it wherever it lies)."""
    path = Path(folder).resolve()
    shipped = SHIPPED_MODELS.resolve()
    if path.parent == shipped:
        return f"shipped/{path.name}"
    if path.parent.parent == shipped:  # a member of a shipped ensemble, or its only member
        members = shipped_members(path.parent)
        return f"shipped/{path.parent.name}" + ("" if len(members) == 1 else f" ({path.name.replace('member', 'member ')})")
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:  # another drive (Windows)
        return path.name


def ensemble_name(folders: Sequence[str | Path]) -> str:
    """'shipped/<name>' when ``folders`` are all the members of one shipped model, else 'mean of ...'."""
    parents = {Path(folder).resolve().parent for folder in folders}
    if len(parents) == 1:
        (parent,) = parents
        if parent.parent == SHIPPED_MODELS.resolve() and len(folders) == len(shipped_members(parent)):
            return f"shipped/{parent.name}"
    return "mean of " + ", ".join(map(model_name, folders))


def model_digest(folders: Sequence[str | Path]) -> str:
    """SHA-256 (16 hex digits) of the weights and config of one or several model directories."""
    return hash_files(Path(folder) / name for folder in folders for name in (CONFIG_NAME, WEIGHTS_NAME)).hexdigest()[:16]


# --- batches of files ------------------------------------------------------------------------

def collect_inputs(inputs: list[str | Path]) -> list[tuple[Path, str]]:
    """(file, output name) for every audio file named or found (recursively) in a named folder.
    Output names are file names with their extension (song.mp3 -> song.mp3.csv, ...), mirroring
    a folder's sub-folders; two inputs with the same output name are an error."""
    found: list[tuple[Path, str]] = []
    if any(not str(item).strip() for item in inputs):
        # Path("") is the current folder: an unset shell variable would predict everything below it
        raise QuadpredError("an input path is empty (an unset variable in the command?): name the audio files "
                            "or folders, '.' for the current folder")
    for item in map(Path, inputs):
        if item.is_dir():
            files = audio_files_below(item)
            if not files:
                raise QuadpredError(f"{item}: no audio files found (looked for wav, flac, ogg, opus, mp3, ...)")
            found += [(f, str(f.relative_to(item))) for f in files]
        else:
            found.append((item, item.name))
    stems: dict[str, Path] = {}
    for path, stem in found:
        if stem in stems:
            raise QuadpredError(f"{path} and {stems[stem]} would write the same outputs ({stem}.*): "
                                "predict them into different output folders")
        stems[stem] = path
    return found


def write_outputs(prediction: Prediction, out: Path, stem: str, *, plot: bool = True) -> Path:
    """<name>.csv, <name>.npy (quadrant probabilities, the published tool's file), <name>.png
    (tag-gram), <name>.embeddings.npy (when the prediction has them) and <name>.json, written
    last: its presence marks the file as done."""
    (out / stem).parent.mkdir(parents=True, exist_ok=True)
    if prediction.embeddings is not None:
        with atomic_path(output_path(out, stem, EMBEDDINGS_SUFFIX)) as tmp, open(tmp, "wb") as handle:
            np.save(handle, prediction.embeddings.astype(np.float32))
    write_text_atomic(output_path(out, stem, ".csv"), prediction.to_csv())
    with atomic_path(output_path(out, stem, ".npy")) as tmp, open(tmp, "wb") as handle:
        np.save(handle, prediction.probabilities["quadrant"].astype(np.float32))
    if plot:
        from .plots import tag_gram

        tag_gram((prediction.start + prediction.end) / 2, prediction.probabilities, prediction.labels,
                 output_path(out, stem, ".png"), title=f"{Path(prediction.source).name} — top {prediction.top_quadrant}")
    marker = output_path(out, stem, ".json")
    write_text_atomic(marker, json.dumps(prediction.to_json()) + "\n")
    return marker


EMBEDDINGS_SUFFIX = ".embeddings.npy"


def output_path(out: Path, name: str, suffix: str) -> Path:
    return out / f"{name}{suffix}"


SUMMARY_COLUMNS = ["file", "status", "duration", "top_quadrant", *[f"quadrant_{q}" for q in QUADRANTS],
                   "arousal_positive", "valence_positive", "model", "outputs"]


def prepare_output_folder(out: Path) -> None:
    """Create ``out`` (a folder), or say in one line why it cannot be."""
    if str(out) == "-":
        raise QuadpredError("-o - (standard output) is not supported: give a folder, e.g. -o emotions/")
    if out.exists() and not out.is_dir():
        raise QuadpredError(f"{out} is a file, not a folder: give -o a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QuadpredError(f"cannot create the output folder {out}: {exc.strerror}; choose another -o") from exc


def reusable(marker: Path, provenance: dict[str, Any]) -> bool | None:
    """None if there is no output yet; True if the one there was made with ``provenance``;
    False if it was made otherwise (another model, version, hop or precision) or is unreadable."""
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text()).get("provenance") == provenance
    except (OSError, ValueError):
        return False


def merged_summary(path: Path, rows: list[dict[str, Any]]) -> str:
    """summary.csv text: the rows of this call, and the earlier rows of files not in it."""
    earlier: list[dict[str, Any]] = []
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            earlier = list(csv.DictReader(handle))
    now = {row["file"] for row in rows}
    kept = [row for row in earlier if row.get("file") not in now]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore", restval="")
    writer.writeheader()
    writer.writerows(kept + rows)
    return text.getvalue()


@dataclass
class BatchResult:
    """done: files predicted now; skipped_existing: kept from an earlier call; failed: file ->
    why it was skipped; summary: the summary.csv; rows: this call's summary rows; page: the
    listening page (None when not written)."""

    done: int
    skipped_existing: int
    failed: dict[str, str]
    summary: Path
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    page: Path | None = None


def predict_files(predictor: Predictor, inputs: list[str | Path], out: str | Path, *, force: bool = False,
                  no_overwrite: bool = False, progress: bool = True, plot: bool = True, page: bool = True,
                  embeddings: bool = False, limits: ReadLimits = ReadLimits()) -> BatchResult:
    """Predict every input file into ``out``; unreadable files, and files over ``limits`` (hours
    of audio, seconds to read), are reported and skipped. A file's
    outputs already there are kept when the same model and settings made them (its provenance),
    redone otherwise, or refused before any work with ``no_overwrite``; ``force`` redoes all.
    Writes ``out/summary.csv``, keeping the rows of earlier calls' other files, and (``page``) the
    listening page ``out/index.html`` of every file done there (listen.py). ``embeddings`` also
    writes each file's per-step shared-layer representation (NAME.embeddings.npy; a file done
    earlier without it is done again)."""
    out = Path(out)
    jobs = collect_inputs(inputs)
    prepare_output_folder(out)
    remove_stale_temporaries(out)
    rows, failed, done, kept = [], {}, 0, 0
    state = {path: reusable(output_path(out, stem, ".json"), predictor.provenance) for path, stem in jobs}
    if embeddings:  # outputs without the embeddings asked for are not finished
        state = {path: None if state[path] and not output_path(out, stem, EMBEDDINGS_SUFFIX).is_file() else state[path]
                 for path, stem in jobs}
    stale = [path for path, reuse in state.items() if reuse is False]
    if stale and no_overwrite and not force:
        raise QuadpredError(f"{len(stale)} output(s) in {out} were made by another model or settings (first: "
                            f"{stale[0]}); --no-overwrite keeps them: use another -o, or drop --no-overwrite to redo them")
    if stale and not force:
        log.info("redoing %d file(s) whose outputs another model or settings made", len(stale))
    todo = [path for path, _ in jobs if force or not state[path]]
    next_to_read = dict(zip(todo, todo[1:]))
    # decoding and the log-mel of the next file run in a thread while the network handles this one
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = {path: reader.submit(predictor.spectrogram, path, limits=limits) for path in todo[:1]}
        bar = tqdm(jobs, desc="predict", unit="file", disable=bar_off(progress))
        for path, stem in bar:
            marker = output_path(out, stem, ".json")
            try:
                if path not in pending:
                    kept += 1
                    result = json.loads(marker.read_text())
                else:
                    following = next_to_read.get(path)
                    if following is not None:
                        pending[following] = reader.submit(predictor.spectrogram, following, limits=limits)
                    prediction = predictor.from_spectrogram(*pending.pop(path).result(), embeddings=embeddings)
                    result = json.loads(write_outputs(prediction, out, stem, plot=plot).read_text())
                    done += 1
            except (AudioError, OSError) as exc:
                failed[str(path)] = str(exc)
                log.warning("skipped %s", exc)
                rows.append({"file": str(path), "status": f"skipped: {exc}"})
                continue
            means = result["means"]
            rows.append({"file": str(path), "status": "ok", "duration": result["duration"],
                         "top_quadrant": result["top_quadrant"],
                         **{f"quadrant_{q}": means["quadrant"][q] for q in QUADRANTS},
                         "arousal_positive": means["arousal"]["positive"],
                         "valence_positive": means["valence"]["positive"], "model": result["model"],
                         "outputs": str(out / stem) + ".*"})
    write_text_atomic(out / "summary.csv", merged_summary(out / "summary.csv", rows))
    listening = None
    if page:
        from .listen import summarised_results, write_page

        listening = write_page(out, summarised_results(out / "summary.csv"))
    return BatchResult(done=done, skipped_existing=kept, failed=failed, summary=out / "summary.csv", rows=rows,
                       page=listening)
