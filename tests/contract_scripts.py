"""Tiny scripts that keep the generated-code contract, for tests of the launcher and its hosts."""


def training_script(steps: int = 3, final_fields: str = "") -> str:
    """`steps` SGD steps on a linear model, a METRICS line each, then a final METRICS line with `final_loss` and
    `final_fields` (Python `"name": expression` items, evaluated in the script, e.g. `"slot": os.environ[...]`)."""
    extra = f", {final_fields}" if final_fields else ""
    return f"""
import json, os, torch
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(1, {steps + 1}):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    print("METRICS: " + json.dumps({{"step": step, "loss": float(loss)}}))
print("METRICS: " + json.dumps({{"step": {steps}, "loss": float(loss), "final_loss": float(loss){extra}}}))
"""
