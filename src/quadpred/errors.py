"""Exceptions of quadpred.

Every error a user can cause derives from :class:`QuadpredError`; the command line
prints its message as one line and exits with status 1. Messages name the thing at
fault and say how to fix it.
"""


class QuadpredError(Exception):
    """Base class of every error a user can cause."""


class AudioError(QuadpredError):
    """An audio file is missing, unreadable, empty, silent or too short."""


class ConfigError(QuadpredError):
    """A configuration file or override names an unknown key or a bad value."""


class CorpusError(QuadpredError):
    """A corpus folder or table does not have the expected layout or content."""


class ManifestError(QuadpredError):
    """A manifest file is missing or has a malformed line."""


class StoreError(QuadpredError):
    """A feature store is missing, incomplete or was built with another configuration."""


class TrainingError(QuadpredError):
    """Training cannot start or go on: no data for a split, a diverging loss, a clashing run folder."""


class ModelDirError(QuadpredError):
    """A model directory is missing, incomplete or of the wrong kind."""
