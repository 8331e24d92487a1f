import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallResNet(nn.Module):
    def __init__(self, hp):
        super().__init__()
        width = hp["hidden_dim"]
        self.stem = nn.Sequential(nn.Conv2d(hp["channels"], width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(width, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.BatchNorm2d(width),
            )
            for _ in range(hp["n_layers"])
        )
        self.head = nn.Linear(width, hp["n_classes"])

    def forward(self, images):
        x = self.stem(images)
        for block in self.blocks:
            x = F.relu(x + block(x))  # residual connection
        return self.head(x.mean(dim=(2, 3)))


def build_model(hp):
    return SmallResNet(hp)


def make_batch(hp, generator):
    # Synthetic images: each class has its own mean pattern plus noise.
    labels = torch.randint(0, hp["n_classes"], (hp["batch_size"],), generator=generator)
    patterns = torch.randn(
        hp["n_classes"], hp["channels"], hp["image_size"], hp["image_size"], generator=torch.Generator().manual_seed(1)
    )
    images = patterns[labels] + torch.randn(
        labels.shape[0], hp["channels"], hp["image_size"], hp["image_size"], generator=generator
    )
    return images, labels


def compute_loss(model, batch, hp):
    images, labels = batch
    return F.cross_entropy(model(images), labels)
