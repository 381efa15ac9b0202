"""Bayesian optimisation of the learning rate and its decay, as the study did (Optuna's TPE).

Each trial is a whole training run in ``<folder>/trials/<n>``; the objective is the best
validation loss. The study is kept in ``<folder>/tune.db`` (SQLite), so an interrupted search
resumes, and the best trial's model directory is copied to ``<folder>`` itself.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import QuadpredError
from .modeldir import is_complete, write_json
from .train import FitResult

log = logging.getLogger("quadpred")

LR_RANGE = (1e-5, 1e-2)
DECAY_RANGE = (1e-7, 1e-3)


def tune(run_trial: Callable[[TrainConfig, Path], FitResult], base: TrainConfig, folder: str | Path, *,
         trials: int, stage: str) -> dict[str, Any]:
    """Search lr (log-uniform in LR_RANGE) and lr_decay (log-uniform in DECAY_RANGE) over ``trials``
    runs of ``run_trial(train_config, trial_folder)``; returns the best settings and every trial."""
    try:
        import optuna
    except ImportError as exc:
        raise QuadpredError("--tune needs Optuna: pip install 'quadpred[tune]'") from exc
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=stage, storage=f"sqlite:///{folder / 'tune.db'}", load_if_exists=True,
                                direction="minimize", sampler=optuna.samplers.TPESampler(seed=base.seed))

    def objective(trial: optuna.Trial) -> float:
        config = dataclasses.replace(base, lr=trial.suggest_float("lr", *LR_RANGE, log=True),
                                     lr_decay=trial.suggest_float("lr_decay", *DECAY_RANGE, log=True))
        result = run_trial(config, folder / "trials" / f"{trial.number:03d}")
        log.info("tune %s trial %d: lr %.2e decay %.2e -> valid loss %.4f", stage, trial.number, config.lr,
                 config.lr_decay, result.best_valid_loss)
        return result.best_valid_loss

    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(finished) < trials:
        study.optimize(objective, n_trials=trials - len(finished))
    best = study.best_trial
    best_folder = folder / "trials" / f"{best.number:03d}"
    if not is_complete(best_folder):
        raise QuadpredError(f"best trial folder {best_folder} is incomplete: re-run to finish it")
    for item in best_folder.iterdir():
        if item.is_file():
            shutil.copy2(item, folder / item.name)
    report = {"stage": stage, "best": {"trial": best.number, **best.params, "valid_loss": best.value},
              "trials": [{"trial": t.number, **t.params, "valid_loss": t.value, "state": t.state.name}
                         for t in study.trials]}
    write_json(folder / "tune.json", report)
    return report
