import json
from pathlib import Path

import numpy as np
import pytest

from annapurna_assets import cli
from annapurna_assets.judge.evaluation import (
    Topic,
    evaluate,
    feedback_sample,
    is_relevant,
    parse_profile,
    parse_topic,
    precision_at_k,
    roc_auc,
    scores_with_feedback,
    with_profiles,
)
from annapurna_resources.sources.listed_paper import ListedPaper
from tests.conftest import configure

NEURIPS_2023 = Path(__file__).resolve().parents[4] / "shared" / "data" / "listings" / "neurips2023"


def paper(title: str, keywords: list[str]) -> ListedPaper:
    return ListedPaper(source="openreview", source_id=title, title=title, abstract=title, keywords=keywords)


def test_label_is_a_case_insensitive_exact_keyword_match():
    topic = parse_topic("diffusion=diffusion model; Diffusion Models")
    assert is_relevant(paper("a", ["Diffusion Model", "ELBO"]), topic)
    assert is_relevant(paper("b", ["  DIFFUSION MODELS "]), topic)
    assert not is_relevant(paper("c", ["latent diffusion model"]), topic)  # exact match, not substring
    assert not is_relevant(paper("d", []), topic)


def test_parse_topic():
    assert parse_topic(" graph neural networks = GNN ; graph neural network ;") == Topic(
        "graph neural networks", ("GNN", "graph neural network")
    )
    for text, message in [
        ("diffusion", "no '='"),
        ("=diffusion model", "empty name"),
        ("diffusion= ; ", "no keywords"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_topic(text)


def test_cli_rejects_a_bad_topic_with_its_message(capsys):
    with pytest.raises(SystemExit):
        cli.main(["judge-eval", "--listing", "x.csv", "--topic", "diffusion"])
    assert "has no '='" in capsys.readouterr().err


def test_profiles_are_what_the_judge_is_told_apart_from_the_labels(capsys):
    topic = parse_topic("gnn=GNN;graph neural network")
    assert topic.profile() == "gnn: GNN, graph neural network"  # without a profile the judge is told the labels
    [told] = with_profiles([topic], [parse_profile("gnn = We build models that learn on molecules and networks.")])
    assert told.profile() == "We build models that learn on molecules and networks." and told.keywords == topic.keywords
    with pytest.raises(ValueError, match="profile for no topic: diffusion"):
        with_profiles([topic], [("diffusion", "We denoise.")])
    with pytest.raises(ValueError, match="NAME=the team's interests"):
        parse_profile("gnn")
    assert cli.main(["judge-eval", "--listing", "x.csv", "--topic", "gnn=GNN", "--profile", "rl=We act."]) == 2
    with pytest.raises(ValueError, match="more than one profile for gnn"):
        with_profiles([topic], [("gnn", "We learn."), ("gnn", "We learn more.")])
    with pytest.raises(SystemExit):
        cli.main(["judge-eval", "--listing", "x.csv", "--topic", "gnn=GNN", "--feedback", "-2"])
    assert "not a number of decisions" in capsys.readouterr().err


def test_feedback_decisions_are_half_accepts_and_no_paper_is_scored_by_its_own_label():
    labels = np.array([True] * 6 + [False] * 30)
    decided = feedback_sample(labels, 10, seed=3)
    assert len(decided) == 10 and labels[decided].sum() == 5 and decided == feedback_sample(labels, 10, seed=3)
    assert labels[feedback_sample(labels, 20)].sum() == 6  # as many accepts as the listing has

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(36, 8))
    vectors[:6, 0] += 3.0  # the relevant papers share a direction the profile misses
    relevance = labels * 0.8 + rng.normal(size=36)  # a profile that says a little
    blended = scores_with_feedback(relevance, vectors, labels, decided)
    assert roc_auc(blended, labels) > roc_auc(relevance, labels) + 0.1
    flipped = labels.copy()
    flipped[decided[0]] = not flipped[decided[0]]
    others = [d for d in decided if d != decided[0]]
    from annapurna_resources.llm.feedback_model import fit_topic_model

    without = fit_topic_model(vectors[others], labels[others]).margin(vectors[decided[0] : decided[0] + 1])[0]
    assert without == fit_topic_model(vectors[others], flipped[others]).margin(vectors[decided[0] : decided[0] + 1])[0]


def test_auc_by_hand_with_ties():
    # positives 0.9, 0.5, 0.3; negatives 0.5, 0.2.
    # Pairs: 0.9 beats both (2), 0.5 ties 0.5 (0.5) and beats 0.2 (1), 0.3 loses to 0.5 and beats 0.2 (1) -> 4.5 / 6
    scores = [0.9, 0.5, 0.5, 0.3, 0.2]
    labels = [True, True, False, True, False]
    assert roc_auc(scores, labels) == pytest.approx(4.5 / 6)
    assert roc_auc([0.1, 0.2], [False, True]) == 1.0
    assert roc_auc([0.4, 0.4, 0.4], [True, False, True]) == 0.5
    assert roc_auc([0.1, 0.2], [True, True]) is None
    assert precision_at_k(scores, labels) == pytest.approx(2 / 3)  # top 3: 0.9 (+), 0.5 (+), 0.5 (-)
    assert precision_at_k(scores, [False] * 5) is None


class KeywordCountJudge:
    """A stand-in judge: relevance = how many profile words occur in the title; accepts above 0."""

    def __init__(self, profile: str):
        self.words = profile.replace(":", " ").replace(",", " ").lower().split()

    def judge(self, title, abstract, neighbours, paper_vector=None):
        relevance = sum(word in title.lower().split() for word in self.words) / len(self.words)
        return {"relevance": relevance, "decision": "accept" if relevance > 0 else "reject"}


def test_evaluate_with_a_comparison_judge():
    papers = [
        paper("graph networks for molecules", ["graph neural networks"]),
        paper("message passing on graph data", ["GNN"]),
        paper("a study of wheat", ["genomics"]),
        paper("networks of roads", ["transport"]),
    ]
    topic = parse_topic("graph=graph neural networks;gnn")
    [result] = evaluate(papers, [topic], KeywordCountJudge, compare_make_judge=KeywordCountJudge)
    assert (result.n, result.positives) == (4, 2)
    assert result.auc == 1.0 and result.precision_at_k == 1.0
    assert result.accepted == 3  # "networks of roads" shares "networks" with the profile
    assert result.compare_auc == result.auc and result.decision_agreement == 1.0
    assert set(result.to_dict(comparing=False)) == {
        "topic",
        "n",
        "positives",
        "auc",
        "precision_at_k",
        "accepted",
        "seconds",
    }

    [sampled] = evaluate(papers, [topic], KeywordCountJudge, sample=2, seed=1, paper_vectors=np.zeros((4, 3)))
    assert sampled.n == 2


@pytest.mark.skipif(
    not sorted(NEURIPS_2023.glob("*.csv")), reason=f"needs the NeurIPS 2023 listing CSVs in {NEURIPS_2023} (absent)"
)
def test_offline_judge_ranks_diffusion_papers_on_the_real_listing(capsys):
    listings = [arg for path in sorted(NEURIPS_2023.glob("*.csv")) for arg in ("--listing", str(path))]
    topics = [
        "--topic",
        "diffusion=diffusion model;diffusion models",
        "--topic",
        "federated learning=federated learning",
    ]
    profiles = [
        "--profile",
        "diffusion=We generate images and audio by learning to reverse a gradual noising process.",
        "--profile",
        "federated learning=We train models across many clients that keep their data private on their devices.",
    ]
    assert cli.main(["judge-eval", *listings, *topics, *profiles, "--sample", "400", "--feedback", "10", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    results = {row["topic"]: row for row in map(json.loads, lines)}
    assert list(results) == ["diffusion", "federated learning"]
    diffusion = results["diffusion"]
    assert {"topic", "auc", "precision_at_k", "n", "positives", "feedback_auc", "feedback_precision_at_k"} <= set(
        diffusion
    )
    assert diffusion["n"] == 400 and diffusion["positives"] > 5 and diffusion["feedback_decisions"] == 10
    assert diffusion["auc"] >= 0.8 and diffusion["feedback_auc"] >= 0.8


def test_two_claude_prompts_side_by_side(tmp_path, monkeypatch, capsys):
    from tests.fakes.anthropic_api import GOOD_VERDICT, FakeAnthropicApi, tool_verdict

    listing = tmp_path / "neurips2023" / "oral.csv"
    listing.parent.mkdir()
    listing.write_text(
        "paper_id,title,link,keywords,abstract\n"
        'a1,Score Matching for Images,https://openreview.net/forum?id=a1,"Diffusion Model,Images",Denoising.\n'
        'a2,Message Passing Revisited,https://openreview.net/forum?id=a2,"Graph Neural Networks",Graphs.\n'
        'a3,Latent Diffusion at Scale,https://openreview.net/forum?id=a3,"diffusion model",Latents.\n'
    )
    strict, lenient = tmp_path / "strict.txt", tmp_path / "lenient.txt"
    strict.write_text("STRICT-PROMPT {research_interests}\n{title}\n{abstract}\n{neighbours}")
    lenient.write_text("LENIENT-PROMPT {research_interests}\n{title}\n{abstract}")
    steps = [tool_verdict(), tool_verdict({**GOOD_VERDICT, "relevant": "no", "relevance": 0.2}), tool_verdict()]
    with FakeAnthropicApi(*steps, *steps) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        configure(judge={"base_url": fake.url})
        argv = ["judge-eval", "--listing", str(listing), "--topic", "diffusion=diffusion model", "--judge", "claude"]
        assert cli.main([*argv, "--prompt", str(strict), "--compare-prompt", str(lenient), "--json"]) == 0

    (row,) = map(json.loads, capsys.readouterr().out.strip().splitlines())
    assert row["n"] == 3 and row["positives"] == 2
    assert row["auc"] == row["compare_auc"] == 1.0 and row["decision_agreement"] == 1.0
    prompts = [body["messages"][0]["content"] for body in fake.message_bodies()]
    assert [p.split()[0] for p in prompts] == ["STRICT-PROMPT"] * 3 + ["LENIENT-PROMPT"] * 3
    assert "diffusion: diffusion model" in prompts[0] and "Latent Diffusion at Scale" in prompts[5]

    bad = tmp_path / "bad.txt"
    bad.write_text("{paper}")
    with pytest.raises(SystemExit, match="unknown placeholders"):
        cli.main([*argv, "--prompt", str(bad)])
