from collections import Counter
from pathlib import Path

import pytest

from quadpred.errors import ManifestError
from quadpred.manifest import (
    Clip,
    check_leakage,
    read_manifest,
    sample_hours,
    split_music,
    split_speech,
    write_manifest,
)


def music(n_songs: int = 200, per_artist: int = 3) -> list[Clip]:
    return [Clip(id=f"s{i}", path=f"/x/s{i}.wav", duration=30.0, language="eng", group=f"artist{i // per_artist}",
                 labels={"quadrant": f"Q{(i // per_artist) % 4 + 1}"}) for i in range(n_songs)]


def test_round_trip(tmp_path: Path):
    clips = music(8)
    write_manifest(tmp_path / "m.jsonl", clips)
    assert read_manifest(tmp_path / "m.jsonl") == clips


@pytest.mark.parametrize(
    "text, message",
    [("{not json\n", "not valid JSON"), ('{"id": "a"}\n', "missing field"), ("", "empty"), ("[1, 2]\n", "JSON object")],
)
def test_bad_manifest_lines(tmp_path: Path, text: str, message: str):
    (tmp_path / "m.jsonl").write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path / "m.jsonl")


def test_missing_manifest(tmp_path: Path):
    with pytest.raises(ManifestError, match="quadpred prepare"):
        read_manifest(tmp_path / "nope.jsonl")


def test_sample_hours_is_seeded_and_within_budget():
    clips = [Clip(id=str(i), path="", duration=60.0, language="eng", group=str(i % 7)) for i in range(300)]
    first, again = sample_hours(clips, 1.0, seed=3), sample_hours(clips, 1.0, seed=3)
    assert first == again
    assert 60 <= len(first) <= 61
    assert sample_hours(clips, 1.0, seed=4) != first
    assert len(sample_hours(clips, 100.0)) == 300


def test_music_split_is_by_group_stratified_and_seeded():
    clips = split_music(music(), seed=1)
    check_leakage(clips)
    counts = Counter(c.split for c in clips)
    assert abs(counts["test"] / 200 - 0.30) < 0.04
    assert abs(counts["valid"] / 200 - 0.105) < 0.04
    for q in ("Q1", "Q2", "Q3", "Q4"):
        in_q = [c for c in clips if c.quadrant == q]
        assert abs(sum(c.split == "test" for c in in_q) / len(in_q) - 0.30) < 0.08
    assert split_music(music(), seed=1) == clips
    assert split_music(music(), seed=2) != clips


def test_speech_split_by_speaker():
    clips = split_speech([Clip(id=str(i), path=f"/s/{i}.wav", duration=5.0, language="man", group=f"S{i % 20}")
                          for i in range(400)])
    check_leakage(clips)
    assert abs(sum(c.split == "valid" for c in clips) / 400 - 0.15) < 0.03


def test_leakage_is_detected():
    clips = split_music(music(40))
    clips[0].split = "test" if clips[0].split != "test" else "train"
    with pytest.raises(ManifestError, match="more than one split"):
        check_leakage(clips)
