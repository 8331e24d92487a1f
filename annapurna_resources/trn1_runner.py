"""The batch runner that executes generated scripts on the execution host (trn1, a GPU box, or this machine).

Standalone on purpose: it needs only the standard library and `dagster-pipes` (torch is imported by the
profiling wrapper inside each script's own process), so it can be copied to any host. The launcher passes
the batch through the Pipes extras; each paper's result goes back as a Pipes custom message, because
Pipes materializations carry no partition.

Each script runs in its own directory, in its own session (so the whole process group can be killed),
with an environment built from an allow-list (no API keys, no cloud or Slack credentials), rlimits, and
a wall-clock timeout.
"""

import json
import math
import os
import queue
import resource
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster_pipes import open_dagster_pipes

TRACE_FILE = "annapurna_trace.json"
PROFILE_FILE = "annapurna_profile.json"
TAIL_CHARS = 4000
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

PROFILE_WRAPPER = r"""
import json, runpy, sys

script = sys.argv[1]
sys.argv = [script]
profile_steps = __PROFILE_STEPS__
try:
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.profiler import ProfilerActivity, profile
except ImportError:
    runpy.run_path(script, run_name="__main__")
    raise SystemExit(0)

activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
profiler = profile(activities=activities)
state = {"steps": 0, "stopped": False}


def stop():
    if state["stopped"]:
        return
    state["stopped"] = True
    profiler.stop()
    profiler.export_chrome_trace("__TRACE_FILE__")
    rows = []
    for event in profiler.key_averages():
        rows.append({
            "name": event.key,
            "calls": event.count,
            "self_cpu_ms": round(event.self_cpu_time_total / 1000, 3),
            "cpu_total_ms": round(event.cpu_time_total / 1000, 3),
            "self_device_ms": round(getattr(event, "self_device_time_total", 0) / 1000, 3),
        })
    rows.sort(key=lambda r: r["self_cpu_ms"] + r["self_device_ms"], reverse=True)
    with open("__PROFILE_FILE__", "w") as handle:
        json.dump({"profiled_optimizer_steps": state["steps"], "activities": [str(a) for a in activities],
                   "top_operators": rows[:20]}, handle)


def after_optimizer_step(optimizer, args, kwargs):
    state["steps"] += 1
    if state["steps"] >= profile_steps:
        stop()


register_optimizer_step_post_hook(after_optimizer_step)
profiler.start()
try:
    runpy.run_path(script, run_name="__main__")
finally:
    stop()
"""


def parse_metrics(stdout: str) -> list[dict]:
    metrics = []
    for line in stdout.splitlines():
        if line.startswith("METRICS:"):
            try:
                value = json.loads(line[len("METRICS:") :])
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                metrics.append(value)
    return metrics


def _tail(path: Path) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - TAIL_CHARS))
        return handle.read().decode("utf-8", errors="replace")


