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
