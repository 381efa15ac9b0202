from pathlib import Path

import pytest

from quadpred.corpora import CORPORA, fourq
from quadpred.errors import CorpusError


def test_librispeech(librispeech_tree: Path):
    clips = CORPORA["librispeech"].prepare(librispeech_tree.parent)
    assert len(clips) == 6
    assert {c.group for c in clips} == {"spk19", "spk26", "spk103"}
    assert all(c.language == "eng" and c.meta["text"].startswith("HELLO") for c in clips)
    assert sorted(round(c.duration, 2) for c in clips)[:2] == [1.5, 1.5]


def test_librispeech_without_transcripts_warns_and_goes_on(librispeech_tree: Path, caplog):
    for trans in librispeech_tree.rglob("*.trans.txt"):
        trans.unlink()
    clips = CORPORA["librispeech"].prepare(librispeech_tree)
    assert len(clips) == 6
    assert "no transcripts" in caplog.text


def test_aishell(aishell_tree: Path):
    clips = CORPORA["aishell"].prepare(aishell_tree)
    assert len(clips) == 6
    assert {c.group for c in clips} == {"S0002", "S0003", "S0724"}
    assert {c.meta["subset"] for c in clips} == {"train", "dev"}
    assert all(c.language == "man" and c.meta["text"] for c in clips)


def test_fourq_labels_from_folders_and_artist_groups(fourq_tree: Path):
    by_song = fourq.prepare(fourq_tree)
    by_artist = fourq.prepare(fourq_tree, group_by="artist")
    assert len(by_song) == 20
    assert {c.quadrant for c in by_song} == {"Q1", "Q2", "Q3", "Q4"}
    assert len({c.group for c in by_song}) == 20
    assert len({c.group for c in by_artist}) == 10
    clip = next(c for c in by_artist if c.id == "MT0000000003")
    assert clip.quadrant == "Q1" and clip.meta["Artist"] == "Artist 1"


def test_fourq_artist_grouping_needs_metadata(fourq_tree: Path):
    (fourq_tree / fourq.METADATA_NAME).unlink()
    assert len(fourq.prepare(fourq_tree)) == 20
    with pytest.raises(CorpusError, match="needed to group by artist"):
        fourq.prepare(fourq_tree, group_by="artist")


def test_ch818_quadrants_by_sign(ch818_table: Path):
    clips = CORPORA["ch818"].prepare(ch818_table)
    assert [c.quadrant for c in clips] == ["Q1", "Q1", "Q2", "Q2", "Q3", "Q3", "Q4", "Q4"]
    assert clips[2].labels["arousal_value"] == 6.0
    assert all(c.language == "man" for c in clips)


@pytest.mark.parametrize(
    "row, message",
    [("audio/song0.mp3,abc,3", "not numbers"), ("audio/song0.mp3,12,3", "outside"), (",1,1", "empty 'file'")],
)
def test_ch818_bad_row_names_file_and_line(ch818_table: Path, row: str, message: str):
    with ch818_table.open("a") as handle:
        handle.write(row + "\n")
    with pytest.raises(CorpusError, match=message) as info:
        CORPORA["ch818"].prepare(ch818_table)
    assert f"{ch818_table}:10" in str(info.value)


def test_ch818_missing_column(tmp_path: Path):
    (tmp_path / "t.csv").write_text("file,arousal\nx.wav,1\n")
    with pytest.raises(CorpusError, match="missing column"):
        CORPORA["ch818"].prepare(tmp_path / "t.csv")


def test_table_with_language_speaker_and_extra_columns(librispeech_tree: Path, tmp_path: Path):
    files = sorted(librispeech_tree.rglob("*.flac"))
    table = tmp_path / "clips.csv"
    table.write_text("file,language,speaker,corpus\n" + "".join(f"{f},man,spk{i % 2},X\n" for i, f in enumerate(files)))
    clips = CORPORA["table"].prepare(table)
    assert len(clips) == 6 and {c.group for c in clips} == {"spk0", "spk1"}
    assert clips[0].meta == {"corpus": "X"}


