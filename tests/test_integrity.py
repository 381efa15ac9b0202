"""Never a silently wrong answer: store identity, leakage by content, validated manifests and
model folders. Each case was found by trying quadpred as a new user would."""

import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tone, write

from quadpred.cli import main
from quadpred.corpora import table
from quadpred.errors import CorpusError, ManifestError, ModelDirError, StoreError, TrainingError
from quadpred.manifest import Clip, check_leakage, read_manifest, write_manifest
from quadpred.modeldir import load_model
from quadpred.store import FeatureStore, extract


def two_song1(root: Path) -> tuple[Path, Path]:
    """Two collections, each with a different song1.ogg and its own table."""
    for name, seed in (("a", 1), ("b", 2)):
        write(root / name / "song1.ogg", tone(2.0, freq=300 + 200 * seed, seed=seed))
        (root / name / "t.csv").write_text("file,language\nsong1.ogg,eng\n")
    return root / "a" / "t.csv", root / "b" / "t.csv"


def test_one_id_for_two_audio_files_is_an_error_naming_both(tmp_path: Path):
    a_table, b_table = two_song1(tmp_path)
    a, b = table.prepare(a_table), table.prepare(b_table)
    assert a[0].id == b[0].id == "song1"
    with pytest.raises(StoreError, match=r"song1 names two audio files: .*a/song1.ogg.* and .*b/song1.ogg"):
        extract(a + b, tmp_path / "S", progress=False)
    extract(a, tmp_path / "S2", progress=False)
    with pytest.raises(StoreError, match="names two audio files"):  # one after the other: refused, not reused
        extract(b, tmp_path / "S2", progress=False)


def test_a_table_gives_files_with_one_stem_distinct_ids(tmp_path: Path):
    two_song1(tmp_path)
    (tmp_path / "both.csv").write_text("file,language\na/song1.ogg,eng\nb/song1.ogg,eng\n")
    assert sorted(c.id for c in table.prepare(tmp_path / "both.csv")) == ["a/song1", "b/song1"]


def test_damaged_arrays_are_computed_again_with_or_without_an_index(tmp_path: Path):
    a_table, _ = two_song1(tmp_path)
    clips = table.prepare(a_table)
    extract(clips, tmp_path / "S", progress=False)
    store = FeatureStore.open(tmp_path / "S")
    array = store.folder / "arrays" / store.index["song1"]["file"]
    good = np.load(array).copy()
    array.write_bytes(array.read_bytes()[:200])  # truncated
    assert store.verify() and "damaged" in store.verify()[0]
    result = extract(clips, tmp_path / "S", progress=False)
    assert result.written == 1 and np.array_equal(FeatureStore.open(tmp_path / "S").load("song1"), good)
    array.write_bytes(b"\x93NUMPY garbage")
    (store.folder / "index.json").unlink()  # as if killed before the index was written
    assert extract(clips, tmp_path / "S", progress=False).written == 1
    assert FeatureStore.open(tmp_path / "S").verify() == []


def clip(i: int, split: str, *, group: str | None = None, path: str | None = None, cid: str | None = None) -> Clip:
    return Clip(id=cid or f"c{i}", path=path or f"/x/c{i}.wav", duration=3.0, language="eng",
                group=group or f"g{i}", labels={"quadrant": "Q1"}, split=split)


def test_leakage_is_checked_by_id_path_and_group():
    check_leakage([clip(0, "train"), clip(1, "test")])
    with pytest.raises(ManifestError, match="appear more than once"):  # same id, other groups, two splits
        check_leakage([clip(0, "train"), clip(0, "test", group="other")])
    with pytest.raises(ManifestError, match="same audio file"):  # the same audio under a new id
        check_leakage([clip(0, "train"), clip(1, "test", path="/x/c0.wav")])
    manifest = [clip(0, "train"), clip(1, "test")]
    with pytest.raises(ManifestError, match="given twice"):
        check_leakage(manifest + manifest)
    with pytest.raises(ManifestError, match="more than one split"):
        check_leakage([clip(0, "train", group="g"), clip(1, "test", group="g")])


def test_identical_audio_at_two_paths_in_two_splits_is_refused(tiny_study, tmp_path: Path):
    from quadpred.config import RunConfig, apply_overrides
    from quadpred.stages import transfer

    clips, _ = tiny_study
    music = list(clips["music_eng"])
    train = next(c for c in music if c.split == "train")
    copy = tmp_path / "copy.wav"
    shutil.copy(train.path, copy)
    leaked = music + [dataclasses.replace(train, id="copy", path=str(copy), split="test", group="copy")]
    extract(leaked, tmp_path / "S", progress=False)
    run = apply_overrides(RunConfig(), ["model.encoder.channels=[4,8,8]", "model.head.units=8", "train.epochs=1"])
    with pytest.raises(StoreError, match=f"{train.id} \\(train\\) and copy \\(test\\) have the same audio"):
        transfer(leaked, FeatureStore.open(tmp_path / "S"), tmp_path / "m", stage="baseline", run=run, progress=False)


@pytest.mark.parametrize(("change", "words"), [
    (lambda r: r.update(split="tset"), "split 'tset' unknown"),
    (lambda r: r.update(id=7), "'id' must be a non-empty string"),
    (lambda r: r.update(duration="3.0"), "'duration' must be a number"),
    (lambda r: r.update(labels=["Q1"]), "'labels' must be an object"),
    (lambda r: r["labels"].update(quadrant="Q5"), "quadrant 'Q5' unknown"),
])
def test_manifest_values_are_validated_with_file_and_line(tmp_path: Path, change, words: str):
    write_manifest(tmp_path / "m.jsonl", [clip(0, "train"), clip(1, "train")])
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    change(record)
    (tmp_path / "m.jsonl").write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    with pytest.raises(ManifestError, match=f"m.jsonl:2: .*{words}"):
        read_manifest(tmp_path / "m.jsonl")


