import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyCausalLM(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.embed = nn.Embedding(hp["vocab_size"], hp["d_model"])
        self.position = nn.Parameter(torch.zeros(1, hp["seq_len"], hp["d_model"]))
        layer = nn.TransformerEncoderLayer(
            hp["d_model"], hp["n_heads"], 4 * hp["d_model"], hp["dropout"], batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, hp["n_layers"])
        self.head = nn.Linear(hp["d_model"], hp["vocab_size"])

    def forward(self, tokens):
        length = tokens.shape[1]
        mask = torch.triu(torch.full((length, length), float("-inf"), device=tokens.device), diagonal=1)
        hidden = self.blocks(self.embed(tokens) + self.position[:, :length], mask=mask)
        return self.head(hidden)


def build_model(hp):
    return TinyCausalLM(hp)


def compute_loss(model, batch, hp):
    inputs, targets = batch
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
