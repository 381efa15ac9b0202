"""Outputs a user can trust: each defect found by trying quadpred as a new user, as a test."""

import csv
import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tone

from quadpred.audio import mono_from_array
from quadpred.cli import main
from quadpred.config import RunConfig, apply_overrides, load_json
from quadpred.errors import AudioError, ConfigError
from quadpred.predict import Predictor

README = Path(__file__).resolve().parents[1] / "README.md"


def songs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(folder / f"s{i}.wav")
        sf.write(paths[-1], tone(3.5, 16000, freq=200 + 90 * i, seed=i), 16000)
    return paths


def summary_rows(out: Path) -> list[dict]:
    with (out / "summary.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_resume_redoes_outputs_of_another_model_and_records_which_made_them(tiny_model: Path, tmp_path: Path, capsys):
    songs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert main(["-q", "predict", str(tmp_path / "in"), "-o", str(out)]) == 0  # the shipped eng2eng
    first = json.loads((out / "s0.wav.json").read_text())
    assert first["provenance"]["model"] == "shipped/eng2eng" and len(first["provenance"]["model_sha256"]) == 16
    capsys.readouterr()
    assert main(["-q", "predict", str(tmp_path / "in"), "-o", str(out), "--speech", "man"]) == 0
    assert "2 file(s) done, 0 already there" in capsys.readouterr().out
    second = json.loads((out / "s0.wav.json").read_text())
    assert second["provenance"]["model"] == "shipped/man2eng"
    assert second["probabilities"]["quadrant"] != first["probabilities"]["quadrant"]
    # the same model and settings again: kept; another hop: redone; --no-overwrite refuses before any work
    assert main(["-q", "predict", str(tmp_path / "in"), "-o", str(out), "--speech", "man"]) == 0
    assert "0 file(s) done, 2 already there" in capsys.readouterr().out
    assert main(["-q", "predict", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_model),
                 "--no-overwrite"]) == 1
    assert "--no-overwrite" in capsys.readouterr().err
    assert json.loads((out / "s0.wav.json").read_text()) == second


def test_summary_keeps_the_rows_of_files_not_in_this_call(tiny_model: Path, tmp_path: Path):
    paths = songs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert main(["-q", "predict", str(tmp_path / "in"), "--model", str(tiny_model), "-o", str(out)]) == 0
    assert main(["-q", "predict", str(paths[1]), "--model", str(tiny_model), "-o", str(out), "--force"]) == 0
    rows = summary_rows(out)
    assert sorted(Path(r["file"]).name for r in rows) == ["s0.wav", "s1.wav", "s2.wav", "s3.wav"]
    assert all(r["model"] and r["status"] == "ok" for r in rows)
    assert not list(out.glob(".*.tmp"))


def test_outputs_are_readable_by_others_under_the_usual_umask(tiny_model: Path, tmp_path: Path):
    songs(tmp_path / "in", 1)
    old = os.umask(0o022)
    try:
        assert main(["-q", "predict", str(tmp_path / "in"), "--model", str(tiny_model), "-o", str(tmp_path / "o")]) == 0
    finally:
        os.umask(old)
    for path in (tmp_path / "o").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_output_path_errors_are_one_line(tiny_model: Path, tmp_path: Path, capsys):
    songs(tmp_path / "in", 1)
    (tmp_path / "file").write_text("x")
    assert main(["-q", "predict", str(tmp_path / "in"), "--model", str(tiny_model), "-o", str(tmp_path / "file")]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["-q", "predict", "in", "--model", str(tiny_model), "-o", "-"]) == 1
    finally:
        os.chdir(cwd)
    assert "standard output" in capsys.readouterr().err and not (tmp_path / "-").exists()


def test_the_api_takes_channels_first_arrays_tensors_and_lists(tiny_model: Path):
    predictor = Predictor.from_dir(tiny_model, device="cpu")
    mono = tone(4.0, 22050, seed=3)
    stereo = np.stack([mono, 0.5 * mono])  # (2, samples): librosa's and torchaudio's order
    reference = predictor.predict(mono, sr=22050).probabilities["quadrant"]
    for signal in (stereo, stereo.T, torch.from_numpy(stereo), mono.tolist()):
        np.testing.assert_allclose(predictor.predict(signal, sr=22050).probabilities["quadrant"], reference, atol=1e-4)
    with pytest.raises(AudioError, match="ambiguous"):
        mono_from_array(np.zeros((40, 50)))
    with pytest.raises(AudioError, match=r"\(samples,\)"):
        mono_from_array(np.zeros((2, 2, 100)))


def test_the_readme_python_example_runs_as_written(tiny_model: Path, tmp_path: Path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "Predictor.shipped()" in b)
    assert example.lstrip().startswith("from quadpred.predict import Predictor")
    sf.write(tmp_path / "song.mp3", tone(6.0, 44100, seed=1), 44100)
    for k in range(4):  # the run folders the example's ensemble line names
        shutil.copytree(tiny_model, tmp_path / f"runs/transfer/eng2eng/scae/r{k}/full")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["result"].top_quadrant in ("Q1", "Q2", "Q3", "Q4")
    assert namespace["ensemble"].provenance["model"].startswith("mean of runs/")


@pytest.mark.parametrize(("override", "words"), [("train.epochs=abc", "train.epochs must be an integer"),
                                                 ("train.epochs=2.5", "must be an integer, got 2.5"),
                                                 ("model.encoder.channels=[4,8,\"x\"]", r"channels\[2\] must be an integer"),
                                                 ("train.cache_embeddings=1", "true or false")])
