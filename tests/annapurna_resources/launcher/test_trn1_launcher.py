import json
import os

from annapurna_resources import Trn1Launcher
from annapurna_resources.launcher.trn1_launcher import run_batch_in_job
from tests.contract_scripts import training_script

GOOD = training_script(
    final_fields='"steps_per_sec": 1.0, "budget": os.environ["ANNAPURNA_TIME_BUDGET_S"], '
    '"leaked": sorted(k for k in os.environ if any(s in k for s in ("KEY", "AWS", "SLACK", "DAGSTER")))'
)
CRASH = "raise RuntimeError('shape mismatch in layer 3')\n"
HANG = 'import time\nprint(\'METRICS: {"step": 1, "loss": 1.0}\', flush=True)\ntime.sleep(600)\n'
SILENT = "print('training done')\n"
NAN = 'import json\nprint("METRICS: " + json.dumps({"step": 1, "loss": 1.0, "final_loss": float("nan")}))\n'


def run_batch(scripts: dict[str, str], tmp_path, timeout_s: float = 20):
    launcher = Trn1Launcher(
        work_root=str(tmp_path / "runs"), limits={"timeout_s": timeout_s, "time_budget_s": 3}, slots=2
    )
    return {r.paper_key: r for r in run_batch_in_job(launcher, scripts)}


def test_a_batch_reports_each_paper_and_bad_scripts_do_not_hurt_good_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    results = run_batch(
        {"good": GOOD, "crash": CRASH, "hang": HANG, "silent": SILENT, "nan": NAN}, tmp_path, timeout_s=15
    )

    good = results["good"]
    assert good.ok and good.exit_code == 0
    assert good.final["leaked"] == [] and good.final["budget"] == "3.0"
    assert len(good.metrics) == 4
    trace = json.loads(good.trace)
    assert trace["traceEvents"], "the torch.profiler trace has events"
    summary = good.profile_summary
    assert summary["profiled_optimizer_steps"] == 3
    assert any("addmm" in op["name"] or "linear" in op["name"] for op in summary["top_operators"])

    assert results["crash"].status == "failed" and results["crash"].exit_code == 1
    assert "shape mismatch in layer 3" in results["crash"].stderr_tail
    assert results["hang"].status == "timeout" and "15 s timeout" in results["hang"].reason
    assert results["hang"].seconds < 30
    assert results["silent"].status == "failed" and "no METRICS" in results["silent"].reason
    assert results["nan"].status == "failed" and "not a finite number" in results["nan"].reason
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "work dirs are removed"


NEURON_SCRIPT = """
import json, os, pathlib
profile_dir = pathlib.Path(os.environ["NEURON_RT_INSPECT_OUTPUT_DIR"])  # what the Neuron runtime writes to
profile_dir.mkdir(parents=True, exist_ok=True)
(profile_dir / "neff_1.neff").write_bytes(b"NEFF")
(profile_dir / "1_instid_0_vnc_0.ntff").write_bytes(b"NTFF of core " + os.environ["NEURON_RT_VISIBLE_CORES"].encode())
print("METRICS: " + json.dumps({"step": 1, "loss": 0.5, "final_loss": 0.5, "steps_per_sec": 1.0,
                                "core": os.environ["NEURON_RT_VISIBLE_CORES"]}))
"""
# Stand-ins for aws-neuronx-tools: `neuron-ls` reports one device with two NeuronCores; `neuron-explorer view -d DIR
# --output-format perfetto` turns DIR's NTFF files into Perfetto files as the real tool names them.
NEURON_LS = '#!/bin/sh\necho \'[{"neuron_device": 0, "nc_count": 2}]\'\n'
NEURON_EXPLORER = """#!/bin/sh
[ "$1" = view ] && [ "$2" = -d ] && [ "$4" = --output-format ] && [ "$5" = perfetto ] || exit 2
cat "$3"/*.ntff > "$3/system_profile.pftrace" && echo device > "$3/device_profile_model_1.pftrace"
"""


def test_on_a_neuron_host_the_neuron_runtime_profiles_and_a_perfetto_trace_comes_back(tmp_path, monkeypatch):
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, text in (("neuron-ls", NEURON_LS), ("neuron-explorer", NEURON_EXPLORER)):
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    launcher = Trn1Launcher(work_root=str(tmp_path / "runs"), limits={"timeout_s": 30, "time_budget_s": 3}, slots=0)
    results = {r.paper_key: r for r in run_batch_in_job(launcher, {"a": NEURON_SCRIPT, "b": NEURON_SCRIPT})}

    assert all(r.ok for r in results.values())
    assert sorted(r.final["core"] for r in results.values()) == ["0", "1"]  # one NeuronCore per slot
    for result in results.values():
        assert result.trace == b"NTFF of core " + result.final["core"].encode()
        assert result.profile_summary["profiler"] == "neuron"
        assert result.profile_summary["device_profiles"] == ["neuron_profile/device_profile_model_1.pftrace"]
