"""Models of the study, built from parts: SCAE (scae.py), transfer heads (heads.py), CPC (cpc.py)."""

from .build import (
                    build_cpc,
                    build_dae,
                    build_dae_emotion_net,
                    build_emotion_net,
                    build_encoder,
                    build_scae,
                    emotion_net_inputs,
                    head_inputs,
                    latent_features,
                    latent_shape,
)
from .cpc import CPC, CPC_OBJECTIVES, binary_loss, infonce_loss
from .dae import DAE, DAEEmotionNet
from .heads import EmotionNet, MultiTaskHead
from .scae import SCAE, Decoder, Encoder

__all__ = [
    "CPC", "CPC_OBJECTIVES", "DAE", "DAEEmotionNet", "SCAE", "Decoder", "EmotionNet", "Encoder", "MultiTaskHead",
    "binary_loss", "build_cpc", "build_dae", "build_dae_emotion_net", "build_emotion_net", "build_encoder",
    "build_scae", "emotion_net_inputs", "head_inputs", "infonce_loss", "latent_features", "latent_shape",
]
