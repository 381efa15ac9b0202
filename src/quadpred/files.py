"""File and process plumbing: atomic writes (a temporary file, then a rename) and mapping
jobs over worker processes with a progress bar."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

Job = TypeVar("Job")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed, so no half-written file remains.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # mkstemp creates the file private (0600); the finished file gets the mode open() would give
    os.fchmod(fd, 0o666 & ~current_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def bar_off(progress: bool) -> bool | None:
    """tqdm's ``disable`` for a wanted progress bar: None lets tqdm draw it on a terminal only,
    so a log file gets no carriage-return updates (the steps' info lines say what was done)."""
    return None if progress else True


def hash_files(paths: Iterable[Path], digest: Any = None) -> Any:
    """``digest`` (a new SHA-256 by default) updated with the bytes of each file, read 1 MiB at a time."""
    digest = digest if digest is not None else hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest


def current_umask() -> int:
    """The process's umask (read by setting it, then restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def process_context() -> multiprocessing.context.BaseContext:
    """Worker start method: fork where the platform has it (workers start in milliseconds, as
    PyTorch's DataLoader workers do), else spawn."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def map_jobs(
    function: Callable[[Job], Any],
    jobs: Sequence[Job],
    *,
    workers: int,
    desc: str,
    unit: str,
    progress: bool = True,
    initializer: Callable[[], None] | None = None,
    dask: str | None = None,
) -> Iterable[Any]:
    """Yield ``function(job)`` for every job, in order, with a progress bar.

    ``dask``: the address of a Dask distributed scheduler (``tcp://host:8786``) whose workers run
    the jobs (they need quadpred installed and the files on a shared path); else ``workers`` > 1
    runs them in that many local processes (``function`` must be picklable); otherwise here.
    The bar is closed however the caller stops iterating.
    """
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=bar_off(progress and bool(jobs))) as bar:
        if dask and jobs:
            yield from _map_on_dask(function, jobs, dask, bar)
        elif workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(workers, mp_context=process_context(), initializer=_worker_start,
                                     initargs=(initializer,)) as pool:
                for result in pool.map(function, jobs, chunksize=4):
                    bar.update()
                    yield result
        else:
            for job in jobs:
                result = function(job)
                bar.update()
                yield result


def _worker_start(initializer: Callable[[], None] | None) -> None:
    die_with_parent()
    if initializer is not None:
        initializer()


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a killed batch leaves no workers
    behind); elsewhere nothing is done."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files that atomic writes left below ``folder`` when a process was
    killed mid-write (``.<name>.<random>.tmp``); returns how many. Call it at the start of a run
    that owns the folder."""
    removed = 0
    for path in folder.rglob(".*.tmp") if folder.is_dir() else ():
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _map_on_dask(function: Callable[[Job], Any], jobs: Sequence[Job], address: str, bar: tqdm) -> Iterator[Any]:
    try:
        from distributed import Client
    except ImportError as exc:
        from .errors import QuadpredError

        raise QuadpredError("--dask needs Dask distributed: pip install 'quadpred[cluster]'") from exc
    with Client(address, timeout=30) as client:
        futures = client.map(function, jobs, pure=False)
        try:
            for future in futures:
                result = future.result()
                bar.update()
                yield result
        finally:
            client.cancel(futures)
