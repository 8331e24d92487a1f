"""The batch runner that executes generated scripts on the execution host (trn1, a GPU box, or this machine).

Standalone on purpose: it needs only the standard library and `dagster-pipes` (torch is imported by the
profiling wrapper inside each script's own process), so it can be copied to any host. The launcher passes
the batch through the Pipes extras; each paper's result goes back as a Pipes custom message, because
Pipes materializations carry no partition.

Each script runs in its own directory, in its own session (so the whole process group can be killed),
with an environment built from an allow-list (no API keys, no cloud or Slack credentials), rlimits, a
disk cap on its work dir, and a wall-clock timeout. Where bubblewrap (`bwrap`) works, it also runs with a
read-only root, the runner's HOME hidden, no network, its own PID and IPC namespaces (so every process it
started dies with it, daemons included) and, when the runner is root, as an unprivileged uid (so
RLIMIT_NPROC holds: the kernel ignores it for root).
"""

import collections
import contextlib
import fcntl
import functools
import glob
import json
import math
import os
import pwd
import queue
import resource
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster_pipes import open_dagster_pipes

TRACE_FILE = "annapurna_trace.json"  # torch.profiler (Chrome/Perfetto JSON)
NEURON_TRACE_FILE = "annapurna_trace.pftrace"  # the Neuron profiler's system profile (Perfetto protobuf)
PROFILE_FILE = "annapurna_profile.json"
RESULT_FILES = (TRACE_FILE, NEURON_TRACE_FILE, PROFILE_FILE, "stdout.log", "stderr.log")  # what a remote host returns
NEURON_PROFILE_DIR = "neuron_profile"
TAIL_CHARS = 4000
MAX_METRICS = 5000  # METRICS lines kept (the last ones): the result travels as one Pipes message
MAX_LINE = 65536  # longer stdout lines are cut when parsing
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
INNER_WORKDIR = "/tmp/annapurna-work"  # where the work dir appears inside bwrap
INNER_DATA_DIR = "/tmp/annapurna-data"  # where the offline datasets directory appears inside bwrap, read-only
PROFILE_WRAPPER = "_profile_wrapper.py"  # `profile_wrapper.py`, shipped by the launcher into the batch dir
INNER_WRAPPER = "/tmp/annapurna_profile_wrapper.py"  # a file right in /tmp: bwrap makes new parents 0700
SANDBOX_UID_BASE = 61000  # bwrap as root: each batch leases a block of uids from here (no passwd entries needed)
UID_BLOCK = 64  # uids per block: slot N of the batch holding block B runs as 61000 + 64 B + N
UID_BLOCKS = 64  # batches that can run at once on one host
DISK_POLL_S = 0.5


def parse_metrics(stdout: str) -> list[dict]:
    return _parse_metric_lines(stdout.splitlines())


def _parse_metric_lines(lines) -> list[dict]:
    metrics: collections.deque[dict] = collections.deque(maxlen=MAX_METRICS)
    for line in lines:
        if line.startswith("METRICS:"):
            try:
                value = json.loads(line[len("METRICS:") :])
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                metrics.append(value)
    return list(metrics)


