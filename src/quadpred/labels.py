"""Russell's four quadrants and their arousal / valence halves.

| quadrant | arousal | valence |
|---|---|---|
| Q1 | + | + |
| Q2 | + | - |
| Q3 | - | - |
| Q4 | - | + |

Class indices used everywhere: quadrant 0..3 for Q1..Q4; arousal and valence
0 = negative, 1 = positive.
"""

from __future__ import annotations

from .errors import QuadpredError

QUADRANTS: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")
BINARY_NAMES: tuple[str, ...] = ("negative", "positive")
TASKS: dict[str, tuple[str, ...]] = {
    "quadrant": QUADRANTS,
    "arousal": BINARY_NAMES,
    "valence": BINARY_NAMES,
}

# what each quadrant means, for the outputs a person reads (4Q-Emotion's and Russell's words)
QUADRANT_MEANINGS: dict[str, str] = {"Q1": "happy/excited", "Q2": "angry/tense", "Q3": "sad/depressed",
                                     "Q4": "calm/relaxed"}

# one colour per quadrant: the tag-gram's Russell panel and the listening page
QUADRANT_COLOURS: dict[str, str] = {"Q1": "#e8a317", "Q2": "#d64541", "Q3": "#3f6fb5", "Q4": "#3a9b5c"}

_AROUSAL_POSITIVE = {"Q1": True, "Q2": True, "Q3": False, "Q4": False}
_VALENCE_POSITIVE = {"Q1": True, "Q2": False, "Q3": False, "Q4": True}

EMOTION_WORDS: dict[str, str] = {
    "joy": "Q1", "happy": "Q1", "happiness": "Q1", "power": "Q1", "surprise": "Q1",
    "anger": "Q2", "angry": "Q2", "fear": "Q2", "tension": "Q2",
    "bitterness": "Q3", "sad": "Q3", "sadness": "Q3",
    "tender": "Q4", "tenderness": "Q4", "peace": "Q4", "relaxed": "Q4", "transcendence": "Q4",
}


def normalise_quadrant(value: str | int) -> str:
    """Return 'Q1'..'Q4' for 'Q1', 'q1', '1' or 1; raise on anything else."""
    text = str(value).strip().upper()
    if text.isdigit():
        text = "Q" + text
    if text not in QUADRANTS:
        raise QuadpredError(f"unknown quadrant {value!r}: use one of Q1, Q2, Q3, Q4")
    return text


def quadrant_index(quadrant: str | int) -> int:
    """Class index 0..3 of a quadrant name."""
    return QUADRANTS.index(normalise_quadrant(quadrant))


def arousal_of(quadrant: str | int) -> int:
    """1 if the quadrant has positive arousal (Q1, Q2), else 0."""
    return int(_AROUSAL_POSITIVE[normalise_quadrant(quadrant)])


def valence_of(quadrant: str | int) -> int:
    """1 if the quadrant has positive valence (Q1, Q4), else 0."""
    return int(_VALENCE_POSITIVE[normalise_quadrant(quadrant)])


def quadrant_from_av(arousal: float, valence: float) -> str:
    """Quadrant of a numeric arousal/valence pair by their signs (zero counts as positive)."""
    if arousal >= 0:
        return "Q1" if valence >= 0 else "Q2"
    return "Q4" if valence >= 0 else "Q3"


def quadrant_from_emotion(word: str) -> str:
    """Quadrant of an emotion word of the study (joy, anger, sadness, peace, ...)."""
    key = word.strip().lower()
    if key not in EMOTION_WORDS:
        known = ", ".join(sorted(EMOTION_WORDS))
        raise QuadpredError(f"unknown emotion word {word!r}: use one of {known}")
    return EMOTION_WORDS[key]


def task_targets(quadrant: str | int) -> dict[str, int]:
    """Class indices of all three tasks for one quadrant label."""
    return {
        "quadrant": quadrant_index(quadrant),
        "arousal": arousal_of(quadrant),
        "valence": valence_of(quadrant),
    }
