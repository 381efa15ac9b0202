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