def _log_lines(path: Path):
    """The lines of a (possibly huge) log, streamed; each cut at MAX_LINE bytes."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        while line := handle.readline(MAX_LINE):
            yield line.decode("utf-8", errors="replace").rstrip("\n")


def _tail(path: Path) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - TAIL_CHARS))
        return handle.read().decode("utf-8", errors="replace")


def _limits(spec: dict):
    def apply():
        os.umask(0o022)  # bwrap creates its mount points with it: they must be traversable by the script's uid
        cpu = int(spec["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        memory = int(spec["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = int(spec["file_size_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(spec["open_files"]), int(spec["open_files"])))
        resource.setrlimit(resource.RLIMIT_NPROC, (int(spec["processes"]), int(spec["processes"])))

    return apply


def _environment(workdir: Path | str, batch: dict, slot: int) -> dict:
    """`workdir` is the path the script sees (INNER_WORKDIR under bwrap)."""
    env = {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "HOME": str(workdir),
        "TMPDIR": f"{workdir}/tmp",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(batch["threads_per_slot"]),
        "ANNAPURNA_TIME_BUDGET_S": str(batch["time_budget_s"]),
        "ANNAPURNA_SLOT": str(slot),
    }
    if batch.get("smoke"):
        env["ANNAPURNA_SMOKE"] = "1"
    slot_env = batch.get("slot_env") or []
    if slot < len(slot_env):  # the slot's accelerator: only the device variables get through
        env.update({name: str(value) for name, value in slot_env[slot].items() if name in SLOT_DEVICE_VARIABLES})
    return env


SLOT_DEVICE_VARIABLES = ("NEURON_RT_VISIBLE_CORES", "CUDA_VISIBLE_DEVICES")
MAX_CPU_SLOTS = 4


def plan_slots(neuron_cores: int, gpus: int, cpu_count: int) -> dict:
    """Slots sized to this host: one per NeuronCore, else one per GPU, else one per CPU core (at most
    MAX_CPU_SLOTS); the host's cores are shared out as threads per slot. Returns the batch fields it sets."""
    if neuron_cores > 0:
        slots, variable, devices = neuron_cores, "NEURON_RT_VISIBLE_CORES", f"{neuron_cores} NeuronCore(s)"
    elif gpus > 0:
        slots, variable, devices = gpus, "CUDA_VISIBLE_DEVICES", f"{gpus} GPU(s)"
    else:
        slots, variable, devices = max(1, min(cpu_count, MAX_CPU_SLOTS)), None, f"{cpu_count} CPU core(s)"
    return {
        "slots": slots,
        "threads_per_slot": max(1, cpu_count // slots),
        "slot_env": [{variable: str(slot)} if variable else {} for slot in range(slots)],
        "slot_devices": devices,
    }


def _command_output(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def count_neuron_cores() -> int:
    """NeuronCores on this host: `neuron-ls --json-output` when present, else two per /dev/neuron* device."""
    listing = _command_output(["neuron-ls", "--json-output"])
    if listing:
        try:
            return sum(int(device.get("nc_count", 0)) for device in json.loads(listing))
        except (ValueError, TypeError, AttributeError):
            pass
    return 2 * len(glob.glob("/dev/neuron[0-9]*"))


def count_gpus() -> int:
    listing = _command_output(["nvidia-smi", "-L"]) or ""
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


_BWRAP_NAMESPACES = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]
_DROP_PRIVILEGES = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]


def _setpriv(uid: int) -> list[str]:
    return [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]


