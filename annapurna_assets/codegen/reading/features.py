"""What the section classifier sees of a paper's section: text statistics, cue densities, its heading and its
parent's, its place in the paper, its neighbours' cues, and lexicon scores learned from public annotations
(see `Lexicons`).

Every feature is a number computed from the section's text and place; `FEATURE_NAMES` fixes the order of the
vector.
"""

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from annapurna_assets.papers.structure import PaperText

METHOD_CUES = re.compile(
    r"\b(algorithm|we propose|our (?:method|model|approach)|architecture|layer|loss|objective|gradient|"
    r"equation|eq\.|encoder|decoder|attention|embedding|network|update rule|minimi[sz]e|maximi[sz]e|"
    r"softmax|activation|parameteri[sz]ed|defined as|given by)\b",
    re.IGNORECASE,
)
SETUP_CUES = re.compile(
    r"\b(learning rate|batch size|optimi[sz]er|adam|sgd|momentum|weight decay|dropout|epochs?|"
    r"hyper-?parameters?|warm-?up|training steps|dataset|benchmark|implementation details|"
    r"experimental setup|we train|trained (?:for|with|on))\b",
    re.IGNORECASE,
)
MATH_CHARS = re.compile(r"[=∑∏∫∂∇αβγδεθλμσφψω≤≥≈∈→]")
REFERENCE_CUES = re.compile(r"\bet al\.|\b(?:19|20)\d\d[a-z]?\b|\bIn Proceedings\b|\barXiv\b|\bvol\.|\bpp\.", re.I)
WORD = re.compile(r"[a-z][a-z\-]{2,}")
HYPERPARAMETER_VALUE = re.compile(
    r"\b(?:learning rate|lr|batch size|dropout|weight decay|momentum|epochs?|steps|warm-?up|beta[12]?|epsilon|"
    r"temperature|hidden (?:size|units|dim)|layers|heads)\b[^.\n]{0,40}?\d",
    re.IGNORECASE,
)
SCIENTIFIC_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\s*[eE]\s*-?\d+\b|\b10\s*[−-]\s*\d\b|\b0\.0\d+\b")
ALGORITHM_BLOCK = re.compile(r"\bAlgorithm\s+\d|\bRequire:|\bEnsure:|\bend for\b|\bend while\b|\breturn\b", re.I)
EQUATION_NUMBER = re.compile(r"\(\d{1,2}\)\s*$", re.MULTILINE)
THEOREM = re.compile(r"\b(?:Theorem|Lemma|Proof|Corollary|Proposition|Assumption)\b")
RESULT_CUES = re.compile(
    r"\b(?:outperforms?|state-of-the-art|accuracy|BLEU|F1|perplexity|results?|Table \d|Figure \d|improves?)\b", re.I
)
TABLE_LINE = re.compile(r"^[\s\d.,%±/()\-]+$", re.MULTILINE)
HEADINGS = {
    "method": r"method|approach|model|architecture|algorithm|our|framework|proposed|formulation|objective|loss",
    "setup": r"experiment|setup|set-up|training|implementation|hyper-?parameters?|datasets?|details|protocol",
    "results": r"results?|evaluation|analysis|ablation|discussion",
    "background": r"introduction|background|preliminar|related work|motivation|notation",
    "end": r"conclusions?|acknowledge?ments?|references|bibliography|broader impact|limitations|checklist",
}
OWN_FEATURES = [
    "log_words",
    "chars_per_line",
    "short_line_share",
    "digit_share",
    "upper_share",
    "math_per_100",
    "method_cues_per_100",
    "setup_cues_per_100",
    "hyperparameter_values_per_100",
    "scientific_numbers_per_100",
    "algorithm_cues_per_100",
    "equation_numbers",
    "theorem_cues_per_100",
    "result_cues_per_100",
    "reference_cues_per_100",
    "table_line_share",
    "cue_score",
    *(f"heading_{name}" for name in HEADINGS),
    *(f"section_{name}" for name in HEADINGS),
    "lexicon_method",
    "lexicon_setup",
    "lexicon_rubric_method",
    "lexicon_rubric_setup",
]
CONTEXT_FEATURES = ["cue_score", "method_cues_per_100", "setup_cues_per_100", "lexicon_method", "lexicon_setup"]
RELATIVE_FEATURES = ["lexicon_method", "lexicon_setup", "cue_score", "math_per_100", "setup_cues_per_100"]
FEATURE_NAMES = [
    *OWN_FEATURES,
    *(f"previous_{name}" for name in CONTEXT_FEATURES),
    *(f"next_{name}" for name in CONTEXT_FEATURES),
    *(f"rank_in_paper_{name}" for name in RELATIVE_FEATURES),
    "position",
    "is_front_matter",
    "in_appendix",
    "level",
    "log_page_count",
]


