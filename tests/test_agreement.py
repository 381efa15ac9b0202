"""Listener agreement: Krippendorff's alpha by group, emotion, quadrant and lyrics."""

from pathlib import Path

import numpy as np
import pytest

from quadpred.agreement import Rating, alpha, analyse, read_ratings, reliability_matrix, synthetic_ratings, write_ratings_csv
from quadpred.cli import main
from quadpred.errors import QuadpredError


def test_alpha_is_one_for_perfect_agreement_and_matches_a_hand_case():
    perfect = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5.0]])
    assert alpha(perfect, "interval")[0] == pytest.approx(1.0)
    # interval alpha by hand: 2 raters, 3 units (1,1), (2,3), (3,3), n = 6 pairable values;
    # D_o = (1/n) sum over units of ordered in-unit pairs (c - k)^2 / (m_u - 1) = (0 + 2 + 0) / 6 = 1/3
    # D_e = sum over ordered pairs of all values (c - k)^2 / (n (n - 1)), values 1,1,2,3,3,3: 58 / 30
    matrix = np.array([[1, 2, 3], [1, 3, 3.0]])
    assert alpha(matrix, "interval")[0] == pytest.approx(1 - (1 / 3) / (58 / 30))


def test_undefined_alphas_are_explained_not_raised():
    value, reason = alpha(np.array([[3, np.nan], [np.nan, 4.0]]), "ordinal")
    assert value is None and "two or more" in reason
    value, reason = alpha(np.array([[3, 3], [3, 3.0]]), "ordinal")
    assert value is None and "no variation" in reason


def test_synthetic_groups_are_ordered_as_constructed():
    ratings = synthetic_ratings(group_noise={"low": 0.3, "mid": 0.9, "high": 1.8}, raters_per_group=8, items=12, seed=1)
    report = analyse(ratings, samples=50)
    by_group = {e["subset"]: e["ordinal"]["alpha"] for e in report["by_group"]}
    assert by_group["low"] > by_group["mid"] > by_group["high"]
    lyrics = {e["subset"]: e["ordinal"]["alpha"] for e in report["lyrics"]}
    assert lyrics["understood Q1"] > lyrics["not understood Q1"] and lyrics["understood Q3"] > lyrics["not understood Q3"]
    low, high = report["overall"]["ordinal"]["ci95"]
    assert low < report["overall"]["ordinal"]["alpha"] < high
    assert {e["subset"] for e in report["by_quadrant"]} == {"Q1", "Q2", "Q3", "Q4"}


def test_a_group_without_variation_and_single_ratings_get_explicit_results():
    ratings = synthetic_ratings(group_noise={"a": 0.5}, raters_per_group=4, items=4, emotions=("joy", "fear"))
    ratings += [Rating(f"flat{r}", "flat", "item00", "joy", 3.0) for r in range(3)]
    ratings += [Rating("solo", "solo", "item01", "fear", 2.0)]
    report = analyse(ratings, samples=20)
    by_group = {e["subset"]: e for e in report["by_group"]}
    assert by_group["flat"]["ordinal"]["alpha"] is None and "no variation" in by_group["flat"]["ordinal"]["reason"]
    assert by_group["solo"]["interval"]["alpha"] is None and "two or more" in by_group["solo"]["interval"]["reason"]
    assert by_group["a"]["ordinal"]["alpha"] is not None


def test_ratings_csv_round_trip_and_bad_rows(tmp_path: Path):
    ratings = synthetic_ratings(raters_per_group=2, items=2, emotions=("joy",))
    path = write_ratings_csv(ratings, tmp_path / "r.csv")
    back = read_ratings(path)
    assert len(back) == len(ratings) and back[0].lyrics is True and back[0].quadrant == "Q1"
    np.testing.assert_array_equal(reliability_matrix(back), reliability_matrix(ratings))
    (tmp_path / "bad.csv").write_text("rater,group,item,emotion,rating\na,eng,i1,joy,7\n")
    with pytest.raises(QuadpredError, match="line 2: rating 7 is outside 1-5"):
        read_ratings(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("rater,item,rating\na,i1,3\n")
    with pytest.raises(QuadpredError, match="missing column"):
        read_ratings(tmp_path / "cols.csv")


def test_cli_agreement_on_the_synthetic_set(tmp_path: Path, capsys):
    assert main(["-q", "agreement", "--synthetic", "-o", str(tmp_path), "--bootstrap", "30"]) == 0
    out = capsys.readouterr().out
    assert "by_group" in out and (tmp_path / "agreement.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["-q", "agreement", str(tmp_path / "synthetic_ratings.csv"), "-o", str(tmp_path / "again"),
                 "--bootstrap", "30"]) == 0
    assert (tmp_path / "again" / "agreement.json").read_text() == (tmp_path / "agreement.json").read_text()
