import json

from annapurna_resources import LocalFolderSource
from tests.conftest import make_pdf


def test_scan_hashes_reads_metadata_and_reports_bad_json(tmp_path):
    make_pdf(tmp_path / "a.pdf", "alpha")
    (tmp_path / "a.json").write_text(json.dumps({"title": "Alpha", "authors": ["A. Author"], "secret": "x"}))
    (tmp_path / "sub").mkdir()
    make_pdf(tmp_path / "sub" / "b.pdf", "beta")
    (tmp_path / "sub" / "b.json").write_text("{not json")
    source = LocalFolderSource(folder=str(tmp_path))
    found, cache = source.scan()
    by_name = {p.path.name: p for p in found}
    assert by_name["a.pdf"].metadata == {"title": "Alpha", "authors": ["A. Author"]}
    assert "not valid JSON" in by_name["b.pdf"].metadata_error
    assert len(by_name["a.pdf"].sha256) == 64
    again, _ = source.scan(cache)
    assert [p.sha256 for p in again] == [p.sha256 for p in found]
    record = by_name["a.pdf"].source_record()
    assert record["paper"]["title"] == "Alpha" and record["paper"]["authors"] == ["A. Author"]
    assert record["pdf_uri"].startswith("file://") and record["pdf_ref"] == f"blob://{by_name['a.pdf'].sha256}"


def test_missing_folder_is_empty(tmp_path):
    assert LocalFolderSource(folder=str(tmp_path / "nope")).scan() == ([], {})
