"""Song-level pooling of a trained emotion model's representations."""

import numpy as np
import pytest

from quadpred.errors import TrainingError
from quadpred.labels import TASKS, quadrant_index
from quadpred.songpool import SongSet, fit_song_classifier, pool_by_song, song_sets


def test_pool_by_song_is_mean_and_spread_per_song():
    values = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    pooled = pool_by_song(values, np.array([0, 0, 1]), songs=2)
    np.testing.assert_allclose(pooled, [[2.0, 1.0, 1.0, 1.0], [5.0, 5.0, 0.0, 0.0]], atol=1e-6)
    with pytest.raises(TrainingError, match="no chunk"):
        pool_by_song(values, np.array([0, 0, 2]), songs=3)


def _separable(n: int, seed: int) -> SongSet:
    rng = np.random.default_rng(seed)
    quadrant = np.arange(n) % 4
    features = rng.normal(size=(n, 6)).astype(np.float32)
    features[:, 0] += 4.0 * (quadrant < 2)          # arousal: Q1, Q2 high
    features[:, 1] += 4.0 * np.isin(quadrant, (0, 3))  # valence: Q1, Q4 positive
    targets = np.stack([quadrant, (quadrant < 2).astype(int), np.isin(quadrant, (0, 3)).astype(int)], axis=1)
    return SongSet(features, targets.astype(np.int64), [f"s{i}" for i in range(n)])


def test_song_classifier_learns_separable_songs_and_picks_decay_on_valid():
    train, valid, test = _separable(80, 0), _separable(40, 1), _separable(40, 2)
    classifier = fit_song_classifier(train, valid, weight_decays=(0.01, 100.0))
    assert classifier.weight_decay == 0.01  # heavy decay shrinks the weights: a worse validation loss
    report = classifier.predictions(test).report()
    assert report["song"]["quadrant"]["f1"] > 0.85 and report["song"]["arousal"]["f1"] > 0.9
    again = fit_song_classifier(train, valid, weight_decays=(0.01, 100.0))
    np.testing.assert_array_equal(again.probabilities(test.features)["quadrant"],
                                  classifier.probabilities(test.features)["quadrant"])  # seeded


def test_song_sets_of_a_trained_model(tiny_study, tiny_model):
    clips, store = tiny_study
    music = clips["music_eng"]
    sets = song_sets(tiny_model, store, music, device="cpu")
    for split, songs in sets.items():
        ids = [c.id for c in music if c.split == split]
        assert sorted(songs.clip_ids) == sorted(ids) and songs.features.shape == (len(ids), 2 * 16)
        assert np.isfinite(songs.features).all() and songs.targets.shape == (len(ids), len(TASKS))
    quadrant_of = {c.id: c.quadrant for c in music}
    assert [quadrant_index(quadrant_of[i]) for i in sets["test"].clip_ids] == sets["test"].targets[:, 0].tolist()
    classifier = fit_song_classifier(sets["train"], sets["valid"])
    assert classifier.predictions(sets["test"]).probabilities["quadrant"].shape == (len(sets["test"].clip_ids), 4)
