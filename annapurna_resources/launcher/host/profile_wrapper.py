"""Runs a generated script under torch.profiler: `python profile_wrapper.py STEPS TRACE_FILE PROFILE_FILE main.py`.

The profile covers the script's first STEPS optimizer steps (then the script runs on unprofiled); the Chrome/Perfetto
trace goes to TRACE_FILE, the top operators and the time split to PROFILE_FILE (JSON). Without torch the script
simply runs. Standard library and torch only: this runs inside the sandbox, as the script's user.
"""

import json
import runpy
import sys
import time


def union_ms(intervals) -> float:
    """Total length of the union of (start_us, end_us) intervals, in ms."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total / 1000


def time_split(events, wall_ms: float) -> dict:
    """Wall time between the first and the last profiled optimizer step (start-up left out), split into data loading
    (DataLoader iteration, `data_loading` ranges), compute (every other top-level CPU op) and idle (no op running:
    Python overhead, waiting)."""
    events = [e for e in events if e.time_range.end > 0]
    # event times have their own origin: the window is the last wall_ms before the last event ended
    since_us = max((e.time_range.end for e in events), default=0) - wall_ms * 1000
    top = [e for e in events if e.cpu_parent is None and e.device_type.name == "CPU" and e.time_range.start >= since_us]
    loading = [
        (e.time_range.start, e.time_range.end) for e in top if "DataLoader" in e.name or e.name == "data_loading"
    ]
    busy_ms = union_ms([(e.time_range.start, e.time_range.end) for e in top])
    loading_ms = union_ms(loading)
    split = {
        "wall_ms": round(wall_ms, 3),
        "data_loading_ms": round(loading_ms, 3),
        "compute_ms": round(max(0.0, busy_ms - loading_ms), 3),
        "idle_ms": round(max(0.0, wall_ms - busy_ms), 3),
    }
    kernels = [
        (e.time_range.start, e.time_range.end)
        for e in events
        if e.device_type.name == "CUDA" and e.time_range.start >= since_us
    ]
    if kernels:
        split["device_busy_ms"] = round(union_ms(kernels), 3)
    return split


def top_operators(profiler, limit: int = 20) -> list[dict]:
    rows = [
        {
            "name": event.key,
            "calls": event.count,
            "self_cpu_ms": round(event.self_cpu_time_total / 1000, 3),
            "cpu_total_ms": round(event.cpu_time_total / 1000, 3),
            "self_device_ms": round(getattr(event, "self_device_time_total", 0) / 1000, 3),
        }
        for event in profiler.key_averages()
    ]
    rows.sort(key=lambda r: r["self_cpu_ms"] + r["self_device_ms"], reverse=True)
    return rows[:limit]


def main(profile_steps: int, trace_file: str, profile_file: str, script: str) -> None:
    sys.argv = [script]
    try:
        import torch
        from torch.optim.optimizer import register_optimizer_step_post_hook
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        runpy.run_path(script, run_name="__main__")
        return

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    profiler = profile(activities=activities)
    state = {"steps": 0, "stopped": False, "started": 0.0, "first_step": None}

    def stop() -> None:
        if state["stopped"]:
            return
        state["stopped"] = True
        profiler.stop()
        wall_ms = (time.perf_counter() - (state["first_step"] or state["started"])) * 1000
        profiler.export_chrome_trace(trace_file)
        try:
            split = time_split(profiler.events(), wall_ms)
        except Exception as error:  # an older or newer profiler event API: the split is optional
            split = {"error": repr(error)}
        summary = {
            "profiled_optimizer_steps": state["steps"],
            "activities": [str(a) for a in activities],
            "top_operators": top_operators(profiler),
            "time_split": split,
        }
        with open(profile_file, "w") as handle:
            json.dump(summary, handle)

    def after_optimizer_step(optimizer, args, kwargs) -> None:
        state["steps"] += 1
        if state["first_step"] is None:
            state["first_step"] = time.perf_counter()
        if state["steps"] >= profile_steps:
            stop()

    register_optimizer_step_post_hook(after_optimizer_step)
    state["started"] = time.perf_counter()
    profiler.start()
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
