"""The method tables: a new pretraining method and grid method added as two entries, nothing else."""

import json
from pathlib import Path

import pytest
import torch
from test_experiment import tiny_config
from test_train import small_run

from quadpred import cli
from quadpred.config import RECIPES
from quadpred.crossval import CV_METHODS
from quadpred.experiment import PRESETS, REAL_RECIPES, plan, run_grid
from quadpred.methods import METHODS, PRETRAININGS, Method, PretrainData, Pretraining
from quadpred.modeldir import load_model
from quadpred.models import build_scae
from quadpred.objectives import Denoising
from quadpred.stages import pretrain, transfer
from quadpred.store import ChunkDataset


def _autoencoder_data(model, train, valid, store, run) -> PretrainData:
    return PretrainData(ChunkDataset(store, train), ChunkDataset(store, valid), Denoising(0.0))


@pytest.fixture
def plain_autoencoder(monkeypatch):
    """A toy method: the SCAE network trained without input noise, as a user would add one."""
    monkeypatch.setitem(PRETRAININGS, "ae", Pretraining("ae", "ae", "logmel", 1e-3, build_scae, _autoencoder_data,
                                                        "plain convolutional autoencoder"))
    monkeypatch.setitem(METHODS, "ae-feat-ext", Method("ae-feat-ext", "ae", "ae", ("feat-ext",)))


def test_a_method_added_to_the_tables_pretrains_and_transfers(plain_autoencoder, tiny_study, tmp_path: Path):
    clips, store = tiny_study
    pretrain(clips["speech_eng"], store, tmp_path / "pre", method="ae", run=small_run("train.epochs=1"), progress=False)
    info = json.loads((tmp_path / "pre" / "config.json").read_text())
    assert info["kind"] == "ae" and info["stage"] == "ae"
    model, _ = load_model(tmp_path / "pre")
    assert model(torch.zeros(1, 1, 128, 31)).shape == (1, 1, 128, 31)
    result = transfer(clips["music_eng"], store, tmp_path / "tr", stage="feat-ext", init=tmp_path / "pre",
                      run=small_run("train.epochs=1"), progress=False)
    assert result.epochs_run == 1 and (tmp_path / "tr" / "metrics.json").is_file()


def test_a_method_added_to_the_tables_runs_in_the_grid(plain_autoencoder, tiny_study, tmp_path: Path):
    config = tiny_config(tiny_study, methods=["baseline", "ae-feat-ext"], settings=["eng2eng"], repeats=1, mix=[])
    assert {s.folder for s in plan(config)} == {"pretrain/ae-eng/r0", "transfer/eng2eng/ae/r0",
                                                 "transfer/baseline-eng/r0"}
    result = run_grid(config, tmp_path, tmp_path / "runs", device="cpu", progress=False)
    assert not result.failed, result.status
    assert (tmp_path / "runs/transfer/eng2eng/ae/r0/feat-ext/weights.pt").is_file()


def test_the_method_tables_drive_the_grid_stages_and_variants():
    assert METHODS["scae-full"].stages == ("feat-ext", "full") and METHODS["scae-full"].stage == "full"
    assert METHODS["dae-sparsity"].features == "smile" and METHODS["dae-sparsity"].model["dae.hidden"] == 800
    assert all(m.pretraining is None or m.pretraining in PRETRAININGS for m in METHODS.values())


def test_the_command_line_choices_match_the_tables():
    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    choices = {name: next(a.choices for a in sub._actions if a.dest == "method")
               for name, sub in subcommands.items() if name in ("pretrain", "cv")}
    assert tuple(choices["pretrain"]) == tuple(PRETRAININGS) and tuple(choices["cv"]) == tuple(CV_METHODS)
    presets = next(a.choices for a in subcommands["experiment"]._actions if a.dest == "preset")
    assert tuple(presets) == PRESETS
    recipes = {name: next(a.choices for a in subcommands[name]._actions if a.dest == "recipe")
               for name in ("experiment", "transfer", "cv")}
    assert tuple(recipes["experiment"]) == REAL_RECIPES
    assert tuple(recipes["transfer"]) == tuple(recipes["cv"]) == tuple(RECIPES)
