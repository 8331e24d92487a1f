import torch
import torch.nn as nn
import torch.nn.functional as F


class DuelingQNetwork(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(hp["state_dim"], hp["hidden_dim"]),
            nn.ReLU(),
            nn.Linear(hp["hidden_dim"], hp["hidden_dim"]),
            nn.ReLU(),
        )
        self.value = nn.Linear(hp["hidden_dim"], 1)
        self.advantage = nn.Linear(hp["hidden_dim"], hp["n_actions"])

    def forward(self, state):
        h = self.body(state)
        advantage = self.advantage(h)
        return self.value(h) + advantage - advantage.mean(dim=-1, keepdim=True)


def build_model(hp):
    return DuelingQNetwork(hp)


def make_batch(hp, generator):
    # Synthetic environment: a linear contextual MDP whose reward depends on state and action.
    states = torch.randn(hp["batch_size"], hp["state_dim"], generator=generator)
    actions = torch.randint(0, hp["n_actions"], (hp["batch_size"],), generator=generator)
    weights = torch.linspace(-1, 1, hp["state_dim"] * hp["n_actions"]).reshape(hp["state_dim"], hp["n_actions"])
    rewards = (states @ weights).gather(1, actions[:, None]).squeeze(1).tanh()
    next_states = 0.9 * states + 0.1 * torch.randn(states.shape, generator=generator)
    return states, actions, rewards, next_states


def compute_loss(model, batch, hp):
    states, actions, rewards, next_states = batch
    q = model(states).gather(1, actions[:, None]).squeeze(1)
    with torch.no_grad():
        target = rewards + hp["gamma"] * model(next_states).max(dim=1).values
    return F.smooth_l1_loss(q, target)
