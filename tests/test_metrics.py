"""Metrics against hand-computed cases."""

import numpy as np
import pytest

from quadpred.metrics import macro_scores, normalised_confusion, song_level, task_report


def test_macro_scores_by_hand():
    truth = np.array([0, 0, 1, 1, 2, 2])
    guess = np.array([0, 1, 1, 1, 2, 0])
    scores = macro_scores(truth, guess, 4)  # class 3 absent from both: precision = recall = f1 = 0 for it
    # per class precision: 0: 1/2, 1: 2/3, 2: 1/1, 3: 0; recall: 0: 1/2, 1: 1, 2: 1/2, 3: 0
    assert scores["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1 + 0) / 4)
    assert scores["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2 + 0) / 4)
    f1 = [2 * p * r / (p + r) for p, r in ((1 / 2, 1 / 2), (2 / 3, 1), (1, 1 / 2))]
    assert scores["f1"] == pytest.approx(sum(f1) / 4)
    assert scores["accuracy"] == pytest.approx(4 / 6)


def test_normalised_confusion_rows_sum_to_one_or_zero():
    matrix = normalised_confusion(np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1]), 3)
    np.testing.assert_allclose(matrix, [[1 / 3, 2 / 3, 0], [0, 1, 0], [0, 0, 0]])


def test_song_level_averages_chunk_probabilities():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    songs = np.array([5, 5, 5, 9])
    song_probs, song_targets = song_level(probabilities, songs, np.array([1, 1, 1, 0]))
    np.testing.assert_allclose(song_probs, [[1.4 / 3, 1.6 / 3], [0.6, 0.4]])
    np.testing.assert_array_equal(song_targets, [1, 0])


def test_each_task_is_scored_on_its_own_labels():
    # arousal predictions are perfect, valence predictions are all wrong: swapping them would show
    targets = np.array([[0, 1, 1], [1, 1, 0], [2, 0, 0], [3, 0, 1]])
    eye4 = np.eye(4)
    probabilities = {
        "quadrant": eye4,
        "arousal": np.eye(2)[targets[:, 1]],
        "valence": np.eye(2)[1 - targets[:, 2]],
    }
    report = task_report(probabilities, targets, np.arange(4))
    assert report["chunk"]["quadrant"]["f1"] == 1.0
    assert report["chunk"]["arousal"]["accuracy"] == 1.0
    assert report["chunk"]["valence"]["accuracy"] == 0.0
    assert report["song"]["arousal"]["support"] == 4


def test_cluster_confusions_sum_to_the_whole_and_f1_matches_sklearn():
    from quadpred.metrics import cluster_confusions, macro_f1_from_confusion

    rng = np.random.default_rng(0)
    truth, guess, songs = rng.integers(0, 4, 200), rng.integers(0, 4, 200), rng.integers(0, 15, 200)
    per_song = cluster_confusions(truth, guess, songs, 15, 4)
    assert per_song.shape == (15, 4, 4) and per_song.sum() == 200
    assert macro_f1_from_confusion(per_song.sum(axis=0)) == pytest.approx(macro_scores(truth, guess, 4)["f1"])
    chosen = rng.integers(0, 15, 15)  # a bootstrap draw of songs, with repeats
    mask = np.concatenate([np.flatnonzero(songs == s) for s in chosen])
    expected = macro_scores(truth[mask], guess[mask], 4)["f1"]
    assert macro_f1_from_confusion(per_song[chosen].sum(axis=0)) == pytest.approx(expected)


def test_holm_adjustment_and_paired_p_value():
    from quadpred.metrics import holm, interval, paired_p_value

    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert paired_p_value(np.full(100, 0.2)) == 0.0
    assert paired_p_value(np.linspace(-1, 1, 101)) == pytest.approx(1.0)
    low, high = interval(np.arange(1001.0))
    assert low == pytest.approx(25) and high == pytest.approx(975)
