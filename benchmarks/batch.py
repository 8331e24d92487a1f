"""Ten contract scripts (the offline generator's, one per architecture family) through the trn1 launcher in local
mode, as one batch: wall time against the sum of the scripts' own run times, on one slot and on two.

    .venv/bin/python benchmarks/batch.py [--budget SECONDS]

Prints a line per run, then a final JSON line with `scripts`, `seconds`, `sum_script_seconds` and `ratio`
(= seconds / sum) for one slot, and the two-slot figures and speed-up beside them.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAPERS = {  # title and abstract cues that pick each family of the offline generator
    "transformer": "A Transformer language model with self-attention heads",
    "mixture_of_experts": "Sparse mixture-of-experts layers with a learned router",
    "graph_neural_network": "Graph convolutional networks for node classification with message passing",
    "reinforcement_learning": "Deep reinforcement learning with a Q-network and reward shaping",
    "recommender": "Neural collaborative filtering for implicit feedback recommendation",
    "variational": "A variational autoencoder trained on the evidence lower bound",
    "distillation": "Knowledge distillation from a teacher to a small student network",
    "binarized_network": "Binarized neural networks trained with a straight-through estimator",
    "convolutional": "Deep residual convolutional networks for image classification on CIFAR",
    "mlp": "A multi-layer perceptron with fully connected layers",
}


def contract_scripts() -> dict[str, str]:
    from annapurna_resources import OfflineCodeGenerator, PaperSection

    generator = OfflineCodeGenerator()
    scripts = {}
    for family, text in PAPERS.items():
        result = generator.generate(f"bench-{family}", text, text + ".", [PaperSection("1 Method", (1,), text)])
        assert result["family"] == family, (family, result["family"])
        scripts[f"bench-{family.replace('_', '-')}"] = result["code"]
    return scripts


def run(scripts: dict[str, str], slots: int, budget_s: float, work_root: str) -> dict:
    import dagster as dg

    from annapurna_resources import Trn1Launcher

    limits = {"time_budget_s": budget_s, "timeout_s": budget_s * 6 + 30}
    launcher = Trn1Launcher(work_root=work_root, slots=slots, limits=limits)
    captured = {}

    @dg.op
    def batch(context: dg.OpExecutionContext, launcher: Trn1Launcher):
        started = time.perf_counter()
        captured["results"] = launcher.run_batch(context, scripts)
        captured["seconds"] = time.perf_counter() - started

    @dg.job(resource_defs={"launcher": launcher})
    def job():
        batch()

    assert job.execute_in_process().success
    results = captured["results"]
    failed = [r.paper_key for r in results if not r.ok]
    script_seconds = sum(r.seconds for r in results)
    figures = {
        "slots": slots,
        "scripts": len(results),
        "ok": len(results) - len(failed),
        "seconds": round(captured["seconds"], 2),
        "sum_script_seconds": round(script_seconds, 2),
        "ratio": round(captured["seconds"] / script_seconds, 3),
    }
    print(json.dumps({**figures, "failed": failed}), file=sys.stderr)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=5.0, help="ANNAPURNA_TIME_BUDGET_S of each script")
    args = parser.parse_args()
    scripts = contract_scripts()
    with tempfile.TemporaryDirectory() as work_root:
        one = run(scripts, 1, args.budget, work_root)
        two = run(scripts, 2, args.budget, work_root)
    print(
        json.dumps(
            {
                **one,
                "two_slots_seconds": two["seconds"],
                "two_slots_sum_script_seconds": two["sum_script_seconds"],
                "two_slots_speedup": round(one["seconds"] / two["seconds"], 2),
                "budget_s": args.budget,
            }
        )
    )


if __name__ == "__main__":
    main()
