"""Killed with SIGKILL at a random point and run again, a command's outputs equal those of an
uninterrupted run, and no half-written file is left visible (issue 19)."""

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from conftest import tone

from quadpred.manifest import write_manifest


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "quadpred", "-q", *args], check=True, capture_output=True)


def killed(args: list[str], ready, seconds: float = 60.0) -> None:
    """Start ``quadpred args``, SIGKILL it once ``ready()`` is true, and wait for it."""
    process = subprocess.Popen([sys.executable, "-m", "quadpred", "-q", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None and not ready():
        time.sleep(0.02)
    assert process.poll() is None, "the command finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


def rows_without_paths(summary: Path) -> list[dict]:
    with summary.open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "outputs"} for row in csv.DictReader(handle)]


def test_killed_predict_resumes_to_the_uninterrupted_outputs(tiny_model: Path, tmp_path: Path):
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(8):
        sf.write(songs / f"s{i}.wav", tone(6.0, 22050, freq=180 + 70 * i, seed=i), 22050)
    common = ["--model", str(tiny_model)]
    run("predict", str(songs), "-o", str(tmp_path / "whole"), *common)
    out = tmp_path / "cut"
    killed(["predict", str(songs), "-o", str(out), *common], lambda: len(list(out.glob("*.json"))) >= 2)
    run("predict", str(songs), "-o", str(out), *common)
    whole = sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert sorted(p.name for p in out.iterdir()) == whole  # nothing hidden or extra left
    for name in whole:
        if name != "summary.csv":
            assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert rows_without_paths(out / "summary.csv") == rows_without_paths(tmp_path / "whole" / "summary.csv")


def test_killed_training_resumes_to_the_uninterrupted_weights(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    write_manifest(tmp_path / "music.jsonl", clips["music_eng"])
    root = str(store.folder.parent)
    common = ["transfer", str(tmp_path / "music.jsonl"), "--features", root, "--baseline", "--device", "cpu",
              "--set", "model.encoder.channels=[4,8,8]", "--set", "model.head.units=16", "--set", "train.epochs=4",
              "--set", "train.patience=9"]
    run(*common, "-o", str(tmp_path / "whole"))
    cut = tmp_path / "cut" / "baseline"
    killed([*common, "-o", str(tmp_path / "cut")], lambda: (cut / "checkpoint.pt").is_file()
           and b'"epoch": 2' in (cut / "history.json").read_bytes() if (cut / "history.json").is_file() else False)
    assert not (cut / "weights.pt").exists()
    run(*common, "-o", str(tmp_path / "cut"))
    a = torch.load(tmp_path / "whole" / "baseline" / "weights.pt", weights_only=True)
    b = torch.load(cut / "weights.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for name in ("predictions_test.npz", "predictions_valid.npz"):
        with np.load(tmp_path / "whole" / "baseline" / name) as x, np.load(cut / name) as y:
            assert all(np.array_equal(x[k], y[k]) for k in x.files), name
    assert not list((tmp_path / "cut").rglob("*.tmp")) and not (cut / "checkpoint.pt").exists()

