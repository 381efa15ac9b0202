import json
from pathlib import Path

import numpy as np
import pytest

from quadpred.audio import load_audio
from quadpred.config import FeatureConfig
from quadpred.corpora import fourq
from quadpred.errors import StoreError
from quadpred.features import compute_log_mel
from quadpred.manifest import split_music
from quadpred.store import ChunkDataset, FeatureStore, extract
from quadpred.streaming import stream_log_mel


def test_extract_read_and_dataset(fourq_tree: Path, tmp_path: Path):
    clips = split_music(fourq.prepare(fourq_tree))
    result = extract(clips, tmp_path / "store", workers=1, progress=False)
    assert (result.written, result.skipped_existing, result.failed) == (20, 0, {})
    store = FeatureStore.open(tmp_path / "store")
    assert len(store) == 20 and store.verify() == []
    array = store.load(clips[0].id)
    assert isinstance(array, np.memmap) and array.shape == (128, 63)
    # the store holds exactly what `predict` computes (the block-wise reader), and agrees with
    # whole-file processing to float rounding
    np.testing.assert_array_equal(array, stream_log_mel(clips[0].path)[0])
    np.testing.assert_allclose(array, compute_log_mel(load_audio(clips[0].path)), atol=1e-4)

    data = ChunkDataset(store, clips, hop_frames=15)
    assert len(data) == 20 * 3  # starts 0, 15, 30 in 63 frames
    x, y, group = data[4]
    assert x.shape == (1, 128, 31) and y.tolist() == list(clips[1].targets().values())
    assert data.groups[int(group)] == clips[1].group


def test_rerun_skips_and_finishes_an_interrupted_run(fourq_tree: Path, tmp_path: Path):
    clips = fourq.prepare(fourq_tree)
    extract(clips[:5], tmp_path, progress=False)
    folder = FeatureStore.open(tmp_path).folder
    (folder / "index.json").unlink()  # as if killed before the index was written
    result = extract(clips, tmp_path, progress=False)
    assert (result.written, result.skipped_existing) == (15, 5)
    assert len(FeatureStore.open(tmp_path)) == 20
    assert not list(folder.rglob("*.tmp"))


def test_parallel_equals_serial(fourq_tree: Path, tmp_path: Path):
    clips = fourq.prepare(fourq_tree)[:6]
    extract(clips, tmp_path / "a", workers=1, progress=False)
    extract(clips, tmp_path / "b", workers=2, progress=False)
    a, b = FeatureStore.open(tmp_path / "a"), FeatureStore.open(tmp_path / "b")
    for clip in clips:
        np.testing.assert_array_equal(a.load(clip.id), b.load(clip.id))


def test_unreadable_clips_are_recorded_not_fatal(fourq_tree: Path, tmp_path: Path):
    clips = fourq.prepare(fourq_tree)
    Path(clips[0].path).write_bytes(b"\x00" * 1000)
    result = extract(clips, tmp_path, progress=False)
    assert list(result.failed) == [clips[0].id] and result.written == 19
    store = FeatureStore.open(tmp_path)
    assert clips[0].id in store.failures
    with pytest.raises(StoreError, match="no features"):
        store.load(clips[0].id)
    assert len(ChunkDataset(store, clips)) == 19 * 3


def test_config_is_part_of_the_path_and_checked(fourq_tree: Path, tmp_path: Path):
    clips = fourq.prepare(fourq_tree)[:2]
    root = tmp_path / "store"
    extract(clips, root, progress=False)
    extract(clips, root, FeatureConfig(n_mels=64), progress=False)
    assert len(list(root.iterdir())) == 2
    assert FeatureStore.open(root, FeatureConfig(n_mels=64)).load(clips[0].id).shape[0] == 64
    with pytest.raises(StoreError, match="2 configurations"):
        FeatureStore.open(root)
    with pytest.raises(StoreError, match="missing or incomplete"):
        FeatureStore.open(tmp_path / "nothing", FeatureConfig())
    with pytest.raises(StoreError, match="found 0 configurations"):
        FeatureStore.open(tmp_path / "nothing")


def test_verify_finds_a_damaged_array(fourq_tree: Path, tmp_path: Path):
    clips = fourq.prepare(fourq_tree)[:2]
    extract(clips, tmp_path, progress=False)
    store = FeatureStore.open(tmp_path)
    index = json.loads((store.folder / "index.json").read_text())
    np.save(store.folder / "arrays" / index[clips[0].id]["file"], np.zeros((128, 5), np.float32))
    assert len(store.verify()) == 1
