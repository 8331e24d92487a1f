import torch
import torch.nn as nn
import torch.nn.functional as F


class SwitchFeedForward(nn.Module):
    # Top-1 routing to one expert per token, with the load-balancing auxiliary loss.
    def __init__(self, d_model, n_experts, capacity_factor):
        super().__init__()
        self.router = nn.Linear(d_model, n_experts)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Linear(4 * d_model, d_model))
            for _ in range(n_experts)
        )
        self.n_experts = n_experts
        self.aux_loss = torch.tensor(0.0)

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        probs = F.softmax(self.router(flat), dim=-1)
        gate, expert = probs.max(dim=-1)
        out = torch.zeros_like(flat)
        for index, layer in enumerate(self.experts):
            chosen = expert == index
            if chosen.any():
                out[chosen] = gate[chosen, None] * layer(flat[chosen])
        fraction_routed = F.one_hot(expert, self.n_experts).float().mean(0)
        self.aux_loss = self.n_experts * torch.sum(fraction_routed * probs.mean(0))
        return out.reshape_as(x)


class SwitchLM(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.embed = nn.Embedding(hp["vocab_size"], hp["d_model"])
        self.attention = nn.MultiheadAttention(hp["d_model"], hp["n_heads"], batch_first=True)
        self.norm1 = nn.LayerNorm(hp["d_model"])
        self.norm2 = nn.LayerNorm(hp["d_model"])
        self.moe = SwitchFeedForward(hp["d_model"], hp["n_experts"], 1.25)
        self.head = nn.Linear(hp["d_model"], hp["vocab_size"])

    def forward(self, tokens):
        length = tokens.shape[1]
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tokens.device), diagonal=1)
        x = self.embed(tokens)
        h = self.norm1(x)
        x = x + self.attention(h, h, h, attn_mask=mask, need_weights=False)[0]
        x = x + self.moe(self.norm2(x))
        return self.head(x)


def build_model(hp):
    return SwitchLM(hp)


def compute_loss(model, batch, hp):
    inputs, targets = batch
    logits = model(inputs)
    task = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return task + 0.01 * model.moe.aux_loss
