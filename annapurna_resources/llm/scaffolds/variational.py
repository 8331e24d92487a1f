import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class VAE(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(hp["input_dim"], hp["hidden_dim"]), nn.Tanh())
        self.mean = nn.Linear(hp["hidden_dim"], hp["latent_dim"])
        self.log_var = nn.Linear(hp["hidden_dim"], hp["latent_dim"])
        self.decoder = nn.Sequential(
            nn.Linear(hp["latent_dim"], hp["hidden_dim"]), nn.Tanh(), nn.Linear(hp["hidden_dim"], hp["input_dim"])
        )

    def forward(self, x, samples):
        h = self.encoder(x)
        mean, log_var = self.mean(h), self.log_var(h)
        z = mean + torch.randn(samples, *mean.shape, device=x.device) * (0.5 * log_var).exp()
        return self.decoder(z), mean, log_var, z


def build_model(hp):
    return VAE(hp)


def make_batch(hp, generator):
    # Synthetic binarised images: thresholded low-rank patterns, shaped like flattened 28x28 digits.
    basis = torch.randn(8, hp["input_dim"], generator=torch.Generator().manual_seed(1))
    codes = torch.randn(hp["batch_size"], 8, generator=generator)
    return (((codes @ basis) > 0).float(),)


def compute_loss(model, batch, hp):
    # Importance-weighted bound (IWAE) over K samples; K = 1 is the standard ELBO.
    (x,) = batch
    logits, mean, log_var, z = model(x, hp["samples"])
    log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
    std = (0.5 * log_var).exp()
    log_qz = torch.distributions.Normal(mean, std).log_prob(z).sum(-1)
    log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_w = log_px + log_pz - log_qz
    bound = torch.logsumexp(log_w, dim=0) - math.log(hp["samples"])
    return -bound.mean() / hp["input_dim"]
