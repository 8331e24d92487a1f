import pytest

from annapurna_assets.papers.partitions import arxiv_paper_key, local_key_digest, local_paper_key, slugify

SWITCH = "Switch Transformers: Scaling to Trillion Parameter Models with Simple and Efficient Sparsity"


def test_keys_are_slugs_that_name_the_paper():
    assert arxiv_paper_key("2106.09685") == "arxiv-2106-09685"
    assert arxiv_paper_key("arXiv:2106.09685v2", "LoRA: Low-Rank Adaptation of Large Language Models") == (
        "arxiv-2106-09685-lora-low-rank-adaptation-of-large-language"  # the title cut at a word, 48 characters
    )
    assert arxiv_paper_key("hep-th/9901001v1") == "arxiv-hep-th-9901001"
    assert local_paper_key("ab" * 32, SWITCH) == "switch-transformers-scaling-to-trillion-parameter-models-abababababab"
    assert local_paper_key("ab" * 32, "") == "abababababab"
    assert slugify("ICLR 2025 | Oral, Poster") == "iclr-2025-oral-poster"
    for bad in ("not an id", "2106"):
        with pytest.raises(ValueError):
            arxiv_paper_key(bad)
    with pytest.raises(ValueError):
        local_paper_key("xyz", SWITCH)


def test_a_local_key_old_or_new_ends_with_its_files_hash():
    assert local_key_digest(local_paper_key("ab" * 32, SWITCH)) == "ab" * 6
    assert local_key_digest("local-0123456789abcdef") == "0123456789ab"  # keys from before titles were in them
    assert local_key_digest("icml-2024-attention-is-all-you-need") is None
    assert local_key_digest("arxiv-2106-09685") is None


def test_listed_papers_get_readable_unique_slug_keys():
    from annapurna_assets.sources.registration import paper_key
    from annapurna_resources.sources.listed_paper import ListedPaper

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
    assert (
        paper_key(ListedPaper("arxiv", "2106.09685", "LoRA", arxiv_id="2106.09685"), set()) == "arxiv-2106-09685-lora"
    )
