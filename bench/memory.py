"""Peak memory of `predict` and `features` on long recordings: ours (read block by block) beside
the whole-file reference (decode everything, then the log-mel), each in a fresh process, on a
44.1-kHz stereo WAV of each length. One line per comparison:

    python bench/memory.py [--minutes 10 60 120] [--reference-up-to 60]

Peak resident memory is the process's ru_maxrss (it includes torch itself, ~0.4 GB). Ours keeps
freed memory for reuse, as every `quadpred` command does (quadpred.allocator); "predict, system
malloc" is the same prediction with glibc's defaults, the price of that.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from quadpred.device import describe_cpu

RATE = 44100
KEEP = "from quadpred.allocator import keep_freed_memory; keep_freed_memory(); "  # as the CLI does
WORK = {
    "predict": KEEP + "from quadpred.predict import Predictor; Predictor.shipped(device='cpu').predict(PATH)",
    "predict --fast": KEEP + "from quadpred.predict import Predictor; Predictor.shipped(device='cpu', fast=True).predict(PATH)",
    # what one `quadpred features` worker does for a clip: hash the audio, stream the log-mel, save the array
    "features": KEEP + "from quadpred.store import _extract_one; from quadpred.config import FeatureConfig; "
                "from quadpred.audio import ReadLimits; _extract_one(('clip', PATH, PATH + '.npy', FeatureConfig(), ReadLimits()))",
    "whole-file": "from quadpred.audio import load_audio; from quadpred.features import compute_log_mel; "
                  "compute_log_mel(load_audio(PATH))",
}


def long_wav(path: Path, minutes: float) -> None:
    """A stereo tone-and-noise WAV written a minute at a time (never whole in memory)."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", RATE, 2, subtype="PCM_16") as handle:
        for minute in range(int(minutes)):
            t = np.arange(60 * RATE) / RATE + 60 * minute
            y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))
            handle.write(np.stack([y, 0.8 * y], axis=1).astype(np.float32))


def peak_mb(code: str, path: Path) -> float:
    script = (code.replace("PATH", repr(str(path))) +
              "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 120])
    parser.add_argument("--reference-up-to", type=float, default=60, help="longest file for the whole-file reference")
    args = parser.parse_args()
    print(describe_cpu(), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for minutes in args.minutes:
            path = Path(folder) / f"{minutes:g}min.wav"
            long_wav(path, minutes)
            reference = peak_mb(WORK["whole-file"], path) if minutes <= args.reference_up_to else None
            system = peak_mb(WORK["predict"].replace(KEEP, ""), path)
            print(f"predict, system malloc {minutes:g} min 44.1-kHz stereo: ours {system:.0f} MB", flush=True)
            for name in ("predict", "predict --fast", "features"):
                ours = peak_mb(WORK[name], path)
                versus = f", whole-file {reference:.0f} MB, ratio {reference / ours:.2f}" if reference else ""
                print(f"{name} {minutes:g} min 44.1-kHz stereo: ours {ours:.0f} MB{versus}", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
