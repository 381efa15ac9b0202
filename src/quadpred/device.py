"""Where the network runs and in which number format: the device, and the precision 'auto' resolves to.

bfloat16 halves the cost of the multiply-adds only where the hardware has it: CPUs with
AVX512_BF16 or AMX, and CUDA GPUs that support it. Elsewhere PyTorch emulates it, about ten
times slower than float32 (measured on an AVX2 EPYC: docs/benchmarks.md), so 'auto' — the
default of training and prediction — takes bf16 only where it is native.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch

from .errors import TrainingError

log = logging.getLogger("quadpred")

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_warned: set[str] = set()


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available (this process's GPU under torchrun), else CPU; 'cpu', 'cuda',
    'cuda:1' as given."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU: use --device cpu")
    return device


def _cpu_flag(name: str) -> bool:
    probe: Callable[[], bool] | None = getattr(torch.cpu, name, None)
    return bool(probe()) if probe is not None else False


# oneDNN instruction-set limits (ONEDNN_MAX_CPU_ISA) under which it has no bf16 dot products
_ONEDNN_ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bfloat16 in hardware (AVX512_BF16 or AMX tiles) and PyTorch may
    use it: not where ATEN_CPU_CAPABILITY or ONEDNN_MAX_CPU_ISA hold the kernels below AVX-512
    (as on a machine that lacks it, and as our benchmarks do to stand in for one)."""
    if not (_cpu_flag("_is_avx512_bf16_supported") or _cpu_flag("_is_amx_tile_supported")):
        return False
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").strip().upper() not in _ONEDNN_ISAS_WITHOUT_BF16


def describe_cpu() -> str:
    """One line for logs and benchmarks, e.g. 'cpu capability AVX512, native bf16: yes (auto -> bf16)'."""
    native = cpu_has_native_bf16()
    return (f"cpu capability {torch.backends.cpu.get_cpu_capability()}, native bf16: {'yes' if native else 'no'} "
            f"(precision auto -> {resolve_precision('auto', torch.device('cpu'))})")


def resolve_precision(precision: str, device: torch.device | str, *,
                      native_bf16: Callable[[], bool] | None = None,
                      cuda_bf16: Callable[[], bool] | None = None) -> str:
    """The number format a run uses: 'auto' -> 'bf16' on a CPU with native bf16 or a GPU that
    supports it, else 'fp32'. 'bf16' forced on a CPU without it is kept, with one warning of its
    cost; 'fp16' on a CPU is refused. ``native_bf16``/``cuda_bf16`` are the capability probes
    (default: cpu_has_native_bf16, torch.cuda.is_bf16_supported)."""
    if precision not in PRECISIONS:
        raise TrainingError(f"precision {precision!r} unknown: use {', '.join(map(repr, PRECISIONS))}")
    device = torch.device(device)
    if device.type == "cuda":
        supported = (cuda_bf16 or torch.cuda.is_bf16_supported)()
        return ("bf16" if supported else "fp32") if precision == "auto" else precision
    if precision == "fp16":
        raise TrainingError("precision fp16 needs a GPU: use auto, bf16 or fp32 on the CPU")
    native_bf16 = native_bf16 or cpu_has_native_bf16
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    if precision == "bf16" and not native_bf16() and "bf16" not in _warned:
        _warned.add("bf16")
        log.warning("precision bf16 on a CPU without native bf16 (capability %s): it is emulated, about 10x slower "
                    "than fp32; use --precision auto (the default) or fp32", torch.backends.cpu.get_cpu_capability())
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision for bf16 or fp16 ('auto' resolved first); fp32: none."""
    precision = resolve_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


Output = torch.Tensor | Mapping[str, torch.Tensor]


def infer(function: Callable[[torch.Tensor], Output], inputs: Iterable[torch.Tensor], device: torch.device, *,
          precision: str = "fp32") -> np.ndarray | dict[str, np.ndarray]:
    """``function`` over batches of inputs on ``device`` in ``precision``, without gradients; its
    outputs as float32 NumPy arrays concatenated over the batches: one array, or one per key when it
    returns a dict. The one batched-inference loop of stages, predict, songpool and the probes."""
    parts: list[Output] = []
    with torch.inference_mode(), autocast(device, precision):
        for x in inputs:
            output = function(x.to(device))
            parts.append({k: v.float().cpu() for k, v in output.items()} if isinstance(output, Mapping)
                         else output.float().cpu())
    if parts and isinstance(parts[0], Mapping):
        return {key: torch.cat([part[key] for part in parts]).numpy() for key in parts[0]}  # type: ignore[index]
    return torch.cat(parts).numpy() if parts else np.zeros((0,), dtype=np.float32)  # type: ignore[arg-type]


def distributed_rank_world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless torch.distributed is initialised."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1
