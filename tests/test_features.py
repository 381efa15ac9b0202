import librosa
import numpy as np
import pytest
import torch
from conftest import tone

from quadpred.config import FeatureConfig
from quadpred.features import LogMel, chunk, chunk_starts, compute_log_mel


def librosa_reference(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The published pipeline: |librosa.stft| -> melspectrogram(S=...) -> log(. + float32 eps)."""
    magnitude = np.abs(librosa.stft(y, n_fft=config.n_fft, win_length=config.win_length,
                                    hop_length=config.hop_length, center=True, pad_mode=config.pad_mode))
    mel = librosa.feature.melspectrogram(S=magnitude, sr=config.sample_rate, n_mels=config.n_mels)
    return np.log(mel + np.finfo(np.float32).eps)


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_mel_matches_librosa_within_1e4(seed: int, pad_mode: str):
    config = FeatureConfig(pad_mode=pad_mode)
    rng = np.random.default_rng(seed)
    y = tone(3.3, freq=float(rng.uniform(80, 4000)), noise=float(rng.uniform(0.05, 0.5)), seed=seed)
    y = y / np.max(np.abs(y))
    ours = compute_log_mel(y, config)
    ref = librosa_reference(y, config)
    assert ours.shape == ref.shape == (128, 1 + len(y) // 512)
    assert np.max(np.abs(ours - ref)) < 1e-4


def test_sweep_matches_librosa_on_loud_bins():
    # Without noise the quiet bins sit at the float32 FFT noise floor of both
    # implementations, where their logs legitimately differ; the loud ones agree.
    y = librosa.chirp(fmin=100, fmax=7000, sr=16000, duration=3).astype(np.float32)
    ours, ref = compute_log_mel(y), librosa_reference(y, FeatureConfig())
    loud = ref > -5
    assert loud.mean() > 0.05
    assert np.max(np.abs(ours - ref)[loud]) < 1e-4


def test_module_batch_equals_per_item():
    module = LogMel(FeatureConfig())
    batch = torch.from_numpy(np.stack([tone(2.0, seed=s) for s in range(3)]))
    together = module(batch)
    assert together.shape == (3, 128, 63)
    for i in range(3):
        torch.testing.assert_close(together[i], module(batch[i]), atol=1e-5, rtol=0)


def test_filter_bank_is_a_buffer_and_moves_with_the_module():
    module = LogMel()
    assert "mel_basis" in dict(module.named_buffers())
    assert module.mel_basis.shape == (128, 1025)
    assert module.to(torch.float64).mel_basis.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_module_on_cuda_matches_cpu():
    y = torch.from_numpy(tone(2.0))
    cpu = LogMel()(y)
    gpu = LogMel().cuda()(y.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=0)


def test_chunking_shapes_and_content():
    spec = np.arange(128 * 100, dtype=np.float32).reshape(128, 100)
    predict = chunk(spec, chunk_frames=31, hop_frames=31)
    train = chunk(spec, chunk_frames=31, hop_frames=15)
    assert predict.shape == (3, 1, 128, 31)
    assert train.shape == (len(range(0, 70, 15)), 1, 128, 31)
    np.testing.assert_array_equal(train[2, 0], spec[:, 30:61])
    assert chunk(spec[:, :30]).shape == (0, 1, 128, 31)
    assert list(chunk_starts(62, chunk_frames=31, hop_frames=31)) == [0, 31]


def test_one_second_gives_one_chunk():
    config = FeatureConfig()
    y = tone(config.min_samples / 16000)
    assert chunk(compute_log_mel(y, config)).shape[0] == 1
