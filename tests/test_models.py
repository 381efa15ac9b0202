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