def test_unreadable_files_are_skipped_with_a_warning(fourq_tree: Path, caplog):
    (fourq_tree / "Q1" / "MT0000000000.wav").write_bytes(b"not audio at all" * 10)
    clips = fourq.prepare(fourq_tree)
    assert len(clips) == 19
    assert "skipped 1 unreadable" in caplog.text


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_wrong_layout_is_a_clear_error(tmp_path: Path, name: str):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError):
        CORPORA[name].prepare(tmp_path / "empty")


def emotional_speech_tree(root: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    from conftest import tone, write

    lines = ["file,language,speaker,emotion,quadrant"]
    for i, (file, language, speaker, emotion, quadrant) in enumerate(rows):
        write(root / file, tone(1.5, seed=i))
        lines.append(f"{file},{language},{speaker},{emotion},{quadrant}")
    (root / "emotional_speech.csv").write_text("\n".join(lines) + "\n")
    return root


def test_emotional_speech_keeps_emotions_groups_speakers_and_gives_neutral_no_quadrant(tmp_path: Path):
    root = emotional_speech_tree(tmp_path / "emo", [
        ("ravdess/Actor_01/a.wav", "eng", "ravdess-01", "neutral", "0"),
        ("ravdess/Actor_01/b.wav", "eng", "ravdess-01", "happy", "1"),
        ("casia/liuchang/sad/c.wav", "man", "casia-liuchang", "sad", "3"),
    ])
    clips = {c.id: c for c in CORPORA["emotional-speech"].prepare(root)}
    assert set(clips) == {"ravdess-Actor_01-a", "ravdess-Actor_01-b", "casia-liuchang-sad-c"}
    neutral, happy, sad = clips["ravdess-Actor_01-a"], clips["ravdess-Actor_01-b"], clips["casia-liuchang-sad-c"]
    assert neutral.labels == {"emotion": "neutral"} and neutral.quadrant is None
    assert happy.labels == {"emotion": "happy", "quadrant": "Q1"} and sad.quadrant == "Q3"
    assert happy.group == neutral.group == "ravdess-01" and sad.language == "man"
    assert [c.id for c in CORPORA["emotional-speech"].prepare(root / "emotional_speech.csv", language="man")] == \
        ["casia-liuchang-sad-c"]


@pytest.mark.parametrize("row, message", [
    (("a.wav", "eng", "s1", "happy", "7"), "quadrant '7' unknown"),
    (("a.wav", "eng", "", "happy", "1"), "must all be given"),
    (("../a.wav", "eng", "s1", "happy", "1"), "outside the table's folder"),
])
def test_emotional_speech_refuses_bad_rows_with_their_line(tmp_path: Path, row, message):
    root = tmp_path / "emo"
    root.mkdir()
    emotional_speech_tree(tmp_path, [("a.wav", "eng", "s0", "calm", "4")])
    (root / "emotional_speech.csv").write_text("file,language,speaker,emotion,quadrant\n" + ",".join(row) + "\n")
    if row[0] == "a.wav":
        (root / "a.wav").write_bytes((tmp_path / "a.wav").read_bytes())
    with pytest.raises(CorpusError, match=message) as error:
        CORPORA["emotional-speech"].prepare(root)
    assert "emotional_speech.csv:2" in str(error.value)


def test_emotional_speech_refuses_a_missing_table_and_duplicate_rows(tmp_path: Path):
    with pytest.raises(CorpusError, match="not found"):
        CORPORA["emotional-speech"].prepare(tmp_path)
    root = emotional_speech_tree(tmp_path / "emo", [("a.wav", "eng", "s0", "calm", "4")] * 2)
    with pytest.raises(CorpusError, match="listed twice"):
        CORPORA["emotional-speech"].prepare(root)
