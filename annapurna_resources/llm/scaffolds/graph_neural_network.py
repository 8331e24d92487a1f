import torch
import torch.nn as nn
import torch.nn.functional as F


class GCNLayer(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x, adjacency):
        return adjacency @ self.linear(x)


class GCN(nn.Module):
    def __init__(self, hp):
        super().__init__()
        dims = [hp["feature_dim"]] + [hp["hidden_dim"]] * (hp["n_layers"] - 1) + [hp["n_classes"]]
        self.layers = nn.ModuleList(GCNLayer(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = hp["dropout"]

    def forward(self, x, adjacency):
        for index, layer in enumerate(self.layers):
            x = layer(F.dropout(x, self.dropout, self.training), adjacency)
            if index < len(self.layers) - 1:
                x = F.relu(x)
        return x


def build_model(hp):
    return GCN(hp)


def make_batch(hp, generator):
    # Synthetic graph from a stochastic block model: nodes of a class link mostly to each other.
    n, k = hp["n_nodes"], hp["n_classes"]
    labels = torch.randint(0, k, (n,), generator=generator)
    same = labels[:, None] == labels[None, :]
    probability = torch.where(same, torch.tensor(0.05), torch.tensor(0.005))
    edges = (torch.rand(n, n, generator=generator) < probability).float()
    adjacency = ((edges + edges.T) > 0).float() + torch.eye(n)
    degree = adjacency.sum(1).rsqrt()
    adjacency = degree[:, None] * adjacency * degree[None, :]  # D^-1/2 (A + I) D^-1/2
    centers = torch.randn(k, hp["feature_dim"], generator=generator)
    features = centers[labels] + 2.0 * torch.randn(n, hp["feature_dim"], generator=generator)
    train_mask = torch.rand(n, generator=generator) < 0.1
    return features, adjacency, labels, train_mask


def compute_loss(model, batch, hp):
    features, adjacency, labels, train_mask = batch
    logits = model(features, adjacency)
    return F.cross_entropy(logits[train_mask], labels[train_mask])
