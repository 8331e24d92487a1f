import json

from annapurna_resources import Trn1Launcher
from annapurna_resources.trn1_launcher import run_batch_in_job

GOOD = """
import json, os, torch
if __name__ == "__main__":
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1, 4):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        print("METRICS: " + json.dumps({"step": step, "loss": float(loss)}))
    leaked = sorted(k for k in os.environ if "KEY" in k or "AWS" in k or "SLACK" in k or "DAGSTER" in k)
    print("METRICS: " + json.dumps({"step": 3, "loss": float(loss), "final_loss": float(loss), "steps_per_sec": 1.0,
                                    "leaked": leaked, "budget": os.environ["ANNAPURNA_TIME_BUDGET_S"]}))
"""
CRASH = "raise RuntimeError('shape mismatch in layer 3')\n"
HANG = 'import time\nprint(\'METRICS: {"step": 1, "loss": 1.0}\', flush=True)\ntime.sleep(600)\n'
SILENT = "print('training done')\n"
NAN = 'import json\nprint("METRICS: " + json.dumps({"step": 1, "loss": 1.0, "final_loss": float("nan")}))\n'


def run_batch(scripts: dict[str, str], tmp_path, timeout_s: float = 20):
    launcher = Trn1Launcher(work_root=str(tmp_path / "runs"), timeout_s=timeout_s, time_budget_s=3, slots=2)
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
