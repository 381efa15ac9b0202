"""Measured growth: time and peak memory of feature extraction and of one training epoch for
1x, 2x, 4x and 8x a corpus (the tiny built-in world's English and Mandarin speech, ~4 min,
repeated ``--base`` times under new clip ids to make 1x), each measured in a fresh process (peak:
the largest resident size of that process or of any worker it started); one line per size and
the ratio per doubling (target: time ~2x, memory flat).

    python bench/scale.py [--base 4] [--sizes 1 2 4 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
from quadpred.allocator import keep_freed_memory; keep_freed_memory()
from quadpred.device import describe_cpu
from quadpred.config import FeatureConfig, RunConfig, apply_overrides
from quadpred.manifest import Clip, read_manifest
from quadpred.store import FeatureStore, extract
from quadpred.stages import pretrain

manifest, factor, out, what, workers = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
base = [c for path in manifest.split(",") for c in read_manifest(path)]
clips = [Clip(**{**c.__dict__, "id": f"{c.id}-x{k}", "group": f"{c.group}-x{k}"}) for k in range(factor) for c in base]
start = time.perf_counter()
if what == "extract":
    extract(clips, out / "store", FeatureConfig(), workers=workers, progress=False)
else:
    run = apply_overrides(RunConfig(), ["model.encoder.channels=[8,16,32]", "train.epochs=1", "train.batch_size=64"])
    pretrain(clips, FeatureStore.open(out / "store"), out / "run", run=run, progress=False, device="cpu")
seconds = time.perf_counter() - start
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024,
                  "clips": len(clips), "hours": sum(c.duration for c in clips) / 3600}))
"""


def measure(manifest: str, factor: int, out: Path, what: str, workers: int) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(manifest), str(factor), str(out), what, str(workers)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--base", type=int, default=4, help="copies of the tiny world's speech that make 1x")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from quadpred.allocator import describe_allocator, keep_freed_memory
    from quadpred.corpora.world import ensure_world, prepare_world
    from quadpred.device import describe_cpu

    keep_freed_memory()  # as every `quadpred` command does
    print(describe_cpu(), describe_allocator(), sep="; ", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        world = ensure_world(tmp / "world", scale="tiny", seed=0, workers=args.workers, progress=False)
        prepare_world(world, tmp / "manifests", seed=0)
        manifest = f"{tmp / 'manifests' / 'speech_eng.jsonl'},{tmp / 'manifests' / 'speech_man.jsonl'}"
        for what in ("extract", "train"):
            previous = None
            for factor in args.sizes:
                result = measure(manifest, factor * args.base, tmp / f"x{factor}", what, args.workers)
                line = (f"{what} x{factor}: {result['hours'] * 60:.1f} min of audio, {result['seconds']:.1f} s, "
                        f"peak {result['peak_mb']:.0f} MB")
                if previous:
                    doublings = math.log2(factor / previous[0])
                    time_ratio = (result["seconds"] / previous[1]) ** (1 / doublings)
                    memory_ratio = (result["peak_mb"] / previous[2]) ** (1 / doublings)
                    line += f"; per doubling: time x{time_ratio:.2f}, memory x{memory_ratio:.2f}"
                print(line, flush=True)
                previous = (factor, result["seconds"], result["peak_mb"])


if __name__ == "__main__":
    main()
