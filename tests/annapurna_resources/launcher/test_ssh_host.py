"""The launcher's ssh mode against a real sshd on loopback (tests/ssh_server.py), and the runner's slot planning."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from annapurna_resources import Trn1Launcher
from annapurna_resources.launcher.host.trn1_runner import _environment, count_gpus, count_neuron_cores, plan_slots
from annapurna_resources.launcher.trn1_launcher import InfrastructureError, run_batch_in_job
from tests.contract_scripts import training_script
from tests.ssh_server import free_port

GOOD = training_script(
    final_fields='"threads": os.environ["OMP_NUM_THREADS"], "slot": os.environ["ANNAPURNA_SLOT"], "cwd": os.getcwd()'
)
QUICK = 'import json\nprint("METRICS: " + json.dumps({"step": 1, "final_loss": 0.5}))\n'
CRASH = "raise RuntimeError('shape mismatch in layer 3')\n"
HANG = "import time\ntime.sleep(600)\n"


def ssh_launcher(server, tmp_path, **fields) -> Trn1Launcher:
    settings = {
        "mode": "ssh",
        "ssh": {  # the test's `ssh_<name>` fields override these
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "key_path": server.key_path,
            "known_hosts_path": server.known_hosts_path,
            **{name.removeprefix("ssh_"): fields.pop(name) for name in list(fields) if name.startswith("ssh_")},
        },
        "remote_work_root": str(tmp_path / "remote"),
        "remote_python": sys.executable,
        "work_root": str(tmp_path / "local"),
        "limits": {"timeout_s": fields.pop("timeout_s", 30), "time_budget_s": 2},
        "slots": 2,
        **fields,
    }
    return Trn1Launcher(**settings)


def run(launcher, scripts) -> dict:
    return {r.paper_key: r for r in run_batch_in_job(launcher, scripts, log_level="ERROR")}


def infrastructure_error(launcher, scripts) -> str:
    with pytest.raises(Exception) as raised:
        run_batch_in_job(launcher, scripts, log_level="CRITICAL")
    error = raised.value
    while error is not None and not isinstance(error, InfrastructureError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, InfrastructureError), f"not an InfrastructureError: {raised.value!r}"
    return error.description


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.iterdir()) if root.exists() else []


def test_a_batch_runs_over_ssh_with_results_traces_and_auto_slots(ssh_server, tmp_path):
    launcher = ssh_launcher(ssh_server, tmp_path, slots=0, keep_work_dirs=True)
    results = run(launcher, {"good": GOOD, "crash": CRASH})

    good, crash = results["good"], results["crash"]
    assert good.ok and good.exit_code == 0, good.stderr_tail
    assert good.final["cwd"].startswith(str(tmp_path / "remote")) or good.final["cwd"] == "/tmp/annapurna-work"
    cores = os.cpu_count() or 1
    assert good.final["threads"] == str(max(1, cores // min(cores, 4))), "slots sized on the host (CPU only here)"
    assert json.loads(good.trace)["traceEvents"]
    assert good.profile_summary["profiled_optimizer_steps"] == 3
    assert crash.status == "failed" and crash.exit_code == 1
    assert "shape mismatch in layer 3" in crash.stderr_tail, "a paper's failure is its own result, not the batch's"

    [batch_dir] = (tmp_path / "local").iterdir()
    assert (batch_dir / "good" / "annapurna_trace.json").stat().st_size > 0, "the trace came back"
    assert "shape mismatch" in (batch_dir / "crash" / "stderr.log").read_text(), "the logs came back"
    assert leftovers(tmp_path / "remote") == [], "the remote batch dir is removed"


def test_a_jump_host_is_used(ssh_server, tmp_path):
    jump = f"{ssh_server.user}@localhost:{ssh_server.port}"  # the same sshd (ssh refuses a jump under the same name)
    results = run(ssh_launcher(ssh_server, tmp_path, ssh_jump_host=jump), {"quick": QUICK})
    assert results["quick"].ok and results["quick"].final["final_loss"] == 0.5

    closed = f"{ssh_server.user}@localhost:{free_port()}"
    reason = infrastructure_error(ssh_launcher(ssh_server, tmp_path, ssh_jump_host=closed), {"quick": QUICK})
    assert "cannot reach" in reason and "Connection refused" in reason, reason


def test_unreachable_unknown_or_unauthorized_hosts_are_infrastructure_errors(ssh_server, tmp_path):
    refused = infrastructure_error(ssh_launcher(ssh_server, tmp_path, ssh_port=free_port()), {"quick": QUICK})
    assert "cannot reach" in refused and "Connection refused" in refused, refused

    empty_known_hosts = tmp_path / "known_hosts"
    empty_known_hosts.write_text("")
    unknown = infrastructure_error(
        ssh_launcher(ssh_server, tmp_path, ssh_known_hosts_path=str(empty_known_hosts)), {"quick": QUICK}
    )
    assert "Host key verification failed" in unknown, unknown

    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    denied = infrastructure_error(ssh_launcher(ssh_server, tmp_path, ssh_key_path=str(other_key)), {"quick": QUICK})
    assert "Permission denied" in denied, denied
    assert leftovers(tmp_path / "local") == []


def test_a_runner_that_cannot_start_is_an_infrastructure_error(ssh_server, tmp_path):
    bare_python = getattr(sys, "_base_executable", "") or "/usr/bin/python3"
    if subprocess.run([bare_python, "-c", "import dagster_pipes"], capture_output=True).returncode == 0:
        pytest.skip(f"{bare_python} has dagster-pipes: no Python without it to stand for a bare host")
    reason = infrastructure_error(ssh_launcher(ssh_server, tmp_path, remote_python=bare_python), {"quick": QUICK})
    assert "did not start" in reason and "dagster_pipes" in reason, reason
    assert leftovers(tmp_path / "remote") == []


def _processes_under(root: Path) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if str(root) in Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_a_connection_lost_mid_batch_is_an_infrastructure_error_and_stops_the_batch(ssh_server, tmp_path):
    remote = tmp_path / "remote"

    def drop_once_the_batch_runs():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if list(remote.glob("*/hang/stdout.log")):  # the runner has started the script
                ssh_server.drop_connections()
                return
            time.sleep(0.1)

    dropper = threading.Thread(target=drop_once_the_batch_runs)
    dropper.start()
    reason = infrastructure_error(ssh_launcher(ssh_server, tmp_path, timeout_s=120), {"hang": HANG})
    dropper.join()
    assert "lost the SSH connection" in reason, reason

    deadline = time.monotonic() + 30
    while (leftovers(remote) or _processes_under(remote)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(remote) == [] and _processes_under(remote) == [], "the host side stopped the batch"


def test_plan_slots_follows_the_hosts_devices():
    trn1 = plan_slots(neuron_cores=2, gpus=0, cpu_count=8)  # trn1.2xlarge
    assert trn1["slots"] == 2 and trn1["threads_per_slot"] == 4
    assert trn1["slot_env"] == [{"NEURON_RT_VISIBLE_CORES": "0"}, {"NEURON_RT_VISIBLE_CORES": "1"}]

    big = plan_slots(neuron_cores=32, gpus=8, cpu_count=128)  # trn1.32xlarge: NeuronCores win over anything else
    assert (
        big["slots"] == 32 and big["threads_per_slot"] == 4 and big["slot_env"][31] == {"NEURON_RT_VISIBLE_CORES": "31"}
    )

    gpu = plan_slots(neuron_cores=0, gpus=4, cpu_count=48)
    assert gpu["slots"] == 4 and gpu["threads_per_slot"] == 12
    assert [e["CUDA_VISIBLE_DEVICES"] for e in gpu["slot_env"]] == ["0", "1", "2", "3"]

    assert plan_slots(0, 0, 16) | {"slot_env": None} == {
        "slots": 4,
        "threads_per_slot": 4,
        "slot_env": None,
        "slot_devices": "16 CPU core(s)",
    }
    assert plan_slots(0, 0, 2)["slots"] == 2 and plan_slots(0, 0, 2)["threads_per_slot"] == 1
    assert plan_slots(0, 0, 1)["slots"] == 1 and plan_slots(0, 0, 0)["threads_per_slot"] == 1


def test_the_slots_device_reaches_the_script_environment_and_nothing_else_does():
    batch = {"threads_per_slot": 4, "time_budget_s": 2, **plan_slots(2, 0, 8)}
    batch["slot_env"][1]["LD_PRELOAD"] = "/tmp/evil.so"
    env = _environment("/tmp/w", batch, 1)
    assert env["NEURON_RT_VISIBLE_CORES"] == "1" and env["OMP_NUM_THREADS"] == "4"
    assert "LD_PRELOAD" not in env
    assert "CUDA_VISIBLE_DEVICES" not in _environment("/tmp/w", {"threads_per_slot": 1, "time_budget_s": 2}, 0)


def _fake_tool(folder: Path, name: str, output: str) -> None:
    tool = folder / name
    tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")
    tool.chmod(0o755)


def test_device_counts_come_from_neuron_ls_and_nvidia_smi(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert count_gpus() == 0
    _fake_tool(
        tmp_path, "neuron-ls", json.dumps([{"neuron_device": 0, "nc_count": 2}, {"neuron_device": 1, "nc_count": 2}])
    )
    _fake_tool(tmp_path, "nvidia-smi", "GPU 0: NVIDIA H100 (UUID: GPU-1)\nGPU 1: NVIDIA H100 (UUID: GPU-2)")
    assert count_neuron_cores() == 4
    assert count_gpus() == 2


def test_the_cli_batch_function_runs_over_ssh(ssh_server, tmp_path):
    from annapurna_assets.cli.commands import run_scripts

    [result] = run_scripts(
        {"quick": QUICK},
        "ssh",
        30,
        ssh=ssh_launcher(ssh_server, tmp_path).ssh,
        remote_python=sys.executable,
        remote_work_root=str(tmp_path / "remote"),
        work_root=str(tmp_path / "local"),
    )
    assert result.ok and result.final["final_loss"] == 0.5
