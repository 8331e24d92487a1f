"""The word half of the section classifier: a logistic regression on a section's TF-IDF word vector, learned from
our labels. The LightGBM half sees what a section looks like (cues, maths, position, heading); this half sees its
vocabulary ("we initialise", "warm-up", "our encoder" against "outperforms", "related", "proceedings").

Stored as plain numbers (each word's idf and weight, and the intercept), so the model file holds no text and needs
no pickle; scikit-learn only fits the weights (and is imported only then: it takes seconds to load).
"""

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

TOKEN = re.compile(r"\b\w\w+\b")
MIN_TEXTS = 3  # a word must appear in this many training texts to get a weight
INVERSE_REGULARISATION = 10.0


def text_terms(text: str) -> Counter:
    return Counter(TOKEN.findall(text.lower()))


@dataclass
class WordModel:
    idf: dict[str, float]
    weight: dict[str, float]
    intercept: float

    @classmethod
    def fit(cls, texts: list[str], useful: np.ndarray) -> "WordModel":
        counts = [text_terms(text) for text in texts]
        document_frequency = Counter(term for terms in counts for term in terms)
        vocabulary = sorted(term for term, n in document_frequency.items() if n >= MIN_TEXTS)
        # scikit-learn's smoothed idf: ln((1 + texts) / (1 + texts with the word)) + 1
        idf = {term: math.log((1 + len(texts)) / (1 + document_frequency[term])) + 1 for term in vocabulary}
        from sklearn.linear_model import LogisticRegression

        regression = LogisticRegression(C=INVERSE_REGULARISATION, max_iter=3000)
        regression.fit(_matrix(counts, vocabulary, idf), np.asarray(useful, dtype=int))
        weight = {term: float(w) for term, w in zip(vocabulary, regression.coef_[0])}
        return cls(idf, weight, float(regression.intercept_[0]))

    def logits(self, texts: list[str]) -> np.ndarray:
        """log-odds that each text is useful."""
        counts = [text_terms(text) for text in texts]
        vocabulary = list(self.idf)
        matrix = _matrix(counts, vocabulary, self.idf)
        weights = np.array([self.weight[term] for term in vocabulary])
        return matrix @ weights + self.intercept

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(texts)))

    def to_json(self) -> dict:
        return {
            "intercept": self.intercept,
            "terms": {term: [round(self.idf[term], 6), round(self.weight[term], 6)] for term in self.idf},
        }

    @classmethod
    def from_json(cls, data: dict) -> "WordModel":
        terms = data["terms"]
        return cls({t: v[0] for t, v in terms.items()}, {t: v[1] for t, v in terms.items()}, data["intercept"])


def _matrix(counts: list[Counter], vocabulary: list[str], idf: dict[str, float]) -> csr_matrix:
    """Sublinear TF-IDF rows (1 + ln count, times idf), each scaled to unit length."""
    column = {term: j for j, term in enumerate(vocabulary)}
    rows, columns, values = [], [], []
    for i, terms in enumerate(counts):
        entries = [(column[t], (1 + math.log(n)) * idf[t]) for t, n in terms.items() if t in column]
        norm = math.sqrt(sum(v * v for _, v in entries)) or 1.0
        for j, value in entries:
            rows.append(i)
            columns.append(j)
            values.append(value / norm)
    return csr_matrix((values, (rows, columns)), shape=(len(counts), len(vocabulary)))
