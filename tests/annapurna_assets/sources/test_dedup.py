import itertools
import time

import numpy as np
import pytest

from annapurna_assets.sources.dedup import DuplicateFinder, Match, author_overlap, normalise_title
from annapurna_resources.sources.listed_paper import ListedPaper
from tests.conftest import SHARED_DATA

LISTINGS = SHARED_DATA / "listings"
requires_listings = pytest.mark.skipif(not LISTINGS.is_dir(), reason=f"needs the real listings in {LISTINGS}")

HO = ["Jonathan Ho", "Ajay Jain", "Pieter Abbeel"]
DDPM = "Denoising Diffusion Probabilistic Models"
_ids = itertools.count()


def paper(title: str, authors: list[str] = (), abstract: str = "", source: str = "arxiv", **fields) -> ListedPaper:
    source_id = fields.pop("source_id", f"{source}-{next(_ids)}")
    return ListedPaper(source, source_id, title, list(authors), abstract=abstract, **fields)


def finder_with(*registered: ListedPaper, embed=None) -> DuplicateFinder:
    finder = DuplicateFinder(embed=embed)
    for number, listed in enumerate(registered):
        finder.add(f"p{number}", listed)
    return finder


class TopicEmbedder:
    """Fake embedding: the last word of the text names its topic; same topic -> cosine 1, different -> 0."""

    TOPICS = {"graphs": [1.0, 0.0, 0.0], "vision": [0.0, 1.0, 0.0], "speech": [0.0, 0.0, 1.0]}

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += texts
        return np.array([self.TOPICS[text.split()[-1]] for text in texts], dtype=np.float32)


def test_normalise_title_strips_case_accents_latex_and_punctuation():
    assert normalise_title("{CHAI}: Clustered Head Attention for Efficient {LLM} Inference") == (
        "chai clustered head attention for efficient llm inference"
    )
    assert normalise_title('Tree-Based Diffusion Schr{\\"o}dinger Bridge') == "tree based diffusion schrodinger bridge"
    assert normalise_title("Tree-Based  Diffusion Schrödinger Bridge.") == "tree based diffusion schrodinger bridge"
    assert normalise_title("The \\emph{Sample} Complexity of $\\epsilon$-Nets") == "the sample complexity of nets"


def test_author_overlap_is_robust_to_format_order_and_accents():
    listing = ["Jingkai Mao", "Jakob Foerster", "Tim Rocktäschel", "Maruan Al-Shedivat"]
    pmlr = ["Al-Shedivat, Maruan", 'Rockt{\\"a}schel, Tim', "Foerster, Jakob", "Mao, Jingkai"]
    assert author_overlap(listing, pmlr) == 1.0
    assert author_overlap(["Tim Rocktaeschel"], ["Tim Rocktäschel"]) == 1.0
    assert author_overlap(["Michael Samuel Albergo"], ["Albergo, Michael S."]) == 1.0
    assert author_overlap(["Laurens van der Maaten"], ["van der Maaten, Laurens"]) == 1.0
    assert author_overlap(["Yan Zhang", "Wei Chen"], ["Zhang Yan", "Chen Wei"]) == 1.0
    assert author_overlap(["Bowen Zhou and Mingbo Ma"], ["Bowen Zhou", "Mingbo Ma"]) == 1.0


def test_author_overlap_counts_against_the_shorter_list():
    assert author_overlap(HO, ["Jonathan Ho", "Pieter Abbeel"]) == 1.0  # an author dropped
    assert author_overlap(HO[:2], ["Jonathan Ho", "Someone Else"]) == 0.5
    assert author_overlap(HO, ["Alex Nichol", "Prafulla Dhariwal"]) == 0.0
    assert author_overlap(HO, []) == 0.0
    assert author_overlap(["Anonymous"], ["Anonymous"]) == 0.0


def test_shared_id_matches_whatever_the_title():
    registered = paper("Some Title", source="openreview", source_id="9U29U3cDKq", arxiv_id="2106.09685")
    finder = finder_with(registered)
    pmlr = paper("Another Title", source="pmlr", source_id="v235/abe24a", ids={"openreview": "9U29U3cDKq"})
    assert finder.find(pmlr) == Match("p0", "id", 1.0)
    assert finder.find(paper("Unrelated", source="arxiv", source_id="2106.09685v2")).reason == "id"


def test_identical_title_with_reformatted_authors_is_the_same_paper():
    finder = finder_with(
        paper("A Better k-means++ Algorithm via Local Search", ["Silvio Lattanzi", "Christian Sohler"])
    )
    pmlr = paper("A Better k-means++ Algorithm via Local Search", ["Lattanzi, Silvio", "Sohler, Christian"])
    assert finder.find(pmlr) == Match("p0", "title", 1.0)


def test_identical_title_by_other_authors_or_without_authors():
    finder = finder_with(paper(DDPM, HO))
    assert finder.find(paper(DDPM.upper(), [])).reason == "title"  # e.g. a listing without authors
    assert finder.find(paper(DDPM, ["Alice Smith", "Bob Jones"])) is None


