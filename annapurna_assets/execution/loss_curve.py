"""The loss curve of a run as a PNG, from its METRICS lines (`step` and `loss`)."""

import io
import math


def loss_points(metrics: list[dict]) -> list[tuple[float, float]]:
    """(step, loss) of every METRICS line that has both as finite numbers, in step order, last value per step."""
    points = {}
    for line in metrics:
        step, loss = line.get("step"), line.get("loss")
        if (
            isinstance(step, int | float)
            and isinstance(loss, int | float)
            and math.isfinite(step)
            and math.isfinite(loss)
        ):
            points[float(step)] = float(loss)
    return sorted(points.items())


def loss_curve_png(metrics: list[dict], title: str) -> bytes | None:
    """The PNG, or None when the run printed fewer than two loss points."""
    points = loss_points(metrics)
    if len(points) < 2:
        return None
    from matplotlib.figure import Figure  # imported here: matplotlib takes a second to load, and few runs plot

    figure = Figure(figsize=(6, 3.5), dpi=100)  # no pyplot: no global state, no display
    axes = figure.subplots()
    axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, linewidth=1.5)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title[:80], fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
