import subprocess
import sys

from annapurna_resources import OfflineCodeGenerator
from annapurna_resources.launcher.host.trn1_runner import parse_metrics
from annapurna_resources.llm.code_contract import check_contract
from annapurna_resources.llm.code_generator import FAMILIES, PaperSection, detect_family, find_hyperparameters

SETUP_PAGE = (
    "We train a two-layer GCN with 16 hidden units. We use a learning rate of 0.01, dropout rate of 0.5 and "
    "weight decay of 5e-4 on the Cora citation graph. The adjacency matrix is normalised."
)


def test_hyperparameters_keep_page_and_clamp():
    sections = [PaperSection("5.2 Set-Up", (6, 7), SETUP_PAGE), PaperSection("B Details", (12,), "batch size of 4096")]
    found = {h.name: h for h in find_hyperparameters(sections)}
    assert found["learning_rate"].paper_value == 0.01 and found["learning_rate"].page == 6
    assert found["learning_rate"].section == "5.2 Set-Up" and found["batch_size"].section == "B Details"
    assert found["weight_decay"].paper_value == 5e-4
    assert found["dropout"].used_value == 0.5
    assert found["batch_size"].paper_value == 4096 and found["batch_size"].used_value == 64
    lost_superscript = find_hyperparameters([PaperSection("1 Intro", (1,), "with a learning rate of 10 and")])
    assert lost_superscript == []


def test_family_detection():
    assert (
        detect_family("Semi-supervised classification with graph convolutional networks", "", [])[0]
        == "graph_neural_network"
    )
    assert detect_family("Switch Transformers", "mixture of experts routing", [])[0] == "mixture_of_experts"
    assert detect_family("A note", "nothing to see", [])[0] == "mlp"


def test_every_family_template_meets_the_contract_and_runs(tmp_path):
    generator = OfflineCodeGenerator(max_steps=3)
    titles = {
        "mixture_of_experts": "Sparse mixture-of-experts layers",
        "transformer": "A transformer language model",
        "graph_neural_network": "Graph convolutional networks",
        "reinforcement_learning": "Deep reinforcement learning with a Q-network",
        "recommender": "Neural collaborative filtering",
        "variational": "Variational autoencoders",
        "distillation": "Knowledge distillation from a teacher",
        "binarized_network": "Binarized neural networks",
        "convolutional": "Residual convolutional networks for image classification",
        "mlp": "A multilayer perceptron",
    }
    assert set(titles) == set(FAMILIES)
    setup = "We use a learning rate of 0.01, dropout rate of 0.5 and a batch size of 128."
    for family, title in titles.items():
        result = generator.generate("local-test", title, "", [PaperSection("4 Experiments", (1,), setup)])
        assert result["family"] == family, (family, result["family_cue_counts"])
        assert check_contract(result["code"]).ok, family
        script = tmp_path / f"{family}.py"
        script.write_text(result["code"])
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={"ANNAPURNA_TIME_BUDGET_S": "5", "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        metrics = parse_metrics(run.stdout)
        assert metrics[0]["step"] == 1 and "loss" in metrics[0]
        assert metrics[-1]["step"] == 3 and metrics[-1]["device"] == "cpu" and metrics[-1]["steps_per_sec"] > 0
