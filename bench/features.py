"""Feature-extraction throughput: quadpred against the published pipeline, in one run.

The published pipeline (SYSTEM.md, Features): ``librosa.load(sr=16000)`` then
``|librosa.stft(win_length=1024, hop_length=512)|``, ``melspectrogram(S=...)`` and a log.
Ours: ``quadpred.audio.load_audio`` then ``quadpred.features.compute_log_mel``.
Both run single-threaded in one process on the same files; then our store extraction
runs with 1 and 2 processes. Each line prints seconds of audio per second of compute
("x real time") and the ratio.

    python bench/features.py                       # 24 generated 30-s music clips (mp3, 22.05 kHz)
    python bench/features.py --root ../shared/data/4q-emotion --limit 60   # real clips
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from quadpred.allocator import describe_allocator, keep_freed_memory  # noqa: E402
from quadpred.audio import audio_files_below, load_audio  # noqa: E402
from quadpred.config import FeatureConfig  # noqa: E402
from quadpred.device import describe_cpu  # noqa: E402
from quadpred.features import compute_log_mel  # noqa: E402
from quadpred.manifest import Clip  # noqa: E402
from quadpred.store import extract  # noqa: E402


def published(path: Path) -> np.ndarray:
    y, _ = librosa.load(str(path), sr=16000)
    y = y / np.max(np.abs(y))  # the study peak-normalises each file
    magnitude = np.abs(librosa.stft(y, win_length=1024, hop_length=512, center=True, pad_mode="reflect"))
    return np.log(librosa.feature.melspectrogram(S=magnitude, sr=16000, n_mels=128) + np.finfo(np.float32).eps)


def ours(path: Path) -> np.ndarray:
    return compute_log_mel(load_audio(path), FeatureConfig())


def generate(folder: Path, n: int) -> list[Path]:
    from quadpred.synth.music import SAMPLE_RATE, draw_cues, render

    paths = []
    for i in range(n):
        rng = np.random.default_rng([7, i])
        signal = render(draw_cues(f"Q{i % 4 + 1}", rng, vocal_share=0.0), 30.0, "eng", rng)
        path = folder / f"clip{i:03d}.mp3"
        sf.write(path, signal, SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III")
        paths.append(path)
    return paths


def rate(fn, paths: list[Path], seconds: float, repeats: int) -> float:
    fn(paths[0])  # warm-up: imports, filter banks
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for path in paths:
            fn(path)
        best = min(best, time.perf_counter() - start)
    return seconds / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="folder of audio files (default: generate clips)")
    parser.add_argument("--limit", type=int, default=24, help="number of files")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes; the best is kept")
    args = parser.parse_args()
    keep_freed_memory()  # as every `quadpred` command does
    print(describe_cpu(), describe_allocator(), sep="; ", flush=True)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = audio_files_below(args.root)[: args.limit] if args.root else generate(Path(tmp), args.limit)
        seconds = sum(sf.info(str(p)).duration for p in paths)
        print(f"files: {len(paths)}, {seconds / 60:.1f} min of audio, first {paths[0].name}")
        difference = np.max(np.abs(ours(paths[0]) - published(paths[0])))
        print(f"agreement: max |ours - published| on the first file's log-mel = {difference:.2e}")

        a, b = rate(ours, paths, seconds, args.repeats), rate(published, paths, seconds, args.repeats)
        print(f"decode+features, 1 process: ours {a:.0f} x real time, published {b:.0f} x real time, ratio {a / b:.2f}")
        signals = {p: load_audio(p) for p in paths}
        a = rate(lambda p: compute_log_mel(signals[p]), paths, seconds, args.repeats)
        b = rate(lambda p: published_features(signals[p]), paths, seconds, args.repeats)
        print(f"features only (decoded), 1 process: ours {a:.0f} x real time, published {b:.0f} x real time, "
              f"ratio {a / b:.2f}")

        # Four passes over the files (distinct ids) so that process start-up weighs little.
        clips = [Clip(id=f"{p.stem}-{k}", path=str(p), duration=0.0, language="eng", group=p.stem)
                 for k in range(4) for p in paths]
        seconds *= 4
        times = {}
        for workers in (1, 2):
            start = time.perf_counter()
            extract(clips, Path(tmp) / f"store{workers}", workers=workers, progress=False)
            times[workers] = time.perf_counter() - start
        print(f"store extraction: 1 process {seconds / times[1]:.0f} x real time, 2 processes "
              f"{seconds / times[2]:.0f} x real time, ratio {times[1] / times[2]:.2f} (ideal 2)")
        handcrafted_line(paths, signals, seconds / 4, args.repeats)


def handcrafted_line(paths: list[Path], signals: dict, seconds: float, repeats: int) -> None:
    """The DAE baseline's features (openSMILE IS13 LLDs + deltas, mean/sd per 1-s window)."""
    try:
        from quadpred.config import SmileConfig
        from quadpred.handcrafted import compute_handcrafted
    except ImportError:
        return
    try:
        a = rate(lambda p: compute_handcrafted(signals[p], SmileConfig()), paths, seconds, repeats)
    except Exception as exc:  # noqa: BLE001 - openSMILE is an optional extra
        print(f"hand-crafted features: not measured ({exc})")
        return
    b = rate(lambda p: compute_log_mel(signals[p]), paths, seconds, repeats)
    print(f"hand-crafted features (IS13 LLD + deltas -> 260 per 0.5 s), decoded, 1 process: {a:.0f} x real time "
          f"(log-mel: {b:.0f} x real time, ratio {a / b:.2f})")


def published_features(y: np.ndarray) -> np.ndarray:
    magnitude = np.abs(librosa.stft(y, win_length=1024, hop_length=512, center=True, pad_mode="reflect"))
    return np.log(librosa.feature.melspectrogram(S=magnitude, sr=16000, n_mels=128) + np.finfo(np.float32).eps)


if __name__ == "__main__":
    main()
