"""SpecAugment-style masking of transfer inputs."""

import pytest
import torch

from quadpred.augment import band_shift, spec_mask
from quadpred.config import RunConfig, TrainConfig, apply_overrides
from quadpred.errors import ConfigError
from quadpred.objectives import MultiTask


def test_spec_mask_replaces_one_band_and_one_span_by_the_mean():
    torch.manual_seed(0)
    x = torch.randn(16, 1, 40, 50)
    torch.manual_seed(1)
    y = spec_mask(x, max_band_share=0.2, max_span_share=0.2)
    assert y.shape == x.shape
    for example, original in zip(y, x):
        changed = example[0] != original[0]  # (bands, frames)
        assert torch.allclose(example[0][changed], original.mean().expand(int(changed.sum())))
        bands = changed.all(dim=1).nonzero().flatten()
        frames = changed.all(dim=0).nonzero().flatten()
        assert len(bands) <= 8 and len(frames) <= 10  # 20 % of 40 bands and of 50 frames
        for index in (bands, frames):  # one contiguous block each
            assert len(index) == 0 or index[-1] - index[0] + 1 == len(index)
    assert (y != x).any()
    torch.manual_seed(1)
    assert torch.equal(spec_mask(x, max_band_share=0.2, max_span_share=0.2), y)  # seeded


def test_band_shift_moves_each_example_along_the_bands_by_at_most_its_limit():
    x = torch.arange(8 * 2 * 20 * 5, dtype=torch.float32).reshape(8, 2, 20, 5)
    torch.manual_seed(3)
    y = band_shift(x, max_bands=3)
    assert y.shape == x.shape
    shifts = set()
    for example, original in zip(y, x):
        # every output band is one input band, the same for all channels and frames
        source = [int((original[0] == row).all(dim=1).nonzero()[0]) for row in example[0]]
        offsets = {band - s for band, s in enumerate(source) if 0 < s < 19}  # edges repeat, so they say nothing
        assert len(offsets) == 1 and abs(next(iter(offsets))) <= 3
        shifts |= offsets
        assert torch.equal(example[1] - example[0], original[1] - original[0])  # channels moved together
        assert all(source[i] <= source[i + 1] for i in range(19))  # order kept, edge bands repeated
    assert len(shifts) > 1  # not one shift for the whole batch
    torch.manual_seed(3)
    assert torch.equal(band_shift(x, max_bands=3), y)  # seeded


def test_multitask_augments_training_batches_only():
    seen = []

    def model(inputs):
        seen.append(inputs.clone())
        return {"quadrant": torch.zeros(2, 4), "arousal": torch.zeros(2, 2), "valence": torch.zeros(2, 2)}

    objective = MultiTask(augment=lambda x: x + 1.0)
    batch = (torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))
    objective.loss(model, batch, training=True)
    objective.loss(model, batch, training=False)
    assert torch.equal(seen[0], torch.ones(2, 3)) and torch.equal(seen[1], torch.zeros(2, 3))


def test_unknown_augmentation_is_named():
    with pytest.raises(ConfigError, match="augment 'mixup' unknown: use 'none' or 'specaugment' or 'band-shift'"):
        TrainConfig(augment="mixup")
    assert apply_overrides(RunConfig(), ["train.augment=band-shift"]).train.augment == "band-shift"


def test_feat_ext_with_augmentation_runs_the_frozen_encoder(tiny_study, tiny_model, tmp_path):
    from quadpred.stages import transfer

    clips, store = tiny_study
    run = apply_overrides(RunConfig(), ["model.encoder.channels=[4,8,8]", "model.head.units=16", "train.epochs=1",
                                        "train.augment=specaugment", "train.max_batches=2"])
    result = transfer(clips["music_eng"], store, tmp_path / "fe", stage="feat-ext", init=tiny_model, run=run,
                      progress=False)
    assert result.epochs_run == 1 and (tmp_path / "fe" / "metrics.json").is_file()
