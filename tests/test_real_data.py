"""The readers on the real recordings in ../shared/data (present in CI and on developer machines).

Counts are those of ../shared/data/README.md.
"""

from collections import Counter
from pathlib import Path

import pytest

from quadpred.corpora import CORPORA

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real recordings not found at {DATA}")


def test_fourq_real():
    clips = CORPORA["4q"].prepare(DATA / "4q-emotion", group_by="artist")
    assert Counter(c.quadrant for c in clips) == {"Q1": 158, "Q2": 159, "Q3": 170, "Q4": 159}
    assert 5.2 < sum(c.duration for c in clips) / 3600 < 5.5
    assert len({c.group for c in clips}) < len(clips)  # several songs per artist


def test_librispeech_real():
    clips = CORPORA["librispeech"].prepare(DATA / "librispeech")
    assert len(clips) == 351
    assert Counter(c.meta["subset"] for c in clips) == {"test-other": 100, "train-clean-100": 251}
    assert 60 < sum(c.duration for c in clips) / 60 < 70


def test_aishell_real():
    clips = CORPORA["aishell"].prepare(DATA / "aishell")
    assert len(clips) == 1005 and len({c.group for c in clips}) == 7
    assert all("text" in c.meta for c in clips)


def test_mandarin_table_real():
    clips = CORPORA["table"].prepare(DATA / "mandarin-misc" / "clips.csv")
    assert len(clips) == 35 and {c.language for c in clips} == {"man"}


def test_emotional_speech_real():
    clips = CORPORA["emotional-speech"].prepare(DATA / "emotional-speech")
    assert Counter(c.language for c in clips) == {"eng": 1440, "man": 1200}
    assert Counter(c.quadrant for c in clips if c.labels["emotion"] == "neutral") == {None: 296}
    assert len({c.group for c in clips if c.language == "eng"}) == 24 and len({c.group for c in clips if c.language == "man"}) == 4


def test_real_preset_manifests(tmp_path):
    from quadpred.corpora.real import prepare_real
    from quadpred.experiment import real_preset
    from quadpred.manifest import check_leakage, read_manifest, total_hours

    paths = prepare_real(DATA, tmp_path)
    english, mandarin, music = (read_manifest(paths[n]) for n in ("speech_eng", "speech_man", "music_eng"))
    assert abs(total_hours(mandarin) - total_hours(english)) < 0.05  # balanced to the same hours
    assert {c.language for c in mandarin} == {"man"} and {c.split for c in english} == {"train", "valid"}
    mix = read_manifest(paths["speech_mix"])  # the grid's mixture: half the hours from each language
    hours = {language: total_hours([c for c in mix if c.language == language]) for language in ("eng", "man")}
    assert abs(hours["eng"] - hours["man"]) < 0.02 and abs(sum(hours.values()) - total_hours(english)) < 0.05
    check_leakage(music)  # artists on one side only
    test_share = sum(c.split == "test" for c in music) / len(music)
    assert len(music) == 646 and 0.25 < test_share < 0.35
    config = real_preset(paths, str(tmp_path / "features"), repeats=1)
    assert config.cells() == [("eng", "eng"), ("man", "eng"), ("mix", "eng")] and "baseline" in config.methods
    assert {"dae-classifier", "dae-sparsity"} <= set(config.methods) and config.pretrain_once
    assert config.transfer.train.epochs == 5 and not config.transfer_by_family  # the short grid of docs/results.md
    cv = real_preset(paths, str(tmp_path / "features"), recipe="cv")  # the cross-validated recipe, every method
    assert (cv.transfer.train.epochs, cv.transfer.train.max_batches, cv.transfer.train.select) == (8, 180, "song-loss")
    assert cv.transfer_by_family == {"baseline": {"model.input_norm": True}} and cv.methods == config.methods