@functools.cache
def bwrap_mode() -> str | None:
    """How scripts are isolated here: "drop" (bwrap, then an unprivileged uid: the runner is root), "bwrap"
    (bwrap as this non-root user), or None (bwrap missing or not working: rlimits only)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or os.environ.get("ANNAPURNA_SANDBOX") == "rlimits":
        return None
    base = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *_BWRAP_NAMESPACES]

    def works(command: list[str]) -> bool:
        try:
            return subprocess.run(command, capture_output=True, timeout=20, check=False).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    if not works([*base, "true"]):
        return None
    if os.geteuid() != 0:
        return "bwrap"
    if shutil.which("setpriv") and works([*base, *_DROP_PRIVILEGES, *_setpriv(SANDBOX_UID_BASE), "true"]):
        return "drop"
    return "bwrap"


def sandbox_description() -> str:
    mode = bwrap_mode()
    if mode is not None:
        who = "a uid of the batch's own" if mode == "drop" else f"uid {os.geteuid()}"
        return f"bwrap (read-only root, HOME hidden, no network, own PID namespace, {who})"
    text = "rlimits only (bwrap unavailable: network and filesystem are not isolated; one batch at a time)"
    if os.geteuid() == 0:
        text += "; running as root, so the process limit is not enforced"
    return text


def _hidden_homes() -> list[str]:
    homes = {os.environ.get("HOME", ""), pwd.getpwuid(os.getuid()).pw_dir}
    return sorted(h for h in homes if h and h != "/" and os.path.isdir(h))


def _bwrap_command(command: list[str], workdir: Path, ro_binds: dict[str, str], uid: int | None) -> list[str]:
    """`command` (paths as the script sees them) inside bwrap: read-only root, fresh read-only /tmp and HOME
    (tmpfs, so ~/.aws and ~/.ssh are gone; writes go to the work dir, which the disk cap counts), the work dir
    bound writable at INNER_WORKDIR, the interpreter re-bound where it lives under a hidden directory."""
    hidden = ["/tmp", *_hidden_homes()]
    args = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in hidden:
        args += ["--tmpfs", path]
    interpreter = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    interpreter |= {p for p in sys.path if p and os.path.isdir(p)}
    bound: list[str] = []
    made: set[str] = set()
    for path in sorted(interpreter):  # parents sort first: a path inside one already bound needs no bind
        root = next((h for h in hidden if path == h or path.startswith(h.rstrip("/") + "/")), None)
        if root and not any(path == b or path.startswith(b.rstrip("/") + "/") for b in bound):
            # bwrap would make the missing parents 0700, which the sandbox uid could not enter
            for parent in reversed(Path(path).parents):
                if len(parent.parts) > len(Path(root).parts) and str(parent) not in made:
                    made.add(str(parent))
                    args += ["--perms", "0755", "--dir", str(parent)]
            bound.append(path)
            args += ["--ro-bind", path, path]
    for device in _accelerator_devices():  # bwrap's fresh /dev has none: bind the host's Neuron and NVIDIA devices
        args += ["--dev-bind", device, device]
    args += ["--bind", str(workdir), INNER_WORKDIR]
    for source, target in ro_binds.items():
        args += ["--ro-bind", source, target]
    for path in hidden:
        args += ["--remount-ro", path]
    args += ["--chdir", INNER_WORKDIR, *_BWRAP_NAMESPACES]
    if bwrap_mode() == "drop":
        return [*args, *_DROP_PRIVILEGES, *_setpriv(uid), *command]
    return [*args, "--", *command]


def _accelerator_devices() -> list[str]:
    patterns = ("/dev/neuron*", "/dev/nvidia*", "/dev/nvidia-caps/*")
    return sorted({path for pattern in patterns for path in glob.glob(pattern)})


def _disk_usage(path: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def _lease_dir() -> Path:
    path = Path(f"/tmp/annapurna-sandbox-leases-{os.geteuid()}")
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@contextlib.contextmanager
def batch_sandbox(log=None):
    """What keeps this batch apart from any other on the host, held while the batch runs and released when this
    process ends, however it ends (an flock): under bwrap as root, a block of uids of its own (after killing
    whatever a dead batch left running under them); without bwrap, where scripts run as the runner's own uid, the
    host itself (one batch at a time: a second waits). Yields the first uid of the block (None: no uid of its own).
    """
    mode = bwrap_mode()
    if mode == "bwrap":  # not root: the PID namespace and the read-only root keep batches apart, not uids
        yield None
        return
    leases = _lease_dir()
    if mode is None:
        with open(leases / "rlimits.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if log:
                    log("another batch runs on this host without bwrap: waiting for it (scripts share a uid)")
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield None
        return
    for block in range(UID_BLOCKS):
        lock = open(leases / f"uids-{block}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            first = SANDBOX_UID_BASE + block * UID_BLOCK
            _kill_uids(range(first, first + UID_BLOCK))
            yield first
        finally:
            lock.close()
        return
    raise RuntimeError(f"{UID_BLOCKS} batches already run on this host: no sandbox uids left")


def kill_processes(doomed, rounds: int = 3) -> int:
    """SIGKILL every other process for which `doomed(pid)` holds (an OSError from it: the process is gone or not
    ours to see), scanning /proc again while any were found (a process may fork while we scan); how many died.
    The one kill loop: leftovers of a script, the uids of a dead batch, and (SSH supervisor) a lost batch."""
    killed = 0
    for _ in range(rounds):
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                if doomed(int(entry)):
                    os.kill(int(entry), signal.SIGKILL)
                    found += 1
            except OSError:
                continue
        killed += found
        if not found:
            break
        time.sleep(0.05)
    return killed


def cwd_inside(pid: int, directory: str) -> bool:
    cwd = os.readlink(f"/proc/{pid}/cwd")
    return cwd == directory or cwd.startswith(directory + "/")


def _kill_uids(uids: range) -> int:
    """SIGKILL every process running as one of `uids` (left by a batch that died); how many were killed."""
    return kill_processes(lambda pid: os.stat(f"/proc/{pid}").st_uid in uids)


def _kill_leftovers(workdir: Path, session: int) -> int:
    """Without bwrap: SIGKILL every process still in the script's session or with its cwd inside `workdir`
    (a daemon that set up its own session and left the work dir escapes this). Returns how many were killed."""
    inside = str(workdir.resolve())
    return kill_processes(lambda pid: os.getsid(pid) == session or cwd_inside(pid, inside))


def _run_process(
    command: list[str],
    workdir: Path,
    env: dict,
    limits: dict,
    timeout_s: float,
    uid: int | None = None,
    ro_binds: dict[str, str] | None = None,
):
    """Run `command` in `workdir` in its own session under rlimits (and bwrap where it works: see
    `_bwrap_command`; then `command` and `env` use INNER_WORKDIR); stdout/stderr go to stdout.log/stderr.log,
    capped by RLIMIT_FSIZE. Returns (exit_code, timed_out, seconds, disk_exceeded); at the end every process the
    script started is killed: with bwrap its PID namespace dies, without it the process group and session and
    whatever runs in the work dir."""
    start = time.monotonic()
    mode = bwrap_mode()
    if mode is not None:
        if mode == "drop":
            for root, dirs, files in os.walk(workdir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, uid, uid)
        command = _bwrap_command(command, workdir, ro_binds or {}, uid)
    disk_limit = int(limits.get("disk_mb", 2048)) * 1024 * 1024
    disk_exceeded = False
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
        exit_code = None
        try:
            deadline = start + timeout_s
            while True:
                try:
                    exit_code = process.wait(timeout=max(0.0, min(DISK_POLL_S, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if _disk_usage(workdir) > disk_limit:
                    disk_exceeded = True
                    break
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
        finally:
            # Kill whatever the script left behind in its process group, daemons included.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if exit_code is None:
                exit_code = process.wait()
            if mode is None:
                _kill_leftovers(workdir, process.pid)
    if not disk_exceeded and _disk_usage(workdir) > disk_limit:
        disk_exceeded = True
    if mode is not None and exit_code is not None and 128 < exit_code < 128 + 65 and not timed_out:
        exit_code = -(exit_code - 128)  # bwrap reports a script killed by signal N as 128 + N
    return exit_code, timed_out, time.monotonic() - start, disk_exceeded


def default_limits(timeout_s: float, memory_mb: int = 16384) -> dict:
    cores = os.cpu_count() or 1
    return {
        "cpu_seconds": timeout_s * cores + 10,
        "memory_mb": memory_mb,
        "file_size_mb": 512,
        "open_files": 1024,
        "processes": 512,
        "disk_mb": 2048,
    }


def run_sandboxed(
    code: str,
    workdir: Path,
    timeout_s: float,
    env_extra: dict | None = None,
    time_budget_s: float = 10.0,
    smoke: bool = True,
    limits: dict | None = None,
    data_dir: str = "",
) -> dict:
    """Run one script (`code`, written to `workdir/main.py`) in the runner's sandbox: allow-listed environment,
    rlimits, own process group, wall-clock timeout; `data_dir` (offline datasets) readable as ANNAPURNA_DATA_DIR.
    Returns status ("ok", "failed", "timeout", "killed"), reason, exit_code, seconds, metrics, final, stdout_tail,
    stderr_tail: what `run_script` reports."""
    workdir = Path(workdir)
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    (workdir / "main.py").write_text(code)
    batch = {"threads_per_slot": max(1, min(os.cpu_count() or 1, 4)), "time_budget_s": time_budget_s, "smoke": smoke}
    inner = INNER_WORKDIR if bwrap_mode() else workdir
    env = {**_environment(inner, batch, 0), **_data_dir_environment(data_dir), **(env_extra or {})}
    limits = limits or default_limits(timeout_s)
    with batch_sandbox() as uid:
        exit_code, timed_out, seconds, disk_exceeded = _run_process(
            [sys.executable, "main.py"], workdir, env, limits, timeout_s, uid=uid, ro_binds=_data_dir_binds(data_dir)
        )
    return _outcome(workdir, exit_code, timed_out, seconds, timeout_s, limits, disk_exceeded)


def _data_dir_environment(data_dir: str) -> dict:
    if not data_dir or not os.path.isdir(data_dir):
        return {}
    return {"ANNAPURNA_DATA_DIR": INNER_DATA_DIR if bwrap_mode() else str(Path(data_dir).resolve())}


def _data_dir_binds(data_dir: str) -> dict:
    return {str(Path(data_dir).resolve()): INNER_DATA_DIR} if data_dir and os.path.isdir(data_dir) else {}


def _outcome(
    workdir: Path,
    exit_code: int | None,
    timed_out: bool,
    seconds: float,
    timeout_s: float,
    limits: dict | None = None,
    disk_exceeded: bool = False,
) -> dict:
    """What a finished script did: status and reason, metrics, the tails of its output, and its sandbox."""
    metrics = _parse_metric_lines(_log_lines(workdir / "stdout.log"))
    final = next((m for m in reversed(metrics) if "final_loss" in m), None)
    stderr_tail = _tail(workdir / "stderr.log")
    status, reason = _judge_outcome(timed_out, exit_code, metrics, final, timeout_s)
    limits = limits or {}
    if disk_exceeded:
        status = "killed"
        reason = f"wrote more than the {limits.get('disk_mb', 2048)} MB disk limit in its work dir: killed"
    elif status in ("failed", "killed") and ("File too large" in stderr_tail or exit_code == -signal.SIGXFSZ):
        reason += f" after hitting the {limits.get('file_size_mb', '?')} MB file-size limit (EFBIG)"
    elif status == "killed" and exit_code == -signal.SIGXCPU:
        reason += f" (CPU time limit, {limits.get('cpu_seconds', '?')} s)"
    elif status == "failed" and "MemoryError" in stderr_tail:
        reason += f" (MemoryError: {limits.get('memory_mb', '?')} MB address-space limit?)"
    return {
        "status": status,
        "reason": reason,
        "exit_code": exit_code,
        "seconds": round(seconds, 3),
        "metrics": metrics,
        "final": final or {},
        "stdout_tail": _tail(workdir / "stdout.log"),
        "stderr_tail": stderr_tail,
        "sandbox": sandbox_description(),
    }


def run_script(batch_dir: Path, item: dict, batch: dict, slot: int, uid: int | None = None) -> dict:
    """One paper's script in slot `slot`, as `uid` (the batch's uid for the slot, under bwrap as root)."""
    workdir = batch_dir / item["paper_key"]
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    wrapper = str(batch_dir / PROFILE_WRAPPER)
    sandboxed = bwrap_mode() is not None
    inner_workdir = INNER_WORKDIR if sandboxed else str(workdir)
    env = _environment(inner_workdir, batch, slot)
    env.update(_data_dir_environment(batch.get("datasets_dir", "")))
    neuron = batch["profile"] and neuron_profiler() is not None
    if neuron:  # the Neuron runtime captures the profile itself; it must not run beside torch.profiler
        env.update(
            NEURON_RT_INSPECT_ENABLE="1",
            NEURON_RT_INSPECT_DEVICE_PROFILE="1",
            NEURON_RT_INSPECT_OUTPUT_DIR=f"{inner_workdir}/{NEURON_PROFILE_DIR}",
        )
        command = [sys.executable, item["script"]]
    elif batch["profile"]:
        wrapper_args = [str(batch["profile_steps"]), TRACE_FILE, PROFILE_FILE, item["script"]]
        command = [sys.executable, INNER_WRAPPER if sandboxed else wrapper, *wrapper_args]
    else:
        command = [sys.executable, item["script"]]
    limits = batch["limits"]
    exit_code, timed_out, seconds, disk_exceeded = _run_process(
        command,
        workdir,
        env,
        limits,
        batch["timeout_s"],
        uid=uid,
        ro_binds={wrapper: INNER_WRAPPER, **_data_dir_binds(batch.get("datasets_dir", ""))},
    )
    result = {
        "paper_key": item["paper_key"],
        **_outcome(workdir, exit_code, timed_out, seconds, batch["timeout_s"], limits, disk_exceeded),
        "slot": slot,
        "uid": uid,
    }
    if neuron:
        _convert_neuron_profile(workdir)
    for key, names in (("trace_file", (TRACE_FILE, NEURON_TRACE_FILE)), ("profile_file", (PROFILE_FILE,))):
        for name in names:
            if (workdir / name).exists():
                result[key] = str(Path(item["paper_key"]) / name)
    return result


@functools.cache
def neuron_profiler() -> str | None:
    """The Neuron profiler's command line tool on a host with NeuronCores (neuron-explorer, formerly
    neuron-profile), or None."""
    if count_neuron_cores() == 0:
        return None
    for tool in ("neuron-explorer", "neuron-profile"):
        path = shutil.which(tool) or (
            f"/opt/aws/neuron/bin/{tool}" if os.path.exists(f"/opt/aws/neuron/bin/{tool}") else None
        )
        if path:
            return path
    return None


def _convert_neuron_profile(workdir: Path) -> None:
    """`<tool> view -d <profile dir> --output-format perfetto`: the system profile becomes NEURON_TRACE_FILE and a
    summary (the device profiles' files) PROFILE_FILE. A failed conversion leaves the run without a trace."""
    profile_dir = workdir / NEURON_PROFILE_DIR
    if not profile_dir.is_dir():
        return
    try:
        subprocess.run(
            [neuron_profiler(), "view", "-d", str(profile_dir), "--output-format", "perfetto"],
            cwd=profile_dir,
            capture_output=True,
            timeout=600,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return
    traces = sorted(profile_dir.rglob("*.pftrace"))
    system = [t for t in traces if t.name == "system_profile.pftrace"] or traces
    if not system:
        return
    shutil.copyfile(system[0], workdir / NEURON_TRACE_FILE)
    summary = {
        "profiler": "neuron",
        "trace_format": "perfetto protobuf (open in https://ui.perfetto.dev)",
        "device_profiles": [str(t.relative_to(workdir)) for t in traces if t != system[0]],
        "top_operators": [],
        "profiled_optimizer_steps": 0,
    }
    (workdir / PROFILE_FILE).write_text(json.dumps(summary))


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


def _pipes_io() -> dict:
    """S3 context loader and message writer when the launcher's bootstrap params name a bucket (ssm mode; the S3
    endpoint from AWS_ENDPOINT_URL when set); none otherwise (local mode: temp files, and no boto3 needed)."""
    from dagster_pipes import PipesEnvVarParamsLoader, PipesS3ContextLoader, PipesS3MessageWriter

    params = PipesEnvVarParamsLoader()
    if not params.is_dagster_pipes_process() or "bucket" not in params.load_context_params():
        return {}
    import boto3

    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    return {"context_loader": PipesS3ContextLoader(s3), "message_writer": PipesS3MessageWriter(s3, interval=2)}


def main() -> None:
    with open_dagster_pipes(**_pipes_io()) as pipes:
        batch = pipes.get_extra("batch")
        if int(batch["slots"]) <= 0:  # auto: sized to this host
            batch = {**batch, **plan_slots(count_neuron_cores(), count_gpus(), os.cpu_count() or 1)}
        batch_dir = Path(batch["batch_dir"])
        (batch_dir / PROFILE_WRAPPER).chmod(0o644)  # read by the scripts' unprivileged uid
        items = batch["papers"]
        sized = f" (auto: {batch['slot_devices']})" if "slot_devices" in batch else ""
        pipes.log.info(f"running {len(items)} scripts on {batch['slots']} slot(s){sized} in {batch_dir}")

        free_slots: queue.Queue[int] = queue.Queue()
        for slot in range(batch["slots"]):
            free_slots.put(slot)

        with batch_sandbox(pipes.log.info) as first_uid:

            def run(item):
                slot = free_slots.get()
                try:
                    uid = None if first_uid is None else first_uid + slot
                    result = run_script(batch_dir, item, batch, slot, uid)
                finally:
                    free_slots.put(slot)
                pipes.log.info(
                    f"{item['paper_key']}: {result['status']} in {result['seconds']:.1f} s {result['reason']}"
                )
                pipes.report_custom_message(result)
                return result

            with ThreadPoolExecutor(max_workers=batch["slots"]) as pool:
                list(pool.map(run, items))


if __name__ == "__main__":
    main()
