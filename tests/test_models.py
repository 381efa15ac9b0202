import torch

from quadpred.models import SCAE, Decoder, Encoder


def test_encoder_latent_is_128_by_2_by_31():
    torch.manual_seed(0)
    z = Encoder().eval()(torch.randn(5, 1, 128, 31))
    assert z.shape == (5, 128, 2, 31)


def test_autoencoder_reconstructs_the_input_shape():
    torch.manual_seed(0)
    model = SCAE(Encoder(), Decoder()).eval()
    x = torch.randn(3, 1, 128, 31)
    assert model(x).shape == x.shape


def test_small_widths_and_batch_equals_per_item():
    torch.manual_seed(0)
    model = SCAE(Encoder((4, 8, 8)), Decoder((4, 8, 8))).eval()
    x = torch.randn(4, 1, 128, 31)
    together = model(x)
    for i in range(4):
        torch.testing.assert_close(together[i:i + 1], model(x[i:i + 1]), atol=1e-5, rtol=1e-4)


def test_denoising_autoencoder_learns_on_a_few_chunks():
    torch.manual_seed(0)
    model = SCAE(Encoder((4, 8, 8), dropout=0.0), Decoder((4, 8, 8), dropout=0.0))
    x = torch.randn(8, 1, 128, 31).cumsum(dim=2) / 10  # smooth over mels, like log-mels
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.mse_loss(model(x + 0.3 * torch.randn_like(x)), x)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_transfer_model_shapes_at_every_stage():
    from quadpred.config import FeatureConfig, ModelConfig
    from quadpred.models import build_emotion_net, latent_features

    torch.manual_seed(0)
    model = build_emotion_net(ModelConfig(), FeatureConfig()).eval()
    x = torch.randn(3, 1, 128, 31)
    assert model.encoder(x).shape == (3, 128, 2, 31)
    assert model.embed(x).shape == (3, latent_features(ModelConfig(), FeatureConfig())) == (3, 128 * 2 * 31)
    assert model.head.trunk(model.embed(x)).shape == (3, 512)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.head.trunk) == 3
    for task, classes in (("quadrant", 4), ("arousal", 2), ("valence", 2)):
        assert sum(isinstance(m, torch.nn.Linear) for m in model.head.heads[task]) == 3  # 2 dense + output
        assert model(x)[task].shape == (3, classes)
        torch.testing.assert_close(model.probabilities(x)[task].sum(dim=1), torch.ones(3))


def test_time_pooled_head_reads_each_channel_and_band_s_mean_and_max_over_frames():
    import dataclasses

    from quadpred.config import FeatureConfig, HeadConfig, ModelConfig
    from quadpred.models import build_emotion_net, head_inputs

    config = ModelConfig(head=HeadConfig(time_pool="mean-max"))
    torch.manual_seed(0)
    model = build_emotion_net(config, FeatureConfig()).eval()
    x = torch.randn(3, 1, 128, 31)
    latent = model.encoder(x)  # (3, 128, 2, 31)
    embedding = model.embed(x)
    assert embedding.shape == (3, head_inputs(config, FeatureConfig())) == (3, 2 * 128 * 2)
    torch.testing.assert_close(embedding[:, :256], latent.mean(dim=-1).flatten(1))
    torch.testing.assert_close(embedding[:, 256:], latent.amax(dim=-1).flatten(1))
    assert model.head.trunk[0].in_features == 512  # 7,936 when flattened
    flat = build_emotion_net(ModelConfig(), FeatureConfig())
    assert sum(p.numel() for p in model.parameters()) < 0.45 * sum(p.numel() for p in flat.parameters())
    # the head's input no longer depends on the chunk's length
    longer = dataclasses.replace(config, chunk_seconds=3.0)
    assert head_inputs(longer, FeatureConfig()) == 512
    assert build_emotion_net(longer, FeatureConfig()).eval()(torch.randn(2, 1, 128, 94))["quadrant"].shape == (2, 4)


def test_cpc_shapes_and_objectives():
    from quadpred.config import CPCConfig, EncoderConfig, FeatureConfig, ModelConfig
    from quadpred.models import binary_loss, build_cpc, infonce_loss

    torch.manual_seed(0)
    config = ModelConfig(encoder=EncoderConfig(channels=(4, 8, 8)), cpc=CPCConfig(code_dim=16, context_dim=24, steps=2, segments=5))
    cpc = build_cpc(config, FeatureConfig()).eval()
    codes, predictions = cpc(torch.randn(3, 5, 1, 128, 31))
    assert codes.shape == (3, 5, 16) and predictions.shape == (3, 5, 2, 16)
    for objective in (infonce_loss, binary_loss):
        loss, accuracy = objective(codes, predictions)
        assert loss.ndim == 0 and torch.isfinite(loss) and 0 <= accuracy <= 1


def test_infonce_picks_the_true_future_when_predictions_are_exact():
    from quadpred.models import infonce_loss

    torch.manual_seed(0)
    codes = 10 * torch.nn.functional.normalize(torch.randn(2, 4, 8), dim=-1)
    perfect = torch.stack([torch.roll(codes, -k, dims=1) for k in (1, 2)], dim=2)  # prediction k = code t+k
    loss, accuracy = infonce_loss(codes, perfect)
    assert accuracy == 1.0 and loss < 0.1
    wrong_loss, _ = infonce_loss(codes, torch.randn_like(perfect))
    assert wrong_loss > 10 * loss


def test_bad_model_settings_are_rejected_by_name():
    import pytest

    from quadpred.config import CPCConfig, EncoderConfig, FeatureConfig, ModelConfig
    from quadpred.errors import ConfigError
    from quadpred.models import build_emotion_net

    with pytest.raises(ConfigError, match="pools"):
        EncoderConfig(channels=(8, 8), pools=(4, 4, 2, 2))
    with pytest.raises(ConfigError, match="n_mels 100"):
        build_emotion_net(ModelConfig(), FeatureConfig(n_mels=100))
    with pytest.raises(ConfigError, match="model.cpc.objective"):
        CPCConfig(objective="triplet")
    from quadpred.config import HeadConfig

    with pytest.raises(ConfigError, match="model.head.time_pool 'attention' unknown: use 'none' or 'mean-max'"):
        HeadConfig(time_pool="attention")
