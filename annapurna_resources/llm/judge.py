"""Judges decide whether a paper is relevant to the team's research interests and novel against the corpus.

Every judge takes the paper's title and abstract plus its nearest already-indexed neighbours and returns
a verdict dict (see `verdict_fields`). The embedded default is `OfflineJudge`: MiniLM similarity between
the paper and each research interest, and novelty from the nearest neighbour. The Claude judge
(`claude_judge.py`) returns the same shape.
"""

import hashlib
from dataclasses import dataclass

import dagster as dg
import numpy as np
from pydantic import Field, PrivateAttr

from annapurna_resources.llm.embeddings import MiniLMEmbedder
from annapurna_resources.storage.paper_document import VerdictSection
from annapurna_resources.storage.paper_index import Neighbour

DEFAULT_RESEARCH_INTERESTS = """\
transformer language models: attention, pre-training and transfer learning, scaling
mixture-of-experts and sparse models for efficient large-scale training
deep reinforcement learning: Q-learning, policy gradients and off-policy learning
graph neural networks and message passing on graphs
optimizers and training of quantized or binarized neural networks
knowledge distillation: training a small student network to match a teacher
fast attention kernels and efficient inference on accelerators"""


def interests_from_profile(profile: str) -> list[str]:
    """One interest per non-empty line (or `;`-separated item) of the profile text."""
    items = [part.strip() for line in profile.splitlines() for part in line.split(";")]
    return [item for item in items if item]


class JudgeFailure(Exception):
    """The judge could not produce a real verdict (API error, refusal, unparsable answer); the message says why."""


@dataclass(frozen=True)
class JudgeRequest:
    """One paper to judge: what `Judge.judge` takes, for judging many papers at once."""

    title: str
    abstract: str
    neighbours: list[Neighbour]
    paper_vector: np.ndarray | None = None


class Judge(dg.ConfigurableResource):
    """What every judge offers the `verdict` asset."""

    def judge(
        self, title: str, abstract: str, neighbours: list[Neighbour], paper_vector: np.ndarray | None = None
    ) -> VerdictSection:
        """`paper_vector` is the MiniLM embedding of "title. abstract" when the caller has it already."""
        raise NotImplementedError

    def judge_many(self, requests: list[JudgeRequest]) -> list[VerdictSection | JudgeFailure]:
        """A verdict or the JudgeFailure for each request, in order; one paper's failure never stops the others.
        Judges with a cheaper way to judge many papers at once (Claude's Message Batches) override this."""
        verdicts: list[dict | JudgeFailure] = []
        for request in requests:
            try:
                verdicts.append(self.judge(request.title, request.abstract, request.neighbours, request.paper_vector))
            except JudgeFailure as failure:
                verdicts.append(failure)
        return verdicts


class OfflineJudge(Judge):
    """Relevance = highest cosine similarity between the paper and any research interest.

    A paper is accepted when relevance >= `relevance_threshold` and its nearest indexed neighbour is less
    similar than `duplicate_threshold` (otherwise it is a near-duplicate, not novel).
    """

    embedder: MiniLMEmbedder
    research_interests: str = Field(
        default=DEFAULT_RESEARCH_INTERESTS,
        description="The team's research interests, one per line: what a paper must match to be relevant.",
    )
    relevance_threshold: float = Field(
        default=0.34, description="Accept when the best interest similarity reaches this."
    )
    duplicate_threshold: float = Field(default=0.95, description="A paper this similar to an indexed one is not novel.")
    _interests_embedded: tuple[list[str], np.ndarray] | None = PrivateAttr(default=None)

    @property
    def name(self) -> str:
        return "offline-minilm"

    def prompt_version(self) -> str:
        return hashlib.sha256(self.research_interests.encode()).hexdigest()[:12]

    def _interest_vectors(self, interests: list[str]) -> np.ndarray:
        if self._interests_embedded is None or self._interests_embedded[0] != interests:
            self._interests_embedded = (interests, self.embedder.embed(interests))
        return self._interests_embedded[1]

    def judge(
        self, title: str, abstract: str, neighbours: list[Neighbour], paper_vector: np.ndarray | None = None
    ) -> VerdictSection:
        interests = interests_from_profile(self.research_interests)
        if not interests:
            raise ValueError("the research-interests profile is empty: nothing to judge against")
        if paper_vector is None:
            paper_vector = self.embedder.embed_one(f"{title}. {abstract}")
        similarities = self._interest_vectors(interests) @ paper_vector
        best = int(np.argmax(similarities))
        relevance = float(similarities[best])
        relevant = relevance >= self.relevance_threshold
        nearest = neighbours[0] if neighbours else None
        duplicate = nearest is not None and nearest.similarity >= self.duplicate_threshold
        novelty = 1.0 - nearest.similarity if nearest else 1.0

        reasons = [
            f"closest research interest: '{interests[best]}' (similarity {relevance:.2f}, "
            f"threshold {self.relevance_threshold:.2f})"
        ]
        if nearest:
            reasons.append(f"most similar indexed paper: '{nearest.title}' ({nearest.similarity:.2f})")
        else:
            reasons.append("no other paper indexed yet: novel by default")
        if duplicate:
            reasons.append("near-duplicate of an indexed paper: not novel")

        return {
            "judge": self.name,
            "model": "all-MiniLM-L6-v2",
            "prompt_version": self.prompt_version(),
            "decision": "accept" if relevant and not duplicate else "reject",
            "relevant": relevant,
            "relevance": round(relevance, 4),
            "novelty": round(novelty, 4),
            "matched_interest": interests[best],
            "interest_scores": {i: round(float(s), 4) for i, s in zip(interests, similarities)},
            "most_similar": (
                {"key": nearest.key, "title": nearest.title, "similarity": round(nearest.similarity, 4)}
                if nearest
                else None
            ),
            "neighbours": [{"key": n.key, "title": n.title, "similarity": round(n.similarity, 4)} for n in neighbours],
            "reasons": reasons,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
        }
