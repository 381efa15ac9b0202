"""The experiment grid and its report on the tiny built-in world."""

import json
from pathlib import Path

import numpy as np
import pytest
from browser import Browser
from conftest import keep_artefact

from quadpred.config import RunConfig
from quadpred.errors import ConfigError
from quadpred.experiment import ExperimentConfig, PresetInputs, demo_preset, plan, preset_experiment, run_grid
from quadpred.manifest import write_manifest
from quadpred.report import write_report
from quadpred.reportviews import NO_TRANSFER_TESTS, Table

TINY = {"model": {"encoder": {"channels": [4, 8, 8]}, "head": {"units": 16},
                  "cpc": {"code_dim": 8, "context_dim": 8, "segments": 2, "steps": 1}},
        "train": {"epochs": 1, "batch_size": 32}}


def tiny_config(tiny_study, **changes) -> ExperimentConfig:
    _, store = tiny_study
    root = store.folder.parent.parent
    config = demo_preset(root / "manifests", str(root / "features"), repeats=2)
    data = {**config.__dict__, "pretrain": TINY, "transfer": TINY, **changes}
    return ExperimentConfig(**data)


def test_plan_is_plain_data_with_pretraining_first():
    config = ExperimentConfig(speech={"eng": ["e"], "man": ["m"]}, music={"eng": ["4q"]}, mix=["eng", "man"],
                              methods=["baseline", "scae-full"], repeats=2)
    steps = plan(config)
    names = [s.folder for s in steps]
    assert "pretrain/scae-mix/r1" in names and "transfer/mix2eng/scae/r0" in names
    assert "transfer/baseline-eng/r0" in names
    for step in steps:
        if step.needs:
            assert names.index(step.needs) < names.index(step.folder)
    assert all(s.stages == ("feat-ext", "full") for s in steps if s.family == "scae" and s.kind == "transfer")
    assert len(steps) == 2 * (3 + 3 + 1)


def test_pretrain_once_repeats_only_the_emotion_models():
    config = ExperimentConfig(speech={"eng": ["e"], "man": ["m"]}, music={"eng": ["4q"]},
                              methods=["baseline", "scae-full"], repeats=3, pretrain_once=True)
    steps = plan(config)
    assert [s.folder for s in steps if s.kind == "pretrain"] == ["pretrain/scae-eng/r0", "pretrain/scae-man/r0"]
    transfers = [s for s in steps if s.kind == "transfer" and s.family]
    assert len(transfers) == 3 * 2 and {s.repeat for s in transfers} == {0, 1, 2}
    assert all(s.needs == f"pretrain/scae-{s.speech}/r0" for s in transfers)


def test_ensemble_of_repeats_scores_their_mean_probabilities():
    from quadpred.evaluate import SplitPredictions
    from quadpred.report import ensemble_report

    targets = np.array([[0, 1, 1], [0, 1, 1], [2, 0, 0], [2, 0, 0]])
    songs = np.array([0, 0, 1, 1])

    def run(quadrant: list[list[float]]) -> SplitPredictions:
        binary = np.tile([[0.4, 0.6]], (4, 1))
        return SplitPredictions({"quadrant": np.array(quadrant), "arousal": binary, "valence": binary},
                                targets, songs, ["a", "b"])

    # each repeat gets one song wrong; their mean gets both right
    first = run([[.6, 0, .4, 0], [.6, 0, .4, 0], [.6, 0, .4, 0], [.6, 0, .4, 0]])
    second = run([[.45, 0, .55, 0], [.45, 0, .55, 0], [.1, 0, .9, 0], [.1, 0, .9, 0]])
    assert first.report()["song"]["quadrant"]["accuracy"] == 0.5 == second.report()["song"]["quadrant"]["accuracy"]
    ensemble = ensemble_report([first, second])
    assert ensemble["song"]["quadrant"]["accuracy"] == 1.0 and ensemble["chunk"]["quadrant"]["accuracy"] == 1.0
    assert ensemble_report([first]) is None and ensemble_report([first, None]) is None
    other = SplitPredictions(first.probabilities, targets, songs, ["a", "c"])
    assert ensemble_report([first, other]) is None  # scored on other songs: no ensemble


