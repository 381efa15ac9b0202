"""The C heap under PyTorch on the CPU: keep freed buffers for reuse instead of returning them.

PyTorch allocates each layer's output with malloc. glibc's malloc serves blocks above its mmap
threshold (128 KiB, rising with use to at most 32 MiB) with fresh mappings and unmaps them on
free: so a network whose layer outputs exceed 32 MiB (about 32 chunks a batch in fp32) asks the
kernel for new pages, faulted in and zeroed, at every forward pass. Raising the thresholds keeps
the freed pages in the process for the next batch, as caching allocators do (ONNX Runtime's
arena, for one): inference at 256 chunks a batch, and so `predict` on whole songs, runs 1.1-1.4x
faster (docs/benchmarks.md, "The C heap"); the price is a higher peak of resident memory (about
15 % for `predict`), since up to ``TRIM_BYTES`` of freed memory stays with the process. Blocks
above ``MMAP_BYTES`` are still mapped apart and returned.

Only glibc has these knobs; elsewhere (macOS, Windows, musl) nothing changes. The environment
variable ``QUADPRED_MALLOC=system`` leaves glibc's defaults, for comparisons and for anyone who
prefers freed memory returned at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

MMAP_BYTES = 256 << 20   # larger than any batch's activations at 256 chunks (about 65 MB a layer)
TRIM_BYTES = 1 << 30     # freed memory kept at the top of the heap before it is returned
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # malloc.h
OPT_OUT = "QUADPRED_MALLOC"

_state: str | None = None


def keep_freed_memory() -> str:
    """Raise glibc malloc's mmap and trim thresholds for this process (once; later calls only
    report). Returns what was done: 'kept' (thresholds raised), 'system' (left at the defaults by
    QUADPRED_MALLOC=system), or 'not glibc'."""
    global _state
    if _state is not None:
        return _state
    if os.environ.get(OPT_OUT, "").strip().lower() == "system":
        _state = "system"
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _state = "not glibc"
    else:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        # some glibc versions refuse an mmap threshold above half their 64-MiB arena heaps (32 MiB)
        mapped = any(libc.mallopt(_M_MMAP_THRESHOLD, size) for size in (MMAP_BYTES, 32 << 20))
        _state = "kept" if mapped and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES) else "system"
    return _state


def describe_allocator() -> str:
    """One line for benchmarks: what :func:`keep_freed_memory` did in this process."""
    return {"kept": f"malloc keeps freed memory (mmap threshold {MMAP_BYTES >> 20} MiB, trim {TRIM_BYTES >> 20} MiB)",
            "system": "malloc at the system's defaults",
            "not glibc": "malloc not glibc's: left as it is",
            None: "malloc at the system's defaults (keep_freed_memory not called)"}[_state]