def cue_score(text: str) -> float:
    """Implementation and setup cues per 100 words, minus citations; short texts score lower."""
    n_words = max(1, len(text.split()))
    per_100_words = 100.0 / n_words
    method = len(METHOD_CUES.findall(text)) * per_100_words
    setup = len(SETUP_CUES.findall(text)) * per_100_words
    maths = min(len(MATH_CHARS.findall(text)) * per_100_words, 10.0)
    references = len(REFERENCE_CUES.findall(text)) * per_100_words
    return round(method + 1.5 * setup + 0.3 * maths - 0.8 * references - (3.0 if n_words < 80 else 0.0), 3)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass
class Lexicons:
    """Word weights (smoothed log-odds) learned from public annotations, one lexicon per kind of content:
    `method` from CSAbstruct method sentences vs its other sentences, `setup` from HyperPIE paragraphs that
    state hyperparameters vs CSAbstruct background/result sentences, `rubric_method` / `rubric_setup` from
    PaperBench rubric requirements of those categories vs the rest. A text's score is its words' mean weight."""

    weights: dict[str, dict[str, float]] = field(default_factory=dict)

    def score(self, name: str, text_words: list[str]) -> float:
        table = self.weights.get(name, {})
        if not text_words or not table:
            return 0.0
        return sum(table.get(w, 0.0) for w in text_words) / len(text_words)

    def to_json(self) -> dict:
        return self.weights

    @classmethod
    def from_json(cls, data: dict) -> "Lexicons":
        return cls(weights=data)


def log_odds(positive: Iterable[str], negative: Iterable[str], min_count: int = 5, keep: int = 1500) -> dict:
    """Smoothed log-odds of each word between two collections of texts; the `keep` strongest words either way."""
    pos, neg = Counter(), Counter()
    for text in positive:
        pos.update(set(words(text)))
    for text in negative:
        neg.update(set(words(text)))
    pos_total, neg_total = sum(pos.values()) + 1, sum(neg.values()) + 1
    scores = {
        w: math.log((pos[w] + 1) / pos_total) - math.log((neg[w] + 1) / neg_total)
        for w in set(pos) | set(neg)
        if pos[w] + neg[w] >= min_count
    }
    strongest = sorted(scores, key=lambda w: (-abs(scores[w]), w))[:keep]
    return {w: round(scores[w], 4) for w in strongest}


def learn_lexicons(data_dir: Path) -> Lexicons:
    """Lexicons from `labels/csabstruct`, `labels/hyperpie` and `paper_code/paperbench` under `data_dir`."""
    sentences: dict[str, list[str]] = {}
    for line in (data_dir / "labels" / "csabstruct" / "train.jsonl").read_text().splitlines():
        record = json.loads(line)
        for sentence, label in zip(record["sentences"], record["labels"]):
            sentences.setdefault(label, []).append(sentence)
    non_method = [s for label, group in sentences.items() if label != "method" for s in group]
    hyperpie = json.loads((data_dir / "labels" / "hyperpie" / "tsa_processed.json").read_text())
    hyperparameter_paragraphs = [p["text"] for p in hyperpie if p["annotation"]["entities"]]
    background = sentences.get("background", []) + sentences.get("result", [])

    rubric: dict[str, list[str]] = {}
    for path in sorted((data_dir / "paper_code" / "paperbench").glob("*/rubric.json")):
        stack = [json.loads(path.read_text())]
        while stack:
            node = stack.pop()
            stack.extend(node.get("sub_tasks") or [])
            if not node.get("sub_tasks") and node.get("finegrained_task_category"):
                rubric.setdefault(node["finegrained_task_category"], []).append(node["requirements"])
    rubric_method = rubric.get("Method Implementation", [])
    rubric_setup = rubric.get("Experimental Setup", [])
    rubric_rest = [r for name, group in rubric.items() if name not in ("Method Implementation",) for r in group]
    return Lexicons(
        {
            "method": log_odds(sentences.get("method", []), non_method),
            "setup": log_odds(hyperparameter_paragraphs, background),
            "rubric_method": log_odds(rubric_method, rubric_rest, min_count=3),
            "rubric_setup": log_odds(
                rubric_setup, [r for n, g in rubric.items() if n != "Experimental Setup" for r in g], min_count=3
            ),
        }
    )


