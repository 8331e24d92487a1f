"""Evaluate a judge on a labelled listing: how well its relevance scores rank the papers of a topic.

Labels come from the authors' own keywords: a paper is relevant to a topic when one of its keywords equals one of
the topic's keywords (case-insensitive, after stripping). The judge sees only the title and abstract, and a profile
made of the topic's name and keywords; `auc` is the ROC AUC of its `relevance` scores against the labels and
`precision_at_k` the share of relevant papers among its k best-scored, with k = the number of relevant papers.
"""

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from annapurna_resources.sources.listed_paper import ListedPaper

JudgeFactory = Callable[[str], object]  # profile text -> a Judge (anything with `judge(...) -> dict`)


@dataclass(frozen=True)
class Topic:
    name: str
    keywords: tuple[str, ...]

    def profile(self) -> str:
        """The research-interests text the judge gets: one interest line, "name: kw1, kw2"."""
        return f"{self.name}: {', '.join(self.keywords)}"


@dataclass
class TopicResult:
    topic: str
    n: int
    positives: int
    auc: float | None  # None when the sample holds no positive or no negative paper
    precision_at_k: float | None
    accepted: int
    seconds: float
    compare_auc: float | None = None
    compare_precision_at_k: float | None = None
    compare_accepted: int | None = None
    decision_agreement: float | None = None  # share of papers both judges accept or both reject

    def to_dict(self, comparing: bool) -> dict:
        fields = asdict(self)
        if not comparing:
            for name in ("compare_auc", "compare_precision_at_k", "compare_accepted", "decision_agreement"):
                fields.pop(name)
        return fields


def parse_topic(text: str) -> Topic:
    """`"NAME=kw1;kw2"` -> Topic(NAME, (kw1, kw2))."""
    name, equals, keywords_text = text.partition("=")
    keywords = tuple(k.strip() for k in keywords_text.split(";") if k.strip())
    if not equals:
        raise ValueError(f"topic {text!r} has no '=': write it as NAME=keyword1;keyword2")
    if not name.strip():
        raise ValueError(f"topic {text!r} has an empty name: write it as NAME=keyword1;keyword2")
    if not keywords:
        raise ValueError(f"topic {text!r} has no keywords after '=': write it as NAME=keyword1;keyword2")
    return Topic(name.strip(), keywords)


def _normalised(keyword: str) -> str:
    return keyword.strip().casefold()


def is_relevant(paper: ListedPaper, topic: Topic) -> bool:
    wanted = {_normalised(k) for k in topic.keywords}
    return any(_normalised(k) in wanted for k in paper.keywords)


def labels_for(papers: Sequence[ListedPaper], topic: Topic) -> np.ndarray:
    return np.array([is_relevant(paper, topic) for paper in papers], dtype=bool)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of the ranks they span."""
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks_before = np.cumsum(counts) - counts
    return (ranks_before + (counts + 1) / 2)[inverse]


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half); None if a class is empty."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    rank_sum = average_ranks(scores)[labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def precision_at_k(scores: Sequence[float], labels: Sequence[bool], k: int | None = None) -> float | None:
    """Share of positives among the k best scores; k defaults to the number of positives (None when it is 0)."""
    labels = np.asarray(labels, dtype=bool)
    k = int(labels.sum()) if k is None else k
    if k == 0:
        return None
    best_first = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    return float(labels[best_first[:k]].mean())


def sample_indices(total: int, sample: int | None, seed: int = 0) -> list[int]:
    """Indices of `sample` papers out of `total`, drawn reproducibly and kept in listing order (all when None)."""
    if sample is None or sample >= total:
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), sample))


def paper_text(paper: ListedPaper) -> str:
    """What the pipeline embeds for a paper (see `Judge.judge`)."""
    return f"{paper.title}. {paper.abstract}"


def _verdicts(judge, papers: Sequence[ListedPaper], paper_vectors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    relevance, accepted = [], []
    for i, paper in enumerate(papers):
        vector = paper_vectors[i] if paper_vectors is not None else None
        verdict = judge.judge(paper.title, paper.abstract, [], paper_vector=vector)
        relevance.append(float(verdict["relevance"]))
        accepted.append(verdict["decision"] == "accept")
    return np.array(relevance), np.array(accepted, dtype=bool)


def evaluate(
    papers: Sequence[ListedPaper],
    topics: Sequence[Topic],
    make_judge: JudgeFactory,
    sample: int | None = None,
    seed: int = 0,
    compare_make_judge: JudgeFactory | None = None,
    paper_vectors: np.ndarray | None = None,
) -> list[TopicResult]:
    """One TopicResult per topic. `paper_vectors` (row i = embedding of `paper_text(papers[i])`, before sampling)
    are handed to the judges so each paper is embedded once per run, not once per topic."""
    chosen = sample_indices(len(papers), sample, seed)
    papers = [papers[i] for i in chosen]
    vectors = paper_vectors[chosen] if paper_vectors is not None else None
    results = []
    for topic in topics:
        started = time.perf_counter()
        labels = labels_for(papers, topic)
        relevance, accepted = _verdicts(make_judge(topic.profile()), papers, vectors)
        result = TopicResult(
            topic=topic.name,
            n=len(papers),
            positives=int(labels.sum()),
            auc=_rounded(roc_auc(relevance, labels)),
            precision_at_k=_rounded(precision_at_k(relevance, labels)),
            accepted=int(accepted.sum()),
            seconds=0.0,
        )
        if compare_make_judge is not None:
            other_relevance, other_accepted = _verdicts(compare_make_judge(topic.profile()), papers, vectors)
            result.compare_auc = _rounded(roc_auc(other_relevance, labels))
            result.compare_precision_at_k = _rounded(precision_at_k(other_relevance, labels))
            result.compare_accepted = int(other_accepted.sum())
            result.decision_agreement = _rounded(float((accepted == other_accepted).mean()))
        result.seconds = round(time.perf_counter() - started, 2)
        results.append(result)
    return results


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def format_table(results: Sequence[TopicResult], comparing: bool) -> str:
    header = ["topic", "n", "positives", "auc", "p@k", "accepted"]
    if comparing:
        header += ["auc (compare)", "p@k (compare)", "accepted (compare)", "agreement"]
    rows = [header]
    for r in results:
        row = [r.topic, str(r.n), str(r.positives), _shown(r.auc), _shown(r.precision_at_k), str(r.accepted)]
        if comparing:
            row += [
                _shown(r.compare_auc),
                _shown(r.compare_precision_at_k),
                str(r.compare_accepted),
                _shown(r.decision_agreement),
            ]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
