"""The ``quadpred`` command: subcommands, each a thin call into the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import QuadpredError

log = logging.getLogger("quadpred")


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


def cmd_features(args: argparse.Namespace) -> None:
    from .config import FeatureConfig, apply_overrides
    from .manifest import read_manifest
    from .store import FeatureStore, extract, store_summary

    config = apply_overrides(FeatureConfig(), args.set or [])
    clips = [clip for manifest in args.manifests for clip in read_manifest(manifest)]
    result = extract(clips, args.output, config, workers=args.workers, progress=not args.quiet)
    store = FeatureStore.open(args.output, config)
    print(f"features: {result.written} written, {result.skipped_existing} already there, "
          f"{len(result.failed)} unreadable; store {store.folder} holds {len(store)} clips")
    if args.verbose:
        print(json.dumps(store_summary(store), indent=1))


def cmd_synth(args: argparse.Namespace) -> None:
    from .synth import build_world

    out = Path(args.output)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise QuadpredError(f"{out} exists and is not empty: pass --force to rebuild it")
    card = build_world(out, scale=args.scale, seed=args.seed, workers=args.workers, progress=not args.quiet)
    print(f"synthetic world written to {out} (data card: {card})")


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    result = run_demo(args.output, scale=args.scale, seed=args.seed, workers=args.workers, progress=not args.quiet)
    print(f"demo done: world {result.world}, manifests {result.manifests['music_eng'].parent}, store {result.store}")
    print("Pretraining, transfer, the language grid and prediction join this demo as they are built "
          "(see docs/ARCHITECTURE.md, 'Status').")


def _add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1),
                        help="processes (default: all cores)")


def build_parser() -> argparse.ArgumentParser:
    from .corpora import CORPORA

    parser = argparse.ArgumentParser(
        prog="quadpred",
        description="Music emotion recognition (Russell quadrants, arousal, valence) with features "
                    "learned from speech, language-aware. Each subcommand is one step of the pipeline; "
                    "`quadpred SUBCOMMAND --help` explains it.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print more detail")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("prepare", help="read a corpus folder or table into a JSONL manifest with splits",
                       description="Read a corpus in its own layout and write a manifest: one clip per line with "
                                   "path, duration, language, labels, group (speaker/song/artist) and split. Speech "
                                   "is split 85/15 train/valid by speaker; music 70/30 train/test stratified by "
                                   "quadrant, with 15 %% of train as valid, by group.")
    p.add_argument("corpus", choices=sorted(CORPORA), help="the corpus layout")
    p.add_argument("root", help="the corpus folder (or, for table/ch818, the CSV file)")
    p.add_argument("-o", "--output", required=True, help="manifest file to write (.jsonl)")
    p.add_argument("--hours", type=float, help="sample clips at random up to this many hours (the study: 7.5 / 3)")
    p.add_argument("--language", help="language code of the clips (default: the corpus's, e.g. eng, man)")
    p.add_argument("--group-by", choices=("song", "artist"), help="4q only: keep songs or artists on one side")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling and splits (default 0)")
    p.add_argument("--keep-splits", action="store_true", help="table only: keep the splits the table gives")
    p.add_argument("--force", action="store_true", help="overwrite the manifest if it exists")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("features", help="compute log-mel features of manifests into a feature store",
                       description="Decode every clip, compute the published log-mel (16 kHz, window 1024, hop 512, "
                                   "FFT 2048, 128 Slaney mels, natural log) and store one array per clip under "
                                   "OUTPUT/<config hash>/. Re-running finishes an interrupted run; unreadable clips "
                                   "are reported and skipped.")
    p.add_argument("manifests", nargs="+", help="manifest file(s) from `quadpred prepare`")
    p.add_argument("-o", "--output", required=True, help="feature store root folder")
    _add_workers(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a feature setting, e.g. --set n_mels=64 --set store_dtype=float16")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("synth", help="write the built-in bilingual world (speech and labelled music)",
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

    p = sub.add_parser("demo", help="run the pipeline on the built-in world and say where everything is",
                       description="Build the small synthetic world (once; cached), prepare English and Mandarin "
                                   "speech and music manifests with the study's splits, and extract their features.")
    p.add_argument("-o", "--output", default="demo-out", help="folder for everything (default: ./demo-out)")
    p.add_argument("--scale", choices=("tiny", "small", "paper"), default="small", help="world size (default small)")
    p.add_argument("--seed", type=int, default=0, help="seed of the world and the splits")
    _add_workers(p)
    p.set_defaults(func=cmd_demo)
    return parser


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"quadpred: {record.levelname.lower()}: {record.getMessage()}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a user error, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    log.propagate = False
    try:
        args.func(args)
    except QuadpredError as exc:
        print(f"quadpred: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("quadpred: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return 0
