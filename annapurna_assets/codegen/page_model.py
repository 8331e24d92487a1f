"""`page_classifier_model`: trains the section classifier on the labelled PDFs and records its held-out quality."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from annapurna_assets.codegen.reading.classifier import materialized_model_path, train_and_evaluate
from annapurna_assets.settings import DEMO_CORPUS, PROJECT_ROOT

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


class PageClassifierConfig(dg.Config):
    data_dir: str = Field(
        default=str(DEFAULT_DATA_DIR), description="Where the labelled PDFs (`pdfs/`) and the public annotations are."
    )


@dg.asset(group_name="read", kinds={"lightgbm"})
def page_classifier_model(config: PageClassifierConfig) -> dg.MaterializeResult:
    """A classifier of a paper's sections (method or setup vs other), trained on our page labels of the PDFs in
    `<data_dir>/pdfs` and of the bundled demo corpus carried to their sections: LightGBM on section features (with
    lexicons from the public annotations under `<data_dir>`) averaged with a logistic regression on the section's
    words. Precision and recall come from leave-one-paper-out cross-validation. `selected_pages` uses it from the
    next run on. (The asset keeps its first name, so its history stays with it.)"""
    data = Path(config.data_dir).expanduser().resolve()
    if not (data / "pdfs").is_dir():
        raise dg.Failure(f"no labelled PDFs: {data / 'pdfs'} does not exist (set data_dir in the run config)")
    classifier, evaluation = train_and_evaluate([data / "pdfs", DEMO_CORPUS], data)
    path = materialized_model_path()
    classifier.save(path)
    report = evaluation["report"]
    gains = classifier.booster.feature_importance("gain")
    top = sorted(zip(gains, classifier.booster.feature_name()), reverse=True)[:10]
    by_weight = sorted(classifier.words.weight, key=classifier.words.weight.get)
    return dg.MaterializeResult(
        metadata={
            "precision": report["precision"],
            "recall": report["recall"],
            "auc": report["auc"],
            "threshold": report["threshold"],
            "sections": report["sections"],
            "useful_sections": report["useful_sections"],
            "papers": dg.MetadataValue.json([paper.name for paper in evaluation["papers"]]),
            "evaluation": "leave-one-paper-out: each page scored by a model that never saw its paper",
            "path": dg.MetadataValue.path(str(path)),
            "top_features": dg.MetadataValue.md(
                "| feature | gain |\n|---|---|\n" + "\n".join(f"| {name} | {gain:.1f} |" for gain, name in top)
            ),
            "word_model_terms": len(by_weight),
            "top_words": dg.MetadataValue.json({"useful": by_weight[:-16:-1], "other": by_weight[:15]}),
        }
    )
