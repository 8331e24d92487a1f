import pytest

from annapurna_assets.partitions import arxiv_paper_key, local_paper_key, slugify


def test_keys_are_slugs():
    assert arxiv_paper_key("2106.09685") == "arxiv-2106-09685"
    assert arxiv_paper_key("arXiv:2106.09685v2") == "arxiv-2106-09685"
    assert arxiv_paper_key("hep-th/9901001v1") == "arxiv-hep-th-9901001"
    assert local_paper_key("ab" * 32) == "local-abababababababab"
    assert slugify("ICLR 2025 | Oral, Poster") == "iclr-2025-oral-poster"
    for bad in ("not an id", "2106"):
        with pytest.raises(ValueError):
            arxiv_paper_key(bad)
    with pytest.raises(ValueError):
        local_paper_key("xyz")


def test_listed_papers_get_readable_unique_slug_keys():
    from annapurna_assets.registration import paper_key
    from annapurna_resources.listed_paper import ListedPaper

    long = ListedPaper(
        "openreview",
        "AbC_9-x",
        "Position: A Roadmap to Pluralistic Alignment, and Why It Matters (Now)!",
        venue="icml",
        year=2024,
    )
    key = paper_key(long, taken=set())
    assert key == "icml-2024-position-a-roadmap-to-pluralistic-alignment-and-why-it"
    assert paper_key(long, taken={key}) == key + "-abc-9-x"
    assert paper_key(ListedPaper("arxiv", "2106.09685", "LoRA", arxiv_id="2106.09685"), set()) == "arxiv-2106-09685"
