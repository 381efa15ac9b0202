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
    Path(clips[3].path).write_bytes(b"not audio at all")  # a file damaged since: reported, skipped, exit 1
    assert main(["-q", "features", str(manifest), "-o", str(tmp_path / "again"), "--workers", "1"]) == 1
    printed = capsys.readouterr().out
    assert "19 written" in printed and f"skipped {clips[3].id}" in printed


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
    command = ["-q", "demo", "-o", str(tmp_path), "--scale", "tiny", "--workers", "2", "--repeats", "1", "--epochs", "1"]
    assert main(command) == 0
    first = capsys.readouterr().out
    tiny = SCALES["tiny"]
    n_clips = (tiny.eng_speakers + tiny.man_speakers) * tiny.utterances_per_speaker + tiny.eng_music + tiny.man_music
    assert f"features: {n_clips} clips" in first
    for name in ("speech_eng", "speech_man", "music_eng", "music_man"):
        assert read_manifest(tmp_path / "manifests" / f"{name}.jsonl")
    assert (tmp_path / "runs" / "report" / "report.html").is_file()
    for pair in ("eng2eng", "man2eng", "eng2man", "man2man"):
        assert f"model {pair}" in first and "sections predicted" in first
        assert (tmp_path / "predictions" / pair / "four_quadrants.wav.png").is_file()
    card = (tmp_path / "world" / "data_card.json").stat().st_mtime
    weights = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("weights.pt")}
    assert main(command) == 0
    assert (tmp_path / "world" / "data_card.json").stat().st_mtime == card  # the world was reused
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("weights.pt")} == weights  # nothing retrained


@pytest.mark.parametrize("command", [["demo"], ["experiment", "--preset", "demo", "-o", "x"]])
def test_cells_below_one_are_refused_by_name(command: list[str], capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--cells", "0"])
    assert info.value.code == 2 and "--cells: must be 1 or more, got 0" in capsys.readouterr().err


def _subcommands() -> list[str]:
    import argparse

    from quadpred.cli import build_parser

    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


@pytest.mark.parametrize("command", [[], *([c] for c in _subcommands())])
def test_help_everywhere(command: list[str], capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    shown = capsys.readouterr().out
    assert "usage: quadpred" in shown
    assert "%%" not in shown  # argparse formats %% in help= strings only, not in descriptions


def test_python_dash_m_quadpred():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "quadpred", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "prepare" in done.stdout and "features" in done.stdout


def test_the_cv_recipe_is_the_flags_cross_validation_used_and_set_applies_on_top(monkeypatch, tmp_path: Path):
    from quadpred import cli, crossval, manifest, stages
    from quadpred.config import RunConfig, apply_overrides

    documented = ["train.lr=3e-4", "train.epochs=8", "train.patience=8", "train.max_batches=180",
                  "train.select=song-loss", "train.schedule=cosine", "train.warmup_epochs=0.5",
                  "train.average_last=0.5"]  # docs/results.md's NEW, then the late weights averaged
    runs = []

    def stop(*args, run, **kwargs):  # what the command would train with; no training
        runs.append(run)
        raise SystemExit(0)

    monkeypatch.setattr(stages, "transfer_stages", stop)
    monkeypatch.setattr(crossval, "run_cv", stop)
    monkeypatch.setattr(cli, "_clips_and_store", lambda args: ([], None))
    monkeypatch.setattr(manifest, "read_manifest", lambda path: [])
    transfer = ["-q", "transfer", "m.jsonl", "--features", "s", "-o", str(tmp_path / "out")]
    references = ["-q", "cv", "m.jsonl", "-o", str(tmp_path / "cv"), "--method", "egemaps-svm", "--recipe", "cv"]
    for argv in ([*transfer, "--baseline", "--recipe", "cv"], [*transfer, "--encoder", "pre", "--recipe", "cv", "--set",
                                                               "train.seed=1"], [*transfer, "--baseline"], references):
        with pytest.raises(SystemExit):
            main(argv)
    baseline, full, study, references = runs
    assert baseline == apply_overrides(RunConfig(), [*documented, "model.input_norm=true"])  # from random: standardised
    assert full == apply_overrides(RunConfig(), [*documented, "train.seed=1"]) and not full.model.input_norm
    assert study == RunConfig()  # the default recipe is the study's, unchanged
    assert references == apply_overrides(RunConfig(), documented)


def test_teachers_reach_cross_validation_and_transfer(monkeypatch, tmp_path: Path):
    from quadpred import cli, crossval, manifest, stages

    given = []

    def stop(*args, teachers, run, **kwargs):  # what the command would be taught by; no training
        given.append((list(map(str, teachers)), run.train.distil))
        raise SystemExit(0)

    monkeypatch.setattr(stages, "transfer_stages", stop)
    monkeypatch.setattr(crossval, "run_cv", stop)
    monkeypatch.setattr(cli, "_clips_and_store", lambda args: ([], None))
    monkeypatch.setattr(manifest, "read_manifest", lambda path: [])
    monkeypatch.setattr("quadpred.store.FeatureStore.open", lambda *args, **kwargs: None)
    distil = ["--set", "train.distil=0.5"]
    for argv in (["-q", "cv", "m.jsonl", "-o", str(tmp_path / "cv"), "--method", "baseline", "--features", "s",
                  "--teachers", "cv/a", "cv/b", *distil],
                 ["-q", "transfer", "m.jsonl", "--features", "s", "-o", str(tmp_path / "t"), "--baseline",
                  "--teachers", "t/a", *distil],
                 ["-q", "cv", "m.jsonl", "-o", str(tmp_path / "cv2"), "--method", "baseline", "--features", "s"]):
        with pytest.raises(SystemExit):
            main(argv)
    assert given == [(["cv/a", "cv/b"], 0.5), (["t/a"], 0.5), ([], 0.0)]