def test_config_values_are_type_checked(override: str, words: str):
    with pytest.raises(ConfigError, match=words):
        apply_overrides(RunConfig(), [override])


def test_config_files_are_type_checked(tmp_path: Path):
    (tmp_path / "run.json").write_text(json.dumps({"train": {"lr": "fast"}}))
    with pytest.raises(ConfigError, match="train.lr must be a number"):
        load_json(RunConfig, tmp_path / "run.json")
    assert apply_overrides(RunConfig(), ["train.lr=1"]).train.lr == 1.0  # an integer is a number


def test_version_and_quiet_after_the_subcommand(capsys):
    from quadpred import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and __version__ in capsys.readouterr().out
    from quadpred.cli import build_parser

    for argv, quiet, verbose in ((["agreement", "--synthetic", "-o", "x"], False, False),
                                 (["agreement", "--synthetic", "-o", "x", "-q"], True, False),
                                 (["-q", "agreement", "--synthetic", "-o", "x"], True, False),
                                 (["agreement", "-v", "--synthetic", "-o", "x"], False, True)):
        args = build_parser().parse_args(argv)
        assert (args.quiet, args.verbose) == (quiet, verbose), argv


def test_outputs_state_their_timing_labels_and_meaning(tiny_model: Path, tmp_path: Path):
    songs(tmp_path / "in", 1)
    out = tmp_path / "out"
    assert main(["-q", "predict", str(tmp_path / "in"), "--model", str(tiny_model), "-o", str(out)]) == 0
    result = json.loads((out / "s0.wav.json").read_text())
    from quadpred import __version__

    assert result["quadpred_version"] == __version__
    assert result["provenance"]["hop_seconds"] == pytest.approx(31 * 512 / 16000) == pytest.approx(0.992)
    assert np.diff(result["start"]) == pytest.approx(0.992)
    assert result["labels"]["quadrant"] == ["Q1", "Q2", "Q3", "Q4"]
    assert result["quadrant_meanings"]["Q2"] == "angry/tense"
    assert not Path(result["model"]).is_absolute()


def test_a_shipped_ensemble_predicts_the_mean_of_its_members_and_fast_takes_one(tiny_model: Path, tmp_path: Path,
                                                                                monkeypatch):
    import quadpred.predict as predict_module
    shipped = tmp_path / "pretrained"
    shutil.copytree(tiny_model, shipped / "eng2eng" / "member0")
    shutil.copytree(tiny_model, shipped / "eng2eng" / "member1")  # a second member with other head weights
    state = torch.load(shipped / "eng2eng" / "member1" / "weights.pt", weights_only=True)
    state = {k: v * 1.5 if v.is_floating_point() and "head" in k else v for k, v in state.items()}
    torch.save(state, shipped / "eng2eng" / "member1" / "weights.pt")
    monkeypatch.setattr(predict_module, "SHIPPED_MODELS", shipped)
    signal = tone(4.0, 16000, seed=2)
    ensemble = Predictor.shipped(device="cpu")
    fast = Predictor.shipped(device="cpu", fast=True)
    members = [Predictor.from_dir(shipped / "eng2eng" / f"member{k}", device="cpu") for k in range(2)]
    expected = np.mean([m.predict(signal, sr=16000).probabilities["quadrant"] for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(signal, sr=16000).probabilities["quadrant"], expected, atol=1e-5)
    np.testing.assert_allclose(fast.predict(signal, sr=16000).probabilities["quadrant"],
                               members[0].predict(signal, sr=16000).probabilities["quadrant"], atol=1e-6)
    assert ensemble.provenance["model"] == "shipped/eng2eng" and fast.name == "shipped/eng2eng (member 0)"
    assert ensemble.digest != fast.digest


def test_progress_bars_stay_out_of_logs_and_skips_set_the_exit_status(tiny_model: Path, tmp_path: Path, capsys):
    songs(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.mp3").write_bytes(b"ID3" + bytes(300))
    status = main(["predict", str(tmp_path / "in"), "--model", str(tiny_model), "-o", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert status == 1 and "1 skipped" in captured.out  # 2 done, 1 skipped: a script can tell
    assert "\r" not in captured.err  # stderr is not a terminal here: no bar updates in the log
    (tmp_path / "in" / "broken.mp3").unlink()
    assert main(["-q", "predict", str(tmp_path / "in"), "--model", str(tiny_model), "-o", str(tmp_path / "o")]) == 0


def test_models_lists_the_shipped_models_and_predict_takes_their_names(tmp_path: Path, capsys):
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "| eng2eng | 5 | full + baseline |" in listing  # the default ensemble: members of two methods
    for name in ("man2eng", "mix2eng"):
        assert f"| {name} | 1 |" in listing
    songs(tmp_path / "in", 1)
    assert main(["-q", "predict", str(tmp_path / "in"), "--model", "man2eng", "-o", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "s0.wav.json").read_text())["model"] == "shipped/man2eng"
    assert main(["-q", "predict", str(tmp_path / "in"), "--model", "xyz2eng", "-o", str(tmp_path / "o")]) == 1
    assert "neither a model directory nor a shipped model" in capsys.readouterr().err


def test_json_lines_on_stdout_for_scripts(tiny_model: Path, tmp_path: Path, capsys):
    songs(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF")
    assert main(["-q", "predict", str(tmp_path / "in"), "--model", str(tiny_model), "-o", str(tmp_path / "o"),
                 "--json"]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted(Path(r["file"]).name for r in rows) == ["broken.wav", "s0.wav", "s1.wav"]
    assert [r["status"] == "ok" for r in sorted(rows, key=lambda r: r["file"])] == [False, True, True]
    assert "2 file(s) done" in captured.err