def test_bad_experiment_configs_are_named():
    with pytest.raises(ConfigError, match="methods"):
        ExperimentConfig(music={"eng": ["x"]}, speech={"eng": ["y"]}, methods=["svm"])
    with pytest.raises(ConfigError, match="setting 'fr2eng'"):
        ExperimentConfig(music={"eng": ["x"]}, speech={"eng": ["y"]}, settings=["fr2eng"])
    with pytest.raises(ConfigError, match="no music"):
        ExperimentConfig(speech={"eng": ["y"]})
    # the run sections are typed when the config is made: a misspelt key is named before any training
    with pytest.raises(ConfigError, match=r"experiment transfer.train: unknown key\(s\) epoch; known keys: epochs"):
        ExperimentConfig(music={"eng": ["x"]}, speech={"eng": ["y"]}, transfer={"train": {"epoch": 3}})
    typed = ExperimentConfig(music={"eng": ["x"]}, speech={"eng": ["y"]}, transfer={"train": {"epochs": 3}})
    assert typed.transfer.train.epochs == 3 and typed.pretrain == RunConfig()


def test_a_table_renders_the_same_rows_to_markdown_and_html():
    table = Table(["model", "F <song>"], [["scae-full", "0.64 & more"], ["baseline", ""]])
    assert table.markdown() == "| model | F <song> |\n|---|---|\n| scae-full | 0.64 & more |\n| baseline |  |\n"
    page = table.html()
    assert page.count("<tr>") == 3 and "<th>F &lt;song&gt;</th>" in page and "<td>0.64 &amp; more</td>" in page


