"""The ``quadpred`` command: subcommands, each a thin call into the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .allocator import keep_freed_memory
from .errors import QuadpredError

if TYPE_CHECKING:  # imported where used: `quadpred --help` stays fast
    from .audio import ReadLimits

log = logging.getLogger("quadpred")

# copies of methods.PRETRAININGS, crossval.CV_METHODS, experiment.PRESETS and REAL_RECIPES, config.RECIPES (importing those loads
# torch, seconds a `--help` should not wait); tests/test_methods.py checks that they agree
PRETRAINING_CHOICES = ("scae", "cpc", "dae")
PRESET_CHOICES = ("paper", "demo", "real")
REAL_RECIPE_CHOICES = ("short", "cv")
RECIPE_CHOICES = ("study", "cv")
CV_CHOICES = ("baseline", "feat-ext", "full", "egemaps-svm", "egemaps-logreg", "compare-svm", "compare-logreg",
              "music-svm", "music-logreg", "probe-svm", "probe-logreg")


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise QuadpredError(f"{path} exists: pass --force to overwrite it")


def cmd_prepare(args: argparse.Namespace) -> None:
    from .corpora import CORPORA
    from .manifest import sample_hours, split_study, summary, write_manifest

    out = Path(args.output)
    _refuse_overwrite(out, args.force)
    corpus = CORPORA[args.corpus]
    kwargs: dict = {}
    if args.language:
        kwargs["language"] = args.language
    if args.allow_outside:
        if args.corpus not in ("table", "ch818"):
            raise QuadpredError("--allow-outside applies to table and ch818 corpora only")
        kwargs["allow_outside"] = True
    if args.group_by:
        if args.corpus != "4q":
            raise QuadpredError("--group-by applies to the 4q corpus only; other corpora take groups from their table")
        kwargs["group_by"] = args.group_by
    clips = corpus.prepare(args.root, **kwargs)
    if args.hours:
        clips = sample_hours(clips, args.hours, seed=args.seed)
    if not args.keep_splits or any(c.split is None for c in clips):
        clips = split_study(clips, seed=args.seed)
    write_manifest(out, clips)
    print(json.dumps(summary(clips), indent=1))
    print(f"wrote {out}")


def cmd_features(args: argparse.Namespace) -> int:
    from .config import apply_overrides
    from .featurekinds import DEFAULT_KIND, FEATURE_KINDS
    from .manifest import read_manifest
    from .store import FeatureStore, extract, store_summary

    config = apply_overrides(FEATURE_KINDS["smile" if args.handcrafted else DEFAULT_KIND].settings(), args.set or [])
    clips = [clip for manifest in args.manifests for clip in read_manifest(manifest)]
    result = extract(clips, args.output, config, workers=args.workers, progress=not args.quiet, dask=args.dask,
                     limits=_read_limits(args))
    store = FeatureStore.open(args.output, config)
    print(f"features: {result.written} written, {result.skipped_existing} already there, "
          f"{len(result.failed)} unreadable or over a limit; store {store.folder} holds {len(store)} clips")
    for clip_id, reason in sorted(result.failed.items()):
        print(f"  skipped {clip_id}: {reason}")
    if args.verbose:
        print(json.dumps(store_summary(store), indent=1))
    return 1 if result.failed else 0


def cmd_synth(args: argparse.Namespace) -> None:
    from .synth import build_world

    out = Path(args.output)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise QuadpredError(f"{out} exists and is not empty: pass --force to rebuild it")
    card = build_world(out, scale=args.scale, seed=args.seed, workers=args.workers, progress=not args.quiet)
    print(f"synthetic world written to {out} (data card: {card})")


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    result = run_demo(args.output, scale=args.scale, seed=args.seed, workers=args.workers, progress=not args.quiet,
                      models=not args.data_only, repeats=args.repeats, epochs=args.epochs, cells=args.cells)
    print(f"demo done: world {result.world}, manifests {result.manifests['music_eng'].parent}, store {result.store}")
    if result.report:
        print(f"  report {result.report}\n  tag-grams {result.predictions}/*/{result.song.name}.png")


def _run_config(args: argparse.Namespace, *, from_random: bool = False):
    """The run settings: the --config file (or the defaults), then the --recipe's settings (with
    those for a network from random weights where ``from_random``), then each --set."""
    from .config import RECIPES, RECIPES_FROM_RANDOM, RunConfig, apply_overrides, load_json, with_settings

    base = load_json(RunConfig, args.config) if args.config else RunConfig()
    recipe = getattr(args, "recipe", "study")
    base = with_settings(base, {**RECIPES[recipe], **(RECIPES_FROM_RANDOM[recipe] if from_random else {})})
    return apply_overrides(base, args.set or [])


def _clips_and_store(args: argparse.Namespace):
    from .manifest import read_manifest
    from .methods import store_kind
    from .store import FeatureStore

    clips = [clip for manifest in args.manifests for clip in read_manifest(manifest)]
    kind = store_kind(method=getattr(args, "method", None), encoder=getattr(args, "encoder", None))
    return clips, FeatureStore.open(args.features, kind=kind)


def _print_fit(name: str, result) -> None:
    print(f"{name}: {result.epochs_run} epochs, best epoch {result.best_epoch} (valid loss "
          f"{result.best_valid_loss:.4f}){', stopped early' if result.stopped_early else ''} -> {result.folder}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from .stages import pretrain, tuned
    from .train import init_distributed

    init_distributed()  # under torchrun: one process per GPU (or CPU process with gloo)
    run = _run_config(args)
    clips, store = _clips_and_store(args)

    def train(config, folder):
        return pretrain(clips, store, folder, method=args.method, run=config, device=args.device,
                        progress=not args.quiet, force=args.force)

    _print_fit("pretrain", tuned(train, run, args.output, trials=args.tune, stage=args.method))


def cmd_transfer(args: argparse.Namespace) -> None:
    from .stages import transfer_stages
    from .train import init_distributed

    init_distributed()
    if (args.encoder is None) == (not args.baseline):
        raise QuadpredError("give either --encoder PRETRAINED_DIR (transfer) or --baseline (random initialisation)")
    run = _run_config(args, from_random=args.baseline)
    clips, store = _clips_and_store(args)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    results = transfer_stages(clips, store, args.output, encoder=args.encoder, stages=stages, run=run,
                              device=args.device, progress=not args.quiet, force=args.force, trials=args.tune,
                              teachers=args.teachers or ())
    for stage, result in results.items():
        _print_fit(stage, result)
        scores = json.loads((result.folder / "metrics.json").read_text())
        for split, report in scores.items():
            f1 = ", ".join(f"{task} {values['f1']:.3f}" for task, values in report["song"].items())
            print(f"  {split} song-level macro F1: {f1}")


def cmd_cv(args: argparse.Namespace) -> None:
    from .crossval import NETWORK_METHODS, PROBE_METHODS, run_cv
    from .manifest import read_manifest
    from .store import FeatureStore

    run = _run_config(args, from_random=args.method == "baseline")
    clips = [clip for manifest in args.manifests for clip in read_manifest(manifest)]
    reads_logmels = args.method in (*NETWORK_METHODS, *PROBE_METHODS)
    if reads_logmels and not args.features:
        raise QuadpredError(f"method {args.method} reads log-mels: give --features STORE")
    store = FeatureStore.open(args.features, kind="logmel") if reads_logmels else None
    summary = run_cv(clips, args.output, method=args.method, store=store, encoder=args.encoder, run=run,
                     k=args.folds, seed=args.seed, device=args.device, progress=not args.quiet,
                     keep_epochs=args.keep_epochs, teachers=args.teachers or (), valid_share=args.valid_share,
                     train_fraction=args.train_fraction, workers=args.workers)
    print((Path(args.output) / "cv.md").read_text())
    print(f"cv: {Path(args.output) / 'cv.json'} (pooled out-of-fold song F {summary['pooled']['song_f1']:.3f})")


def _language_paths(items: list[str] | None, flag: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in items or []:
        language, sep, path = item.partition("=")
        if not sep or not language or not path:
            raise QuadpredError(f"{flag} {item!r} is not LANGUAGE=MANIFEST: write e.g. {flag} eng=eng.jsonl")
        found.setdefault(language, []).append(str(Path(path).resolve()))
    return found


def cmd_experiment(args: argparse.Namespace) -> None:
    import dataclasses

    from .experiment import PresetInputs, default_cells, load_experiment, preset_experiment, run_grid
    from .report import write_report

    out = Path(args.output)
    if args.config and args.preset:
        raise QuadpredError("give a CONFIG file or --preset, not both")
    if args.config:
        config, base = load_experiment(args.config)
    elif args.preset:
        inputs = PresetInputs(data=args.data, speech=_language_paths(args.speech, "--speech"),
                              music=_language_paths(args.music, "--music"), features=args.features,
                              scale=args.scale, seed=args.seed, recipe=args.recipe, workers=args.workers,
                              progress=not args.quiet)
        config, base = preset_experiment(args.preset, out, inputs)
    else:
        raise QuadpredError("give an experiment CONFIG file or --preset demo|paper|real")
    if args.repeats:
        config = dataclasses.replace(config, repeats=args.repeats)
    if args.print_config:
        from .config import to_dict

        print(json.dumps(to_dict(config), indent=2))
        return
    cells = args.cells or (default_cells(args.device) if args.preset == "demo" else 1)
    result = run_grid(config, base, out, device=args.device, workers=args.workers, cells=cells, progress=not args.quiet)
    files = write_report(out, paper=args.paper)
    print(f"grid: {len(result.steps)} steps, {len(result.failed)} failed -> {out}")
    for name in result.failed:
        print(f"  failed: {name}: {result.status[name]['reason']}")
    print(f"report: {files['html']} (tables: {files['markdown']})")


def cmd_report(args: argparse.Namespace) -> None:
    from .report import write_report

    files = write_report(args.runs, paper=args.paper)
    print(Path(files["markdown"]).read_text())
    print(f"report: {files['html']}")


def cmd_probe(args: argparse.Namespace) -> None:
    from .manifest import read_manifest
    from .probe import run_probe
    from .store import FeatureStore

    encoders: dict[str, str] = {}
    for item in args.encoder:
        name, _, folder = item.rpartition("=")
        name = name or Path(folder).name
        if name in encoders:
            raise QuadpredError(f"--encoder {item}: the name {name} is given twice; name them NAME=DIR")
        encoders[name] = folder
    clips = [clip for manifest in args.manifests for clip in read_manifest(manifest)]
    run_probe(clips, FeatureStore.open(args.features, kind="logmel"), encoders, args.output, seed=args.seed,
              device=args.device)
    print((Path(args.output) / "probe.md").read_text())
    print(f"probe: {Path(args.output) / 'probe.json'}")


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import Predictor, predict_files, resolve_model

    if args.model:
        if args.speech or args.music or args.fast:
            raise QuadpredError("give --model DIR or --speech/--music/--fast (a shipped model), not both")
        folders = [folder for name in args.model for folder in resolve_model(name)]
        predictor = Predictor.from_dirs(folders, device=args.device, hop_seconds=args.hop, precision=args.precision)
    else:
        predictor = Predictor.shipped(args.speech or "eng", args.music or "eng", fast=args.fast, device=args.device,
                                      hop_seconds=args.hop, precision=args.precision)
    result = predict_files(predictor, args.inputs, args.output, force=args.force, no_overwrite=args.no_overwrite,
                           progress=not args.quiet, plot=not args.no_plot, page=not args.no_html,
                           embeddings=args.embeddings,
                           limits=_read_limits(args))
    report = sys.stderr if args.json else sys.stdout  # with --json, stdout holds only the JSON lines
    for row in result.rows if args.json else []:
        print(json.dumps(row))
    print(f"predict: {result.done} file(s) done, {result.skipped_existing} already there (--force redoes them), "
          f"{len(result.failed)} skipped (unreadable or over a limit); summary {result.summary}"
          + (f"; listen: {result.page}" if result.page else ""), file=report)
    for path, reason in result.failed.items():
        print(f"  skipped {path}: {reason}", file=report)
    return 1 if result.failed else 0


def cmd_models(args: argparse.Namespace) -> None:
    from .predict import SHIPPED_MODELS, shipped_models

    print("| name | members | stage | speech | training clips | song-level quadrant F | estimated by |")
    print("|---|---|---|---|---|---|---|")
    for m in shipped_models():
        score = f"{m['song_f1']:.3f}" if m["song_f1"] is not None else "-"
        print(f"| {m['name']} | {m['members']} | {m['stage']} | {m['speech']} | {m['clips']} | {score} | "
              f"{m['estimated_by']} |")
    print(f"\nIn {SHIPPED_MODELS}; each folder's TERMS.md gives its data and terms (research use only). "
          "`quadpred predict --model NAME` or `--speech LANG` uses one; docs/results.md says how they were chosen.")


def cmd_export(args: argparse.Namespace) -> None:
    from .export import export_onnx, onnx_difference

    if not args.onnx:
        raise QuadpredError("name the format: --onnx")
    out = Path(args.output) if args.output else Path(args.model) / "model.onnx"
    _refuse_overwrite(out, args.force)
    export_onnx(args.model, out)
    try:
        gap = onnx_difference(args.model, out)
        print(f"exported {out}; ONNX Runtime agrees with PyTorch to {gap:.1e}")
    except QuadpredError as exc:
        print(f"exported {out}; not checked: {exc}")


def cmd_agreement(args: argparse.Namespace) -> None:
    from .agreement import read_ratings, synthetic_ratings, write_agreement, write_ratings_csv

    out = Path(args.output)
    if args.synthetic:
        if args.ratings:
            raise QuadpredError("give RATINGS.csv or --synthetic, not both")
        ratings = synthetic_ratings(seed=args.seed)
        print(f"synthetic ratings: {write_ratings_csv(ratings, out / 'synthetic_ratings.csv')}")
    elif args.ratings:
        ratings = read_ratings(args.ratings)
    else:
        raise QuadpredError("give a ratings CSV (columns rater, group, item, emotion, rating) or --synthetic")
    files = write_agreement(ratings, out, samples=args.bootstrap, seed=args.seed)
    print(files["markdown"].read_text())
    print(f"agreement: {files['json']}, figure {files['figure']}")


def _add_training(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", help="manifest file(s) from `quadpred prepare` (several: their union)")
    parser.add_argument("--features", required=True, help="feature store root from `quadpred features`")
    parser.add_argument("-o", "--output", required=True, help="output folder (a model directory per stage)")
    _add_run_settings(parser)
    parser.add_argument("--tune", type=int, default=0, metavar="N",
                        help="choose lr and its decay by Bayesian optimisation (Optuna) over N runs")
    _add_device(parser)
    parser.add_argument("--force", action="store_true", help="discard a finished or different run in the folder")


def _add_run_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="JSON file of run settings ({'model': {...}, 'train': {...}})")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a setting, e.g. --set train.epochs=5 --set train.select=song-loss")


def _add_recipe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", choices=RECIPE_CHOICES, default="study",
                        help="'study' (default): the study's training (30 epochs, early stopping on the validation "
                             "chunk loss, patience 5); 'cv': the recipe cross-validation chose on 4Q-Emotion "
                             "(8 epochs of at most 180 batches, lr 3e-4, cosine decay, the last 4 epochs' weights "
                             "averaged; a network from random weights standardises its inputs). "
                             "--config and --set apply on top")


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")


def _add_workers(parser: argparse.ArgumentParser, help: str = "processes (default: all cores)") -> None:
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1), help=help)


def _add_cells(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--cells", type=_positive_int, metavar="N",
                        help=f"training runs at a time, each in its own process with cores/N threads; small "
                             f"networks train faster side by side than on all cores one after another ({default})")


def _add_read_limits(p: argparse.ArgumentParser) -> None:
    from .audio import MAX_HOURS, READ_GRACE, SECONDS_PER_HOUR

    p.add_argument("--max-hours", type=_positive_float, default=MAX_HOURS,
                   help=f"skip recordings longer than this (default {MAX_HOURS:g}); bounds each file's memory "
                        "(predict peaked at 1.5 GB for 1 hour, 2.0 GB for 2 hours)")
    p.add_argument("--file-timeout", type=float, default=SECONDS_PER_HOUR, metavar="SECONDS",
                   help=f"skip a file whose decoding and features take longer than {READ_GRACE:g} s plus this "
                        f"many seconds per hour of its audio (default {SECONDS_PER_HOUR:g}; 0: no limit), so that "
                        "one damaged file cannot stall a batch")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _read_limits(args: argparse.Namespace) -> ReadLimits:
    from .audio import ReadLimits

    return ReadLimits(hours=args.max_hours, seconds_per_hour=args.file_timeout if args.file_timeout > 0 else None)


def _add_prepare(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred prepare`."""
    from .corpora import CORPORA

    p = sub.add_parser("prepare", parents=[common], help="read a corpus folder or table into a JSONL manifest with splits",
                       description="Read a corpus in its own layout and write a manifest: one clip per line with "
                                   "path, duration, language, labels, group (speaker/song/artist) and split. Speech "
                                   "is split 85/15 train/valid by speaker; music 70/30 train/test stratified by "
                                   "quadrant, with 15 % of train as valid, by group.")
    p.add_argument("corpus", choices=sorted(CORPORA), help="the corpus layout")
    p.add_argument("root", help="the corpus folder (or, for table/ch818, the CSV file)")
    p.add_argument("-o", "--output", required=True, help="manifest file to write (.jsonl)")
    p.add_argument("--hours", type=float, help="sample clips at random up to this many hours (the study: 7.5 / 3)")
    p.add_argument("--language", help="language code of the clips (default: the corpus's, e.g. eng, man)")
    p.add_argument("--group-by", choices=("song", "artist"), help="4q only: keep songs or artists on one side")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling and splits (default 0)")
    p.add_argument("--keep-splits", action="store_true", help="table only: keep the splits the table gives")
    p.add_argument("--allow-outside", action="store_true",
                   help="table/ch818 only: accept audio files outside the table's folder (absolute or ../ paths)")
    p.add_argument("--force", action="store_true", help="overwrite the manifest if it exists")
    p.set_defaults(func=cmd_prepare)


