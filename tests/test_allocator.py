"""Keeping freed memory: large buffers are reused instead of faulted in again, on glibc only."""

import os
import platform
import subprocess
import sys

from quadpred import allocator

# a 64-MiB buffer, as large as a layer's output at 256 chunks a batch: is it mapped apart (and so
# returned to the OS when freed, to be faulted in again), and does the heap keep it once freed?
HEAP = """
import ctypes, sys
import numpy as np
from quadpred.allocator import keep_freed_memory
state = keep_freed_memory() if sys.argv[1] == "keep" else "untouched"
class Info(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
buffer = np.ones(64 << 20, dtype=np.uint8)
mapped_apart = libc.mallinfo2().hblkhd >= 64 << 20
del buffer
print(state, int(mapped_apart), int(libc.mallinfo2().fordblks >= 64 << 20))
"""

ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
WITH_MALLINFO2 = ON_GLIBC and tuple(map(int, platform.libc_ver()[1].split(".")[:2])) >= (2, 33)  # it reads the heap


def heap(mode: str, **env: str) -> list[str]:
    """[what keep_freed_memory did, '1' if the buffer was mapped apart, '1' if the heap kept it freed]"""
    return subprocess.run([sys.executable, "-c", HEAP, mode], capture_output=True, text=True, check=True,
                          env={**os.environ, allocator.OPT_OUT: "", **env}).stdout.split()


def test_kept_memory_serves_large_buffers_from_the_heap_and_keeps_them_and_the_opt_out_restores_the_defaults():
    if not WITH_MALLINFO2:  # macOS, Windows, musl: nothing to set; glibc before 2.33: no mallinfo2 to read
        assert allocator.keep_freed_memory() == ("kept" if ON_GLIBC else "not glibc")
        return
    assert heap("untouched") == ["untouched", "1", "0"]  # glibc's defaults: mapped, returned when freed
    assert heap("keep") == ["kept", "0", "1"]
    assert heap("keep", QUADPRED_MALLOC="system") == ["system", "1", "0"]


def test_only_glibc_is_touched_and_the_choice_is_made_once(monkeypatch):
    monkeypatch.setattr(allocator, "_state", None)
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert allocator.keep_freed_memory() == "not glibc"
    assert "not glibc" in allocator.describe_allocator()
    monkeypatch.setattr(platform, "libc_ver", lambda: ("glibc", "2.36"))
    assert allocator.keep_freed_memory() == "not glibc"  # decided once per process
    monkeypatch.setattr(allocator, "_state", None)
    assert "not called" in allocator.describe_allocator()


def test_every_command_keeps_freed_memory():
    script = ("import sys; from quadpred.cli import main; status = main(sys.argv[1:]); "
              "from quadpred.allocator import keep_freed_memory; print(status, keep_freed_memory())")
    out = subprocess.run([sys.executable, "-c", script, "models"], capture_output=True, text=True, check=True,
                         env={**os.environ, allocator.OPT_OUT: ""}).stdout.split()
    assert out[-2:] == ["0", "kept" if ON_GLIBC else "not glibc"]
