from annapurna_assets.page_selection import estimate_tokens, score_page, select_pages
from annapurna_assets.pdf_text import extract_pages
from tests.conftest import SHARED_PDFS, requires_shared_data

METHOD = (
    "We propose a layer whose loss is defined as L = sum of cross-entropy terms. The encoder computes an "
    "embedding with softmax attention. We train with Adam, learning rate 0.001, batch size 64 for 10 epochs. "
) * 6
REFERENCES = "References\n" + "Smith et al. 2019. In Proceedings of NeurIPS, pp. 1-9. arXiv 2019.\n" * 30


def test_method_pages_outscore_references():
    assert score_page(METHOD) > 0 > score_page(REFERENCES)


def test_budget_is_respected_and_page_one_kept():
    pages = ["Title and abstract " * 50, REFERENCES, METHOD, METHOD + " more", "x " * 10]
    selection = select_pages(pages, budget_tokens=estimate_tokens(pages[0]) + estimate_tokens(METHOD) + 10)
    assert selection.pages == [1, 3]
    assert selection.tokens_kept <= estimate_tokens(pages[0]) + estimate_tokens(METHOD) + 10
    assert 0 < selection.token_fraction < 1


@requires_shared_data
def test_transformer_paper_keeps_its_architecture_pages():
    pages = extract_pages((SHARED_PDFS / "transformer__1706.03762__attention_is_all_you_need.pdf").read_bytes())
    selection = select_pages(pages, budget_tokens=int(0.6 * sum(map(estimate_tokens, pages))))
    assert {3, 4, 5, 7}.issubset(selection.pages)  # model architecture, attention, training setup
    assert selection.token_fraction <= 0.6
