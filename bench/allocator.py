"""What keeping freed memory (quadpred.allocator.keep_freed_memory, which every `quadpred` command
calls) is worth: the same work in two fresh processes, one with glibc malloc's thresholds raised
and one at the system's defaults (QUADPRED_MALLOC=system), in one run; each process twice, the
best kept. The work is bench/train.py's training steps and inference, inference at 256 chunks a
batch (scoring, and `predict` on a file of over 4 minutes) and at 29 (a 30-s file), and
bench/predict.py's `Predictor.predict` over 30-s files and over 4-minute songs; each in fp32 and
at precision auto. Last, each side's peak resident memory.

    python bench/allocator.py [--files 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def inference(batch: int, precision: str, chunks: int = 2048) -> float:
    """Chunks a second of the full-size network's forward pass at ``batch`` chunks a batch."""
    import torch

    from quadpred.config import FeatureConfig, ModelConfig
    from quadpred.device import autocast
    from quadpred.models import build_emotion_net

    torch.manual_seed(0)
    model = build_emotion_net(ModelConfig(), FeatureConfig()).eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, 128, 31).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(x.device, precision):
        model(x)
        start, done = time.perf_counter(), 0
        while done < chunks:
            model(x)
            done += batch
    return done / (time.perf_counter() - start)


def child(songs: Path, model: Path, audio: float) -> dict[str, float]:
    """Every measurement in this process (the allocator as the environment set it)."""
    import soundfile as sf
    import torch

    from quadpred.allocator import describe_allocator, keep_freed_memory
    from quadpred.device import resolve_precision

    keep_freed_memory()
    import predict as predict_bench
    import train as train_bench

    auto = resolve_precision("auto", torch.device("cpu"))
    long_audio = sum(sf.info(path).duration for path in (songs.parent / "long").glob("*.mp3"))
    results: dict[str, float] = {}
    for precision in dict.fromkeys(("fp32", auto)):
        steps = train_bench.ours(64, 10, precision)
        results[f"training ({precision}, 64 chunks a batch): chunks/s"] = steps["train"]
        for batch in (256, 29):
            results[f"inference ({precision}, {batch} chunks a batch): chunks/s"] = inference(batch, precision)
        results[f"predict ({precision}, 30-s files): x real time"] = audio / predict_bench.ours(songs, model, precision)
        results[f"predict ({precision}, 4-min songs): x real time"] = \
            long_audio / predict_bench.ours(songs.parent / "long", model, precision)
    results["peak resident memory: MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["allocator"] = describe_allocator()  # type: ignore[assignment]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=3, metavar=("SONGS", "MODEL", "AUDIO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(HERE))  # the sibling benchmarks, in the parent and in each child
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]), float(args.child[2]))))
        return

    import predict as predict_bench

    from quadpred.device import describe_cpu

    print(describe_cpu(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        songs = Path(tmp) / "songs"
        songs.mkdir()
        audio = predict_bench.make_songs(songs, args.files)
        (Path(tmp) / "long").mkdir()
        predict_bench.make_songs(Path(tmp) / "long", 4, seconds=240.0)
        model = predict_bench.model_dir(Path(tmp) / "model")
        runs: dict[str, list[dict]] = {"kept": [], "returned": []}
        for _ in range(2):
            for side, setting in (("returned", "system"), ("kept", "")):
                env = {**os.environ, "QUADPRED_MALLOC": setting, "OMP_NUM_THREADS": str(args.threads)}
                out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--child", str(songs),
                                      str(model), str(audio)], capture_output=True, text=True, check=True, env=env)
                runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"kept: {runs['kept'][0]['allocator']}; returned: {runs['returned'][0]['allocator']}")
        for key in runs["kept"][0]:
            if key == "allocator":
                continue
            what, unit = key.split(": ")
            pick = min if unit == "MB" else max
            kept, returned = (pick(run[key] for run in runs[side]) for side in ("kept", "returned"))
            print(f"{what}: kept {kept:.1f} {unit}, returned {returned:.1f} {unit}, ratio {kept / returned:.2f}")
        print(f"{args.files} files of 30 s (mp3, 22.05 kHz), {args.threads} thread(s), best of 2 processes a side")


if __name__ == "__main__":
    main()