def test_near_title_by_the_same_authors_is_the_same_paper():
    finder = finder_with(paper("Understanding Diffusion Objectives as the ELBO with Simple Data Augmentation", HO))
    v2 = paper("Towards Understanding Diffusion Objectives as the ELBO with Data Augmentation", HO[::-1])
    assert finder.find(v2).reason == "title+authors"


def test_near_titles_by_other_authors_stay_apart():
    finder = finder_with(
        paper(DDPM, HO),
        paper("Attention Is All You Need", ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]),
    )
    assert finder.find(paper("Improved " + DDPM, ["Alex Nichol", "Prafulla Dhariwal"])) is None
    assert finder.find(paper("Pretraining Is All You Need", ["Jane Doe", "John Roe"])) is None


def test_conflicting_numbers_stay_apart():
    authors = ["Zeyuan Allen-Zhu", "Yuanzhi Li"]
    finder = finder_with(paper("Physics of Language Models: Part 3.1, Knowledge Storage and Extraction", authors))
    assert finder.find(paper("Physics of Language Models: Part 3.2, Knowledge Storage", authors)) is None


def test_subtitle_change_is_confirmed_by_embedding_only_when_needed():
    embed = TopicEmbedder()
    finder = finder_with(
        paper("Ego-CNN: Representations of Graphs Detecting Critical Structures", HO, "About graphs"),
        paper("Scaling Vision Transformers", HO, "About vision"),
        embed=embed,
    )
    retitled = paper("Distributed Egocentric Representations of Graphs for Critical Structures", HO, "Also graphs")
    assert finder.find(retitled) == Match("p0", "embedding+authors", 1.0)
    follow_up = paper("Scaling Vision Transformers to Speech: A Study", HO, "About speech")
    assert finder.find(follow_up) is None  # same authors, containing title, but another topic
    texts_so_far = len(embed.texts)
    assert finder.find(paper("Scaling Vision Transformers Further", HO, "About vision")).reason == "title+authors"
    assert len(embed.texts) == texts_so_far  # a sure rule fired: nothing embedded


def test_without_authors_a_near_title_needs_abstracts_and_embedding():
    embed = TopicEmbedder()
    neurips = paper("Graph Neural Networks for Molecular Property Prediction", [], "About graphs")
    finder = finder_with(neurips, embed=embed)
    assert finder.find(paper("Graph Neural Networks for Molecular Property Prediction at Scale", [])) is None
    v2 = paper("Graph Neural Networks for Molecular Property Prediction at Scale", HO, "Still graphs")
    assert finder.find(v2) == Match("p0", "embedding", 1.0)
    assert DuplicateFinder().find(v2) is None  # no embed function: no merge on a near title without authors


def test_adding_a_key_again_replaces_it():
    finder = DuplicateFinder()
    finder.add("k", paper(DDPM, HO, source="arxiv", source_id="2006.11239"))
    finder.add("k", paper(DDPM, HO, source="arxiv", source_id="2006.11239", ids={"openreview": "abc"}))
    assert len(finder) == 1
    assert finder.find(paper("Other", source="pmlr", ids={"openreview": "abc"})) == Match("k", "id", 1.0)


@requires_listings
def test_pmlr_pages_find_their_openreview_listing_with_and_without_the_id():
    import yaml

    finder = DuplicateFinder()
    tsv = LISTINGS / "openreview_api_v2_tsv" / "ICML_cc_2024_Conference.tsv"
    for line in tsv.read_text("utf-8").splitlines():
        forum_url, title, authors, *_ = line.split("\t")
        forum_id = forum_url.rpartition("=")[2]
        finder.add(forum_id, paper(title, authors.split(";"), source="openreview", source_id=forum_id))
    pages = sorted((LISTINGS / "pmlr_v235_icml2024").glob("2024-*.md"))
    assert pages
    for page in pages:
        front = yaml.safe_load(page.read_text("utf-8").split("---")[1])
        authors = front["bibtex_author"].split(" and ")
        with_id = paper(front["tex_title"], authors, source="pmlr", ids={"openreview": front["openreview"]})
        assert finder.find(with_id) == Match(front["openreview"], "id", 1.0)
        without_id = paper(front["tex_title"], authors, source="pmlr")
        assert finder.find(without_id) == Match(front["openreview"], "title", 1.0)


@requires_listings
def test_indexing_and_finding_iclr_2025_is_fast():
    import csv

    with open(LISTINGS / "iclr2025_openreview_all_submissions.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    started = time.perf_counter()
    finder = DuplicateFinder()
    for number, row in enumerate(rows):
        finder.add(str(number), paper(row["Title"], row["Authors"].split(", "), source="openreview"))
    found = 0
    for number, row in enumerate(rows[:3000]):  # near titles: the slow path
        match = finder.find(paper("Towards " + row["Title"], row["Authors"].split(", ")[::-1]))
        found += match is not None and match.key == str(number)
    assert time.perf_counter() - started < 6
    assert found > 2900