def _own_features(text: str, lexicons: Lexicons) -> dict[str, float]:
    tokens = text.split()
    n_words = max(1, len(tokens))
    per_100 = 100.0 / n_words
    lines = [line for line in text.splitlines() if line.strip()] or [""]
    characters = max(1, len(text))
    text_words = words(text)
    features = {
        "log_words": math.log1p(len(tokens)),
        "chars_per_line": sum(len(line) for line in lines) / len(lines),
        "short_line_share": sum(len(line.strip()) < 25 for line in lines) / len(lines),
        "digit_share": sum(c.isdigit() for c in text) / characters,
        "upper_share": sum(c.isupper() for c in text) / characters,
        "math_per_100": len(MATH_CHARS.findall(text)) * per_100,
        "method_cues_per_100": len(METHOD_CUES.findall(text)) * per_100,
        "setup_cues_per_100": len(SETUP_CUES.findall(text)) * per_100,
        "hyperparameter_values_per_100": len(HYPERPARAMETER_VALUE.findall(text)) * per_100,
        "scientific_numbers_per_100": len(SCIENTIFIC_NUMBER.findall(text)) * per_100,
        "algorithm_cues_per_100": len(ALGORITHM_BLOCK.findall(text)) * per_100,
        "equation_numbers": float(len(EQUATION_NUMBER.findall(text))),
        "theorem_cues_per_100": len(THEOREM.findall(text)) * per_100,
        "result_cues_per_100": len(RESULT_CUES.findall(text)) * per_100,
        "reference_cues_per_100": len(REFERENCE_CUES.findall(text)) * per_100,
        "table_line_share": len(TABLE_LINE.findall(text)) / len(lines),
        "cue_score": cue_score(text),
        **{f"lexicon_{name}": lexicons.score(name, text_words) for name in lexicons.weights},
    }
    for name in ("lexicon_method", "lexicon_setup", "lexicon_rubric_method", "lexicon_rubric_setup"):
        features.setdefault(name, 0.0)
    return features


def heading_category(title: str) -> str | None:
    lowered = title.lower()
    return next((name for name, pattern in HEADINGS.items() if re.search(pattern, lowered)), None)


def section_features(paper: "PaperText", lexicons: Lexicons) -> list[list[float]]:
    """One feature vector (in FEATURE_NAMES order) per section of `paper`: what its text looks like (cues,
    maths, lexicons), what its heading and its parent's heading say, and where it sits in the paper."""
    sections = paper.sections
    own = [_own_features(section.text, lexicons) for section in sections]
    for name in RELATIVE_FEATURES:
        values = np.array([f[name] for f in own])
        ranks = values.argsort().argsort() / max(1, len(values) - 1)
        for features, rank in zip(own, ranks):
            features[f"rank_in_paper_{name}"] = float(rank)
    total = max(1, sum(section.chars for section in sections))
    offset = 0
    rows = []
    for i, (section, features) in enumerate(zip(sections, own)):
        row = dict(features)
        title, parent = heading_category(section.title), heading_category(section.parent)
        for name in HEADINGS:
            row[f"heading_{name}"] = float(title == name)
            row[f"section_{name}"] = float(parent == name)
        for name in CONTEXT_FEATURES:
            row[f"previous_{name}"] = own[i - 1][name] if i > 0 else 0.0
            row[f"next_{name}"] = own[i + 1][name] if i + 1 < len(own) else 0.0
        row["position"] = offset / total
        row["is_front_matter"] = float(section.level == 0)
        row["in_appendix"] = float(section.in_appendix)
        row["level"] = float(section.level)
        row["log_page_count"] = math.log(max(1, paper.page_count))
        offset += section.chars
        rows.append([float(row[name]) for name in FEATURE_NAMES])
    return rows
