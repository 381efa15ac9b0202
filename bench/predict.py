"""End-to-end prediction speed: seconds of music per second of compute for a folder of 30-s
files, quadpred against the published pipeline (librosa features + the Keras model of the same
architecture, in the benchmark's own environment: `make bench-env`), in one run.

Ours runs `quadpred.predict.Predictor.predict` on every file (decode in blocks, log-mel, network)
in fp32 and in bf16, then `quadpred predict`'s batch at the CLI's precision (auto): with its data
outputs only, and with the CLI's defaults (tag-gram PNGs and the listen page too); last the same
batch with the shipped default model, an ensemble of several networks, as `quadpred predict` runs it.

    python bench/predict.py [--files 24] [--seconds 30] [--keras-python bench/.venv-keras/bin/python]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from quadpred.allocator import describe_allocator, keep_freed_memory
from quadpred.config import FeatureConfig, ModelConfig
from quadpred.device import describe_cpu
from quadpred.modeldir import save_weights, write_json
from quadpred.models import build_emotion_net
from quadpred.predict import Predictor, predict_files

HERE = Path(__file__).resolve().parent


def make_songs(folder: Path, count: int, seconds: float = 30.0) -> float:
    """``count`` mp3 files of ``seconds`` each (22.05 kHz, as 4Q's mp3s): 30-s renders of the built-in
    world's music, end to end for a longer song; total seconds."""
    from quadpred.synth.music import SAMPLE_RATE, draw_cues, render

    rng = np.random.default_rng(0)
    for i in range(count):
        parts = [render(draw_cues(("Q1", "Q2", "Q3", "Q4")[(i + k) % 4], rng, vocal_share=0.0), 30.0, "eng", rng)
                 for k in range(math.ceil(seconds / 30.0))]
        sf.write(folder / f"song{i:03d}.mp3", np.concatenate(parts)[:round(seconds * SAMPLE_RATE)], SAMPLE_RATE)
    return seconds * count


def model_dir(folder: Path) -> Path:
    """A full-size transfer model with random weights (only speed is measured)."""
    from quadpred.config import to_dict
    from quadpred.labels import TASKS

    torch.manual_seed(0)
    model = build_emotion_net(ModelConfig(), FeatureConfig())
    folder.mkdir(parents=True)
    write_json(folder / "config.json", {"kind": "emotion", "stage": "full", "model": to_dict(ModelConfig()),
                                        "features": to_dict(FeatureConfig()), "labels": {t: list(n) for t, n in TASKS.items()}})
    save_weights(model, folder)
    (folder / "summary.json").write_text("{}")
    return folder


def ours(folder: Path, model: Path, precision: str) -> float:
    predictor = Predictor.from_dir(model, device="cpu", precision=precision)
    files = sorted(folder.glob("*.mp3"))
    predictor.predict(files[0])  # warm-up
    start = time.perf_counter()
    for path in files:
        predictor.predict(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each file (240: whole songs)")
    parser.add_argument("--keras-python", default=str(HERE / ".venv-keras" / "bin" / "python"))
    args = parser.parse_args()
    keep_freed_memory()  # as every `quadpred` command does
    print(describe_cpu(), describe_allocator(), sep="; ", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        songs = Path(tmp) / "songs"
        songs.mkdir()
        audio = make_songs(songs, args.files, args.seconds)
        model = model_dir(Path(tmp) / "model")
        reference = None
        if Path(args.keras_python).exists():
            out = subprocess.run([args.keras_python, str(HERE / "published_predict.py"), str(songs), "--threads",
                                  str(torch.get_num_threads())], capture_output=True, text=True, check=True)
            reference = json.loads(out.stdout.strip().splitlines()[-1])
            published = reference["audio_seconds"] / reference["compute_seconds"]
        else:
            print(f"published: {args.keras_python} not found; run `make bench-env`")
        for precision in ("fp32", "bf16"):
            speed = audio / ours(songs, model, precision)
            line = f"predict ({precision}): ours {speed:.0f} x real time"
            if reference:
                line += f", published {published:.0f} x real time, ratio {speed / published:.2f}"
            print(line)
        predictor = Predictor.from_dir(model, device="cpu")  # precision auto, as the CLI
        from quadpred.plots import tag_gram  # noqa: F401 - matplotlib's import (~1 s) is not per file
        for plot, what in ((False, "CSV/JSON/NPY outputs"), (True, "CLI defaults: also tag-gram PNGs and the page")):
            start = time.perf_counter()
            predict_files(predictor, [songs], Path(tmp) / f"out-{plot}", progress=False, plot=plot, page=plot)
            batch = audio / (time.perf_counter() - start)
            line = f"quadpred predict batch ({predictor.precision}, {what}): ours {batch:.0f} x real time"
            print(line + (f", published {published:.0f} x real time, ratio {batch / published:.2f}" if reference else ""))
        # what a user gets from `quadpred predict song.mp3`: the shipped default is an ensemble, several
        # networks to the published pipeline's one (--fast is the like-for-like single network)
        default = Predictor.shipped(device="cpu")
        members = len(default.info.get("ensemble", [None]))
        start = time.perf_counter()
        predict_files(default, [songs], Path(tmp) / "out-default", progress=False)
        batch = audio / (time.perf_counter() - start)
        line = (f"quadpred predict batch (the shipped default, {members} networks, {default.precision}, CLI defaults): "
                f"ours {batch:.0f} x real time")
        print(line + (f", published {published:.0f} x real time (one network), ratio {batch / published:.2f}"
                      if reference else ""))
        print(f"{args.files} files of {args.seconds:g} s (mp3, 22.05 kHz), {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
