import torch
import torch.nn.functional as F

# Synthetic classification: each class has its own centre in input space, plus noise.


def make_batch(hp, generator):
    centers = torch.randn(hp["n_classes"], hp["input_dim"], generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, hp["n_classes"], (hp["batch_size"],), generator=generator)
    return centers[labels] + torch.randn(labels.shape[0], hp["input_dim"], generator=generator), labels


def compute_loss(model, batch, hp):
    x, labels = batch
    return F.cross_entropy(model(x), labels)
