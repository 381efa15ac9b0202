"""Inference backends for the transfer network (issue 17, item 3): chunks per second of the default
model's first member on real songs, PyTorch against ONNX Runtime, in fp32, bf16 and int8, with each
backend's agreement with PyTorch fp32 (the top quadrant of every chunk and of every song, and the
largest probability difference), in one run, single-threaded.

Backends: PyTorch fp32 (channels-last, inference mode: what `quadpred predict` runs where bf16 is
not native), PyTorch bf16 autocast (where it is), PyTorch with dynamic int8 dense layers
(`torch.ao.quantization.quantize_dynamic`), ONNX Runtime fp32 on the exported graph, and ONNX
Runtime int8 (static QDQ quantisation of convolutions and dense layers, calibrated on chunks of
other songs than the measured ones).

    python bench/backends.py [--audio ../shared/data/4q-emotion] [--files 24] [--model DIR]

The AVX2 stand-in (`bench/held_to_avx2 python bench/backends.py`) restricts PyTorch, oneDNN and MKL only:
ONNX Runtime chooses its kernels itself, so its figures under the stand-in are this CPU's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from quadpred.allocator import describe_allocator, keep_freed_memory
from quadpred.device import autocast, cpu_has_native_bf16, describe_cpu
from quadpred.export import _Probabilities, export_onnx
from quadpred.features import chunk
from quadpred.modeldir import load_model
from quadpred.predict import SHIPPED_MODELS, Predictor, shipped_members

HERE = Path(__file__).resolve().parent
Backend = Callable[[np.ndarray], np.ndarray]  # (chunks, 1, mels, frames) -> quadrant probabilities (chunks, 4)


def song_chunks(audio: Path, files: int, model: Path) -> list[np.ndarray]:
    """Every chunk of ``files`` songs taken evenly from the quadrant folders: per song (chunks, 1, mels, frames)."""
    paths = sorted(p for p in audio.rglob("*") if p.suffix.lower() in (".mp3", ".ogg", ".opus", ".wav", ".flac"))
    if not paths:
        raise SystemExit(f"no audio below {audio}: give --audio a folder of songs (e.g. ../shared/data/4q-emotion)")
    chosen = paths[:: max(1, len(paths) // files)][:files]
    predictor = Predictor.from_dir(model, device="cpu")
    songs = []
    for path in chosen:
        spectrogram, _, _ = predictor.spectrogram(path)
        songs.append(chunk(spectrogram, chunk_frames=predictor.features.chunk_frames,
                           hop_frames=predictor.hop_frames).astype(np.float32))
    return songs


def torch_backend(model: torch.nn.Module, precision: str) -> Backend:
    network = _Probabilities(model.eval().to(memory_format=torch.channels_last))

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast(torch.device("cpu"), precision):
            return network(torch.from_numpy(x))[0].float().numpy()

    return run


def torch_int8_backend(model: torch.nn.Module) -> Backend:
    with warnings.catch_warnings():  # torch.ao's eager quantisation is deprecated for torchao, not in our dependencies
        warnings.simplefilter("ignore")
        quantised = torch.ao.quantization.quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)
    return torch_backend(quantised, "fp32")


def has_vnni() -> bool:
    """Whether this x86 CPU has 8-bit dot products without saturation (AVX512-VNNI or AVX-VNNI),
    as PyTorch's CPU probe reports them (torch.cpu._is_vnni_supported checks only the former)."""
    capabilities = torch.cpu.get_capabilities()
    return bool(capabilities.get("avx512_vnni") or capabilities.get("avx_vnni"))


def onnx_backends(model_dir: Path, calibration: np.ndarray, folder: Path) -> dict[str, Backend]:
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = export_onnx(model_dir, folder / "model.onnx")
    prepared = folder / "model.pre.onnx"
    quant_pre_process(str(fp32), str(prepared))

    class Chunks(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"logmel": calibration[i:i + 32]} for i in range(0, len(calibration), 32)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    int8 = folder / "model.int8.onnx"
    # without VNNI, ONNX Runtime's u8 x s8 products add pairs in saturating 16-bit lanes: 8-bit
    # weights overflow them (on an AVX2-only EPYC 59 % of chunks changed quadrant); 7-bit ones do not
    quantize_static(str(prepared), str(int8), Chunks(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, reduce_range=not has_vnni())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    backends = {}
    for name, path in (("onnxruntime fp32", fp32), ("onnxruntime int8", int8)):
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        backends[name] = lambda x, session=session: session.run(["quadrant"], {"logmel": x})[0]
    return backends


def throughput(backend: Backend, x: np.ndarray, batch: int, repeats: int = 2) -> float:
    """Chunks per second over ``x`` in batches of ``batch``, the best of ``repeats`` passes."""
    backend(x[:batch])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for begin in range(0, len(x), batch):
            backend(x[begin:begin + batch])
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, default=HERE.parent.parent / "shared" / "data" / "4q-emotion")
    parser.add_argument("--files", type=int, default=24, help="songs measured (another as many calibrate int8)")
    parser.add_argument("--model", type=Path, help="a transfer model directory (default: eng2eng member 0)")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # as every `quadpred` command does
    print(describe_cpu(), describe_allocator(), sep="; ", flush=True)
    model_dir = args.model or shipped_members(SHIPPED_MODELS / "eng2eng")[0]
    songs = song_chunks(args.audio, 2 * args.files, model_dir)
    measured, calibration = songs[0::2], np.concatenate(songs[1::2])  # calibrate on other songs than measured
    x = np.concatenate(measured)
    song_of_chunk = np.repeat(np.arange(len(measured)), [len(s) for s in measured])

    def song_means(probabilities: np.ndarray) -> np.ndarray:
        """(songs, 4): each measured song's mean of its chunks' probabilities."""
        return np.stack([probabilities[song_of_chunk == s].mean(axis=0) for s in range(len(measured))])

    print(f"model: {model_dir}; {len(measured)} songs, {len(x)} chunks measured, {len(calibration)} chunks of "
          f"{len(songs) - len(measured)} other songs calibrate int8; batch {args.batch}, 1 thread, "
          f"torch {torch.__version__}", flush=True)
    model, _ = load_model(model_dir)
    backends: dict[str, Backend] = {"torch fp32": torch_backend(model, "fp32")}
    if cpu_has_native_bf16():
        backends["torch bf16"] = torch_backend(load_model(model_dir)[0], "bf16")
    backends["torch int8 dense (dynamic)"] = torch_int8_backend(load_model(model_dir)[0])
    with tempfile.TemporaryDirectory() as tmp:
        backends.update(onnx_backends(model_dir, calibration, Path(tmp)))
        reference = backends["torch fp32"](x)
        reference_songs = song_means(reference)
        base = throughput(backends["torch fp32"], x, args.batch)
        for name, backend in backends.items():
            speed = base if name == "torch fp32" else throughput(backend, x, args.batch)
            probabilities = reference if name == "torch fp32" else backend(x)
            chunk_agree = np.mean(probabilities.argmax(1) == reference.argmax(1))
            song_agree = np.mean(song_means(probabilities).argmax(1) == reference_songs.argmax(1))
            print(f"{name}: {speed:.0f} chunks/s, torch fp32 {base:.0f} chunks/s, ratio {speed / base:.2f}; "
                  f"agreement with torch fp32: top quadrant {100 * chunk_agree:.1f} % of chunks, "
                  f"{100 * song_agree:.0f} % of songs, largest probability difference "
                  f"{np.abs(probabilities - reference).max():.4f}", flush=True)


if __name__ == "__main__":
    main()
