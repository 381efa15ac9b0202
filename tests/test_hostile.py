"""Hostile and broken files: no input may stall, exhaust or crash a reader (issue 19)."""

from pathlib import Path

from hostile_files import fuzz, hostile_files, watched_outcome, wav_header

from quadpred.audio import load_audio


def test_hostile_files_are_refused_or_read_never_hang_crash_or_leak_exceptions(tmp_path: Path):
    counts, bad = fuzz(tmp_path, 240, seed=0, seconds=10.0)
    assert bad == {}, f"unwanted outcomes: {bad}"
    assert counts["refused"] > 0 and counts["ok"] > 0  # the suite holds both kinds
    assert sum(counts.values()) == 480


def test_the_generator_is_seeded():
    # libsndfile gives every Ogg stream a random serial number, so Ogg cases agree in size only
    first, again, other = (list(hostile_files(30, seed=s)) for s in (4, 4, 5))
    for (name, data), (name_again, data_again) in zip(first, again):
        assert name == name_again and len(data) == len(data_again)
        if not name.endswith(".ogg"):
            assert data == data_again, name
    assert [d for n, d in first if not n.endswith(".ogg")] != [d for n, d in other if not n.endswith(".ogg")]


def test_a_two_gigahertz_header_is_refused_at_once(tmp_path: Path):
    path = tmp_path / "2ghz.wav"  # found by bench/fuzz.py: the resampler's filter for this took minutes
    path.write_bytes(wav_header(1, 1, 2**31 - 1, 8, 2000) + bytes(2000))
    assert watched_outcome(path, "load_audio", seconds=5.0) == "refused"
    assert watched_outcome(path, "stream_log_mel", seconds=5.0) == "refused"


def test_a_three_hertz_header_is_refused_at_once_with_the_reason(tmp_path: Path):
    path = tmp_path / "3hz.wav"
    path.write_bytes(wav_header(7, 1, 3, 8, 150_000) + bytes(150_000))  # u-law, 3 Hz: "14 hours"
    assert watched_outcome(path, "load_audio", seconds=5.0) == "refused"
    assert watched_outcome(path, "stream_log_mel", seconds=5.0) == "refused"
    try:
        load_audio(path)
    except Exception as exc:  # noqa: BLE001
        assert "sample rate 3 Hz is below 4000 Hz" in str(exc) and str(path) in str(exc)
    else:
        raise AssertionError("a 3-Hz file was accepted")


class StepClock:
    """A stand-in for time.monotonic that advances ``step`` seconds per call: the per-file time
    limit is then exercised without waiting, and the same on any machine."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_file_over_the_time_limit_is_skipped_and_the_batch_goes_on(tiny_model: Path, tmp_path: Path, monkeypatch):
    import csv

    from conftest import tone, write

    from quadpred.audio import ReadLimits
    from quadpred.predict import Predictor, predict_files

    folder = tmp_path / "songs"
    write(folder / "short.wav", tone(5.0, seed=1))
    write(folder / "long.wav", tone(100.0, seed=2))  # 4 blocks of 30 s: 4 checks of the clock
    # 30 s per check against 60 s + 36 s per hour: 1 block passes, the third of 4 does not
    monkeypatch.setattr("quadpred.audio.time.monotonic", StepClock(30.0))
    result = predict_files(Predictor.from_dir(tiny_model), [folder], tmp_path / "out", progress=False, plot=False,
                           limits=ReadLimits(seconds_per_hour=36.0))
    assert result.done == 1 and list(result.failed) == [str(folder / "long.wav")]
    reason = result.failed[str(folder / "long.wav")]
    assert "took over 61 s" in reason and "1.7 min of audio" in reason and "--file-timeout" in reason
    rows = {row["file"]: row["status"] for row in csv.DictReader(open(result.summary))}
    assert rows[str(folder / "short.wav")] == "ok" and rows[str(folder / "long.wav")].startswith("skipped")
    assert not (tmp_path / "out" / "long.wav.json").exists()


def test_features_skip_files_over_the_hour_and_time_limits_and_record_why(tmp_path: Path, monkeypatch):
    from conftest import tone, write

    from quadpred.audio import ReadLimits
    from quadpred.config import FeatureConfig
    from quadpred.manifest import Clip
    from quadpred.store import FeatureStore, extract

    clips = [Clip(id=name, path=str(write(tmp_path / f"{name}.wav", tone(seconds, seed=i))), duration=seconds,
                  language="eng", group=name) for i, (name, seconds) in enumerate((("short", 4.0), ("long", 100.0)))]
    result = extract(clips, tmp_path / "store", FeatureConfig(), progress=False, limits=ReadLimits(hours=10 / 3600))
    assert list(result.failed) == ["long"] and "over the 0.00278-hour limit" in result.failed["long"]
    assert "--max-hours" in result.failed["long"]
    monkeypatch.setattr("quadpred.audio.time.monotonic", StepClock(30.0))
    again = extract(clips, tmp_path / "store", FeatureConfig(), progress=False, limits=ReadLimits(seconds_per_hour=36.0))
    assert list(again.failed) == ["long"] and "took over 61 s" in again.failed["long"]
    assert "short" in FeatureStore.open(tmp_path / "store") and "long" not in FeatureStore.open(tmp_path / "store")
