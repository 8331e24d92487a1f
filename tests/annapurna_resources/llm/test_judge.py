from annapurna_resources import MiniLMEmbedder, OfflineJudge
from annapurna_resources.storage.paper_index import Neighbour

GCN_TITLE = "Semi-Supervised Classification with Graph Convolutional Networks"
GCN_ABSTRACT = (
    "We present a scalable approach for semi-supervised learning on graph-structured data that is based "
    "on an efficient variant of convolutional neural networks which operate directly on graphs."
)
GENOMICS = ("Population genetics of wheat landraces", "We sequence 400 wheat landraces and study their ancestry.")


def test_offline_judge_accepts_on_topic_and_rejects_off_topic():
    judge = OfflineJudge(embedder=MiniLMEmbedder())
    gcn = judge.judge(GCN_TITLE, GCN_ABSTRACT, [])
    assert gcn["decision"] == "accept"
    assert gcn["matched_interest"].startswith("graph neural networks")
    assert gcn["novelty"] == 1.0 and "no other paper indexed" in gcn["reasons"][1]
    wheat = judge.judge(*GENOMICS, [])
    assert wheat["decision"] == "reject"
    assert wheat["relevance"] < gcn["relevance"] - 0.2


def test_near_duplicate_is_not_novel():
    judge = OfflineJudge(embedder=MiniLMEmbedder())
    verdict = judge.judge(GCN_TITLE, GCN_ABSTRACT, [Neighbour("arxiv-1609-02907", GCN_TITLE, 0.98)])
    assert verdict["decision"] == "reject"
    assert verdict["most_similar"]["key"] == "arxiv-1609-02907"
    assert verdict["novelty"] < 0.05
    assert any("near-duplicate" in r for r in verdict["reasons"])
