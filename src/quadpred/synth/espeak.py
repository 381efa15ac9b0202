"""eSpeak NG through ctypes, from the library and data shipped by ``espeakng-loader``.

One :class:`Voice` (language, variant, pitch, range, rate, volume) speaks a text into a
float32 signal. eSpeak keeps state between utterances (pitch flutter counters, libc
``rand``), so the same text would come out slightly different each time; to make every
utterance byte-identical whatever was spoken before, each is synthesised in a forked
child of a process whose engine is initialised but has never spoken.
"""

from __future__ import annotations

import ctypes
import functools
import os
from dataclasses import dataclass

import numpy as np

from ..errors import QuadpredError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_PARAMETERS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
LANGUAGE_VOICES = {"eng": "en-us", "man": "cmn"}
# Voice variants whose output is reproducible across processes; the breathy ones (f2, f3,
# f5, whisper, ...) add noise that differs from one process to the next.
VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f4", "anika", "aunty",
                             "belinda", "linda", "steph", "shelby", "grandma", "benjamin", "david", "john")


@dataclass(frozen=True)
class Voice:
    """A speaker: eSpeak voice variant and prosody. pitch and range in 0..100, rate in words/min."""

    language: str
    variant: str = "m1"
    pitch: int = 50
    range: int = 50
    rate: int = 160
    volume: int = 100
    wordgap: int = 0


class _Engine:
    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate <= 0:
            raise QuadpredError("eSpeak NG failed to initialise: reinstall the package espeakng-loader")
        self._chunks: list[np.ndarray] = []

        def collect(wav, n, _events):  # noqa: ANN001 - ctypes callback signature
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
            return 0

        self._callback = _CALLBACK(collect)  # kept referenced: the library holds a pointer to it
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    def speak(self, text: str, voice: Voice) -> np.ndarray:
        name = f"{LANGUAGE_VOICES.get(voice.language, voice.language)}+{voice.variant}".encode()
        if self.lib.espeak_SetVoiceByName(name) != 0:
            raise QuadpredError(f"eSpeak NG has no voice {name.decode()}")
        for key, code in _PARAMETERS.items():
            self.lib.espeak_SetParameter(code, int(getattr(voice, key)), 0)
        encoded = text.encode("utf-8") + b"\0"
        self._chunks = []
        status = self.lib.espeak_Synth(encoded, len(encoded), 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != 0 or not self._chunks:
            raise QuadpredError(f"eSpeak NG could not speak {text[:40]!r} (status {status})")
        return np.concatenate(self._chunks)


@functools.lru_cache(maxsize=1)
def _engine() -> _Engine:
    return _Engine()


def speak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """Synthesise ``text``: float32 signal (samples,) in [-1, 1] and its sample rate (22050).

    Deterministic: the same text and voice give the same samples in any process.
    """
    engine = _engine()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: speak from the pristine state, send the samples, exit
        os.close(read_end)
        status = 1
        try:
            ctypes.CDLL(None).srand(1)
            samples = engine.speak(text, voice).tobytes()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(samples)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise QuadpredError(f"eSpeak NG could not speak {text[:40]!r}")
    return np.frombuffer(data, dtype=np.float32).copy(), engine.sample_rate
