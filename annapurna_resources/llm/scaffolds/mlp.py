import torch.nn as nn


def build_model(hp):
    return nn.Sequential(
        nn.Linear(hp["input_dim"], hp["hidden_dim"]),
        nn.ReLU(),
        nn.Dropout(hp["dropout"]),
        nn.Linear(hp["hidden_dim"], hp["hidden_dim"]),
        nn.ReLU(),
        nn.Linear(hp["hidden_dim"], hp["n_classes"]),
    )
