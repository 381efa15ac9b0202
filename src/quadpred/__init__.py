"""quadpred: language-sensitive music emotion recognition by transfer learning from speech.

Reproduces Gómez-Cañón et al., "Transfer learning from speech to music: towards
language-sensitive emotion recognition models", EUSIPCO 2020.
"""

from .config import FeatureConfig
from .errors import QuadpredError

__version__ = "0.1.0"

__all__ = ["FeatureConfig", "QuadpredError", "__version__"]