def _limits(spec: dict):
    def apply():
        cpu = int(spec["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        memory = int(spec["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = int(spec["file_size_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(spec["open_files"]), int(spec["open_files"])))
        resource.setrlimit(resource.RLIMIT_NPROC, (int(spec["processes"]), int(spec["processes"])))

    return apply


def _environment(workdir: Path, batch: dict, slot: int) -> dict:
    env = {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(batch["threads_per_slot"]),
        "ANNAPURNA_TIME_BUDGET_S": str(batch["time_budget_s"]),
        "ANNAPURNA_SLOT": str(slot),
    }
    if batch.get("smoke"):
        env["ANNAPURNA_SMOKE"] = "1"
    return env


def _run_process(command: list[str], workdir: Path, env: dict, limits: dict, timeout_s: float):
    """Run `command` in `workdir` in its own session under rlimits; stdout/stderr go to stdout.log/stderr.log.
    Returns (exit_code, timed_out, seconds); the whole process group is killed at the end."""
    start = time.monotonic()
    with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_limits(limits),
        )
        timed_out = False
        try:
            exit_code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            exit_code = None
        finally:
            # Kill whatever the script left behind in its process group, daemons included.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if timed_out:
                exit_code = process.wait()
    return exit_code, timed_out, time.monotonic() - start


def default_limits(timeout_s: float, memory_mb: int = 16384) -> dict:
    cores = os.cpu_count() or 1
    return {
        "cpu_seconds": timeout_s * cores + 10,
        "memory_mb": memory_mb,
        "file_size_mb": 512,
        "open_files": 1024,
        "processes": 512,
    }


def run_sandboxed(
    code: str,
    workdir: Path,
    timeout_s: float,
    env_extra: dict | None = None,
    time_budget_s: float = 10.0,
    smoke: bool = True,
    limits: dict | None = None,
) -> dict:
    """Run one script (`code`, written to `workdir/main.py`) in the runner's sandbox: allow-listed environment,
    rlimits, own process group, wall-clock timeout. Returns status ("ok", "failed", "timeout", "killed"),
    reason, exit_code, seconds, metrics, final, stdout_tail, stderr_tail: what `run_script` reports."""
    workdir = Path(workdir)
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    (workdir / "main.py").write_text(code)
    batch = {"threads_per_slot": max(1, min(os.cpu_count() or 1, 4)), "time_budget_s": time_budget_s, "smoke": smoke}
    env = {**_environment(workdir, batch, 0), **(env_extra or {})}
    exit_code, timed_out, seconds = _run_process(
        [sys.executable, "main.py"], workdir, env, limits or default_limits(timeout_s), timeout_s
    )
    return _outcome(workdir, exit_code, timed_out, seconds, timeout_s)


def _outcome(workdir: Path, exit_code: int | None, timed_out: bool, seconds: float, timeout_s: float) -> dict:
    """What a finished script did: status and reason, metrics, and the tails of its output."""
    stdout_text = (workdir / "stdout.log").read_text(errors="replace")
    metrics = parse_metrics(stdout_text)
    final = next((m for m in reversed(metrics) if "final_loss" in m), None)
    status, reason = _judge_outcome(timed_out, exit_code, metrics, final, timeout_s)
    return {
        "status": status,
        "reason": reason,
        "exit_code": exit_code,
        "seconds": round(seconds, 3),
        "metrics": metrics,
        "final": final or {},
        "stdout_tail": stdout_text[-TAIL_CHARS:],
        "stderr_tail": _tail(workdir / "stderr.log"),
    }


def run_script(batch_dir: Path, item: dict, batch: dict, slot: int) -> dict:
    workdir = batch_dir / item["paper_key"]
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    wrapper = batch_dir / "_profile_wrapper.py"
    command = [sys.executable, str(wrapper), item["script"]] if batch["profile"] else [sys.executable, item["script"]]
    exit_code, timed_out, seconds = _run_process(
        command, workdir, _environment(workdir, batch, slot), batch["limits"], batch["timeout_s"]
    )
    result = {
        "paper_key": item["paper_key"],
        **_outcome(workdir, exit_code, timed_out, seconds, batch["timeout_s"]),
        "slot": slot,
    }
    for key, name in (("trace_file", TRACE_FILE), ("profile_file", PROFILE_FILE)):
        if (workdir / name).exists():
            result[key] = str(Path(item["paper_key"]) / name)
    return result


def _judge_outcome(timed_out, exit_code, metrics, final, timeout_s) -> tuple[str, str]:
    if timed_out:
        return "timeout", f"still running after the {timeout_s:g} s timeout: its process group was killed"
    if exit_code != 0:
        if exit_code is not None and exit_code < 0:
            return "killed", f"killed by signal {signal.Signals(-exit_code).name}"
        return "failed", f"exited with code {exit_code}"
    if not metrics:
        return "failed", "exited 0 but printed no METRICS line"
    if final is None:
        return "failed", "printed METRICS but no final line with final_loss"
    loss = final.get("final_loss")
    if not isinstance(loss, int | float) or not math.isfinite(loss):
        return "failed", f"final_loss is not a finite number: {loss!r}"
    return "ok", ""


def main() -> None:
    with open_dagster_pipes() as pipes:
        batch = pipes.get_extra("batch")
        batch_dir = Path(batch["batch_dir"])
        wrapper = PROFILE_WRAPPER.replace("__PROFILE_STEPS__", str(batch["profile_steps"]))
        wrapper = wrapper.replace("__TRACE_FILE__", TRACE_FILE).replace("__PROFILE_FILE__", PROFILE_FILE)
        (batch_dir / "_profile_wrapper.py").write_text(wrapper)
        items = batch["papers"]
        pipes.log.info(f"running {len(items)} scripts on {batch['slots']} slot(s) in {batch_dir}")

        free_slots: queue.Queue[int] = queue.Queue()
        for slot in range(batch["slots"]):
            free_slots.put(slot)

        def run(item):
            slot = free_slots.get()
            try:
                result = run_script(batch_dir, item, batch, slot)
            finally:
                free_slots.put(slot)
            pipes.log.info(f"{item['paper_key']}: {result['status']} in {result['seconds']:.1f} s {result['reason']}")
            pipes.report_custom_message(result)
            return result

        with ThreadPoolExecutor(max_workers=batch["slots"]) as pool:
            list(pool.map(run, items))


if __name__ == "__main__":
    main()
