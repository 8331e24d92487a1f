"""Evaluate a judge on a labelled listing: how well its relevance scores rank the papers of a topic.

Labels come from the authors' own keywords: a paper is relevant to a topic when one of its keywords equals one of
the topic's keywords (case-insensitive, after stripping). The judge sees only the title and abstract, and a profile:
the team's interests in words when given (`Topic.interests`), else the topic's name and label keywords (which
flatters the judge: it is told the labels). `auc` is the ROC AUC of its `relevance` scores against the labels and
`precision_at_k` the share of relevant papers among its k best-scored, with k = the number of relevant papers.

With feedback, K decisions on the topic are drawn from the listing (half accepts, half rejects, fixed seed), a topic
model is fitted on them (`feedback_model.py`) and blended with the judge's relevance; every paper, decided ones
included, is scored by a model that never saw its own label (`feedback_auc`, `feedback_precision_at_k`).
"""

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from annapurna_resources.llm.feedback_model import blended_scores, fit_topic_model
from annapurna_resources.sources.listed_paper import ListedPaper

JudgeFactory = Callable[[str], object]  # profile text -> a Judge (anything with `judge(...) -> dict`)


@dataclass(frozen=True)
class Topic:
    name: str
    keywords: tuple[str, ...]  # the labels: a paper with one of these author keywords is relevant
    interests: str = ""  # what the judge is told, in the team's words

    def profile(self) -> str:
        """The research-interests text the judge gets: the team's words, else one line "name: kw1, kw2"."""
        return self.interests or f"{self.name}: {', '.join(self.keywords)}"


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
    feedback_decisions: int | None = None
    feedback_auc: float | None = None
    feedback_precision_at_k: float | None = None

    def to_dict(self, comparing: bool) -> dict:
        fields = asdict(self)
        if not comparing:
            for name in ("compare_auc", "compare_precision_at_k", "compare_accepted", "decision_agreement"):
                fields.pop(name)
        if self.feedback_decisions is None:
            for name in ("feedback_decisions", "feedback_auc", "feedback_precision_at_k"):
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


def parse_profile(text: str) -> tuple[str, str]:
    """`"NAME=the team's interests in words"` -> (NAME, interests)."""
    name, equals, interests = text.partition("=")
    if not equals or not name.strip() or not interests.strip():
        raise ValueError(f"profile {text!r}: write it as NAME=the team's interests in words (NAME as in --topic)")
    return name.strip(), interests.strip()


def with_profiles(topics: Sequence[Topic], profiles: Sequence[tuple[str, str]]) -> list[Topic]:
    """The topics with the interests given for them; a profile must name a topic."""
    interests = dict(profiles)
    repeated = sorted({name for name, _ in profiles if [n for n, _ in profiles].count(name) > 1})
    if repeated:
        raise ValueError(f"more than one profile for {', '.join(repeated)}")
    unknown = set(interests) - {topic.name for topic in topics}
    if unknown:
        raise ValueError(f"profile for no topic: {', '.join(sorted(unknown))} (topics: {[t.name for t in topics]})")
    return [Topic(t.name, t.keywords, interests.get(t.name, t.interests)) for t in topics]


def feedback_sample(labels: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """The indices of k decisions on a topic: half accepts, half rejects (as far as the listing has them)."""
    rng = random.Random(seed)
    positives = [i for i, label in enumerate(labels) if label]
    negatives = [i for i, label in enumerate(labels) if not label]
    accepts = rng.sample(positives, min(len(positives), k // 2))
    rejects = rng.sample(negatives, min(len(negatives), k - len(accepts)))
    return sorted(accepts + rejects)


def scores_with_feedback(relevance: np.ndarray, vectors: np.ndarray, labels: np.ndarray, decided: list[int]):
    """Relevance blended with the topic model of the decisions; a decided paper's margin comes from a model fitted
    on the other decisions (no paper is scored by a model that saw its own label)."""
    decided_labels = labels[decided]
    model = fit_topic_model(vectors[decided], decided_labels)
    if model is None:
        return blended_scores(relevance, None)
    margin = model.margin(vectors)
    for j, i in enumerate(decided):
        others = [d for d in decided if d != i]
        without = fit_topic_model(vectors[others], labels[others])
        margin[i] = without.margin(vectors[i : i + 1])[0] if without else 0.0
    return blended_scores(relevance, margin)


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
    feedback: int = 0,
) -> list[TopicResult]:
    """One TopicResult per topic. `paper_vectors` (row i = embedding of `paper_text(papers[i])`, before sampling)
    are handed to the judges so each paper is embedded once per run, not once per topic; `feedback` decisions per
    topic (which need the vectors) add the feedback figures."""
    if feedback and paper_vectors is None:
        raise ValueError("feedback needs the papers' vectors")
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
        if feedback:
            decided = feedback_sample(labels, feedback, seed)
            blended = scores_with_feedback(relevance, vectors, labels, decided)
            result.feedback_decisions = len(decided)
            result.feedback_auc = _rounded(roc_auc(blended, labels))
            result.feedback_precision_at_k = _rounded(precision_at_k(blended, labels))
        result.seconds = round(time.perf_counter() - started, 2)
        results.append(result)
    return results


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def format_table(results: Sequence[TopicResult], comparing: bool) -> str:
    header = ["topic", "n", "positives", "auc", "p@k", "accepted"]
    feedback = any(r.feedback_decisions is not None for r in results)
    if feedback:
        header += ["decisions", "auc (feedback)", "p@k (feedback)"]
    if comparing:
        header += ["auc (compare)", "p@k (compare)", "accepted (compare)", "agreement"]
    rows = [header]
    for r in results:
        row = [r.topic, str(r.n), str(r.positives), _shown(r.auc), _shown(r.precision_at_k), str(r.accepted)]
        if feedback:
            row += [str(r.feedback_decisions), _shown(r.feedback_auc), _shown(r.feedback_precision_at_k)]
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