def test_presets_are_resolved_with_their_inputs_named(tmp_path: Path):
    speech = {"eng": [str(tmp_path / "s_eng.jsonl")], "man": [str(tmp_path / "s_man.jsonl")]}
    music = {"eng": [str(tmp_path / "m_eng.jsonl")], "man": [str(tmp_path / "m_man.jsonl")]}
    config, base = preset_experiment("paper", tmp_path / "out",
                                     PresetInputs(speech=speech, music=music, features=tmp_path / "store"))
    assert config.speech == speech and config.music == music and config.repeats == 4
    assert config.features_root == str((tmp_path / "store").resolve()) and base == Path.cwd()
    with pytest.raises(ConfigError, match=r"paper preset needs .*--features STORE"):
        preset_experiment("paper", tmp_path / "out", PresetInputs(speech=speech, music=music))
    with pytest.raises(ConfigError, match=r"real preset needs .*--data"):
        preset_experiment("real", tmp_path / "out")
    with pytest.raises(ConfigError, match="preset 'huge' unknown: use one of paper, demo, real"):
        preset_experiment("huge", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # a refused preset writes nothing


@pytest.fixture(scope="module")
def finished_grid(tiny_study, tmp_path_factory: pytest.TempPathFactory) -> tuple[ExperimentConfig, Path, Path]:
    """The demo grid on the tiny world, run once for this module: (config, its folder, runs folder)."""
    config = tiny_config(tiny_study)
    root = tmp_path_factory.mktemp("grid")
    result = run_grid(config, root, root / "runs", device="cpu", workers=1, progress=False)
    assert not result.failed, result.status
    return config, root, root / "runs"


def test_whole_grid_runs_reports_and_resumes(finished_grid):
    config, tmp_path, out = finished_grid
    files = write_report(out, paper=True)
    for key in ("json", "csv", "markdown", "html"):
        assert files[key].is_file() and files[key].stat().st_size > 0
    for name in ("f1_chunk.png", "f1_song.png", "confusion_chunk.png", "confusion_song.png", "learning_curves.png"):
        assert (out / "report" / name).read_bytes()[:4] == b"\x89PNG"
    results = json.loads(files["json"].read_text())
    cells = {(c["method"], c["setting"]) for c in results["summary"]["cells"]}
    assert ("scae-full", "man2eng") in cells and ("baseline", "baseline-man") in cells
    assert ("cpc-feat-ext", "mix2man") in cells
    for cell in results["summary"]["cells"]:
        assert cell["repeats"] == 2
        for level in ("chunk", "song"):
            f1 = cell[level]["quadrant"]["f1"]
            assert 0 <= f1["mean"] <= 1 and f1["ci95"][0] <= f1["ci95"][1]
    pairs = {(t["intra"], t["cross"]) for t in results["paired_tests"]}
    assert ("eng2eng", "man2eng") in pairs and ("man2man", "eng2man") in pairs and ("eng2eng", "mix2eng") in pairs
    assert all(0 <= t["p_holm"] <= 1 for t in results["paired_tests"])
    # transfer against the baseline of the same music, a family of its own: every transfer cell once per level and task
    versus = results["transfer_tests"]
    transfer_cells = {key for key in cells if key[0] != "baseline"}
    assert {(t["method"], t["setting"]) for t in versus} == transfer_cells
    assert len(versus) == len(transfer_cells) * 2 * 3
    song_f1 = {(c["method"], c["setting"]): c["song"]["quadrant"]["f1"]["mean"] for c in results["summary"]["cells"]}
    for t in versus:
        assert t["p_value"] <= t["p_holm"] <= 1 and t["ci95"][0] <= t["ci95"][1]
        if t["level"] == "song" and t["task"] == "quadrant":
            music = t["setting"].split("2")[1]
            assert t["f1_baseline"] == pytest.approx(song_f1[("baseline", f"baseline-{music}")], abs=1e-6)
            assert t["f1_transfer"] == pytest.approx(song_f1[(t["method"], t["setting"])], abs=1e-6)
    assert all(0 <= c["ensemble"]["song"]["quadrant"]["f1"] <= 1 for c in results["summary"]["cells"])
    for cell in results["summary"]["cells"]:  # how each repeat kept its weights, read back from its own files
        for facts in cell["training"]:
            assert 1 <= facts["best_epoch"] <= facts["epochs_run"] and 0 <= facts["valid_song_f1_kept"] <= 1
    markdown = files["markdown"].read_text()
    assert "## Ensemble of the repeats" in markdown
    assert "## Training: the weights each cell kept" in markdown
    assert "## Transfer vs the baseline" in markdown and "| method | setting | level | task | F transfer |" in markdown
    assert "| model | task | eng2eng | eng2eng (paper) |" in markdown and ".61/.58/.58" in markdown
    # a second run trains nothing: every weights file stays as it was
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("weights.pt")}
    again = run_grid(config, tmp_path, out, device="cpu", workers=1, progress=False)
    assert not again.failed and {p: p.stat().st_mtime_ns for p in out.rglob("weights.pt")} == stamps


def test_the_report_page_shows_its_tables_and_figures_in_a_browser(finished_grid, chromium: str, tmp_path: Path):
    _, _, out = finished_grid
    page = write_report(out, paper=True)["html"]
    with Browser(chromium) as browser:
        browser.open(page)
        images = browser.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        assert len(images) >= 5 and all(loaded for _, loaded in images), images
        assert browser.evaluate("document.querySelectorAll('table').length") >= 2
        assert "Results" in browser.evaluate("document.querySelector('h1').textContent")
        shot = keep_artefact(browser.screenshot(tmp_path / "report_page.png"))
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_a_failed_cell_is_reported_and_the_rest_go_on(tiny_study, tmp_path: Path):
    clips, _ = tiny_study
    config = tiny_config(tiny_study, methods=["scae-feat-ext", "cpc-feat-ext"], repeats=1,
                         pretrain={**TINY, "model": {**TINY["model"], "cpc": {"segments": 500, "steps": 1}}})
    out = tmp_path / "runs"
    result = run_grid(config, tmp_path, out, device="cpu", workers=1, progress=False)
    assert result.failed and all("cpc" in name for name in result.failed)
    status = json.loads((out / "status.json").read_text())
    assert status["pretrain/cpc-eng/r0"]["state"] == "failed" and "model.cpc.segments" in status["pretrain/cpc-eng/r0"]["reason"]
    assert status["transfer/eng2eng/cpc/r0"]["state"] == "skipped"
    assert status["transfer/eng2eng/scae/r0"]["state"] == "done"
    report = write_report(out)
    markdown = report["markdown"].read_text()
    assert "Not finished" in markdown
    assert NO_TRANSFER_TESTS in markdown  # no baseline in this grid: the section says why it has no table
    assert json.loads(report["json"].read_text())["transfer_tests"] == []