def test_manifest_with_bytes_that_are_not_utf8_names_the_line(tmp_path: Path):
    write_manifest(tmp_path / "m.jsonl", [clip(0, "train")])
    (tmp_path / "m.jsonl").write_bytes((tmp_path / "m.jsonl").read_bytes() + b'{"id": "\xff"}\n')
    with pytest.raises(ManifestError, match="m.jsonl:2: not UTF-8"):
        read_manifest(tmp_path / "m.jsonl")


def test_table_paths_and_ids_stay_inside_the_table_folder(tmp_path: Path):
    write(tmp_path / "outside.wav", tone(2.0))
    write(tmp_path / "t" / "in.wav", tone(2.0, seed=3))
    for cell in (str(tmp_path / "outside.wav"), "../outside.wav"):
        (tmp_path / "t" / "t.csv").write_text(f"file,language\n{cell},eng\n")
        with pytest.raises(CorpusError, match="t.csv:2: .* outside the table's folder"):
            table.prepare(tmp_path / "t" / "t.csv")
        assert table.prepare(tmp_path / "t" / "t.csv", allow_outside=True)[0].id == "outside"
    (tmp_path / "t" / "t.csv").write_text("file,language,id\nin.wav,eng,../../etc\n")
    with pytest.raises(CorpusError, match="looks like a path"):
        table.prepare(tmp_path / "t" / "t.csv")
    assert main(["-q", "prepare", "table", str(tmp_path / "t" / "t.csv"), "-o", str(tmp_path / "m.jsonl")]) == 1


def edit_config(folder: Path, change) -> None:
    info = json.loads((folder / "config.json").read_text())
    change(info)
    (folder / "config.json").write_text(json.dumps(info))


@pytest.mark.parametrize(("damage", "words"), [
    (lambda f: edit_config(f, lambda i: i["labels"].update(quadrant=["Q4", "Q3", "Q2", "Q1"])), "mislabelled"),
    (lambda f: edit_config(f, lambda i: i["labels"].update(quadrant=["Q1", "Q2", "Q3"])), "mislabelled"),
    (lambda f: edit_config(f, lambda i: i.update(quadpred_version="9.0.0")), "cannot read"),
    (lambda f: (f / "config.json").write_text("{not json"), "not valid JSON"),
    (lambda f: edit_config(f, lambda i: i.pop("model")), "no 'model'"),
    (lambda f: edit_config(f, lambda i: i["model"]["head"].update(units=99)), "do not fit"),
    (lambda f: edit_config(f, lambda i: i["features"].update(n_mels=64)), "do not fit"),
    (lambda f: (f / "weights.pt").write_bytes((f / "weights.pt").read_bytes()[:1000]), "truncated"),
])
def test_damaged_model_folders_are_one_clear_error(tiny_model: Path, tmp_path: Path, damage, words: str):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    damage(folder)
    with pytest.raises(ModelDirError, match=words):
        load_model(folder)


class Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_a_planted_checkpoint_runs_no_code(tiny_study, tmp_path: Path):
    from quadpred.config import RunConfig, apply_overrides
    from quadpred.stages import transfer

    clips, store = tiny_study
    run = apply_overrides(RunConfig(), ["model.encoder.channels=[4,8,8]", "model.head.units=8", "train.epochs=1"])
    folder = tmp_path / "m"
    transfer(clips["music_eng"], store, folder, stage="baseline", run=run, progress=False)
    (folder / "weights.pt").unlink()  # unfinished, so a checkpoint would be resumed
    exploit = Exploit()
    exploit.target = str(tmp_path / "pwned")
    (folder / "checkpoint.pt").write_bytes(pickle.dumps({"model": exploit}))
    with pytest.raises(TrainingError, match="cannot be read safely"):
        transfer(clips["music_eng"], store, folder, stage="baseline", run=run, progress=False)
    assert not (tmp_path / "pwned").exists()


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find worker processes")
def test_killed_extraction_leaves_no_workers_and_resumes_to_the_same_store(tmp_path: Path):
    import signal
    import subprocess
    import sys
    import time

    rows = ["file,language"]
    for i in range(16):
        write(tmp_path / "audio" / f"clip{i}.wav", tone(20.0, freq=150 + 40 * i, seed=i))
        rows.append(f"audio/clip{i}.wav,eng")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert main(["-q", "prepare", "table", str(tmp_path / "t.csv"), "-o", str(tmp_path / "m.jsonl")]) == 0
    command = [sys.executable, "-m", "quadpred", "-q", "features", str(tmp_path / "m.jsonl"), "-o",
               str(tmp_path / "killed"), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        workers = children_of(process.pid)
        time.sleep(0.05)
    assert len(workers) >= 2, "the worker pool did not start"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.05)
    assert not any(alive(w) for w in workers), "workers outlived their killed parent"
    clips = read_manifest(tmp_path / "m.jsonl")
    extract(clips, tmp_path / "killed", workers=2, progress=False)
    extract(clips, tmp_path / "whole", workers=1, progress=False)
    killed, whole = FeatureStore.open(tmp_path / "killed"), FeatureStore.open(tmp_path / "whole")
    assert killed.verify() == [] and len(killed) == len(whole) == 16
    for c in clips:
        np.testing.assert_array_equal(killed.load(c.id), whole.load(c.id))
    assert not list(killed.folder.rglob("*.tmp"))
