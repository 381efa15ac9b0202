"""A seeded generator of hostile audio files, and a watched run of quadpred's readers on each.

Kinds: random bytes; a valid file's header followed by garbage (wav, flac, ogg, mp3); valid files
cut at every header offset; hand-made WAV headers with absurd rates, channel counts, sample
formats and lengths; float WAVs holding NaN and inf. Each file is read in a child process with
a time and an address-space limit, and its outcome counted: ``ok`` (finite array), ``refused``
(quadpred's AudioError), ``foreign`` (any other exception), ``nan`` (a non-finite array came
back), ``hang`` (over the time limit) or ``crash`` (killed by a signal).

Used by tests/test_hostile.py (a few hundred files) and bench/fuzz.py (thousands).
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import resource
import struct
import tempfile
import traceback
from collections import Counter
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

# imported here, in the parent, so that each forked child starts with them loaded (milliseconds, not seconds)
from quadpred.audio import load_audio
from quadpred.errors import AudioError
from quadpred.streaming import stream_log_mel

FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}
# WAV format tags: PCM, IEEE float, A-law, u-law, and two unknown ones
WAV_TAGS = (1, 3, 6, 7, 2, 0xFFFE)
ABSURD_RATES = (0, 1, 3, 100, 3999, 4000, 16000, 96000, 2**31 - 1, 2**32 - 1)
ABSURD_CHANNELS = (0, 1, 2, 9, 255, 1000, 65535)
ABSURD_BITS = (0, 1, 7, 8, 16, 24, 32, 64, 1000)


def valid_file(kind: str, rng: np.random.Generator, seconds: float = 1.5) -> bytes:
    """A small real file of ``kind`` (a tone with noise)."""
    rate = int(rng.choice([8000, 16000, 22050, 44100]))
    t = np.arange(int(seconds * rate)) / rate
    y = (0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    buffer = io.BytesIO()
    container, subtype = FORMATS[kind]
    sf.write(buffer, y, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def wav_header(tag: int, channels: int, rate: int, bits: int, data_bytes: int) -> bytes:
    block = max(1, channels * max(bits, 8) // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", tag, channels & 0xFFFF, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block,
                      bits & 0xFFFF)
    return (b"RIFF" + struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", data_bytes & 0xFFFFFFFF))


def hostile_files(count: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``count`` (file name, bytes) pairs, the same for a seed (Ogg cases up to the stream serial
    number that libsndfile draws at random)."""
    rng = np.random.default_rng(seed)
    valid = {kind: valid_file(kind, rng) for kind in FORMATS}
    for number in range(count):
        case = number % 6
        kind = list(FORMATS)[number % len(FORMATS)]
        if case == 0:  # random bytes
            size = int(rng.integers(0, 200_000))
            yield f"{number}-random.{kind}", rng.bytes(size)
        elif case == 1:  # a valid header, then garbage
            keep = int(rng.integers(4, 400))
            yield f"{number}-header-garbage.{kind}", valid[kind][:keep] + rng.bytes(int(rng.integers(0, 100_000)))
        elif case == 2:  # a valid file cut at a header offset or anywhere
            data = valid[kind]
            cut = int(number // 6 % 80) if rng.random() < 0.6 else int(rng.integers(0, len(data)))
            yield f"{number}-cut{cut}.{kind}", data[:cut]
        elif case == 3:  # absurd WAV header fields over a little data
            tag, channels = int(rng.choice(WAV_TAGS)), int(rng.choice(ABSURD_CHANNELS))
            rate, bits = int(rng.choice(ABSURD_RATES)), int(rng.choice(ABSURD_BITS))
            body = rng.bytes(int(rng.integers(0, 160_000)))
            announced = len(body) if rng.random() < 0.5 else int(rng.integers(0, 2**32))
            yield f"{number}-absurd-{tag}-{channels}ch-{rate}hz-{bits}b.wav", wav_header(tag, channels, rate, bits,
                                                                                          announced) + body
        elif case == 4:  # float WAVs with NaN and inf
            y = rng.standard_normal(int(rng.integers(100, 40_000))).astype(np.float32) * 0.1
            y[rng.integers(0, len(y), size=int(rng.integers(1, 50)))] = rng.choice([np.nan, np.inf, -np.inf])
            # by hand: libsndfile's float WAVs carry a PEAK chunk stamped with the time of writing
            body = y.astype("<f4").tobytes()
            yield f"{number}-nonfinite.wav", wav_header(3, 1, 16000, 32, len(body)) + body
        else:  # a valid file with bytes flipped after the header
            data = bytearray(valid[kind])
            for index in rng.integers(min(64, len(data) - 1), len(data), size=int(rng.integers(1, 200))):
                data[int(index)] = int(rng.integers(0, 256))
            yield f"{number}-flipped.{kind}", bytes(data)


def _read(path: str, reader: str, sender: Connection, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    torch.set_num_threads(1)  # a forked child re-creating the parent's thread pool takes seconds
    try:
        array = load_audio(path) if reader == "load_audio" else stream_log_mel(path)[0]
        sender.send("ok" if np.all(np.isfinite(array)) else "nan")
    except AudioError:
        sender.send("refused")
    except BaseException:  # noqa: BLE001 - anything else is what the fuzz suite looks for
        sender.send("foreign: " + traceback.format_exc(limit=2).strip().splitlines()[-1][:200])


@functools.cache
def warm_up() -> None:
    """Run both readers once in this process: their first call initialises libraries for seconds,
    and forked children then inherit that instead of paying it against their time limit."""
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder) / "warm-up.wav"
        sf.write(warm, 0.1 * np.sin(np.arange(16000, dtype=np.float32) / 5), 16000)
        load_audio(warm), stream_log_mel(warm)


def watched_outcome(path: Path, reader: str, *, seconds: float = 10.0, memory_bytes: int = 3 << 30) -> str:
    """The outcome of one reader ('load_audio' or 'stream_log_mel') on one file, in a child process."""
    warm_up()
    context = multiprocessing.get_context("fork")
    # a pipe, not a Queue: a Queue starts a feeder thread, and a thread started in a child forked
    # from a multi-threaded parent (pytest after torch, tqdm, ...) can wait forever
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_read, args=(str(path), reader, sender, memory_bytes))
    child.start()
    sender.close()
    child.join(seconds)
    if child.is_alive():
        child.kill()
        child.join()
        return "hang"
    if receiver.poll():
        return receiver.recv()
    return f"crash (exit {child.exitcode})"


def fuzz(folder: Path, count: int, seed: int = 0, readers: tuple[str, ...] = ("load_audio", "stream_log_mel"),
         seconds: float = 10.0) -> tuple[Counter, dict[str, str]]:
    """Write ``count`` hostile files into ``folder`` and read each with each reader. Returns the
    counts by outcome kind and, for every unwanted outcome, file and reader -> what happened."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    bad: dict[str, str] = {}
    for name, data in hostile_files(count, seed):
        path = folder / name
        path.write_bytes(data)
        for reader in readers:
            outcome = watched_outcome(path, reader, seconds=seconds)
            kind = outcome.split(":")[0].split(" ")[0]
            counts[kind] += 1
            if kind not in ("ok", "refused"):
                bad[f"{name} ({reader})"] = outcome
    return counts, bad
