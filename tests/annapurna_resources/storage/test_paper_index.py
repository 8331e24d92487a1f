import numpy as np

from annapurna_resources import SqlitePaperIndex


def test_one_document_per_paper_updated_by_sections(tmp_path):
    index = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))
    assert index.register_many([("local-1", {"source": "local"})])
    assert not index.register_many([("local-1", {"source": "other"})])
    index.update("local-1", metadata={"title": "Graph convolutional networks"})
    index.update("local-1", verdict={"decision": "accept"})
    index.update("local-1", verdict={"decision": "reject"})
    doc = index.get("local-1")
    assert doc == {
        "source": {"source": "local"},
        "metadata": {"title": "Graph convolutional networks"},
        "verdict": {"decision": "reject"},
    }
    assert list(index.all_documents()) == ["local-1"]


def test_full_text_search_ranks_and_reindexing_does_not_duplicate(tmp_path):
    index = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))
    index.index_text("a", "Attention is all you need", "transformer", "multi-head attention layers")
    index.index_text("b", "Graph convolution", "semi-supervised", "spectral graph attention mentioned once")
    index.index_text("a", "Attention is all you need", "transformer", "multi-head attention layers")
    hits = index.search("attention")
    assert [h.key for h in hits] == ["a", "b"]
    assert "[attention]" in hits[0].snippet.lower() or "[Attention]" in hits[0].snippet
    assert index.search("") == []
    assert index.search('" OR 1=1 --') == []  # user input never reaches FTS5 syntax


def test_nearest_excludes_the_paper_itself(tmp_path):
    index = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))
    for key, vector in {"x": [1, 0, 0], "y": [0.9, 0.1, 0], "z": [0, 0, 1]}.items():
        index.set_vector(key, np.array(vector, dtype=np.float32))
        index.update(key, metadata={"title": key.upper()})
    near = index.nearest(np.array([1, 0, 0], dtype=np.float32), k=2, exclude={"x"})
    assert [n.key for n in near] == ["y", "z"]
    assert near[0].title == "Y" and near[0].similarity > 0.99
