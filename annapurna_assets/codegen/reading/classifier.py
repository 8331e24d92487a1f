"""A classifier of a paper's sections: useful for implementing the paper (method or setup) or not.

Trained on our page labels of the shared PDFs (`page_labels.csv`: file hash, page, label; never the text), carried
to sections: a section is useful when most of its text lies on pages labelled method or setup. P(useful) is the
mean of two models: LightGBM on the features of `section_features` (including lexicons learned from public
annotations) and a logistic regression on the section's words (`WordModel`). Held-out quality comes from
leave-one-paper-out cross-validation: every section is scored by a model that never saw its paper.
A model trained on every labelled paper ships with the package (`models/section_classifier.json`); materializing
`page_classifier_model` retrains it and the pipeline then uses that one.
"""

import csv
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from annapurna_assets.codegen.reading.features import FEATURE_NAMES, Lexicons, learn_lexicons, section_features
from annapurna_assets.codegen.reading.selection import scored_sections
from annapurna_assets.codegen.reading.word_model import WordModel
from annapurna_assets.papers.structure import PaperText, read_structure

if TYPE_CHECKING:  # imported where used: loading LightGBM takes seconds, and most processes never classify
    import lightgbm
from annapurna_resources.storage.home import annapurna_home

LABELS_FILE = Path(__file__).with_name("page_labels.csv")
BUNDLED_MODEL = Path(__file__).with_name("models") / "section_classifier.json"
USEFUL = ("method", "setup")
LIGHTGBM_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 8,
    "min_data_in_leaf": 5,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
    "seed": 7,
}
ROUNDS = 150


def materialized_model_path() -> Path:
    return annapurna_home() / "models" / "section_classifier.json"


@dataclass
class LabelledPaper:
    name: str
    sha256: str
    text: PaperText
    labels: list[str]  # one per page

    @property
    def useful_pages(self) -> set[int]:
        return {number for number, label in enumerate(self.labels, start=1) if label in USEFUL}

    def useful_share(self, section_index: int) -> float:
        """The share of the section's text that is method or setup content (see `useful_chars`)."""
        by_page = self.useful_chars(section_index)
        total = self.text.sections[section_index].chars
        return sum(by_page.values()) / total if total else 0.0

    def useful_chars(self, section_index: int) -> dict[int, int]:
        """The section's characters of method or setup content on each page: all of its text on a page labelled
        method or setup, unless the section (or its parent) is one the label definitions call `other` wherever it
        is (references, related work, acknowledgements, broader impact, checklists): labels at the grain of a
        page's sections, for pages that hold more than one kind of text."""
        section = self.text.sections[section_index]
        if section.not_for_reproduction:
            return {}
        return {page: chars for page, chars in section.chars_by_page().items() if page in self.useful_pages}

    def training_sections(self) -> list[int]:
        """The scored sections with text, whose label is whether most of their text is on useful pages."""
        return [i for i in scored_sections(self.text) if self.text.sections[i].chars]

    @property
    def useful(self) -> np.ndarray:
        return np.array([self.useful_share(i) >= 0.5 for i in self.training_sections()])


def read_labels(path: Path = LABELS_FILE) -> dict[str, dict]:
    """sha256 -> {"name": file name, "labels": {page: label}}."""
    papers: dict[str, dict] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            entry = papers.setdefault(row["pdf_sha256"], {"name": row["pdf_name"], "labels": {}})
            entry["labels"][int(row["page"])] = row["label"]
    return papers


def labelled_papers(pdf_dirs: Path | Iterable[Path], labels_file: Path = LABELS_FILE) -> list[LabelledPaper]:
    """The labelled PDFs found in `pdf_dirs` (matched by content hash), read into sections, with their page labels."""
    labels = read_labels(labels_file)
    papers = []
    dirs = [pdf_dirs] if isinstance(pdf_dirs, Path) else list(pdf_dirs)
    for path in sorted((p for d in dirs for p in d.glob("*.pdf")), key=lambda p: p.name):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        entry = labels.get(digest)
        if entry is None:
            continue
        text = read_structure(data)
        if sorted(entry["labels"]) != list(range(1, text.page_count + 1)):
            raise ValueError(
                f"{path.name}: labels cover pages {sorted(entry['labels'])}, the PDF has {text.page_count}"
            )
        papers.append(
            LabelledPaper(path.name, digest, text, [entry["labels"][n] for n in range(1, text.page_count + 1)])
        )
    return papers


