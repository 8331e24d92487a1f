"""What the code generator reads: the paper's sections, chosen by heading, section classifier and budget."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from annapurna_assets import cli
from annapurna_assets.codegen.assets import too_little_read
from annapurna_assets.codegen.reading.classifier import (
    BUNDLED_MODEL,
    SectionClassifier,
    classification_report,
    held_out_scores,
    labelled_papers,
    read_labels,
)
from annapurna_assets.codegen.reading.features import FEATURE_NAMES, cue_score, learn_lexicons, section_features
from annapurna_assets.codegen.reading.selection import estimate_tokens, scored_sections, select_sections
from annapurna_assets.codegen.reading.word_model import WordModel
from annapurna_assets.papers.structure import Block, PaperText, Section
from tests.conftest import SHARED_PDFS, configure, requires_shared_data

METHOD = (
    "We propose a layer whose loss is defined as L = sum of cross-entropy terms. The encoder computes an "
    "embedding with softmax attention. We train with Adam, learning rate 0.001, batch size 64 for 10 epochs. "
) * 6
REFERENCES = "Smith et al. 2019. In Proceedings of NeurIPS, pp. 1-9. arXiv 2019.\n" * 30
SHARED_DATA = SHARED_PDFS.parent
TRANSFORMER = SHARED_PDFS / "transformer__1706.03762__attention_is_all_you_need.pdf"


def paper(*sections: tuple[str, str, int]) -> PaperText:
    """A paper of (heading, text, page) sections; "" is the front matter."""
    built = []
    for heading, text, page in sections:
        number, _, title = heading.partition(" ") if heading[:1].isdigit() else ("", "", heading)
        built.append(Section(title, number, 1 if heading else 0, blocks=[Block(page, "paragraph", text)]))
    return PaperText(built, max(page for *_, page in sections), "pdf outline")


def test_method_text_outscores_references():
    assert cue_score(METHOD) > 0 > cue_score(REFERENCES)


def test_sections_a_reproduction_never_needs_are_dropped_by_heading_the_rest_by_score_then_budget():
    text = paper(
        ("", "A title, its authors and abstract. " * 5, 1),
        ("1 Introduction", "We study graphs. " * 40, 1),
        ("2 Related Work", "Smith et al. did it first. " * 40, 2),
        ("3 Method", METHOD, 2),
        ("4 Experiments", METHOD + " results", 3),
        ("5 Broader Impact", "Society. " * 40, 3),
        ("Acknowledgements", "We thank. " * 10, 3),
        ("References", REFERENCES, 4),
    )
    judged = scored_sections(text)
    assert [text.sections[i].title for i in judged] == ["", "Introduction", "Method", "Experiments"]
    scores = {0: 0.4, 1: 0.2, 3: 0.9, 4: 0.8}
    selection = select_sections(text, scores, budget_tokens=100_000, min_probability=0.25)
    assert [s.heading for s in selection.kept] == ["Front matter", "3 Method", "4 Experiments"]
    reasons = {c.section.heading: c.reason for c in selection.choices if not c.kept}
    assert reasons["1 Introduction"] == "P(useful) 0.200 < 0.25"
    assert reasons["2 Related Work"] == "related work" and reasons["References"] == "references"
    assert selection.kept_by_page()[4] == 0.0 and selection.kept_by_page()[2] < 1.0
    assert selection.pages == [1, 2, 3]

    budget = estimate_tokens(METHOD) + 10  # the least useful sections go first
    tight = select_sections(text, scores, budget_tokens=budget, min_probability=0.25)
    assert [s.heading for s in tight.kept] == ["3 Method"] and tight.tokens_kept <= budget
    assert "over the budget" in next(c.reason for c in tight.choices if c.section.heading == "4 Experiments")


def test_subsections_of_dropped_sections_go_with_them_and_one_long_section_stays():
    text = paper(("1 Method", METHOD, 1), ("2 Related Work", "", 1), ("2.1 Graph models", METHOD, 2))
    text.sections[2].parent, text.sections[2].parent_number, text.sections[2].level = "Related Work", "2", 2
    assert scored_sections(text) == [0]
    text.sections[2].parent_number = "1"  # numbers that disagree: the parent's heading was not found
    assert scored_sections(text) == [0, 2]
    text.sections[2].parent_number = "2"
    selection = select_sections(text, {0: 0.9}, budget_tokens=10, min_probability=0.25)
    assert [s.heading for s in selection.kept] == ["1 Method"]  # over the budget alone: summarised, not dropped
    assert next(c.reason for c in selection.choices if c.section.heading == "2.1 Graph models") == "related work"


def test_a_nearly_empty_selection_says_why():
    text = paper(("", "Title. " * 5, 1), ("1 Method", "Short.", 1), ("References", REFERENCES, 2))
    selection = select_sections(text, {0: 0.9, 1: 0.9}, budget_tokens=100_000, min_probability=0.25)
    assert too_little_read(selection, text) == (
        "only 9 of 511 tokens kept (under 400); the largest sections dropped: References (references)"
    )
    short = paper(("1 Method", METHOD, 1))
    assert too_little_read(select_sections(short, {0: 0.9}, 10_000, 0.25), short) == (
        "the paper has only 306 tokens of text (headings from: pdf outline)"
    )
    enough = paper(("1 Method", METHOD * 2, 1))
    assert too_little_read(select_sections(enough, {0: 0.9}, 10_000, 0.25), enough) == ""


def test_word_model_learns_vocabulary_and_survives_its_file():
    import numpy as np

    setups = [
        f"We train with Adam, learning rate 0.00{n}, batch size {n}0, dropout 0.1 for {n} epochs." for n in range(1, 7)
    ]
    others = [
        f"Smith et al. {2010 + n}. In Proceedings of NeurIPS, pp. {n}-9. Related work outperforms." for n in range(6)
    ]
    others[0] += " Vaswani"
    model = WordModel.fit(setups + others, np.array([1] * 6 + [0] * 6))
    unseen = [
        "We train for 30 epochs with batch size 128 and learning rate 0.01.",
        "Jones et al. 2021. In Proceedings.",
    ]
    setup, reference = model.probabilities(unseen)
    assert setup > 0.5 > reference
    again = WordModel.from_json(json.loads(json.dumps(model.to_json())))
    assert np.allclose(again.logits(unseen), model.logits(unseen), atol=1e-4)
    assert "smith" in model.idf and "vaswani" not in model.idf  # a word in fewer than three texts gets no weight


def test_a_model_file_of_other_features_asks_to_be_retrained(tmp_path):
    old = json.loads(BUNDLED_MODEL.read_text())
    old["feature_names"] = old["feature_names"][:-1]
    path = tmp_path / "section_classifier.json"
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="retrain it"):
        SectionClassifier.load(path)


def test_labels_cover_every_page_and_hold_no_text():
    labels = read_labels()
    assert len(labels) == 20 and sum(len(entry["labels"]) for entry in labels.values()) == 412
    assert {label for entry in labels.values() for label in entry["labels"].values()} == {"method", "setup", "other"}


def test_features_are_finite_and_in_order():
    text = paper(("", "Title", 1), ("1 Introduction", "We study graphs.", 1), ("3 Method", METHOD, 2))
    rows = section_features(text, SectionClassifier.load(BUNDLED_MODEL).lexicons)
    assert len(rows) == 3 and all(len(row) == len(FEATURE_NAMES) for row in rows)
    assert all(value == value and abs(value) < 1e6 for row in rows for value in row)
    assert set(SectionClassifier.load(BUNDLED_MODEL).predict(text)) == {0, 1, 2}


@requires_shared_data
def test_section_classifier_on_papers_it_never_saw():
    papers = labelled_papers(SHARED_PDFS)
    assert len(papers) == 10
    held_out = papers[:4]  # four folds of leave-one-paper-out keep the test short; the benchmark runs all twenty
    scores = held_out_scores(papers, learn_lexicons(SHARED_DATA), held_out)
    report = classification_report(held_out, scores)
    assert report["auc"] >= 0.6 and report["recall"] >= 0.6
    for labelled in held_out:  # what the generator loses of the labelled method and setup text
        selection = select_sections(labelled.text, scores[labelled.name], 60_000, 0.25)
        useful = [sum(labelled.useful_chars(i).values()) for i in range(len(labelled.text.sections))]
        kept = sum(chars for chars, choice in zip(useful, selection.choices) if choice.kept)
        assert kept >= 0.9 * sum(useful), labelled.name


@requires_shared_data
def test_pages_json_gives_the_sections_read_and_the_share_of_each_page_kept(capsys):
    assert cli.main(["pages", str(TRANSFORMER), "--json"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    read = [s["title"] for s in chosen["sections"] if s["kept"]]
    assert {"3.1 Encoder and Decoder Stacks", "5.3 Optimizer", "5.4 Regularization"} <= set(read)
    dropped = {s["title"]: s["reason"] for s in chosen["sections"] if not s["kept"]}
    assert dropped["References"] == "references"
    assert set(chosen["kept"]) == {str(n) for n in range(1, 16)} and chosen["kept"]["7"] == 1.0
    assert chosen["kept"]["12"] == 0.0  # a page of references only
    assert {3, 4, 5, 6, 7} <= set(chosen["pages"]) and chosen["tokens_kept"] < chosen["tokens_total"]
    assert all({"title", "pages", "kept", "tokens", "score", "reason"} <= set(s) for s in chosen["sections"])
    assert cli.main(["pages", str(TRANSFORMER), "--budget", "2000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens_kept"] <= 2000
    assert cli.main(["pages", str(TRANSFORMER)]) == 0
    shown = capsys.readouterr().out
    assert "headings from the pdf outline" in shown and "dropped" in shown and "(references)" in shown


@requires_shared_data
def test_reading_budget_comes_from_the_settings_file(tmp_path):
    configure(tmp_path, lifecycle={"read_budget_tokens": 3000})
    env = {**os.environ, "ANNAPURNA_HOME": str(tmp_path)}
    annapurna = Path(sys.executable).with_name("annapurna")
    done = subprocess.run(
        [annapurna, "pages", TRANSFORMER, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    chosen = json.loads(done.stdout)
    assert 0 < chosen["tokens_kept"] <= 3000


def test_a_wrong_reading_setting_is_refused_by_name():
    from annapurna_assets.deployment import build_resources

    configure(lifecycle={"section_min_probability": "a quarter"})
    with pytest.raises(ValueError, match="section_min_probability"):
        build_resources()


def test_pages_refuses_a_file_that_is_not_a_pdf(tmp_path, capsys):
    page = tmp_path / "saved.pdf"
    page.write_text("<html><body>not a paper</body></html>")
    assert cli.main(["pages", str(page)]) == 2
    assert "HTML page" in capsys.readouterr().err


@requires_shared_data
def test_page_classifier_model_asset_records_held_out_quality(annapurna_home):
    from annapurna_assets.codegen.page_model import PageClassifierConfig, page_classifier_model
    from annapurna_assets.codegen.reading.classifier import current_model_path, materialized_model_path

    result = dg.materialize(
        [page_classifier_model],
        run_config={"ops": {"page_classifier_model": {"config": {"data_dir": str(SHARED_DATA)}}}},
    )
    metadata = result.asset_materializations_for_node("page_classifier_model")[0].metadata
    assert metadata["sections"].value > 400 and metadata["useful_sections"].value > 200
    assert metadata["auc"].value >= 0.7 and 0.4 <= metadata["precision"].value <= 1
    assert metadata["word_model_terms"].value > 1000 and len(metadata["top_words"].value["useful"]) == 15
    assert current_model_path() == materialized_model_path()
    assert SectionClassifier.load(materialized_model_path()).info["held_out"]["auc"] == metadata["auc"].value
    assert PageClassifierConfig().data_dir
    with pytest.raises(dg.Failure, match="no labelled PDFs"):
        dg.materialize(
            [page_classifier_model],
            run_config={"ops": {"page_classifier_model": {"config": {"data_dir": "/nonexistent"}}}},
        )
