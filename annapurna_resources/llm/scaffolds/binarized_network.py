import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)  # straight-through estimator


class BinaryLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, SignSTE.apply(self.weight)) / math.sqrt(self.in_features)


class BinarizedMLP(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.layers = nn.ModuleList(
            [BinaryLinear(hp["input_dim"], hp["hidden_dim"]), BinaryLinear(hp["hidden_dim"], hp["hidden_dim"])]
        )
        self.norms = nn.ModuleList([nn.BatchNorm1d(hp["hidden_dim"]), nn.BatchNorm1d(hp["hidden_dim"])])
        self.head = nn.Linear(hp["hidden_dim"], hp["n_classes"])

    def forward(self, x):
        for layer, norm in zip(self.layers, self.norms):
            x = SignSTE.apply(norm(layer(x)))
        return self.head(x)


def build_model(hp):
    return BinarizedMLP(hp)
