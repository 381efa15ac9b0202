"""Make the package's default models (src/quadpred/pretrained/<speech>2eng/) from a real-data
experiment: float16 weights, the config, the training history, the held-out metrics and the
terms of the data they were trained on.

    python scripts/ship_default_models.py RUNS_DIR [--retrain-all] [--speech eng man mix]
    python scripts/ship_default_models.py --cv CV_DIR [--cv CV_DIR ...] [--members N ...] --speech eng \
        [--reference CV_DIR ...]

With ``--cv``, the k fold models of a `quadpred cv` run are shipped as an ensemble
(``member<k>/`` folders; `quadpred predict` averages them, ``--fast`` takes one), with a model
card (MODEL.md) giving the cross-validated estimate and the reference methods' on the same folds.
Several ``--cv`` folders (cross-validated on the same folds) make one ensemble of their fold
models, ``--members`` of each; its estimate is their out-of-fold fusion with the members' shares.

RUNS_DIR is the output of `quadpred experiment --preset real`. For each speech language the best
method of the grid (song-level quadrant F on the validation split, mean over the repeats; the
test split plays no part in the choice) is chosen; with ``--retrain-all`` it
is retrained from the grid's pretrained encoder on all music clips (train, valid and test) for the
epochs at which the grid's run was best, and the grid run's test metrics are kept as the
held-out estimate. It replaces the shipped folders.
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


def best_method(runs: Path, speech: str) -> Path:
    """Repeat 0's model directory of the method with the best mean validation song-level
    quadrant F over the grid's repeats for ``speech``."""
    scores: dict[Path, list[float]] = {}
    for metrics in sorted((runs / "transfer" / f"{speech}2eng").glob("*/r*/*/metrics.json")):
        *_, stage = metrics.parent.relative_to(runs / "transfer" / f"{speech}2eng").parts
        valid = json.loads(metrics.read_text())["valid"]["song"]["quadrant"]["f1"]
        scores.setdefault(metrics.parents[2] / "r0" / stage, []).append(valid)
    return max(scores, key=lambda folder: sum(scores[folder]) / len(scores[folder]))


def retrain_all(runs: Path, source: Path, out: Path) -> Path:
    """``source``'s method retrained on every music clip, from the same pretrained encoder."""
    import dataclasses

    from quadpred.config import RunConfig, from_dict
    from quadpred.manifest import read_manifest
    from quadpred.stages import transfer
    from quadpred.store import FeatureStore

    info = json.loads((source / "config.json").read_text())
    clips = [dataclasses.replace(c, split="train") for c in read_manifest(runs / "manifests" / "music_eng.jsonl")]
    store = FeatureStore.open(runs / "features", kind="logmel")
    from quadpred.layout import Setting, pretrain_folder

    family_folder = source.parent  # transfer/<setting>/<family>/r<k>
    family, setting = family_folder.parent.name, Setting.parse(family_folder.parent.parent.name)
    encoder = runs / pretrain_folder(family, str(setting.speech), 0)
    previous = encoder
    for stage in ("feat-ext", "full") if source.name == "full" else ("feat-ext",):
        grid_run = family_folder / stage
        best = json.loads((grid_run / "summary.json").read_text())["best_epoch"]
        run = from_dict(RunConfig, {"model": info["model"], "train": {**info["train"], "epochs": best, "patience": 100}})
        transfer(clips, store, out / stage, stage=stage, init=previous, run=run, progress=False)
        previous = out / stage
    return previous


def ship(source: Path, speech: str, *, metrics_from: Path | None = None) -> Path:
    model, info = load_model(source)
    target = PACKAGE / f"{speech}2eng"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    save_weights(model, target, half=True)
    info["shipped_from"] = str(source)
    info["weights_dtype"] = "float16"
    write_json(target / "config.json", info)
    for name in ("summary.json", "history.json"):
        shutil.copy2(source / name, target / name)
    shutil.copy2((metrics_from or source) / "metrics.json", target / "metrics.json")
    (target / "TERMS.md").write_text(TERMS.format(speech=SPEECH[speech]))
    return target


