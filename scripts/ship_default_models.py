"""Copy the chosen transfer models of a real-data experiment into the package as its default
models (src/quadpred/pretrained/<speech>2eng/): float16 weights, the config, the training
history and metrics, and the terms of the data they were trained on.

    python scripts/ship_default_models.py RUNS_DIR [--method scae-full] [--repeat 0]

RUNS_DIR is the output of `quadpred experiment --preset real`. Run it again after retraining;
it replaces the shipped folders.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from quadpred.modeldir import load_model, save_weights, write_json

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "quadpred" / "pretrained"
TERMS = """# Data and terms of this model

Trained by quadpred on real recordings (see ../../../../docs/results.md for the exact command):

- speech pretraining: {speech}
- music transfer: the 4Q audio emotion dataset (Panda, Malheiro, Paiva, "Novel audio features for
  music emotion recognition", IEEE TAFFC 2018): 646 of its 900 30-s AllMusic previews, split by
  artist; research use only; cite the TAFFC 2018 paper.
- LibriSpeech: CC BY 4.0 (Panayotov et al., ICASSP 2015). AISHELL-1: Apache 2.0 (Bu et al., 2017).

The model inherits the research-only terms of 4Q-Emotion: use it for research, not commercially.
It is small next to the study's data (about 1 h of speech per language; 646 songs) and English
music only: treat its outputs as a research baseline, not as ground truth.
"""
SPEECH = {"eng": "LibriSpeech (English read speech, 65 min)",
          "man": "AISHELL-1 samples and other Mandarin read speech (65 min)",
          "mix": "half LibriSpeech English, half Mandarin read speech (65 min in all)"}


def ship(source: Path, speech: str) -> Path:
    model, info = load_model(source)
    target = PACKAGE / f"{speech}2eng"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    save_weights(model, target, half=True)
    info["shipped_from"] = str(source)
    info["weights_dtype"] = "float16"
    write_json(target / "config.json", info)
    for name in ("summary.json", "history.json", "metrics.json"):
        shutil.copy2(source / name, target / name)
    (target / "TERMS.md").write_text(TERMS.format(speech=SPEECH[speech]))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--method", default="scae-full", choices=("scae-full", "scae-feat-ext", "cpc-feat-ext"))
    parser.add_argument("--repeat", type=int, default=0)
    args = parser.parse_args()
    family, stage = args.method.split("-", 1)
    for speech in ("eng", "man", "mix"):
        source = args.runs / "transfer" / f"{speech}2eng" / family / f"r{args.repeat}" / stage
        target = ship(source, speech)
        size = (target / "weights.pt").stat().st_size / 1e6
        song_f1 = json.loads((target / "metrics.json").read_text())["test"]["song"]["quadrant"]["f1"]
        print(f"{speech}2eng: {source} -> {target} ({size:.1f} MB, test song-level quadrant F1 {song_f1:.3f})")


if __name__ == "__main__":
    main()
