import pytest

from quadpred.errors import QuadpredError
from quadpred.labels import quadrant_from_av, quadrant_from_emotion, task_targets


@pytest.mark.parametrize("q, arousal, valence", [("Q1", 1, 1), ("Q2", 1, 0), ("Q3", 0, 0), ("Q4", 0, 1)])
def test_quadrant_halves(q, arousal, valence):
    assert task_targets(q) == {"quadrant": int(q[1]) - 1, "arousal": arousal, "valence": valence}


def test_numeric_av_maps_by_sign():
    assert [quadrant_from_av(a, v) for a, v in [(3, 2), (3, -2), (-3, -2), (-3, 2)]] == ["Q1", "Q2", "Q3", "Q4"]


def test_emotion_words_and_errors():
    assert quadrant_from_emotion("Tenderness") == "Q4"
    with pytest.raises(QuadpredError, match="unknown emotion"):
        quadrant_from_emotion("boredom")
    with pytest.raises(QuadpredError, match="unknown quadrant"):
        task_targets("Q5")