def ship_cv(cvs: list[Path], speech: str, references: list[Path], members: list[int] | None = None,
            chosen: str = "") -> Path:
    """The fold models of the cross-validations ``cvs`` (run on the same folds) as the ensemble
    ``<speech>2eng``, with a card; ``members``: per cross-validation, how many of its fold models
    to ship (default: all). Several cross-validations make a fusion ensemble, whose estimate is the
    fusion of their out-of-fold songs weighted by the members' shares. Member i is the model of
    fold i mod k, so that five members of several cross-validations were trained on five
    different 80 % of the songs, as the folds of one (the estimate does not depend on which)."""
    from quadpred.crossval import fuse

    if members is not None and len(members) != len(cvs):
        raise SystemExit(f"--members: give one count per --cv ({len(cvs)}), got {members}")
    summaries = [json.loads((cv / "cv.json").read_text()) for cv in cvs]
    counts = [min(n, s["k"]) for n, s in zip(members or [s["k"] for s in summaries], summaries)]
    target = PACKAGE / f"{speech}2eng"
    if target.exists():
        shutil.rmtree(target)
    index = 0
    for cv, summary, count in zip(cvs, summaries, counts):
        stage = {"baseline": "baseline", "feat-ext": "feat-ext", "full": "full"}[summary["method"]]
        for _ in range(count):
            source = cv / f"fold{index % summary['k']}" / stage
            member = target / f"member{index}"
            member.mkdir(parents=True)
            model, info = load_model(source)
            save_weights(model, member, half=True)
            write_json(member / "config.json", {**info, "weights_dtype": "float16", "shipped_from": str(source)})
            shutil.copy2(source / "summary.json", member / "summary.json")
            index += 1
    (target / "TERMS.md").write_text(TERMS.format(speech=SPEECH[speech]))
    summary = summaries[0] if len(cvs) == 1 else {**fuse(cvs, weights=counts), "recipe": {
        cv.name: s["recipe"] for cv, s in zip(cvs, summaries)}}
    write_json(target / "cv.json", summary)
    (target / "MODEL.md").write_text(model_card(speech, cvs, summaries, counts, summary, references, chosen))
    return target


def kept_how(methods: list[dict], summaries: list[dict]) -> str:
    """How the members' weights were kept, from their recipes and validation shares (each
    cross-validation's method.json): the late epochs' weights averaged (train.average_last) or the
    epoch the validation songs chose."""
    from quadpred.crossval import VALID_SHARE

    ways = []
    for method, summary in zip(methods, summaries):
        share = method.get("valid_share", VALID_SHARE)
        if not summary["recipe"]["train"].get("average_last", 0):
            way = f"{share:.0%} of them choosing the epoch"
        elif share:
            way = f"{share:.0%} of them held out for validation; the weights of the last epochs averaged"
        else:
            way = "all of them training, none held out; the weights of the last epochs averaged"
        if way not in ways:
            ways.append(way)
    return "; or ".join(ways)


