"""Scale: Dask extraction gives the same store, DDP on 2 CPU processes matches one process,
the datasets keep a bounded number of files open."""

import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from quadpred.batches import Batches, TensorRows
from quadpred.config import RunConfig, apply_overrides
from quadpred.models import MultiTaskHead
from quadpred.objectives import MultiTask
from quadpred.train import fit


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(96, 24, generator=generator)
    y = torch.stack([torch.randint(0, k, (96,), generator=generator) for k in (4, 2, 2)], dim=1)
    return x, y


def _train(folder: Path) -> None:
    torch.manual_seed(0)
    head = MultiTaskHead(24, units=32, trunk_layers=1, head_layers=1, dropout=0.0)
    x, y = _data()
    # fp32: averaging the halves' gradients equals the whole batch's up to float32 rounding only
    config = apply_overrides(RunConfig(), ["train.epochs=3", "train.patience=5", "train.precision=fp32",
                                             "train.lr=1e-2"]).train
    fit(head, MultiTask(), Batches(TensorRows(x, y), 16, shuffle=True, seed=0), Batches(TensorRows(x, y), 32),
        folder=folder, config=config, device=torch.device("cpu"), progress=False)


def _ddp_worker(rank: int, world: int, port: int, folder: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        _train(Path(folder))
    finally:
        torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path: Path):
    _train(tmp_path / "single")
    torch.multiprocessing.start_processes(_ddp_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2,
                                          start_method="fork")
    single = torch.load(tmp_path / "single" / "weights.pt", weights_only=True)
    ddp = torch.load(tmp_path / "ddp" / "weights.pt", weights_only=True)
    assert single.keys() == ddp.keys()
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], rtol=1e-4, atol=1e-5, msg=key)
    import json

    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["processes"] == 2


def test_batches_split_rows_between_processes():
    batches = Batches(TensorRows(torch.arange(10)), 4, shuffle=True, seed=1)
    whole = [b[0].tolist() for b in batches.epoch(2)]
    parts = [[b[0].tolist() for b in batches.epoch(2, rank=r, world=2)] for r in (0, 1)]
    for full, first, second in zip(whole, *parts):
        assert sorted(first + second) == sorted(full) and not set(first) & set(second)
    assert len(parts[0]) == 3  # the last batch (2 rows) still gives each process one


def test_dask_extraction_writes_the_same_store(tiny_study, tmp_path: Path):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is in the test extra")
    from quadpred.store import FeatureStore, extract

    clips, store = tiny_study
    chosen = clips["music_eng"][:6]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        result = extract(chosen, tmp_path / "dask", workers=1, progress=False, dask=cluster.scheduler_address)
    assert result.written == 6
    on_dask = FeatureStore.open(tmp_path / "dask")
    assert on_dask.folder.name == store.folder.name and not on_dask.verify()
    for clip in chosen:
        np.testing.assert_array_equal(on_dask.load(clip.id), store.load(clip.id))


def test_datasets_keep_a_bounded_number_of_clips_open(tiny_study):
    from quadpred.store import ChunkDataset

    clips, store = tiny_study
    dataset = ChunkDataset(store, clips["speech_eng"] + clips["speech_man"])
    dataset.arrays.limit = 3
    for batch in Batches(dataset, 8, shuffle=True).epoch(0):
        assert len(dataset.arrays.open) <= 3
    assert len({int(r) for r in dataset.clip_rows}) > 3
