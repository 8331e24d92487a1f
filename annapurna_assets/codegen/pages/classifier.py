"""A classifier of PDF pages: useful for implementing the paper (method or setup) or not.

Trained on our own page labels of the shared PDFs (`page_labels.csv`: file hash, page, label; never the text).
P(useful) is the mean of two models: LightGBM on the features of `page_features` (including lexicons learned from
public annotations) and a logistic regression on the page's words (`page_word_model`). Held-out quality comes
from leave-one-paper-out cross-validation: every page is scored by a model that never saw its paper.
A model trained on every labelled paper ships with the package (`models/page_classifier.json`); materializing
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

from annapurna_assets.codegen.pages.features import FEATURE_NAMES, Lexicons, learn_lexicons, paper_features
from annapurna_assets.codegen.pages.selection import strip_boilerplate
from annapurna_assets.codegen.pages.word_model import PageWordModel
from annapurna_assets.papers.pdf_text import extract_pages

if TYPE_CHECKING:  # imported where used: loading LightGBM takes seconds, and most processes never classify
    import lightgbm
from annapurna_resources.storage.home import annapurna_home

LABELS_FILE = Path(__file__).with_name("page_labels.csv")
BUNDLED_MODEL = Path(__file__).with_name("models") / "page_classifier.json"
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
    return annapurna_home() / "models" / "page_classifier.json"


@dataclass
class LabelledPaper:
    name: str
    sha256: str
    pages: list[str]
    labels: list[str]

    @property
    def useful(self) -> np.ndarray:
        return np.array([label in USEFUL for label in self.labels])


def read_labels(path: Path = LABELS_FILE) -> dict[str, dict]:
    """sha256 -> {"name": file name, "labels": {page: label}}."""
    papers: dict[str, dict] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            entry = papers.setdefault(row["pdf_sha256"], {"name": row["pdf_name"], "labels": {}})
            entry["labels"][int(row["page"])] = row["label"]
    return papers


def labelled_papers(pdf_dirs: Path | Iterable[Path], labels_file: Path = LABELS_FILE) -> list[LabelledPaper]:
    """The labelled PDFs found in `pdf_dirs` (matched by content hash), with their page texts and labels."""
    labels = read_labels(labels_file)
    papers = []
    dirs = [pdf_dirs] if isinstance(pdf_dirs, Path) else list(pdf_dirs)
    for path in sorted((p for d in dirs for p in d.glob("*.pdf")), key=lambda p: p.name):
        data = path.read_bytes()
        entry = labels.get(hashlib.sha256(data).hexdigest())
        if entry is None:
            continue
        pages = extract_pages(data)
        if sorted(entry["labels"]) != list(range(1, len(pages) + 1)):
            raise ValueError(f"{path.name}: labels cover pages {sorted(entry['labels'])}, the PDF has {len(pages)}")
        page_labels = [entry["labels"][number] for number in range(1, len(pages) + 1)]
        papers.append(LabelledPaper(path.name, hashlib.sha256(data).hexdigest(), pages, page_labels))
    return papers


@dataclass
class PageClassifier:
    booster: "lightgbm.Booster"
    lexicons: Lexicons
    words: PageWordModel
    info: dict = field(default_factory=dict)

    def predict(self, pages: list[str]) -> list[float]:
        """P(useful) for each page of one paper: the mean of the LightGBM and word models' probabilities."""
        if not pages:
            return []
        from_features = self.booster.predict(np.array(paper_features(pages, self.lexicons)))
        from_words = self.words.probabilities(strip_boilerplate(pages))
        return [float(p) for p in (from_features + from_words) / 2]

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
    def load(cls, path: Path) -> "PageClassifier":
        model = json.loads(path.read_text())
        if model["feature_names"] != FEATURE_NAMES or "words" not in model:
            raise ValueError(
                f"{path} was trained by an older version (other features, or no word model); "
                "retrain it (materialize page_classifier_model)"
            )
        import lightgbm

        booster = lightgbm.Booster(model_str=model["lightgbm"])
        words = PageWordModel.from_json(model["words"])
        return cls(booster, Lexicons.from_json(model["lexicons"]), words, model.get("info", {}))


def current_model_path() -> Path:
    """The materialized model under ANNAPURNA_HOME when there is one, else the bundled model."""
    path = materialized_model_path()
    return path if path.exists() else BUNDLED_MODEL


def train(
    papers: list[LabelledPaper], lexicons: Lexicons, features: dict[str, list[list[float]]] | None = None
) -> PageClassifier:
    """Both models on `papers`; `features` (paper name -> feature rows) saves recomputing them across folds."""
    features = features or {paper.name: paper_features(paper.pages, lexicons) for paper in papers}
    rows = np.array([row for paper in papers for row in features[paper.name]])
    labels = np.concatenate([paper.useful for paper in papers]).astype(int)
    import lightgbm

    dataset = lightgbm.Dataset(rows, labels, feature_name=FEATURE_NAMES, free_raw_data=False)
    booster = lightgbm.train(LIGHTGBM_PARAMS, dataset, num_boost_round=ROUNDS)
    words = PageWordModel.fit([page for paper in papers for page in strip_boilerplate(paper.pages)], labels)
    return PageClassifier(booster, lexicons, words, {"papers": [p.name for p in papers], "pages": len(labels)})


def held_out_scores(
    papers: list[LabelledPaper], lexicons: Lexicons, held_out: list[LabelledPaper] | None = None
) -> dict[str, list[float]]:
    """Leave-one-paper-out: each held-out paper's pages (all papers by default) scored by a model trained on the
    other papers."""
    features = {paper.name: paper_features(paper.pages, lexicons) for paper in papers}
    return {
        paper.name: train([p for p in papers if p is not paper], lexicons, features).predict(paper.pages)
        for paper in (papers if held_out is None else held_out)
    }


def classification_report(papers: list[LabelledPaper], scores: dict[str, list[float]], threshold: float = 0.5) -> dict:
    """Precision and recall of `useful` at `threshold`, and ROC AUC, over every page."""
    from annapurna_assets.judge.evaluation import roc_auc

    truth = np.concatenate([paper.useful for paper in papers])
    predicted = np.concatenate([scores[paper.name] for paper in papers])
    chosen = predicted >= threshold
    true_positives = int((chosen & truth).sum())
    return {
        "pages": int(len(truth)),
        "useful_pages": int(truth.sum()),
        "threshold": threshold,
        "precision": round(true_positives / max(1, int(chosen.sum())), 4),
        "recall": round(true_positives / max(1, int(truth.sum())), 4),
        "auc": round(roc_auc(predicted, truth) or 0.0, 4),
    }


def train_and_evaluate(pdf_dirs: list[Path], data_dir: Path) -> tuple[PageClassifier, dict]:
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
