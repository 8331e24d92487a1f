import torch
import torch.nn as nn
import torch.nn.functional as F


class NeuralCF(nn.Module):
    # GMF and MLP towers over user/item embeddings, fused by a final linear layer.
    def __init__(self, hp):
        super().__init__()
        d = hp["embedding_dim"]
        self.user_gmf = nn.Embedding(hp["n_users"], d)
        self.item_gmf = nn.Embedding(hp["n_items"], d)
        self.user_mlp = nn.Embedding(hp["n_users"], d)
        self.item_mlp = nn.Embedding(hp["n_items"], d)
        self.mlp = nn.Sequential(
            nn.Linear(2 * d, hp["hidden_dim"]),
            nn.ReLU(),
            nn.Dropout(hp["dropout"]),
            nn.Linear(hp["hidden_dim"], d),
            nn.ReLU(),
        )
        self.out = nn.Linear(2 * d, 1)

    def forward(self, users, items):
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)


def build_model(hp):
    return NeuralCF(hp)


def make_batch(hp, generator):
    # Synthetic implicit feedback: a user likes items whose latent factors align with theirs; one positive per
    # user is paired with `negatives` sampled items, as in negative-sampling training.
    latent = torch.Generator().manual_seed(1)
    user_factors = torch.randn(hp["n_users"], 8, generator=latent)
    item_factors = torch.randn(hp["n_items"], 8, generator=latent)
    users = torch.randint(0, hp["n_users"], (hp["batch_size"] * (1 + hp["negatives"]),), generator=generator)
    items = torch.randint(0, hp["n_items"], users.shape, generator=generator)
    labels = ((user_factors[users] * item_factors[items]).sum(-1) > 1.0).float()
    return users, items, labels


def compute_loss(model, batch, hp):
    users, items, labels = batch
    return F.binary_cross_entropy_with_logits(model(users, items), labels)