@dataclass
class SectionClassifier:
    booster: "lightgbm.Booster"
    lexicons: Lexicons
    words: WordModel
    info: dict = field(default_factory=dict)

    def predict(self, paper: PaperText, features: list[list[float]] | None = None) -> dict[int, float]:
        """P(useful) of each section the classifier judges (`scored_sections`), by its index in the paper: the
        mean of the LightGBM and word models' probabilities."""
        indices = scored_sections(paper)
        if not indices:
            return {}
        rows = features or section_features(paper, self.lexicons)
        from_features = self.booster.predict(np.array([rows[i] for i in indices]))
        from_words = self.words.probabilities([paper.sections[i].text for i in indices])
        return {i: float(p) for i, p in zip(indices, (from_features + from_words) / 2)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        model = {
            "feature_names": FEATURE_NAMES,
            "lightgbm": self.booster.model_to_string(),
            "lexicons": self.lexicons.to_json(),
            "words": self.words.to_json(),
            "info": self.info,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(model))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "SectionClassifier":
        model = json.loads(path.read_text())
        if model["feature_names"] != FEATURE_NAMES:
            raise ValueError(
                f"{path} was trained by an older version (other features); retrain it (materialize "
                "page_classifier_model)"
            )
        import lightgbm

        booster = lightgbm.Booster(model_str=model["lightgbm"])
        return cls(booster, Lexicons.from_json(model["lexicons"]), WordModel.from_json(model["words"]), model["info"])


def current_model_path() -> Path:
    """The materialized model under ANNAPURNA_HOME when there is one, else the bundled model."""
    path = materialized_model_path()
    return path if path.exists() else BUNDLED_MODEL


def train(
    papers: list[LabelledPaper], lexicons: Lexicons, features: dict[str, list[list[float]]] | None = None
) -> SectionClassifier:
    """Both models on `papers`; `features` (paper name -> feature rows) saves recomputing them across folds."""
    features = features or {paper.name: section_features(paper.text, lexicons) for paper in papers}
    rows = np.array([features[paper.name][i] for paper in papers for i in paper.training_sections()])
    labels = np.concatenate([paper.useful for paper in papers]).astype(int)
    texts = [paper.text.sections[i].text for paper in papers for i in paper.training_sections()]
    weights = np.log1p([len(text) for text in texts])  # a long section counts more than a heading's stub
    import lightgbm

    dataset = lightgbm.Dataset(rows, labels, weight=weights, feature_name=FEATURE_NAMES, free_raw_data=False)
    booster = lightgbm.train(LIGHTGBM_PARAMS, dataset, num_boost_round=ROUNDS)
    words = WordModel.fit(texts, labels)
    return SectionClassifier(booster, lexicons, words, {"papers": [p.name for p in papers], "sections": len(labels)})


def held_out_scores(
    papers: list[LabelledPaper], lexicons: Lexicons, held_out: list[LabelledPaper] | None = None
) -> dict[str, dict[int, float]]:
    """Leave-one-paper-out: each held-out paper's sections (all papers by default) scored by a model trained on the
    other papers."""
    features = {paper.name: section_features(paper.text, lexicons) for paper in papers}
    return {
        paper.name: train([p for p in papers if p is not paper], lexicons, features).predict(
            paper.text, features[paper.name]
        )
        for paper in (papers if held_out is None else held_out)
    }


def classification_report(
    papers: list[LabelledPaper], scores: dict[str, dict[int, float]], threshold: float = 0.5
) -> dict:
    """Precision and recall of `useful` at `threshold`, and ROC AUC, over every labelled section."""
    from annapurna_assets.judge.evaluation import roc_auc

    truth = np.concatenate([paper.useful for paper in papers])
    predicted = np.array([scores[paper.name][i] for paper in papers for i in paper.training_sections()])
    chosen = predicted >= threshold
    true_positives = int((chosen & truth).sum())
    return {
        "sections": int(len(truth)),
        "useful_sections": int(truth.sum()),
        "threshold": threshold,
        "precision": round(true_positives / max(1, int(chosen.sum())), 4),
        "recall": round(true_positives / max(1, int(truth.sum())), 4),
        "auc": round(roc_auc(predicted, truth) or 0.0, 4),
    }


def train_and_evaluate(pdf_dirs: list[Path], data_dir: Path) -> tuple[SectionClassifier, dict]:
    """The model on every labelled paper, and its leave-one-paper-out report (what the asset records)."""
    papers = labelled_papers(pdf_dirs)
    if len(papers) < 3:
        raise ValueError(f"only {len(papers)} labelled PDFs found in {pdf_dirs}: need at least 3 to train and hold out")
    lexicons = learn_lexicons(data_dir)
    scores = held_out_scores(papers, lexicons)
    report = classification_report(papers, scores)
    classifier = train(papers, lexicons)
    classifier.info["held_out"] = report
    classifier.info["trained"] = (
        f"trained {time.strftime('%Y-%m-%d')} on {len(papers)} papers, held-out AUC {report['auc']:.2f}"
    )
    return classifier, {"report": report, "papers": papers, "held_out_scores": scores}