def model_card(speech: str, cvs: list[Path], summaries: list[dict], counts: list[int], summary: dict,
               references: list[Path], chosen: str = "") -> str:
    """MODEL.md of a shipped model: what it is, its cross-validated estimate, the references on the
    same folds, how it was chosen (``chosen``: the rule, said before the generic one) and its recipe."""
    shipped, k = sum(counts), summaries[0]["k"]
    parts = [f"{count} fold model{'s' if count > 1 else ''} of the {s['method']} cross-validation `{cv.name}`"
             for cv, s, count in zip(cvs, summaries, counts)]
    methods = sorted({s["method"] for s in summaries})
    if len(cvs) > 1:
        what = (f"an ensemble of {shipped} fold models of {len(cvs)} cross-validations ({len(methods)} method"
                f"{'s' if len(methods) > 1 else ''}: {', '.join(methods)}; training seeds differ)")
    elif shipped > 1:
        what = f"the {shipped} fold models of a cross-validation, as one ensemble"
    else:
        what = f"fold model 0 of a {k}-fold cross-validation (one member, to keep the package small)"
    pooled = summary["pooled"]
    low, high = pooled["song_f1_interval"]
    methods = [json.loads((cv / "method.json").read_text()) for cv in cvs]
    taught = [(cv, method.get("teachers")) for cv, method in zip(cvs, methods)]
    distilled = [f"`{cv.name}` was distilled: each fold's network learnt, beside the labels (train.distil "
                 f"{s['recipe']['train']['distil']:g} of each loss on the teachers), the mean probabilities of the same "
                 f"fold's models of {', '.join(f'`{Path(t).name}`' for t in teachers)}, trained on the same clips"
                 for (cv, teachers), s in zip(taught, summaries) if teachers]
    lines = [f"# {speech}2eng: {what}\n",
             f"Members: {'; '.join(parts)} ({SPEECH[speech]} pretraining where a method pretrains; music: "
             f"4Q-Emotion, 646 clips). Each member was trained on {k - 1} of {k} artist-grouped folds "
             f"({kept_how(methods, summaries)}) and never saw its held-out fold (member i holds out fold i mod k)"
             + ("; `quadpred predict` averages the members' probabilities, `--fast` uses member 0 alone.\n"
                if shipped > 1 else ".\n"),
             *[line + ".\n" for line in distilled],
             "## How good, on songs by artists it did not see\n",
             f"- song-level quadrant macro F, mean over folds: {summary['song_f1_mean']:.3f} "
             f"(sd {summary['song_f1_sd']:.3f}); log-loss {summary['song_loss_mean']:.3f}",
             f"- pooled out-of-fold: {pooled['song_f1']:.3f} (95 % song bootstrap {low:.3f}-{high:.3f}, "
             f"{pooled['songs']} songs)"]
    if len(cvs) > 1:
        shares = "equal shares" if len(set(counts)) == 1 else "shares that follow from the package's size budget"
        lines.append(f"- the cross-validations' out-of-fold song probabilities averaged with the members' shares "
                     f"({summary['method']}): one model of each per held-out song, as the ensemble combines them; "
                     f"{shares}, not fitted to these scores")
    lines += ["- these are fold models' scores on their held-out folds: the ensemble of all members has no "
              "held-out songs left in our data, so its own accuracy is estimated by these numbers, and checked "
              "on songs outside the project by the maintainers.\n",
              "## Reference methods on the same folds\n", "| method | mean song F (sd) | pooled F (95 % interval) |",
              "|---|---|---|"]
    for reference in [*cvs, *references] if len(cvs) > 1 else references:
        other = json.loads((reference / "cv.json").read_text())
        r_low, r_high = other["pooled"]["song_f1_interval"]
        lines.append(f"| {reference.name} | {other['song_f1_mean']:.3f} ({other['song_f1_sd']:.3f}) | "
                     f"{other['pooled']['song_f1']:.3f} ({r_low:.3f}-{r_high:.3f}) |")
    lines += ["", "## How it was chosen\n", *([chosen, ""] if chosen else []),
              "Recipes and methods were compared by this cross-validation only "
              "(docs/results.md, 'Cross-validation'); no test split took part. A default is replaced only by a "
              "method (or a fusion of methods) whose pooled out-of-fold F is at least that of every rival "
              "cross-validated on the same folds.", "",
              "## Recipe\n", "```json", json.dumps(summary["recipe"], indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="?")
    parser.add_argument("--retrain-all", action="store_true", help="retrain the chosen methods on all music clips")
    parser.add_argument("--speech", nargs="+", choices=tuple(SPEECH), default=list(SPEECH),
                        help="ship these speech languages only (default: all three)")
    parser.add_argument("--cv", type=Path, action="append", default=[],
                        help="ship the fold models of this `quadpred cv` folder as an ensemble (repeat it for an "
                             "ensemble of several methods cross-validated on the same folds)")
    parser.add_argument("--members", type=int, nargs="+",
                        help="per --cv, ship N of its fold models (default: all; member i is the model of "
                             "fold i mod k)")
    parser.add_argument("--reference", type=Path, action="append", default=[],
                        help="a `quadpred cv` folder of a reference method, for the model card")
    parser.add_argument("--chosen", default="", help="--cv: how this ensemble was chosen, for the model card")
    args = parser.parse_args()
    if args.cv:
        if len(args.speech) != 1:
            parser.error("--cv ships one model: give one --speech")
        target = ship_cv(args.cv, args.speech[0], args.reference, members=args.members, chosen=args.chosen)
        size = sum(p.stat().st_size for p in target.rglob("weights.pt")) / 1e6
        print(f"{args.speech[0]}2eng: {' + '.join(map(str, args.cv))} -> {target} ({size:.1f} MB)")
        return
    if args.runs is None:
        parser.error("give RUNS_DIR, or --cv CV_DIR")
    for speech in args.speech:
        chosen = best_method(args.runs, speech)
        source = retrain_all(args.runs, chosen, args.runs / "all-clips" / speech) if args.retrain_all else chosen
        target = ship(source, speech, metrics_from=chosen)
        info = json.loads((target / "config.json").read_text())
        info["held_out_metrics_from"] = str(chosen)
        write_json(target / "config.json", info)
        size = (target / "weights.pt").stat().st_size / 1e6
        song_f1 = json.loads((target / "metrics.json").read_text())["test"]["song"]["quadrant"]["f1"]
        print(f"{speech}2eng: {source} -> {target} ({size:.1f} MB, test song-level quadrant F1 {song_f1:.3f})")


if __name__ == "__main__":
    main()
