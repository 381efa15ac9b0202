from pathlib import Path

import pytest

from quadpred.cli import main
from quadpred.manifest import read_manifest
from quadpred.synth import SCALES


def test_prepare_then_features(fourq_tree: Path, tmp_path: Path, capsys):
    manifest = tmp_path / "m.jsonl"
    assert main(["-q", "prepare", "4q", str(fourq_tree), "-o", str(manifest), "--group-by", "artist"]) == 0
    clips = read_manifest(manifest)
    assert len(clips) == 20 and {c.split for c in clips} == {"train", "valid", "test"}
    assert main(["-q", "features", str(manifest), "-o", str(tmp_path / "store"), "--workers", "1"]) == 0
    assert "20 written" in capsys.readouterr().out


def test_prepare_with_hour_budget(librispeech_tree: Path, tmp_path: Path):
    out = tmp_path / "m.jsonl"
    assert main(["-q", "prepare", "librispeech", str(librispeech_tree), "-o", str(out), "--hours", str(5 / 3600)]) == 0
    clips = read_manifest(out)
    assert 2 <= len(clips) < 6 and {c.split for c in clips} <= {"train", "valid"}


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys):
    assert main(["prepare", "4q", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m.jsonl")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("quadpred: error:") and "nowhere" in err and "\n" not in err


def test_refuses_to_overwrite_without_force(fourq_tree: Path, tmp_path: Path, capsys):
    out = tmp_path / "m.jsonl"
    out.write_text("keep me")
    assert main(["-q", "prepare", "4q", str(fourq_tree), "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main(["-q", "prepare", "4q", str(fourq_tree), "-o", str(out), "--force"]) == 0


def test_bad_override_is_rejected(fourq_tree: Path, tmp_path: Path, capsys):
    out = tmp_path / "m.jsonl"
    main(["-q", "prepare", "4q", str(fourq_tree), "-o", str(out)])
    assert main(["-q", "features", str(out), "-o", str(tmp_path / "s"), "--set", "nmels=3"]) == 1
    assert "unknown key" in capsys.readouterr().err


def test_demo_on_the_tiny_world_runs_and_resumes(tmp_path: Path, capsys):
    assert main(["-q", "demo", "-o", str(tmp_path), "--scale", "tiny", "--workers", "1"]) == 0
    first = capsys.readouterr().out
    tiny = SCALES["tiny"]
    n_clips = (tiny.eng_speakers + tiny.man_speakers) * tiny.utterances_per_speaker + tiny.eng_music + tiny.man_music
    assert f"features: {n_clips} clips" in first
    for name in ("speech_eng", "speech_man", "music_eng", "music_man"):
        assert read_manifest(tmp_path / "manifests" / f"{name}.jsonl")
    card = (tmp_path / "world" / "data_card.json").stat().st_mtime
    assert main(["-q", "demo", "-o", str(tmp_path), "--scale", "tiny", "--workers", "1"]) == 0
    assert (tmp_path / "world" / "data_card.json").stat().st_mtime == card  # the world was reused


def test_pretrain_then_transfer_and_baseline(tiny_study, tmp_path: Path, capsys):
    _, store = tiny_study
    root = store.folder.parent.parent
    small = ["--set", "model.channels=[4,8,8]", "--set", "model.dense_units=16", "--set", "train.epochs=1"]
    speech = [str(root / "manifests/speech_eng.jsonl"), str(root / "manifests/speech_man.jsonl")]
    assert main(["-q", "pretrain", *speech, "--features", str(root / "features"), "-o", str(tmp_path / "pre"),
                 *small]) == 0
    assert "pretrain: 1 epochs" in capsys.readouterr().out
    music = str(root / "manifests/music_eng.jsonl")
    assert main(["-q", "transfer", music, "--features", str(root / "features"), "-o", str(tmp_path / "tr"),
                 "--encoder", str(tmp_path / "pre"), *small]) == 0
    out = capsys.readouterr().out
    assert "feat-ext: 1 epochs" in out and "full: 1 epochs" in out and "test song-level macro F1" in out
    assert main(["-q", "transfer", music, "--features", str(root / "features"), "-o", str(tmp_path / "tr"),
                 "--baseline", *small]) == 0
    assert (tmp_path / "tr/baseline/weights.pt").is_file()


def test_training_commands_explain_bad_input(tiny_study, tmp_path: Path, capsys):
    _, store = tiny_study
    root = store.folder.parent.parent
    music = str(root / "manifests/music_eng.jsonl")
    features = ["--features", str(root / "features")]
    assert main(["-q", "transfer", music, *features, "-o", str(tmp_path / "t")]) == 1
    assert "--encoder" in capsys.readouterr().err
    assert main(["-q", "transfer", music, *features, "-o", str(tmp_path / "t"), "--encoder", str(tmp_path)]) == 1
    assert "not a model directory" in capsys.readouterr().err
    assert main(["-q", "pretrain", music, *features, "-o", str(tmp_path / "p"), "--set", "train.epoch=3"]) == 1
    assert "unknown key" in capsys.readouterr().err
    assert main(["-q", "pretrain", music, "--features", str(tmp_path / "none"), "-o", str(tmp_path / "p")]) == 1
    assert "feature store" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["prepare"], ["features"], ["synth"], ["demo"], ["pretrain"], ["transfer"]])
def test_help_everywhere(command: list[str], capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: quadpred" in capsys.readouterr().out


def test_python_dash_m_quadpred():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "quadpred", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "prepare" in done.stdout and "features" in done.stdout
