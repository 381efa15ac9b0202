"""The built-in bilingual world: writes speech and labelled music in the real corpora's layouts.

::

    OUT/LibriSpeech/train-clean-100/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac (+ .trans.txt)
    OUT/data_aishell/wav/{train,dev}/S0xxx/BAC009S0xxxW0yyy.wav (+ transcript/aishell_transcript_v0.8.txt)
    OUT/MER_audio_taffc_dataset/Q1..Q4/MT00000xxxxx.mp3 (+ panda_dataset_taffc_{metadata,annotations}.csv)
    OUT/CH818/audio/ch0xxx.wav (+ labels.csv: file, arousal, valence, artist)
    OUT/DATA_CARD.md, OUT/data_card.json

Every file is drawn from its own generator seeded by (seed, set, index), so the same seed
gives byte-identical files whatever the number of worker processes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from ..files import map_jobs, write_text_atomic
from ..labels import QUADRANTS
from .espeak import VARIANTS, Voice, speak
from .music import SAMPLE_RATE as MUSIC_RATE
from .music import draw_cues, render
from .text import sentence

SPEECH_RATE = 16000
_SET_CODES = {"eng_speech": 1, "man_speech": 2, "eng_music": 3, "man_music": 4, "speakers": 5, "emotional_speech": 6}


@dataclasses.dataclass(frozen=True)
class Scale:
    """Sizes of one world. Speech: speakers x utterances per language; music: clips per set."""

    eng_speakers: int
    man_speakers: int
    utterances_per_speaker: int
    eng_music: int
    man_music: int
    clip_seconds: float
    vocal_share: float = 0.7
    eng_weights: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)
    man_weights: tuple[float, ...] = (0.35, 0.20, 0.15, 0.30)  # CH-818 is imbalanced


SCALES: dict[str, Scale] = {
    "tiny": Scale(eng_speakers=4, man_speakers=4, utterances_per_speaker=3, eng_music=32, man_music=24,
                  clip_seconds=4.0),
    "small": Scale(eng_speakers=16, man_speakers=16, utterances_per_speaker=8, eng_music=160, man_music=120,
                   clip_seconds=10.0),
    # The study: 7.5 h English and 3 h Mandarin speech, 900 / 356 clips of ~30 s. Utterances last
    # ~4.5 s in English and ~10 s in Mandarin (eSpeak's cmn is slow), hence 150 and 27 speakers.
    "paper": Scale(eng_speakers=150, man_speakers=27, utterances_per_speaker=40, eng_music=900, man_music=356,
                   clip_seconds=30.0),
}


def quadrant_counts(n: int, weights: tuple[float, ...]) -> list[int]:
    """Clips per quadrant for ``n`` clips and the requested shares (largest remainder)."""
    raw = np.asarray(weights, float) / sum(weights) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _rng(seed: int, name: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SET_CODES[name], index])


def speaker_voice(language: str, speaker: int, seed: int) -> Voice:
    """The fixed voice of one synthetic speaker."""
    rng = _rng(seed, "speakers", speaker + (0 if language == "eng" else 100000))
    return Voice(language=language, variant=VARIANTS[int(rng.integers(len(VARIANTS)))],
                 pitch=int(rng.integers(20, 80)), range=int(rng.integers(20, 80)), rate=int(rng.integers(130, 200)))


def _speech_job(job: dict[str, Any]) -> dict[str, Any]:
    rng = _rng(job["seed"], f"{job['language']}_speech", job["index"])
    voice = speaker_voice(job["language"], job["speaker"], job["seed"])
    text = " ".join(sentence(job["language"], rng) for _ in range(int(rng.integers(1, 3))))
    speech, rate = speak(text, voice)
    speech = soxr.resample(speech, rate, SPEECH_RATE).astype(np.float32)
    pad = lambda: np.zeros(int(rng.uniform(0.1, 0.4) * SPEECH_RATE), np.float32)  # noqa: E731
    signal = np.concatenate([pad(), speech, pad()])
    noise_level = np.std(speech) * 10 ** (-float(rng.uniform(30, 45)) / 20)
    room = np.convolve(rng.standard_normal(len(signal)), np.ones(8) / 8, mode="same")  # dull room noise
    signal = np.clip(signal + noise_level * room.astype(np.float32), -1, 1)
    path = Path(job["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal, SPEECH_RATE, format=job["format"], subtype="PCM_16")
    return {"text": text, "duration": len(signal) / SPEECH_RATE, "voice": dataclasses.asdict(voice)}


def _music_job(job: dict[str, Any]) -> dict[str, Any]:
    rng = _rng(job["seed"], f"{job['language']}_music", job["index"])
    cues = draw_cues(job["quadrant"], rng, vocal_share=job["vocal_share"])
    seconds = job["seconds"] * float(rng.uniform(0.9, 1.1))
    signal = render(cues, seconds, job["language"], rng)
    path = Path(job["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp3":
        sf.write(path, signal, MUSIC_RATE, format="MP3", subtype="MPEG_LAYER_III")
    else:
        sf.write(path, signal, MUSIC_RATE, subtype="PCM_16")
    return {"cues": dataclasses.asdict(cues), "duration": seconds}


def _run(job: dict[str, Any]) -> dict[str, Any]:
    return (_music_job if job["kind"] == "music" else _speech_job)(job)


def _speech_jobs(out: Path, language: str, speakers: int, per_speaker: int, seed: int) -> list[dict[str, Any]]:
    jobs = []
    for s in range(speakers):
        for u in range(per_speaker):
            index = s * per_speaker + u
            if language == "eng":
                spk, chapter = 100 + s, 1000 + s
                path = out / "LibriSpeech" / "train-clean-100" / str(spk) / str(chapter) / f"{spk}-{chapter}-{u:04d}.flac"
                fmt = "FLAC"
            else:
                spk_id = f"S{2 + s:04d}"
                subset = "dev" if s % 7 == 6 else "train"
                path = out / "data_aishell" / "wav" / subset / spk_id / f"BAC009{spk_id}W{u + 1:04d}.wav"
                fmt = "WAV"
            jobs.append(dict(kind="speech", language=language, speaker=s, index=index, seed=seed, path=str(path),
                             format=fmt))
    return jobs


def _music_jobs(out: Path, language: str, n: int, weights: tuple[float, ...], scale: Scale, seed: int
                ) -> list[dict[str, Any]]:
    quadrants = [q for q, count in zip(QUADRANTS, quadrant_counts(n, weights)) for _ in range(count)]
    jobs = []
    for index, quadrant in enumerate(quadrants):
        if language == "eng":
            path = out / "MER_audio_taffc_dataset" / quadrant / f"MT{index + 1:010d}.mp3"
        else:
            path = out / "CH818" / "audio" / f"ch{index + 1:04d}.wav"
        jobs.append(dict(kind="music", language=language, quadrant=quadrant, index=index, seed=seed, path=str(path),
                         seconds=scale.clip_seconds, vocal_share=scale.vocal_share))
    return jobs


def build_world(out: str | Path, *, scale: str = "small", seed: int = 0, workers: int = 1,
                progress: bool = True) -> Path:
    """Write the whole world under ``out``; returns the data card's path."""
    out = Path(out)
    sizes = SCALES[scale]
    jobs = (_speech_jobs(out, "eng", sizes.eng_speakers, sizes.utterances_per_speaker, seed)
            + _speech_jobs(out, "man", sizes.man_speakers, sizes.utterances_per_speaker, seed)
            + _music_jobs(out, "eng", sizes.eng_music, sizes.eng_weights, sizes, seed)
            + _music_jobs(out, "man", sizes.man_music, sizes.man_weights, sizes, seed))
    results = list(map_jobs(_run, jobs, workers=workers, desc=f"synthetic world ({scale})", unit="file",
                            progress=progress))
    _write_tables(out, jobs, results, seed)
    return _write_card(out, scale, seed, jobs, results)