def _add_features(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred features`."""
    p = sub.add_parser("features", parents=[common], help="compute log-mel features of manifests into a feature store",
                       description="Decode every clip, compute the published log-mel (16 kHz, window 1024, hop 512, "
                                   "FFT 2048, 128 Slaney mels, natural log) and store one array per clip under "
                                   "OUTPUT/<config hash>/. Re-running finishes an interrupted run; unreadable clips "
                                   "are reported and skipped.")
    p.add_argument("manifests", nargs="+", help="manifest file(s) from `quadpred prepare`")
    p.add_argument("-o", "--output", required=True, help="feature store root folder")
    _add_workers(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a feature setting, e.g. --set n_mels=64 --set store_dtype=float16")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask cluster (e.g. tcp://scheduler:8786); its workers need quadpred and the "
                        "audio and store paths")
    p.add_argument("--handcrafted", action="store_true",
                   help="openSMILE IS13 features of the DAE baseline (260 per 0.5 s) instead of log-mels")
    _add_read_limits(p)
    p.set_defaults(func=cmd_features)


def _add_synth(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred synth`."""
    p = sub.add_parser("synth", parents=[common], help="write the built-in bilingual world (speech and labelled music)",
                       description="Generate English and Mandarin read speech (eSpeak NG) in the LibriSpeech and "
                                   "AISHELL-1 layouts, and emotion-labelled music with sung lines in a 4Q-Emotion-"
                                   "like English set and a CH-818-like Mandarin set, with a data card. Synthetic "
                                   "data for checking the pipeline, not a substitute for the real corpora.")
    p.add_argument("output", help="folder to write the world into")
    p.add_argument("--scale", choices=("tiny", "small", "paper"), default="small",
                   help="tiny: seconds, for tests; small: the demo; paper: the study's hours")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, byte-identical files)")
    _add_workers(p)
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    p.set_defaults(func=cmd_synth)


def _add_demo(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred demo`."""
    p = sub.add_parser("demo", parents=[common], help="run the whole study on the built-in world and say where everything is",
                       description="Build the small synthetic world (once; cached), prepare English and Mandarin "
                                   "speech and music manifests with the study's splits, extract their features, run "
                                   "the language grid (eng/man/mix speech x eng/man music; baseline, SCAE feat-ext "
                                   "and full, CPC; 2 repeats), write the table and report, and predict a generated "
                                   "four-section song with the four language-pair models. 5-7 minutes on 2 cores; "
                                   "re-running reuses what is done.")
    p.add_argument("-o", "--output", default="demo-out", help="folder for everything (default: ./demo-out)")
    p.add_argument("--scale", choices=("tiny", "small", "paper"), default="small", help="world size (default small)")
    p.add_argument("--seed", type=int, default=0, help="seed of the world and the splits")
    p.add_argument("--repeats", type=int, default=2, help="repeats of each grid cell (default 2)")
    _add_cells(p, "default: one per core up to 4 on a CPU, 1 on a GPU")
    p.add_argument("--epochs", type=int, default=6, help="most epochs of each training run (default 6)")
    p.add_argument("--data-only", action="store_true", help="stop after the features")
    _add_workers(p)
    p.set_defaults(func=cmd_demo)


def _add_pretrain(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred pretrain`."""
    p = sub.add_parser("pretrain", parents=[common], help="pretrain an encoder on speech (SCAE denoising autoencoder or CPC)",
                       description="Pretrain on the train split of speech manifests (several languages make the "
                                   "follow-up study's mixture), with early stopping on the valid split. SCAE: "
                                   "Gaussian noise (sd 0.3) on the input, MSE to the clean input, Adam lr 1e-3. "
                                   "CPC: GRU context over 1-s segment codes predicts future codes (InfoNCE, or "
                                   "--set model.cpc.objective=binary). Writes a self-describing model directory; "
                                   "re-running resumes an interrupted run.")
    _add_training(p)
    p.add_argument("--method", choices=PRETRAINING_CHOICES, default="scae",
                   help="pretraining method (default scae; dae: the LSTM baseline, on `features --handcrafted`)")
    p.set_defaults(func=cmd_pretrain)


def _add_transfer(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred transfer`."""
    p = sub.add_parser("transfer", parents=[common], help="train the emotion model on labelled music, from a pretrained encoder",
                       description="Stage feat-ext: the pretrained encoder frozen, dense layers and the quadrant/"
                                   "arousal/valence heads trained (lr 1e-4). Stage full: everything trained on "
                                   "from feat-ext (lr 5e-4). --baseline: the same network from random weights on "
                                   "music only. Writes OUTPUT/<stage>/ model directories with metrics.json "
                                   "(chunk- and song-level scores on valid and test).")
    _add_training(p)
    p.add_argument("--encoder", help="model directory from `quadpred pretrain`")
    p.add_argument("--baseline", action="store_true", help="train from random initialisation (no encoder)")
    p.add_argument("--stages", default="feat-ext,full", help="stages in order (default feat-ext,full)")
    p.add_argument("--teachers", nargs="+", metavar="MODEL_DIR",
                   help="distillation: transfer model directories trained on the same training clips; every stage "
                        "also learns their mean probabilities, weighted by train.distil (e.g. --set train.distil=0.5)")
    _add_recipe(p)
    p.set_defaults(func=cmd_transfer)


def _add_cv(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred cv`."""
    p = sub.add_parser("cv", parents=[common], help="cross-validate a method or recipe on labelled music, by artist",
                       description="k-fold cross-validation on labelled music: folds grouped by artist (the "
                                   "manifest's group) and stratified by quadrant; each fold's songs held out once, "
                                   "the others training the model (15 % of them, by artist, validating its epochs; "
                                   "--valid-share 0 trains on all of them where the recipe averages weights). "
                                   "Methods: baseline (random initialisation), feat-ext or full (from --encoder), "
                                   "the hand-crafted references egemaps-svm, egemaps-logreg, compare-svm, "
                                   "compare-logreg (openSMILE functionals of each clip), music-svm, music-logreg "
                                   "(librosa's key, mode, tempo, dynamics and timbre descriptors), and the probes "
                                   "probe-svm, probe-logreg (the frozen --encoder's embeddings of each clip, "
                                   "pooled; --encoder random for random weights). Writes OUTPUT/folds.json, "
                                   "OUTPUT/fold<k>/ (model directories: an ensemble for `predict --model`), "
                                   "OUTPUT/cv.json and cv.md (song-level macro F and log-loss per fold, mean, sd, "
                                   "pooled out-of-fold F with a 95 % song-bootstrap interval). Resumable.")
    p.add_argument("manifests", nargs="+", help="labelled music manifest(s) from `quadpred prepare`")
    p.add_argument("-o", "--output", required=True, help="output folder of the cross-validation")
    p.add_argument("--method", required=True, choices=CV_CHOICES)
    p.add_argument("--features", help="feature store root (network methods and probes)")
    p.add_argument("--encoder", help="pretrained model directory (feat-ext, full, probes), or 'random' (probes)")
    p.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    p.add_argument("--valid-share", type=float, default=0.15,
                   help="networks: share of each fold's training artists held out to validate the epochs (default "
                        "0.15); 0 trains on all of them, allowed where the recipe averages the last epochs' weights "
                        "and so chooses no epoch (--recipe cv)")
    p.add_argument("--train-fraction", type=float, default=1.0,
                   help="share of each fold's training artists to use at all (default 1: all); the rest are left "
                        "out, stratified by quadrant and seeded per fold, while the held-out songs stay the same: "
                        "run 0.25, 0.5, 1 for a learning curve (scripts/learning_curve.py)")
    p.add_argument("--keep-epochs", action="store_true",
                   help="networks: keep every epoch's weights (fold<k>/<stage>/epochs/), to score how the epoch is "
                        "chosen (scripts/epoch_rules.py); about 25 MB an epoch for the study's CNN")
    p.add_argument("--teachers", nargs="+", metavar="CV_DIR",
                   help="distillation: network cross-validations on the same folds; each fold's network also "
                        "learns their fold models' mean probabilities, weighted by train.distil (e.g. "
                        "--set train.distil=0.5)")
    _add_run_settings(p)
    _add_recipe(p)
    _add_device(p)
    _add_workers(p, "processes computing the clip features of the hand-crafted methods (default: all cores)")
    p.set_defaults(func=cmd_cv)


def _add_probe(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred probe`."""
    p = sub.add_parser("probe", parents=[common], help="what frozen speech encoders know about emotion, per language",
                       description="The speech-emotion probe: each --encoder's frozen outputs, averaged over frames "
                                   "and pooled over each utterance's chunks (mean and sd), read by a logistic "
                                   "regression (C by an inner speaker-grouped CV) for quadrant, arousal and valence. "
                                   "Within a language: leave-speakers-out folds; across languages: trained on all "
                                   "of one, tested on the other. Neutral utterances (no quadrant) are left out. "
                                   "Writes OUTPUT/probe.json and probe.md (macro F with 95 % utterance-bootstrap "
                                   "intervals) and caches the embeddings there.")
    p.add_argument("manifests", nargs="+", help="manifest(s) of `quadpred prepare emotional-speech`")
    p.add_argument("--features", required=True, help="feature store root holding their log-mels")
    p.add_argument("--encoder", action="append", required=True, metavar="[NAME=]DIR",
                   help="a pretrained model directory, 'random' (random weights: the floor) or 'egemaps' / "
                        "'compare' (openSMILE functionals: the hand-crafted reference); repeated")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds, bootstrap and random encoder (default 0)")
    _add_device(p)
    p.set_defaults(func=cmd_probe)


def _add_experiment(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred experiment`."""
    p = sub.add_parser("experiment", parents=[common], help="run the study's grid (speech x music language x method x repeat)",
                       description="Run every unfinished cell of an experiment grid into OUTPUT, then write the "
                                   "report. CONFIG is JSON: {'speech': {'eng': [manifests], 'man': [...]}, 'music': "
                                   "{...}, 'mix': ['eng', 'man'], 'methods': ['baseline', 'scae-feat-ext', "
                                   "'scae-full', 'cpc-feat-ext', 'cpc-full', 'dae-classifier', 'dae-sparsity'], 'repeats': 4, "
                                   "'pretrain_once': false, 'pretrain': {'train': {...}}, 'transfer': {...}, "
                                   "'features_root': 'store'}. --preset paper reproduces the study's design on your "
                                   "manifests; --preset demo runs on the built-in world; --preset real runs the "
                                   "study on ../shared/data (speech pretrained once, 4 repeats of every transfer). "
                                   "A failed cell is reported and the others go on; re-running does only what is "
                                   "missing.")
    p.add_argument("config", nargs="?", help="experiment config (JSON)")
    p.add_argument("-o", "--output", required=True, help="folder for the runs and the report")
    p.add_argument("--preset", choices=PRESET_CHOICES, help="a ready-made grid instead of CONFIG")
    p.add_argument("--data", help="real preset: the folder of real recordings (../shared/data)")
    p.add_argument("--speech", action="append", metavar="LANG=MANIFEST", help="paper preset: a speech manifest")
    p.add_argument("--music", action="append", metavar="LANG=MANIFEST", help="paper preset: a music manifest")
    p.add_argument("--features", help="paper (and real) preset: the feature store root")
    p.add_argument("--scale", choices=("tiny", "small"), default="small", help="demo preset: world size")
    p.add_argument("--seed", type=int, default=0, help="demo preset: seed of the world")
    p.add_argument("--recipe", choices=REAL_RECIPE_CHOICES, default="short",
                   help="real preset: 'short' (default; at most 5 epochs, stopped on the validation chunk loss: the "
                        "grid of docs/results.md) or 'cv' (the recipe chosen by cross-validation, the same for every "
                        "method: 8 epochs of at most 180 batches, cosine decay, the last 4 epochs' weights averaged; "
                        "about 4x the training)")
    p.add_argument("--repeats", type=int, help="override the number of repeats")
    _add_cells(p, "default: as the demo for --preset demo, else 1: the networks of the paper and real grids use "
                  "all cores well")
    p.add_argument("--paper", action="store_true", help="put the paper's published numbers beside ours")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and stop")
    _add_device(p)
    _add_workers(p)
    p.set_defaults(func=cmd_experiment)


def _add_report(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred report`."""
    p = sub.add_parser("report", parents=[common], help="rebuild the tables, figures and HTML report of an experiment folder",
                       description="Read the run folders of `quadpred experiment` (metrics.json, test predictions, "
                                   "histories) and write report/results.{md,csv,json}, figures and report.html: Table II per level, "
                                   "the paired song-bootstrap tests of intra- vs cross-linguistic transfer and of "
                                   "each transfer cell against the baseline (each family Holm-adjusted), the "
                                   "weights each cell kept beside the epoch its validation liked best, the "
                                   "repeats' ensembles.")
    p.add_argument("runs", help="the experiment's output folder")
    p.add_argument("--paper", action="store_true", help="put the paper's published numbers beside ours")
    p.set_defaults(func=cmd_report)


def _add_predict(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred predict`."""
    p = sub.add_parser("predict", parents=[common], help="per-second quadrant, arousal and valence of audio files",
                       description="Predict every file given, and every audio file found below a given folder "
                                   "(recursively). Per file: NAME.csv (one row per step of 0.992 s, 31 STFT frames: "
                                   "probabilities of each quadrant (Q1 happy/excited, Q2 angry/tense, Q3 "
                                   "sad/depressed, Q4 calm/relaxed), of negative/positive arousal and valence, top "
                                   "quadrant), NAME.json (the same with the clip means, label order, model, version "
                                   "and settings), NAME.npy (quadrant probabilities, as the published tool) and "
                                   "NAME.png (the tag-gram and the path through Russell's arousal-valence plane); "
                                   "OUTPUT/summary.csv for every file predicted into OUTPUT, and OUTPUT/index.html, "
                                   "the listening page (open it from disk). Unreadable files are reported and "
                                   "skipped. A file already predicted by the same model and settings is kept "
                                   "(resumable); one made otherwise is redone "
                                   "(or refused with --no-overwrite); --force redoes all. Long files are read in "
                                   "blocks with bounded memory. Exit status: 0 when every file was predicted (or "
                                   "kept), 1 when some were skipped or on an error, 2 for a usage error.")
    p.add_argument("inputs", nargs="+", help="audio files and/or folders")
    p.add_argument("-o", "--output", required=True, help="folder for the outputs")
    p.add_argument("--model", action="append", metavar="DIR",
                   help="a transfer model directory (from `quadpred transfer`, `experiment` or `cv`), a folder "
                        "of member<k>/ model directories (an ensemble, laid out as shipped ones) or a "
                        "shipped model's name (`quadpred models`); repeated "
                        "(--model A --model B ...): their ensemble, the mean of their probabilities (e.g. the 4 "
                        "repeats of one method)")
    p.add_argument("--speech", choices=("eng", "man", "mix"), help="shipped model: pretraining speech language")
    p.add_argument("--music", choices=("eng", "man"), help="shipped model: music language it was trained on")
    p.add_argument("--hop", type=float, help="seconds between predictions (default: the model's, 0.992 s)")
    p.add_argument("--fast", action="store_true",
                   help="a shipped ensemble's first member alone (k times faster, a little less accurate)")
    p.add_argument("--no-plot", action="store_true", help="skip the tag-gram PNGs (with the Russell-plane path)")
    p.add_argument("--embeddings", action="store_true",
                   help="also write NAME.embeddings.npy: each step's representation in the layer the three tasks "
                        "share (steps, units; an ensemble's members side by side), for clustering, search or "
                        "your own heads")
    p.add_argument("--no-html", action="store_true",
                   help="skip OUTPUT/index.html, the listening page (players with the emotion in sync, a sortable "
                        "summary; self-contained, opened from disk; the audio is referenced, not copied)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto (default): bf16 where the CPU (AVX-512-BF16/AMX) or GPU has it natively, ~2x faster "
                        "with probabilities within ~1e-2 of fp32; fp32 elsewhere, where bf16 is emulated and ~10x slower")
    _add_device(p)
    p.add_argument("--force", action="store_true", help="redo files whose outputs exist")
    p.add_argument("--json", action="store_true",
                   help="print each file's summary row as a JSON line on stdout (the totals go to stderr)")
    p.add_argument("--no-overwrite", action="store_true",
                   help="refuse, before any work, when outputs there were made by another model or settings")
    _add_read_limits(p)
    p.set_defaults(func=cmd_predict)


def _add_models(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred models`."""
    p = sub.add_parser("models", parents=[common], help="list the shipped models, their data, scores and terms",
                       description="List the models shipped with quadpred: name (for `predict --model NAME`), "
                                   "members (an ensemble's fold models), training stage, pretraining speech, "
                                   "training clips, held-out song-level quadrant F and how it was estimated.")
    p.set_defaults(func=cmd_models)


def _add_export(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred export`."""
    p = sub.add_parser("export", parents=[common], help="export a transfer model (ONNX)",
                       description="Write MODEL as ONNX (input 'logmel' (batch, 1, 128, 31); outputs quadrant, "
                                   "arousal, valence probabilities) with its feature settings beside it, and "
                                   "check it against PyTorch with ONNX Runtime when installed.")
    p.add_argument("model", help="a transfer model directory")
    p.add_argument("--onnx", action="store_true", help="ONNX format")
    p.add_argument("-o", "--output", help="file to write (default MODEL/model.onnx)")
    p.add_argument("--force", action="store_true", help="overwrite the file")
    p.set_defaults(func=cmd_export)


def _add_agreement(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`quadpred agreement`."""
    p = sub.add_parser("agreement", parents=[common], help="listener agreement (Krippendorff's alpha) of emotion ratings",
                       description="Read long-format ratings (columns rater, group, item, emotion, rating 1-5; "
                                   "optional quadrant, lyrics (yes/no or 1-5), sophistication, familiarity, "
                                   "preference) and write Krippendorff's alpha, ordinal and interval, overall, per "
                                   "group, emotion, quadrant and lyrics comprehension, with bootstrap intervals "
                                   "over items: agreement.md/.csv/.json and agreement.png. --synthetic analyses a "
                                   "generated set with a known structure (groups of increasing noise).")
    p.add_argument("ratings", nargs="?", help="ratings CSV")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--synthetic", action="store_true", help="generate and analyse a synthetic ratings set")
    p.add_argument("--bootstrap", type=int, default=500, help="bootstrap resamplings of the units (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of --synthetic")
    p.set_defaults(func=cmd_agreement)


SUBCOMMANDS = (_add_prepare, _add_features, _add_synth, _add_demo, _add_pretrain, _add_transfer, _add_cv, _add_probe,
               _add_experiment, _add_report, _add_predict, _add_models, _add_export, _add_agreement)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quadpred",
        description="Music emotion recognition (Russell quadrants, arousal, valence) with features "
                    "learned from speech, language-aware. Each subcommand is one step of the pipeline; "
                    "`quadpred SUBCOMMAND --help` explains it.",
        epilog="Exit status: 0 when everything asked for was done, 1 on an error (one line on stderr saying what "
               "and how to fix it) or when `predict` or `features` skipped some inputs, 2 for a usage error, "
               "130 when interrupted (run the same command again to resume). Memory: each command keeps what "
               "PyTorch frees for its next batch (glibc only; faster on whole songs, ~15 % more peak memory); "
               "QUADPRED_MALLOC=system keeps glibc's defaults.",
    )
    parser.add_argument("--version", action="version", version=f"quadpred {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print more detail")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info lines")
    # the same two flags after the subcommand; SUPPRESS keeps the top-level value when absent there
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="print more detail")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars or info lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for add in SUBCOMMANDS:  # in the order `--help` lists them
        add(sub, common)
    return parser


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"quadpred: {record.levelname.lower()}: {record.getMessage()}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a user error, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # PyTorch's freed buffers reused, not faulted in again (allocator.py)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    log.propagate = False
    try:
        status = args.func(args)
    except QuadpredError as exc:
        print(f"quadpred: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a folder without write permission, ...: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"quadpred: error: {exc.strerror or exc}{where}; check the path and free space", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("quadpred: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return status or 0
