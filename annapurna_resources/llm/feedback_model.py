"""What a topic's decisions teach a judge: a linear model on paper embeddings, in the spirit of arxiv-sanity's
per-tag SVM, blended with the similarity to the team's written interests.

The model is a logistic regression (balanced classes, so ten accepts weigh as much as a hundred rejects) on the
decided papers' MiniLM vectors. Its margin and the profile similarity are put on one scale by standardising each over
the papers being ranked, then added: with few decisions the profile leads, and the decisions move papers that look
like the ones the team accepted or rejected.
"""

from dataclasses import dataclass

import numpy as np

INVERSE_REGULARISATION = 1.0


@dataclass(frozen=True)
class TopicModel:
    weights: np.ndarray
    bias: float
    decisions: int

    def margin(self, vectors: np.ndarray) -> np.ndarray:
        """log-odds that each paper would be accepted."""
        return vectors @ self.weights + self.bias


def fit_topic_model(vectors: np.ndarray, accepted: np.ndarray) -> TopicModel | None:
    """The model of these decisions, or None while they hold only accepts or only rejects."""
    accepted = np.asarray(accepted, dtype=int)
    if len(set(accepted.tolist())) < 2:
        return None
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(C=INVERSE_REGULARISATION, class_weight="balanced", max_iter=2000)
    regression.fit(vectors, accepted)
    return TopicModel(regression.coef_[0].astype(np.float32), float(regression.intercept_[0]), len(accepted))


def standardised(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def blended_scores(similarity: np.ndarray, margin: np.ndarray | None) -> np.ndarray:
    """Profile similarity and the decisions' margin on one scale (without decisions, the similarity alone)."""
    if margin is None:
        return standardised(similarity)
    return standardised(similarity) + standardised(margin)
