"""The hand-crafted reference of the cross-validation: functionals over each whole clip (openSMILE
eGeMAPS, 88 values, or ComParE 2016, 6,373; or librosa's musical descriptors, 94: key and mode,
tempo, dynamics, timbre, ``musicdescriptors.py``) and a scikit-learn classifier of the quadrant.

Features are computed once per clip and cached beside the runs (``functionals-<set>.npz``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .audio import load_audio
from .errors import QuadpredError
from .files import atomic_path, map_jobs
from .labels import TASKS

# feature set name in quadpred -> openSMILE's
OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
FEATURE_SETS = (*OPENSMILE_SETS, "music")
CLASSIFIERS = ("svm", "logreg")
# the classifier's regularisation, chosen on the training folds by an inner artist-grouped CV
C_VALUES = (0.1, 1.0, 10.0)
INNER_FOLDS = 3


@functools.lru_cache(maxsize=None)  # one openSMILE extractor per set and process
def _extractor(feature_set: str) -> Callable[[np.ndarray], np.ndarray]:
    """The function from a (samples,) 16-kHz signal to the (values,) functionals of ``feature_set``."""
    if feature_set not in FEATURE_SETS:
        raise QuadpredError(f"functionals {feature_set!r} unknown: use {', '.join(FEATURE_SETS)}")
    if feature_set == "music":
        from .musicdescriptors import music_descriptors

        return music_descriptors
    try:
        import opensmile
    except ImportError as exc:
        raise QuadpredError("the openSMILE functionals need openSMILE: pip install 'quadpred[dae]'") from exc
    smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, OPENSMILE_SETS[feature_set]),
                            feature_level=opensmile.FeatureLevel.Functionals)
    return lambda signal: smile.process_signal(signal, 16000).to_numpy(np.float32)[0]


def _clip_row(job: tuple[str, str]) -> np.ndarray:
    """The (values,) functionals of one (audio path, feature set); picklable for worker processes."""
    path, feature_set = job
    signal = load_audio(path)
    try:
        return _extractor(feature_set)(signal)
    except QuadpredError as exc:
        raise QuadpredError(f"{path}: {exc}") from exc


def clip_functionals(paths: Sequence[str], ids: Sequence[str], feature_set: str, cache: Path, *,
                     progress: bool = True, workers: int = 1) -> np.ndarray:
    """(clips, values) functionals of each audio file (16 kHz mono), from ``cache`` where it
    holds the same clips, else computed (in ``workers`` processes) and written there."""
    if cache.is_file():
        with np.load(cache) as saved:
            if [str(i) for i in saved["ids"]] == list(ids):
                return saved["values"]
    _extractor(feature_set)  # an unknown set or a missing openSMILE is refused before any work
    values = np.stack(list(map_jobs(_clip_row, [(str(path), feature_set) for path in paths], workers=workers,
                                    desc=f"{feature_set} functionals", unit="clip", progress=progress)))
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, ids=np.array(list(ids)), values=values)
    return values


def fit_predict(train: np.ndarray, labels: np.ndarray, groups: Sequence[str], test: np.ndarray, *,
                classifier: str = "svm", seed: int = 0, classes: int = len(TASKS["quadrant"])) -> np.ndarray:
    """Class probabilities (test clips, classes; quadrants by default) from a standardised SVM
    (RBF) or logistic regression fitted on ``train`` (clips, values) and its class indices
    ``labels``; C chosen by an inner CV grouped by ``groups`` (artists, speakers) on macro F."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from threadpoolctl import threadpool_limits

    if classifier not in CLASSIFIERS:
        raise QuadpredError(f"classifier {classifier!r} unknown: use {' or '.join(CLASSIFIERS)}")
    if classifier == "svm":  # probabilities by Platt scaling on internal folds, refitted on all
        model = CalibratedClassifierCV(SVC(kernel="rbf", random_state=seed), ensemble=False)
        grid = {"calibratedclassifiercv__estimator__C": C_VALUES}
    else:
        model = LogisticRegression(max_iter=2000)
        grid = {"logisticregression__C": C_VALUES}
    distinct = len(set(groups))
    if distinct < 2:
        raise QuadpredError(f"choosing C needs training clips of at least 2 groups (artists, speakers), got {distinct}")
    search = GridSearchCV(make_pipeline(StandardScaler(), model), grid, scoring="f1_macro",
                          cv=GroupKFold(min(INNER_FOLDS, distinct)))
    # one BLAS thread: these fits are small, and BLAS threads spinning for cores that training holds
    # made the speech probe's fits ~30x slower on 2 cores (53 min -> under 2 min per encoder)
    with threadpool_limits(limits=1, user_api="blas"):
        search.fit(np.nan_to_num(train), labels, groups=list(groups))
    probabilities = np.zeros((len(test), classes))
    probabilities[:, search.classes_] = search.predict_proba(np.nan_to_num(test))
    return probabilities