def _write_tables(out: Path, jobs: list[dict], results: list[dict], seed: int) -> None:
    chapters: dict[Path, list[str]] = {}
    aishell_lines = []
    for job, result in zip(jobs, results):
        path = Path(job["path"])
        if job["kind"] == "speech" and job["language"] == "eng":
            chapters.setdefault(path.parent, []).append(f"{path.stem} {result['text'].upper()}")
        elif job["kind"] == "speech":
            aishell_lines.append(f"{path.stem} {result['text']}")
    for folder, lines in chapters.items():
        spk, chapter = folder.parent.name, folder.name
        write_text_atomic(folder / f"{spk}-{chapter}.trans.txt", "\n".join(lines) + "\n")
    write_text_atomic(out / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt",
                      "\n".join(sorted(aishell_lines)) + "\n")

    music = [j for j in jobs if j["kind"] == "music"]
    set_sizes = {language: sum(j["language"] == language for j in music) for language in ("eng", "man")}
    fourq_rows, ch_rows = [], []
    for job in music:
        rng = _rng(seed, f"{job['language']}_music", 10**6 + job["index"])
        artist = f"Synthetic Artist {int(rng.integers(max(2, set_sizes[job['language']] // 2))):03d}"
        stem = Path(job["path"]).stem
        if job["language"] == "eng":
            fourq_rows.append({"Song": stem, "Artist": artist, "Title": f"Generated piece {job['index'] + 1}",
                               "Quadrant": job["quadrant"], "PQuad": "1", "MoodsTotal": "0", "Moods": "0",
                               "MoodsFoundStr": "", "MoodsStr": "", "MoodsStrSplit": "", "Genres": "1",
                               "GenresStr": "Synthetic", "Sample": "1", "SampleURL": ""})
        else:
            q = job["quadrant"]
            arousal = float(rng.uniform(0.5, 9.5)) * (1 if q in ("Q1", "Q2") else -1)
            valence = float(rng.uniform(0.5, 9.5)) * (1 if q in ("Q1", "Q4") else -1)
            ch_rows.append({"file": f"audio/{stem}.wav", "arousal": f"{arousal:.2f}", "valence": f"{valence:.2f}",
                            "artist": artist})
    if fourq_rows:
        root = out / "MER_audio_taffc_dataset"
        _write_csv(root / "panda_dataset_taffc_metadata.csv", fourq_rows, quote_all=True)
        _write_csv(root / "panda_dataset_taffc_annotations.csv",
                   [{"Song": r["Song"], "Quadrant": r["Quadrant"]} for r in fourq_rows], quote_all=True)
    if ch_rows:
        _write_csv(out / "CH818" / "labels.csv", ch_rows, quote_all=False)


