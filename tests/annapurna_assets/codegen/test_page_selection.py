import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from annapurna_assets import cli
from annapurna_assets.codegen.pages.classifier import (
    BUNDLED_MODEL,
    PageClassifier,
    classification_report,
    held_out_scores,
    labelled_papers,
    read_labels,
)
from annapurna_assets.codegen.pages.features import FEATURE_NAMES, learn_lexicons, paper_features
from annapurna_assets.codegen.pages.selection import estimate_tokens, score_page, select_pages, strip_boilerplate
from annapurna_assets.codegen.pages.word_model import PageWordModel
from annapurna_assets.papers.pdf_text import extract_pages
from tests.conftest import SHARED_PDFS, configure, requires_shared_data

METHOD = (
    "We propose a layer whose loss is defined as L = sum of cross-entropy terms. The encoder computes an "
    "embedding with softmax attention. We train with Adam, learning rate 0.001, batch size 64 for 10 epochs. "
) * 6
REFERENCES = "References\n" + "Smith et al. 2019. In Proceedings of NeurIPS, pp. 1-9. arXiv 2019.\n" * 30
SHARED_DATA = SHARED_PDFS.parent


def test_method_pages_outscore_references():
    assert score_page(METHOD) > 0 > score_page(REFERENCES)


def test_budget_is_respected_and_pages_go_in_by_score_per_token():
    pages = ["Title and abstract " * 50, REFERENCES, METHOD, METHOD + " more", "x " * 10]
    budget = estimate_tokens(METHOD) + estimate_tokens(pages[4]) + 5
    selection = select_pages(pages, budget, page_scores=[0.3, 0.01, 0.9, 0.8, 0.5], min_score=0.02)
    assert selection.pages == [3, 5]  # page 4 no longer fits; page 2 is below min_score
    assert selection.tokens_kept <= budget and 0 < selection.token_fraction < 1


def test_two_short_likely_pages_beat_one_long_slightly_likelier_page():
    long_page, short_page = METHOD * 2, METHOD
    budget = 2 * estimate_tokens(short_page)
    selection = select_pages([long_page, short_page, short_page], budget, page_scores=[0.7, 0.6, 0.6])
    assert selection.pages == [2, 3]  # 1.2 expected useful pages for the budget instead of 0.7


def test_boilerplate_is_stripped_but_equations_and_table_cells_stay():
    header, footer = "Published as a conference paper at ICLR 2017", "Exploring the Limits of Transfer Learning"
    body = ["L = sum\ni=1\nα\nHyperparameters", "Learning rate\n0.001\nBatch size\n64", "x\ni=1\n0.001"]
    pages = [f"{header}\n{text}\n{footer}\n{n}" for n, text in enumerate(body, start=1)]
    pages[0] = "arXiv:1609.02907v4 [cs.LG] 22 Feb 2017\nhttps://github.com/tkipf/gcn\n" + pages[0]
    stripped = strip_boilerplate(pages)
    assert stripped == body  # running lines, page numbers, the stamp and the URL go; repeated "i=1", "0.001" stay
    selection = select_pages(pages, budget_tokens=10_000, page_scores=[0.9, 0.8, 0.7])
    assert selection.tokens_kept == sum(map(estimate_tokens, body))
    assert selection.tokens_total == sum(map(estimate_tokens, pages))  # the fraction is of the whole paper


def test_word_model_learns_page_vocabulary_and_survives_its_file():
    import numpy as np

    setups = [
        f"We train with Adam, learning rate 0.00{n}, batch size {n}0, dropout 0.1 for {n} epochs." for n in range(1, 7)
    ]
    others = [
        f"Smith et al. {2010 + n}. In Proceedings of NeurIPS, pp. {n}-9. Related work outperforms." for n in range(6)
    ]
    others[0] += " Vaswani"
    model = PageWordModel.fit(setups + others, np.array([1] * 6 + [0] * 6))
    unseen = [
        "We train for 30 epochs with batch size 128 and learning rate 0.01.",
        "Jones et al. 2021. In Proceedings.",
    ]
    setup, reference = model.probabilities(unseen)
    assert setup > 0.5 > reference
    again = PageWordModel.from_json(json.loads(json.dumps(model.to_json())))
    assert np.allclose(again.logits(unseen), model.logits(unseen), atol=1e-4)
    assert "smith" in model.idf and "vaswani" not in model.idf  # a word on fewer than three pages gets no weight


def test_a_model_file_without_the_word_model_asks_to_be_retrained(tmp_path):
    old = json.loads(BUNDLED_MODEL.read_text())
    del old["words"]
    path = tmp_path / "page_classifier.json"
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="retrain it"):
        PageClassifier.load(path)


