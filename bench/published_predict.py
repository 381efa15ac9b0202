"""The published predictor's pipeline, for bench/predict.py (runs in bench/.venv-keras).

Per file, as quad_pred.py: librosa.load(sr=16000), peak normalisation, |stft| (window 1024,
hop 512), mel (128), log, 1-s chunks without overlap, Keras predict of the transfer
architecture (bench/keras_reference.py; random weights: only the speed is measured).
Prints one JSON line: files, seconds of audio, seconds of compute.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keras_reference import build  # noqa: E402


def features(path: Path) -> np.ndarray:
    y, _ = librosa.load(str(path), sr=16000)
    y = y / np.max(np.abs(y))
    magnitude = np.abs(librosa.stft(y, win_length=1024, hop_length=512, center=True))
    spec = np.log(librosa.feature.melspectrogram(S=magnitude, sr=16000, n_mels=128) + np.finfo(np.float32).eps)
    n = spec.shape[1] // 31
    return spec[:, : n * 31].reshape(128, n, 31).transpose(1, 0, 2)[..., None].astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    model = build()
    files = sorted(Path(args.folder).glob("*.mp3"))
    model.predict(features(files[0]), verbose=0)  # warm-up (graph building)
    audio = 0.0
    start = time.perf_counter()
    for path in files:
        x = features(path)
        model.predict(x, verbose=0)
        audio += librosa.get_duration(path=str(path))
    print(json.dumps({"files": len(files), "audio_seconds": audio, "compute_seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
