import torch


def make_batch(hp, generator):
    # Synthetic language: arithmetic sequences with a random start and stride, so the next token is
    # predictable only by attending to earlier tokens.
    start = torch.randint(0, hp["vocab_size"], (hp["batch_size"], 1), generator=generator)
    stride = torch.randint(1, 4, (hp["batch_size"], 1), generator=generator)
    tokens = (start + stride * torch.arange(hp["seq_len"] + 1)) % hp["vocab_size"]
    return tokens[:, :-1], tokens[:, 1:]
