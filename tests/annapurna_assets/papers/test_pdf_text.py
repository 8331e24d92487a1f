from annapurna_assets.papers.pdf_text import extract_pages, find_abstract, inspect_pdf, text_problem
from tests.conftest import SHARED_PDFS, requires_shared_data, write_bad_inputs


def test_each_bad_input_gets_a_clear_reason(tmp_path):
    files = write_bad_inputs(tmp_path)
    reasons = {name: inspect_pdf(path.read_bytes()) for name, path in files.items()}
    assert "empty (0 bytes)" in reasons["empty"].problem
    assert "HTML page saved as .pdf" in reasons["html"].problem
    assert "corrupt PDF" in reasons["corrupt"].problem or "no pages" in reasons["corrupt"].problem
    assert "encrypted PDF" in reasons["encrypted"].problem
    scanned = reasons["image_only"]
    assert scanned.readable
    assert "image-only or scanned" in text_problem(extract_pages(files["image_only"].read_bytes()))


@requires_shared_data
def test_real_paper_pages_and_abstract():
    data = (SHARED_PDFS / "gnn__1609.02907__gcn.pdf").read_bytes()
    inspection = inspect_pdf(data)
    assert inspection.readable and inspection.page_count == 14
    pages = extract_pages(data)
    assert text_problem(pages) == ""
    assert find_abstract(pages).startswith("We present a scalable approach for semi-supervised learning")
