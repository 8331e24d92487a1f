import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(d_in, hidden, d_out, layers):
    dims = [d_in] + [hidden] * layers
    blocks = [m for a, b in zip(dims[:-1], dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    return nn.Sequential(*blocks, nn.Linear(dims[-1], d_out))


class TeacherStudent(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.teacher = mlp(hp["input_dim"], 4 * hp["hidden_dim"], hp["n_classes"], 3).requires_grad_(False)
        self.student = mlp(hp["input_dim"], hp["hidden_dim"], hp["n_classes"], 1)


def build_model(hp):
    return TeacherStudent(hp)


def make_batch(hp, generator):
    return (torch.randn(hp["batch_size"], hp["input_dim"], generator=generator),)


def compute_loss(model, batch, hp):
    # The student matches the teacher's softened class distribution (KL at temperature T).
    (x,) = batch
    temperature = hp["temperature"]
    with torch.no_grad():
        teacher = F.log_softmax(model.teacher(x) / temperature, dim=-1)
    student = F.log_softmax(model.student(x) / temperature, dim=-1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * temperature**2