def test_one_family_gets_its_own_transfer_settings_and_bad_ones_are_refused_before_training(tiny_study, tmp_path: Path):
    config = tiny_config(tiny_study, methods=["baseline", "scae-feat-ext"], settings=["eng2eng"], repeats=1, mix=[],
                         transfer_by_family={"baseline": {"model.input_norm": True, "train.select": "song-loss"}})
    result = run_grid(config, tmp_path, tmp_path / "runs", device="cpu", progress=False)
    assert not result.failed, result.status
    baseline = json.loads((tmp_path / "runs/transfer/baseline-eng/r0/baseline/config.json").read_text())
    scae = json.loads((tmp_path / "runs/transfer/eng2eng/scae/r0/feat-ext/config.json").read_text())
    assert baseline["model"]["input_norm"] is True and baseline["train"]["select"] == "song-loss"
    assert scae["model"]["input_norm"] is False and scae["train"]["select"] == config.transfer.train.select
    with pytest.raises(ConfigError, match=r"transfer_by_family: 'cpc' is not a family of the grid's methods \(baseline, scae\)"):
        tiny_config(tiny_study, methods=["baseline", "scae-feat-ext"], transfer_by_family={"cpc": {"train.lr": 1e-3}})
    with pytest.raises(ConfigError, match="transfer_by_family 'baseline': setting 'model.input_normalisation': unknown key"):
        tiny_config(tiny_study, methods=["baseline"], transfer_by_family={"baseline": {"model.input_normalisation": True}})


def test_leaking_split_is_refused(tiny_study, tmp_path: Path):
    clips, _ = tiny_study
    music = list(clips["music_eng"])
    first = music[0]
    # the same song once more, on the other side of the split
    twin = type(first)(**{**first.__dict__, "id": first.id + "-twin", "split": "test" if first.split != "test" else "train"})
    write_manifest(tmp_path / "leak.jsonl", [*music, twin])
    config = tiny_config(tiny_study, music={"eng": [str(tmp_path / "leak.jsonl")]}, methods=["baseline"], repeats=1,
                         speech={}, mix=[])
    result = run_grid(config, tmp_path, tmp_path / "runs", device="cpu", workers=1, progress=False)
    assert result.failed == ["transfer/baseline-eng/r0"]
    assert "are the same audio file" in result.status["transfer/baseline-eng/r0"]["reason"]
    assert not list((tmp_path / "runs").rglob("metrics.json"))


