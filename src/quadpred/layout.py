"""Names and folders of the study's grid, written and read in one place.

A *setting* is a language pair, "<speech>2<music>" (speech pretrained on, music transferred
to; "mix" is the follow-up study's mixture of speech languages), or "baseline-<music>" for
the network from random weights. Inside an experiment folder:

    pretrain/<family>-<speech>/r<k>/                    pretrained encoders (family: scae, cpc, dae-...)
    transfer/<speech>2<music>/<family>/r<k>/<stage>/    transfer models (stage: feat-ext, full)
    transfer/baseline-<music>/r<k>/baseline/            the baseline
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import NamedTuple

from .errors import ConfigError


class Setting(NamedTuple):
    """A cell of the grid: the speech language of the pretraining (None: the baseline) and the music's."""

    speech: str | None
    music: str

    @classmethod
    def parse(cls, name: str) -> Setting:
        """'eng2man' -> Setting('eng', 'man'); 'baseline-eng' -> Setting(None, 'eng')."""
        if name.startswith("baseline-") and len(name) > len("baseline-"):
            return cls(None, name[len("baseline-"):])
        speech, two, music = name.partition("2")
        if not (speech and two and music) or "2" in music:
            raise ConfigError(f"setting {name!r}: write <speech>2<music> (e.g. eng2man) or baseline-<music>")
        return cls(speech, music)

    def __str__(self) -> str:
        return f"{self.speech}2{self.music}" if self.speech else f"baseline-{self.music}"

    @property
    def intra(self) -> bool:
        """Speech and music in the same language (the study's intra-linguistic transfer)."""
        return self.speech == self.music


def pretrain_folder(family: str, speech: str, repeat: int) -> str:
    """An encoder's folder, relative to the experiment folder."""
    return str(PurePosixPath("pretrain", f"{family}-{speech}", f"r{repeat}"))


def transfer_folder(setting: Setting, family: str | None, repeat: int) -> str:
    """A transfer run's folder (its stages are subfolders), relative to the experiment folder."""
    if setting.speech is None:
        return str(PurePosixPath("transfer", str(setting), f"r{repeat}"))
    return str(PurePosixPath("transfer", str(setting), str(family), f"r{repeat}"))
