"""The frame every offline scaffold shares: device choice, time budget, METRICS lines, the training loop.

The generator puts a family file's code (`build_model`, `make_batch`, `compute_loss`) after the helpers and
writes the hyperparameters into `HP`.
"""

import json
import os
import time

import torch

HP = {}  # the generator writes the paper's hyperparameters here


def pick_device():
    try:
        import torch_xla.core.xla_model as xm  # AWS Trainium (torch-neuronx) and other XLA devices

        return xm.xla_device(), "xla"
    except ImportError:
        pass
    if torch.cuda.is_available():
        return torch.device("cuda"), "cuda"
    return torch.device("cpu"), "cpu"


def emit(**metrics):
    print("METRICS: " + json.dumps(metrics), flush=True)


def main():
    torch.manual_seed(0)
    device, device_kind = pick_device()
    budget_s = float(os.environ.get("ANNAPURNA_TIME_BUDGET_S", "60"))
    max_steps = 5 if os.environ.get("ANNAPURNA_SMOKE") == "1" else HP["max_steps"]
    model = build_model(HP).to(device)  # noqa: F821 (from the family file)
    if HP["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=HP["learning_rate"], momentum=0.9)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=HP["learning_rate"], weight_decay=HP["weight_decay"])
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    loss_value = float("nan")
    step = 0
    # Keep 10% of the budget for start-up and the final report.
    while step < max_steps and time.perf_counter() - start < 0.9 * budget_s:
        with torch.profiler.record_function("data_loading"):
            batch = [t.to(device) for t in make_batch(HP, generator)]  # noqa: F821 (from the family file)
        loss = compute_loss(model, batch, HP)  # noqa: F821 (from the family file)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device_kind == "xla":
            import torch_xla.core.xla_model as xm

            xm.mark_step()
        step += 1
        if step == 1 or step % HP["log_every"] == 0:
            loss_value = float(loss.detach().cpu())
            emit(step=step, loss=loss_value, elapsed_s=round(time.perf_counter() - start, 3))
    loss_value = float(loss.detach().cpu())
    elapsed = time.perf_counter() - start
    emit(
        step=step,
        loss=loss_value,
        final_loss=loss_value,
        steps_per_sec=round(step / elapsed, 3) if elapsed > 0 else 0.0,
        device=device_kind,
        parameters=sum(p.numel() for p in model.parameters()),
    )


if __name__ == "__main__":
    main()