def test_labels_cover_every_page_and_hold_no_text():
    labels = read_labels()
    assert len(labels) == 20 and sum(len(entry["labels"]) for entry in labels.values()) == 412
    assert {label for entry in labels.values() for label in entry["labels"].values()} == {"method", "setup", "other"}


def test_features_are_finite_and_in_order():
    rows = paper_features(
        ["Introduction\nWe study graphs.", METHOD, REFERENCES], PageClassifier.load(BUNDLED_MODEL).lexicons
    )
    assert len(rows) == 3 and all(len(row) == len(FEATURE_NAMES) for row in rows)
    assert all(value == value and abs(value) < 1e6 for row in rows for value in row)


@requires_shared_data
def test_classifier_on_papers_it_never_saw():
    papers = labelled_papers(SHARED_PDFS)
    assert len(papers) == 10
    held_out = papers[:4]  # four folds of leave-one-paper-out keep the test short; the benchmark runs all ten
    lexicons = learn_lexicons(SHARED_DATA)
    scores = held_out_scores(papers, lexicons, held_out)
    report = classification_report(held_out, scores)
    assert report["auc"] >= 0.7 and report["recall"] >= 0.5 and report["precision"] >= 0.5


@requires_shared_data
def test_bundled_model_keeps_the_transformer_architecture_and_training_pages(capsys):
    pdf = SHARED_PDFS / "transformer__1706.03762__attention_is_all_you_need.pdf"
    assert cli.main(["pages", str(pdf), "--json"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert {3, 4, 5, 6, 7}.issubset(chosen["pages"])  # model architecture, attention, training setup
    assert chosen["tokens_kept"] <= 0.6 * chosen["tokens_total"]
    assert set(chosen["scores"]) == {str(n) for n in chosen["pages"]}
    pages = extract_pages(pdf.read_bytes())
    assert chosen["tokens_total"] == sum(map(estimate_tokens, pages))
    assert cli.main(["pages", str(pdf), "--budget", "2000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens_kept"] <= 2000


@requires_shared_data
def test_page_budget_comes_from_the_settings_file(tmp_path):
    pdf = SHARED_PDFS / "transformer__1706.03762__attention_is_all_you_need.pdf"
    configure(tmp_path, lifecycle={"page_max_fraction": 0.3})
    env = {**os.environ, "ANNAPURNA_HOME": str(tmp_path)}
    annapurna = Path(sys.executable).with_name("annapurna")
    done = subprocess.run([annapurna, "pages", pdf, "--json"], env=env, capture_output=True, text=True, timeout=120)
    chosen = json.loads(done.stdout)
    assert 0 < chosen["tokens_kept"] <= 0.3 * chosen["tokens_total"]


def test_a_wrong_page_budget_setting_is_refused_by_name():
    from annapurna_assets.deployment import build_resources

    configure(lifecycle={"page_max_fraction": "60%"})
    with pytest.raises(ValueError, match="page_max_fraction"):
        build_resources()


def test_pages_refuses_a_file_that_is_not_a_pdf(tmp_path, capsys):
    page = tmp_path / "saved.pdf"
    page.write_text("<html><body>not a paper</body></html>")
    assert cli.main(["pages", str(page)]) == 2
    assert "HTML page" in capsys.readouterr().err


@requires_shared_data
def test_page_classifier_model_asset_records_held_out_quality(annapurna_home):
    from annapurna_assets.codegen.page_model import PageClassifierConfig, page_classifier_model
    from annapurna_assets.codegen.pages.classifier import current_model_path, materialized_model_path

    result = dg.materialize(
        [page_classifier_model],
        run_config={"ops": {"page_classifier_model": {"config": {"data_dir": str(SHARED_DATA)}}}},
    )
    metadata = result.asset_materializations_for_node("page_classifier_model")[0].metadata
    assert metadata["pages"].value == 412 and metadata["useful_pages"].value == 182  # shared data + demo corpus
    assert metadata["auc"].value >= 0.7 and 0.4 <= metadata["precision"].value <= 1
    assert metadata["word_model_terms"].value > 1000 and len(metadata["top_words"].value["useful"]) == 15
    assert current_model_path() == materialized_model_path()
    assert PageClassifier.load(materialized_model_path()).info["held_out"]["auc"] == metadata["auc"].value
    assert PageClassifierConfig().data_dir
    with pytest.raises(dg.Failure, match="no labelled PDFs"):
        dg.materialize(
            [page_classifier_model],
            run_config={"ops": {"page_classifier_model": {"config": {"data_dir": "/nonexistent"}}}},
        )