def test_cells_side_by_side_train_what_one_thread_trains_one_after_another(tiny_study, tmp_path: Path):
    import torch

    config = tiny_config(tiny_study, methods=["baseline", "scae-full"], settings=["eng2eng", "man2eng"], repeats=1)
    parallel = run_grid(config, tmp_path, tmp_path / "side-by-side", device="cpu", cells=2, progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each of the two cell processes has on 2 cores or fewer
    try:
        serial = run_grid(config, tmp_path, tmp_path / "serial", device="cpu", cells=1, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert not parallel.failed and parallel.status == serial.status and len(parallel.status) == 5
    for metrics in (tmp_path / "serial").rglob("metrics.json"):
        twin = tmp_path / "side-by-side" / metrics.relative_to(tmp_path / "serial")
        assert json.loads(twin.read_text()) == json.loads(metrics.read_text()), twin
    assert json.loads((tmp_path / "side-by-side" / "status.json").read_text()) == parallel.status


def test_a_failed_pretraining_skips_its_transfers_when_cells_run_side_by_side(tiny_study, tmp_path: Path):
    config = tiny_config(tiny_study, methods=["scae-feat-ext", "cpc-feat-ext"], settings=["eng2eng"], repeats=1,
                         pretrain={**TINY, "model": {**TINY["model"], "cpc": {"segments": 500, "steps": 1}}})
    result = run_grid(config, tmp_path, tmp_path / "runs", device="cpu", cells=2, progress=False)
    assert result.failed == ["pretrain/cpc-eng/r0"] and "model.cpc.segments" in result.status["pretrain/cpc-eng/r0"]["reason"]
    assert result.status["transfer/eng2eng/cpc/r0"]["state"] == "skipped"
    assert result.status["transfer/eng2eng/scae/r0"]["state"] == "done"


def test_a_partial_grid_says_how_many_repeats_each_cell_holds():
    from quadpred.labels import TASKS
    from quadpred.reportviews import results_table

    def cell(method: str, repeats: int) -> dict:
        scores = {"precision": {"mean": 0.5}, "recall": {"mean": 0.5}, "f1": {"mean": 0.5, "sd": 0.01, "ci95": [0.4, 0.6]}}
        return {"method": method, "setting": "eng2eng", "music": "eng", "repeats": repeats,
                "song": {task: scores for task in TASKS}}

    uneven = results_table({"cells": [cell("scae-full", 2), cell("cpc-feat-ext", 1)]}, "song").markdown()
    assert "0.40-0.60; 2 repeats)" in uneven and "0.40-0.60; 1 repeat)" in uneven
    even = results_table({"cells": [cell("scae-full", 2), cell("cpc-feat-ext", 2)]}, "song").markdown()
    assert "repeat" not in even and "(sd 0.01; 0.40-0.60)" in even


def test_the_training_table_shows_averaged_weights_beside_the_epoch_validation_preferred(tmp_path: Path):
    from quadpred.report import Run
    from quadpred.reportviews import training_table

    def run_folder(name: str, train: dict, best_epoch: int, song_losses: list[float]) -> Run:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({"epochs_run": len(song_losses), "best_epoch": best_epoch,
                                                         "select": "song-loss", "train": train}))
        (folder / "history.json").write_text(json.dumps([
            {"epoch": e + 1, "valid_loss": 2.0, "valid_song_loss": loss, "valid_song_f1": 0.8 - loss / 10}
            for e, loss in enumerate(song_losses)]))
        (folder / "metrics.json").write_text(json.dumps({"test": {}, "valid": {"song": {"quadrant": {"f1": 0.55}}}}))
        return Run("scae-full", "eng2eng", "eng", 0, folder)

    # 8 epochs, the last half averaged: validation liked epoch 3 best, the kept weights are epochs 5-8
    averaged = run_folder("averaged", {"epochs": 8, "average_last": 0.5}, 8, [0.9, 0.85, 0.7, 0.8, 0.9, 1.0, 1.0, 1.1])
    facts = averaged.training()
    assert facts["averaged_epochs"] == [5, 8] and facts["kept_epoch"] is None and facts["best_epoch"] == 3
    assert facts["valid_song_f1_best_epoch"] == pytest.approx(0.73) and facts["valid_song_f1_kept"] == 0.55
    # early stopping keeps its best epoch, and the table says so per repeat
    stopped = run_folder("stopped", {"epochs": 8, "average_last": 0.0}, 2, [0.9, 0.6, 0.7])
    assert stopped.training()["kept_epoch"] == 2 and stopped.training()["averaged_epochs"] is None
    table = training_table({"cells": [{"method": "scae-full", "setting": "eng2eng", "training": [facts]},
                                      {"method": "baseline", "setting": "baseline-eng",
                                       "training": [stopped.training(), stopped.training()]}]}).markdown()
    assert "| scae-full | eng2eng | song-loss | mean of epochs 5-8 | 3 | 0.730 | 0.550 |" in table
    assert "| baseline | baseline-eng | song-loss | epochs 2, 2 | 2, 2 | 0.740 | 0.550 |" in table
    assert training_table({"cells": [{"method": "baseline", "setting": "baseline-eng"}]}) is None
