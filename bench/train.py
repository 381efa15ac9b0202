"""Training-step and inference throughput of the transfer model: quadpred against the published
architecture in Keras/TensorFlow, same batch, same machine, in one run.

The Keras side runs bench/keras_reference.py in the benchmark's own environment
(``make bench-env`` creates bench/.venv-keras with tensorflow-cpu; never a quadpred
dependency). Ours runs the training loop's own ``train_step`` in fp32 and in bf16 autocast
(checked against fp32), channels-last, and inference in inference mode. One line per comparison,
each with its achieved GFLOP/s as a share of the CPU's measured matrix-multiply rate (the ceiling).

    python bench/train.py [--batch 64] [--steps 10] [--keras-python bench/.venv-keras/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from quadpred.allocator import describe_allocator, keep_freed_memory
from quadpred.config import FeatureConfig, ModelConfig
from quadpred.device import autocast, cpu_has_native_bf16, describe_cpu
from quadpred.models import build_emotion_net
from quadpred.objectives import MultiTask
from quadpred.train import train_step

HERE = Path(__file__).resolve().parent


def ours(batch: int, steps: int, precision: str) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_emotion_net(ModelConfig(), FeatureConfig()).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, 128, 31)
    y = torch.stack([torch.randint(0, k, (batch,)) for k in (4, 2, 2)], dim=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    objective = MultiTask()
    model.train()
    for _ in range(3):
        train_step(model, objective, (x, y), optimiser, precision=precision)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, objective, (x, y), optimiser, precision=precision)
    train = batch * steps / (time.perf_counter() - start)
    model.eval()
    with torch.inference_mode(), autocast(x.device, precision):
        for _ in range(3):
            model(x)
        start = time.perf_counter()
        for _ in range(steps * 3):
            model(x)
        infer = batch * steps * 3 / (time.perf_counter() - start)
    return {"train": train, "infer": infer}


def agreement(batch: int) -> tuple[float, float]:
    """Largest difference of bf16 from fp32: output probabilities of one model, and the loss
    after 20 training steps from the same start."""
    torch.manual_seed(0)
    reference = build_emotion_net(ModelConfig(), FeatureConfig()).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, 128, 31)
    y = torch.stack([torch.randint(0, k, (batch,)) for k in (4, 2, 2)], dim=1)
    with torch.inference_mode():
        fp32 = reference.eval().probabilities(x)
        with autocast(x.device, "bf16"):
            bf16 = reference.probabilities(x)
    probability_gap = max((fp32[t] - bf16[t].float()).abs().max().item() for t in fp32)
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = build_emotion_net(ModelConfig(), FeatureConfig()).to(memory_format=torch.channels_last).train()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
        for step in range(20):
            torch.manual_seed(step)
            losses[precision] = train_step(model, MultiTask(), (x, y), optimiser, precision=precision)
    return probability_gap, abs(losses["fp32"] - losses["bf16"]) / losses["fp32"]


def keras(python: str, batch: int, steps: int, threads: int) -> dict[str, float] | None:
    if not Path(python).exists():
        print(f"keras: {python} not found; run `make bench-env` to create the reference environment")
        return None
    out = subprocess.run([python, str(HERE / "keras_reference.py"), "--batch", str(batch), "--steps", str(steps),
                          "--threads", str(threads)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def matmul_ceiling(precision: str, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of this CPU's best dense matrix multiply at the current threads (the practical peak
    the network's convolutions can approach): the best of ``repeats`` (size x size) products."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--keras-python", default=str(HERE / ".venv-keras" / "bin" / "python"))
    args = parser.parse_args()
    keep_freed_memory()  # as every `quadpred` command does
    print(describe_cpu(), describe_allocator(), sep="; ", flush=True)
    threads = torch.get_num_threads()
    model = build_emotion_net(ModelConfig(), FeatureConfig()).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(args.batch, 1, 128, 31))
    gflop = counter.get_total_flops() / args.batch / 1e9
    print(f"model: {gflop:.3f} GFLOP per chunk forward (~{3 * gflop:.2f} per training step), "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, {threads} threads, batch {args.batch}, "
          f"torch {torch.__version__}, {os.cpu_count()} cores")
    reference = keras(args.keras_python, args.batch, args.steps, threads)
    results = {precision: ours(args.batch, args.steps, precision) for precision in ("fp32", "bf16")}
    # emulated bf16 has no ceiling of its own (its matrix multiply falls back to scalar code, slower
    # than the emulated convolutions): it is measured against the fp32 one, the rate it gives up
    native = cpu_has_native_bf16()
    ceiling = {"fp32": matmul_ceiling("fp32")}
    ceiling["bf16"] = matmul_ceiling("bf16") if native else ceiling["fp32"]
    print(f"matrix-multiply ceiling: fp32 {ceiling['fp32']:.0f} GFLOP/s, "
          + (f"bf16 {ceiling['bf16']:.0f} GFLOP/s" if native else "bf16 emulated here (its lines: share of fp32's)"))
    for kind, name in (("train", "training"), ("infer", "inference")):
        for precision, measured in results.items():
            line = f"{name} ({precision}): ours {measured[kind]:.1f} chunks/s"
            if reference:
                line += f", keras {reference[kind]:.1f} chunks/s, ratio {measured[kind] / reference[kind]:.2f}"
            factor = 3 if kind == "train" else 1
            achieved = measured[kind] * factor * gflop
            against = precision if native else "fp32"
            print(f"{line}  [{achieved:.0f} GFLOP/s, {100 * achieved / ceiling[precision]:.0f} % of the {against} "
                  "matrix-multiply ceiling]")
    gap, loss_gap = agreement(args.batch)
    print(f"bf16 vs fp32: largest probability difference {gap:.4f}; loss after 20 steps differs by {100 * loss_gap:.2f} %")
    if reference:
        print(f"keras reference: tensorflow {reference['tensorflow']}, {reference['parameters']:,} parameters "
              "(batch-norm statistics included)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
