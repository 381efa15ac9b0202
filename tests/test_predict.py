"""The predictor: Python API, streaming, the CLI on many formats, bad files, memory, export."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import tone

from quadpred.cli import main
from quadpred.errors import AudioError, QuadpredError
from quadpred.predict import Predictor
from quadpred.streaming import stream_log_mel, whole_file_log_mel


def song(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    y = tone(seconds, sr, freq=330.0, noise=0.2, seed=seed)
    y = y * (1 + 0.5 * np.sin(2 * np.pi * 0.3 * np.arange(len(y)) / sr))  # slow loudness changes
    return np.stack([y, 0.6 * y], axis=1) if channels == 2 else y


@pytest.mark.parametrize(("suffix", "sr", "channels"), [("wav", 8000, 1), ("flac", 48000, 2), ("ogg", 22050, 2),
                                                        ("mp3", 44100, 1), ("wav", 16000, 2)])
def test_streaming_equals_whole_file_processing(tmp_path: Path, suffix: str, sr: int, channels: int):
    path = tmp_path / f"x.{suffix}"
    sf.write(path, song(23.7, sr, channels), sr)
    streamed, duration = stream_log_mel(path, block_seconds=4.1)
    whole, whole_duration = whole_file_log_mel(path)
    assert streamed.shape == whole.shape and duration == pytest.approx(whole_duration)
    # bins with energy agree to float rounding; near-empty bins (log of ~eps, e.g. above 4 kHz of an
    # 8-kHz file) follow the resampler's rounding noise, so they are compared in linear magnitude
    audible = whole > -8
    np.testing.assert_allclose(streamed[audible], whole[audible], atol=2e-3)
    np.testing.assert_allclose(np.exp(streamed), np.exp(whole), atol=1e-5)
    assert np.median(np.abs(streamed - whole)) < 1e-5


def test_python_api_on_files_and_arrays(tiny_model: Path, tmp_path: Path):
    predictor = Predictor.from_dir(tiny_model, device="cpu")
    path = tmp_path / "a.wav"
    sf.write(path, song(10.5, 44100, 2), 44100)
    result = predictor.predict(path)
    assert len(result.start) == 10 and result.start[1] == pytest.approx(31 * 512 / 16000)
    for task, classes in (("quadrant", 4), ("arousal", 2), ("valence", 2)):
        assert result.probabilities[task].shape == (10, classes)
        np.testing.assert_allclose(result.probabilities[task].sum(axis=1), 1, rtol=1e-5)
    assert result.top_quadrant in ("Q1", "Q2", "Q3", "Q4")
    from_array = predictor.predict(sf.read(path, dtype="float32")[0], sr=44100)
    np.testing.assert_allclose(from_array.probabilities["quadrant"], result.probabilities["quadrant"], atol=1e-3)
    columns = result.columns()
    assert list(columns)[:3] == ["start", "end", "quadrant_Q1"] and len(columns["top_quadrant"]) == 10
    half = Predictor.from_dir(tiny_model, device="cpu", hop_seconds=0.5).predict(path)
    frames = 1 + int(10.5 * 16000) // 512
    assert len(half.start) == 1 + (frames - 31) // round(0.5 * 16000 / 512) == 19
    with pytest.raises(QuadpredError, match="sample rate"):
        predictor.predict(np.zeros(100))
    with pytest.raises(AudioError, match="too short"):
        predictor.predict(song(0.5, 16000), sr=16000)


def test_to_frame_needs_pandas_or_gives_a_frame(tiny_model: Path, tmp_path: Path):
    sf.write(tmp_path / "a.wav", song(3, 16000), 16000)
    result = Predictor.from_dir(tiny_model, device="cpu").predict(tmp_path / "a.wav")
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(QuadpredError, match="pandas"):
            result.to_frame()
    else:
        frame = result.to_frame()
        assert len(frame) == 3 and "valence_positive" in frame.columns


def test_cli_batch_with_formats_bad_files_and_resume(tiny_model: Path, tmp_path: Path, capsys):
    music = tmp_path / "music"
    (music / "sub").mkdir(parents=True)
    formats = [("a.wav", 8000, 1), ("b.flac", 48000, 2), ("sub/c.ogg", 22050, 2), ("sub/d.mp3", 44100, 1)]
    for index, (name, sr, channels) in enumerate(formats):
        sf.write(music / name, song(4.2, sr, channels, seed=index), sr)
    sf.write(music / "silent.wav", np.zeros(16000 * 3), 16000)
    (music / "broken.mp3").write_bytes(b"ID3" + b"\x00" * 500)
    out = tmp_path / "out"
    # exit 1: two inputs were skipped (a script can tell), the readable four were done
    assert main(["-q", "predict", str(music), "--model", str(tiny_model), "-o", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "4 file(s) done" in printed and "2 skipped" in printed and "silent" in printed
    for name, *_ in formats:
        for suffix in (".csv", ".json", ".npy", ".png"):
            assert (out / f"{name}{suffix}").is_file(), name + suffix
        assert np.load(out / f"{name}.npy").shape == (4, 4)
        result = json.loads((out / f"{name}.json").read_text())
        assert result["top_quadrant"] in ("Q1", "Q2", "Q3", "Q4") and len(result["start"]) == 4
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 and sum("skipped" in r for r in rows) == 2
    stamp = (out / "a.wav.json").stat().st_mtime_ns
    assert main(["-q", "predict", str(music), "--model", str(tiny_model), "-o", str(out)]) == 1
    assert "0 file(s) done, 4 already there" in capsys.readouterr().out
    assert (out / "a.wav.json").stat().st_mtime_ns == stamp
    assert main(["-q", "predict", str(music / "a.wav"), "--model", str(tiny_model), "-o", str(out), "--force"]) == 0
    assert (out / "a.wav.json").stat().st_mtime_ns != stamp


def test_cli_predict_explains_its_errors(tiny_model: Path, tmp_path: Path, capsys):
    assert main(["-q", "predict", str(tmp_path), "--model", str(tiny_model), "-o", str(tmp_path / "o")]) == 1
    assert "no audio files" in capsys.readouterr().err
    sf.write(tmp_path / "a.wav", song(3, 16000), 16000)
    # an empty argument (an unset shell variable) is not the current folder
    assert main(["-q", "predict", "", "--model", str(tiny_model), "-o", str(tmp_path / "o")]) == 1
    assert "input path is empty" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["-q", "predict", str(tmp_path / "a.wav"), "-o", str(tmp_path / "o"), "--music", "man"]) == 1
    assert "Mandarin-music" in capsys.readouterr().err
    assert main(["-q", "predict", str(tmp_path / "a.wav"), "-o", str(tmp_path / "o"), "--model", str(tmp_path)]) == 1
    assert "not a model directory" in capsys.readouterr().err


def test_an_ensemble_of_model_directories_averages_their_probabilities(tiny_model: Path, tmp_path: Path, capsys):
    import shutil

    import torch

    from quadpred.errors import ModelDirError
    from quadpred.modeldir import load_model, save_weights

    other = tmp_path / "other"
    shutil.copytree(tiny_model, other)
    model, _ = load_model(other)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
    save_weights(model, other)
    path = tmp_path / "a.wav"
    sf.write(path, song(6.2, 22050), 22050)
    single = [Predictor.from_dir(folder, device="cpu").predict(path) for folder in (tiny_model, other)]
    assert not np.allclose(single[0].probabilities["quadrant"], single[1].probabilities["quadrant"], atol=1e-3)
    ensemble = Predictor.from_dirs([tiny_model, other], device="cpu").predict(path)
    for task in ("quadrant", "arousal", "valence"):
        expected = (single[0].probabilities[task] + single[1].probabilities[task]) / 2
        np.testing.assert_allclose(ensemble.probabilities[task], expected, atol=1e-5)
    assert main(["-q", "predict", str(path), "--model", str(tiny_model), "--model", str(other),
                 "-o", str(tmp_path / "out")]) == 0
    written = json.loads((tmp_path / "out" / "a.wav.json").read_text())
    # model names are relative to the working folder, wherever the checkout lies
    assert written["model"].startswith("mean of ") and os.path.relpath(other) in written["model"]
    # a folder of member<k>/ model directories, as shipped ensembles are laid out, is the same ensemble
    ensemble_folder = tmp_path / "ensemble"
    for index, folder in enumerate((tiny_model, other)):
        shutil.copytree(folder, ensemble_folder / f"member{index}")
    assert main(["-q", "predict", str(path), "--model", str(ensemble_folder), "-o", str(tmp_path / "out-folder")]) == 0
    from_folder = json.loads((tmp_path / "out-folder" / "a.wav.json").read_text())
    np.testing.assert_allclose(np.asarray(from_folder["probabilities"]["quadrant"]),
                               ensemble.probabilities["quadrant"], atol=1e-4)
    config = json.loads((other / "config.json").read_text())
    config["features"]["fmin"] = 50.0
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelDirError, match="feature settings"):
        Predictor.from_dirs([tiny_model, other], device="cpu")
    with pytest.raises(QuadpredError, match="no model directory"):
        Predictor.from_dirs([], device="cpu")
    capsys.readouterr()


def test_embeddings_out_are_the_shared_layer_per_step_and_complete_earlier_outputs(tiny_model: Path, tmp_path: Path,
                                                                                     capsys):
    import torch

    path = tmp_path / "a.wav"
    sf.write(path, song(7.3, 22050), 22050)
    predictor = Predictor.from_dir(tiny_model, device="cpu", precision="fp32")
    assert predictor.predict(path).embeddings is None
    result = predictor.predict(path, embeddings=True)
    units = predictor.model.head.trunk(predictor.model.embed(torch.zeros(1, 1, 128, 31))).shape[1]
    assert result.embeddings.shape == (len(result.start), units)
    x = torch.from_numpy(predictor.spectrogram(path)[0][None, None, :, :31].copy())
    with torch.no_grad():  # the first step's vector is the trunk's output for the first chunk
        np.testing.assert_allclose(result.embeddings[0], predictor.model.representation(x)[0].numpy(), atol=1e-5)
    pair = Predictor.from_dirs([tiny_model, tiny_model], device="cpu").predict(path, embeddings=True)
    assert pair.embeddings.shape == (len(result.start), 2 * units)  # members side by side
    out = tmp_path / "out"
    assert main(["-q", "predict", str(path), "--model", str(tiny_model), "-o", str(out)]) == 0
    assert not (out / "a.wav.embeddings.npy").exists()
    assert main(["-q", "predict", str(path), "--model", str(tiny_model), "-o", str(out), "--embeddings"]) == 0
    assert "1 file(s) done" in capsys.readouterr().out  # done again: the earlier outputs lacked them
    assert np.load(out / "a.wav.embeddings.npy").shape == (len(result.start), units)


MEMORY_SCRIPT = """
import resource, sys
from quadpred.predict import Predictor
predictor = Predictor.from_dir(sys.argv[1], device="cpu")
predictor.predict(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = predictor.predict(sys.argv[3])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(result.start), (after - before) / 1024)
"""


def test_a_ten_minute_file_stays_within_a_memory_bound(tiny_model: Path, tmp_path: Path):
    sr = 44100
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(short, song(20, sr, 2), sr, subtype="PCM_16")
    with sf.SoundFile(long, "w", sr, 2, subtype="PCM_16") as handle:
        for minute in range(10):
            handle.write(song(60, sr, 2, seed=minute))
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tiny_model), str(short), str(long)],
                         capture_output=True, text=True, check=True)
    seconds, grown_mb = out.stdout.split()
    assert int(seconds) == 1 + (1 + 600 * 16000 // 512 - 31) // 31  # 604 one-second (0.992 s) chunks
    # decoding the whole file would take 212 MB (44.1 kHz stereo float32) before any feature
    assert float(grown_mb) < 80, f"peak memory grew by {grown_mb} MB"


def test_onnx_export_matches_pytorch(tiny_model: Path, tmp_path: Path, capsys):
    pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra; install quadpred[test]")
    pytest.importorskip("onnx", reason="onnx is in the test extra; install quadpred[test]")
    from quadpred.export import onnx_difference

    out = tmp_path / "m.onnx"
    assert main(["-q", "export", str(tiny_model), "--onnx", "-o", str(out)]) == 0
    assert "agrees with PyTorch" in capsys.readouterr().out
    assert onnx_difference(tiny_model, out, chunks=16, seed=3) < 1e-4
    assert json.loads(out.with_suffix(".features.json").read_text())["n_mels"] == 128
    assert main(["-q", "export", str(tiny_model), "--onnx", "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err


def test_shipped_models_load_and_predict_without_a_model_argument(tmp_path: Path, capsys):
    from quadpred.predict import SHIPPED_MODELS, shipped_members

    assert len(shipped_members(SHIPPED_MODELS / "eng2eng")) == 5  # the default: fold models of cross-validations
    assert (SHIPPED_MODELS / "eng2eng" / "MODEL.md").is_file()
    for pair in ("eng2eng", "man2eng", "mix2eng"):
        folder = SHIPPED_MODELS / pair
        assert (folder / "TERMS.md").is_file()
        for member in shipped_members(folder) or [folder]:
            assert (member / "weights.pt").stat().st_size < 15e6
            info = json.loads((member / "config.json").read_text())
            assert info["weights_dtype"] == "float16" and info["data"]["clips"] > 400
    sf.write(tmp_path / "a.wav", song(5, 22050), 22050)
    assert main(["-q", "predict", str(tmp_path / "a.wav"), "-o", str(tmp_path / "out")]) == 0
    ensemble = json.loads((tmp_path / "out" / "a.wav.json").read_text())
    assert ensemble["model"] == "shipped/eng2eng"
    assert main(["-q", "predict", str(tmp_path / "a.wav"), "--fast", "-o", str(tmp_path / "fast")]) == 0
    fast = json.loads((tmp_path / "fast" / "a.wav.json").read_text())
    assert fast["model"] != ensemble["model"] and "eng2eng" in fast["model"]
    difference = np.abs(np.array(fast["probabilities"]["quadrant"]) - np.array(ensemble["probabilities"]["quadrant"]))
    assert 0 < difference.max() < 0.5  # one member is not the mean of five, yet close to it
    result = Predictor.shipped("mix", "eng", device="cpu").predict(tmp_path / "a.wav")
    assert result.probabilities["quadrant"].shape == (5, 4)


def test_russell_path_is_one_collection_of_segments_however_long_the_song():
    import matplotlib.pyplot as plt

    from quadpred.plots import RussellPlane

    rng = np.random.default_rng(0)
    figure, axis = plt.subplots()
    valence, arousal = rng.random(3600), rng.random(3600)  # an hour of steps
    RussellPlane(axis).show(valence, arousal)
    (path,) = axis.collections
    segments = path.get_segments()
    assert len(segments) == 3599 and len(axis.lines) <= 4  # start and end markers and the two zero lines
    np.testing.assert_allclose(segments[0], [[2 * valence[0] - 1, 2 * arousal[0] - 1], [2 * valence[1] - 1, 2 * arousal[1] - 1]])
    plt.close(figure)


@pytest.mark.parametrize("steps", [8, 30, 600])
def test_tag_gram_keeps_the_russell_plane_close_to_the_colour_bar_for_any_song_length(tmp_path: Path, steps: int):
    from quadpred import plots
    from quadpred.labels import TASKS

    rng = np.random.default_rng(0)
    labels = {task: list(names) for task, names in TASKS.items()}
    song = {task: rng.dirichlet(np.ones(len(names)), steps) for task, names in TASKS.items()}
    plots.tag_gram(np.arange(steps) + 0.5, song, labels, tmp_path / "song.png")
    template = list(plots._TAG_GRAMS.values())[-1]  # the most recently used
    renderer = template.canvas.get_renderer()
    colour_bar = next(a for a in template.figure.axes if a not in template.axes and a is not template.plane.axis)
    plane_left = template.plane.axis.yaxis.label.get_window_extent(renderer).x0
    blank_inches = (plane_left - colour_bar.get_tightbbox(renderer).x1) / template.figure.dpi
    assert 0.05 < blank_inches < 0.6  # not touching, and no wide blank strip (it was 3 inches at 600 steps)
    assert template.plane.axis.get_window_extent(renderer).x1 <= template.figure.bbox.x1


def test_tag_grams_drawn_over_a_shared_figure_match_a_full_draw_and_leave_nothing_behind(tmp_path: Path):
    from PIL import Image

    from quadpred import plots
    from quadpred.labels import TASKS

    def pixels(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB")).astype(int)

    rng = np.random.default_rng(0)
    labels = {task: list(names) for task, names in TASKS.items()}
    times = np.arange(30) * 0.992 + 0.496
    songs = [{task: rng.dirichlet(np.ones(len(names)), 30) for task, names in TASKS.items()} for _ in range(2)]
    plots.tag_gram(times, songs[0], labels, tmp_path / "a.png", title="a.mp3")
    plots.tag_gram(times, songs[1], labels, tmp_path / "b.png", title="a much longer title, b.mp3")
    plots.tag_gram(times, songs[0], labels, tmp_path / "a-again.png", title="a.mp3")
    np.testing.assert_array_equal(pixels(tmp_path / "a.png"), pixels(tmp_path / "a-again.png"))  # nothing of b left
    assert np.abs(pixels(tmp_path / "a.png") - pixels(tmp_path / "b.png")).sum(axis=2).max() > 100
    # the same figure drawn whole by matplotlib, song a's data and title in it
    template = list(plots._TAG_GRAMS.values())[-1]  # the most recently used: song a's
    for artist in template.figure.findobj(lambda a: a.get_animated()):
        artist.set_animated(False)
    template.figure.savefig(tmp_path / "full.png", dpi=110)
    differing = np.abs(pixels(tmp_path / "a.png") - pixels(tmp_path / "full.png")).sum(axis=2) > 30
    assert differing.mean() < 1e-4
    for steps in (5, 6, 7, 8, 9):  # other song lengths get figures of their own; a few are kept
        plots.tag_gram(np.arange(steps) + 0.5, {t: p[:steps] for t, p in songs[0].items()}, labels,
                       tmp_path / f"{steps}.png")
    assert len(plots._TAG_GRAMS) == plots._TAG_GRAMS_KEPT