def _write_csv(path: Path, rows: list[dict[str, str]], *, quote_all: bool) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def cue_table(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """quadrant -> cue -> {mean, sd} over the music clips (booleans as shares)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    cues = [r["cues"] for r in results if "cues" in r]
    for q in QUADRANTS:
        rows = [c for c in cues if c["quadrant"] == q]
        if not rows:
            continue
        table[q] = {}
        for name in rows[0]:
            if name in ("quadrant", "timbre"):
                continue
            values = np.array([float(r[name]) for r in rows])
            table[q][name] = {"mean": round(float(values.mean()), 3), "sd": round(float(values.std()), 3)}
    return table


def _write_card(out: Path, scale: str, seed: int, jobs: list[dict], results: list[dict]) -> Path:
    def hours(kind: str, language: str) -> float:
        return round(sum(r["duration"] for j, r in zip(jobs, results)
                         if j["kind"] == kind and j["language"] == language) / 3600, 3)

    def count(kind: str, language: str) -> dict[str, int] | int:
        chosen = [j for j in jobs if j["kind"] == kind and j["language"] == language]
        if kind == "speech":
            return len(chosen)
        return {q: sum(j["quadrant"] == q for j in chosen) for q in QUADRANTS}

    cues = cue_table(results)
    card = {
        "statement": "Synthetic data for checking the quadpred pipeline end to end. It is not a substitute for "
                     "LibriSpeech, AISHELL-1, 4Q-Emotion or CH-818, and no finding about real speech or music may "
                     "be drawn from it.",
        "scale": scale, "seed": seed, "sizes": dataclasses.asdict(SCALES[scale]),
        "speech": {"eng": {"utterances": count("speech", "eng"), "hours": hours("speech", "eng")},
                   "man": {"utterances": count("speech", "man"), "hours": hours("speech", "man")}},
        "music": {"eng": {"clips": count("music", "eng"), "hours": hours("music", "eng")},
                  "man": {"clips": count("music", "man"), "hours": hours("music", "man")}},
        "cues_per_quadrant": cues,
    }
    write_text_atomic(out / "data_card.json", json.dumps(card, indent=1) + "\n")
    lines = [
        "# Data card: quadpred's synthetic bilingual world", "",
        f"**{card['statement']}**", "",
        f"Scale `{scale}`, seed {seed}. Same seed, byte-identical files.", "",
        "## What was generated, and how", "",
        f"- English read speech, LibriSpeech layout (`LibriSpeech/train-clean-100`): "
        f"{card['speech']['eng']['utterances']} utterances, {card['speech']['eng']['hours']} h.",
        f"- Mandarin read speech, AISHELL-1 layout (`data_aishell`): {card['speech']['man']['utterances']} "
        f"utterances, {card['speech']['man']['hours']} h.",
        "- Speech: eSpeak NG (library and data from the PyPI package espeakng-loader), voices `en-us` and `cmn` "
        "with voice variants, pitch, pitch range and rate drawn per speaker; sentences from word lists and "
        "grammars written for quadpred; silence and low room noise (SNR 30-45 dB); 16 kHz, 16 bit.",
        f"- English music, 4Q-Emotion layout (`MER_audio_taffc_dataset`, mp3, 22.05 kHz): clips per quadrant "
        f"{card['music']['eng']['clips']}, {card['music']['eng']['hours']} h.",
        f"- Mandarin music, CH-818-like table (`CH818/labels.csv`, arousal/valence in [-10, 10]): clips per "
        f"quadrant {card['music']['man']['clips']}, {card['music']['man']['hours']} h.",
        "- Music: numpy synthesis of melody (additive timbres: pluck, pad, organ, bell), chords, bass and drums, "
        "with quadrant cues drawn from overlapping ranges (below); a share "
        f"({SCALES[scale].vocal_share:.0%}) of clips carries a spoken/chanted vocal line in the set's language "
        "with quadrant-dependent rate, pitch and pitch range; tanh saturation for loudness and distortion.", "",
        "## Cues per quadrant (mean ± sd over the clips)", "",
        "| cue | " + " | ".join(cues) + " |", "|---|" + "---|" * len(cues),
    ]
    names = next(iter(cues.values())).keys() if cues else []
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{cues[q][name]['mean']:.2f} ± {cues[q][name]['sd']:.2f}"
                                                 for q in cues) + " |")
    lines += ["", "tempo in BPM; loudness in dB before saturation; register as MIDI note of the melody's centre; "
              "major and vocal are shares of clips; the other cues are in [0, 1].", ""]
    path = out / "DATA_CARD.md"
    write_text_atomic(path, "\n".join(lines))
    return path
