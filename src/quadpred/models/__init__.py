"""Models of the study, built from parts (see scae.py)."""

from .scae import SCAE, Decoder, Encoder

__all__ = ["SCAE", "Decoder", "Encoder"]
