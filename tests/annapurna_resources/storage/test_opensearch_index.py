"""OpenSearchPaperIndex through opensearch-py against a loopback server that checks each request against the
OpenSearch API (tests/fakes/opensearch_api.py)."""

import json
import math

import dagster as dg
import numpy as np
import pytest
from opensearchpy import OpenSearch, RequestError

from annapurna_resources.storage.opensearch_index import OpenSearchPaperIndex, OpenSearchUnavailable, index_body
from annapurna_resources.storage.paper_index import SqlitePaperIndex
from tests.fakes.loopback import LoopbackServer
from tests.fakes.opensearch_api import FakeOpenSearch

INDEX = "papers-test"


@pytest.fixture
def server():
    with LoopbackServer(FakeOpenSearch()) as server:
        yield server


@pytest.fixture
def index(server) -> OpenSearchPaperIndex:
    return OpenSearchPaperIndex(url=server.url, index_name=INDEX, page_size=3)


def requests_to(server, method: str, endpoint: str) -> list:
    return [r for r in server.requests if r.method == method and r.path.endswith(endpoint)]


def test_the_mapping_is_created_once_with_the_knn_vector(server, index):
    index.register_many([("p1", {"title": "A"})])
    OpenSearchPaperIndex(url=server.url, index_name=INDEX).get("p1")  # another process: finds the index
    creates = requests_to(server, "PUT", f"/{INDEX}")
    assert len(creates) == 1 and len(requests_to(server, "HEAD", f"/{INDEX}")) == 2
    body = json.loads(creates[0].body)
    assert body["settings"]["index"]["knn"] is True and body["mappings"]["dynamic"] == "strict"
    properties = body["mappings"]["properties"]
    assert properties["embedding"] == {
        "type": "knn_vector",
        "dimension": 384,
        "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"},
    }
    assert properties["key"]["type"] == "keyword" and properties["text"]["type"] == "text"
    assert properties["sections"] == {"type": "object", "enabled": False}


def test_the_fake_rejects_mappings_opensearch_rejects(server):
    client = OpenSearch(hosts=[server.url])
    broken = index_body()
    del broken["mappings"]["properties"]["embedding"]["dimension"]
    unknown_type = index_body()
    unknown_type["mappings"]["properties"]["year"] = {"type": "int"}
    no_knn_setting = index_body()
    no_knn_setting["settings"] = {}
    for body, reason in [(broken, "Dimension"), (unknown_type, "No handler for type [int]"), (no_knn_setting, "knn")]:
        with pytest.raises(RequestError) as error:
            client.indices.create(index="bad", body=body)
        assert error.value.error == "mapper_parsing_exception" and reason in str(error.value.info)
    with pytest.raises(RequestError, match="unrecognized parameter"):
        client.search(index="bad", params={"colour": "red"})


def test_documents_register_update_get_and_page_through_all(server, index):
    assert index.register_many([("p1", {"title": "One"})]) == 1
    assert index.register_many([("p1", {"title": "changed"})]) == 0
    assert index.register_many([("p1", {"title": "again"})] + [(f"p{i}", {"title": f"P{i}"}) for i in range(2, 9)]) == 7
    assert index.register_many([("p2", {"title": "again"})]) == 0
    assert len(requests_to(server, "POST", "/_bulk")) == 4  # one bulk request per call, however many papers

    failed = {"decision": "reject", "error": "timeout", "relevance": 0.0}
    index.update("p1", verdict=failed)
    verdict = {"decision": "accept", "relevance": 0.81, "novelty": 0.4, "judge": "offline", "model": "m", "x": [1, 2.5]}
    doc = index.update("p1", metadata={"title": "One", "year": 2024, "authors": ["A", "B"]}, verdict=verdict)
    assert doc == {"source": {"title": "One"}, "metadata": {"title": "One", "year": 2024, "authors": ["A", "B"]},
                   "verdict": verdict}  # fmt: skip
    assert index.get("p1") == doc  # a section is replaced whole: the old verdict's "error" is gone
    assert index.update("new", run={"status": "ok", "final": {"final_loss": 0.5}}) == {
        "run": {"status": "ok", "final": {"final_loss": 0.5}}
    }
    assert index.get("missing") is None
    assert index.get_many(["p1", "p2", "missing"]) == {"p1": doc, "p2": {"source": {"title": "P2"}}}

    index.index_text("text-only", "Only text", "", "")  # no paper document yet, as with SQLite
    assert index.get("text-only") is None and index.get_many(["text-only"]) == {}
    index.update("p2", run={"status": "failed", "final": {"final_loss": float("nan")}})
    assert math.isnan(index.get("p2")["run"]["final"]["final_loss"])  # kept in the section, not in the float field

    everything = index.all_documents()
    assert sorted(everything) == sorted([f"p{i}" for i in range(1, 9)] + ["new"]) and everything["p1"] == doc
    pages = [json.loads(r.body) for r in requests_to(server, "POST", f"/{INDEX}/_search")]
    assert len(pages) == 4 and "search_after" not in pages[0] and all("search_after" in p for p in pages[1:])
    stored = server.handler.indexes[INDEX].docs["p1"]
    assert stored["decision"] == "accept" and stored["relevance"] == 0.81 and stored["authors"] == ["A", "B"]


def test_search_ranks_title_matches_first_with_snippets(index):
    index.register_many([("gcn", {}), ("survey", {}), ("other", {})])
    body = "We study graph networks. " * 3 + "A convolutional layer for graph data is the core of our survey."
    index.index_text("survey", "A survey of message passing", "Message passing on graphs.", body)
    index.index_text("gcn", "Graph convolutional networks", "Semi-supervised classification.", "Spectral filters.")
    index.index_text("other", "Attention is all you need", "Transformers without recurrence.", "No graphs here.")

    hits = index.search("graph convolutional")
    assert [h.key for h in hits] == ["gcn", "survey"]  # every word must match; title weighted highest
    assert hits[0].title == "Graph convolutional networks" and hits[0].score > hits[1].score
    assert "[Graph] [convolutional]" in hits[0].snippet and "[convolutional]" in hits[1].snippet
    assert index.search("graph attention") == [] and index.search("  ") == []


def test_nearest_returns_the_true_cosine_neighbours_like_sqlite(index, tmp_path):
    rng = np.random.default_rng(7)
    vectors = {f"p{i}": rng.normal(size=384).astype(np.float32) * (i + 1) for i in range(8)}
    sqlite = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))
    for key, vector in vectors.items():
        for backend in (index, sqlite):
            backend.update(key, metadata={"title": key.upper()})
            backend.set_vector(key, vector)
    query = vectors["p3"] + 0.8 * vectors["p5"] / 6

    neighbours = index.nearest(query, k=3, exclude={"p3"})
    keys = list(vectors)
    matrix = np.stack([vectors[k] for k in keys])
    cosine = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    expected = [keys[i] for i in np.argsort(-cosine) if keys[i] != "p3"][:3]
    assert [n.key for n in neighbours] == expected and neighbours[0].key == "p5"
    assert [n.similarity for n in neighbours] == pytest.approx([cosine[keys.index(k)] for k in expected], abs=1e-6)
    from_sqlite = sqlite.nearest(query, k=3, exclude={"p3"})
    assert [(n.key, n.title) for n in neighbours] == [(n.key, n.title) for n in from_sqlite]
    assert [n.similarity for n in neighbours] == pytest.approx([n.similarity for n in from_sqlite], abs=1e-5)
    assert index.nearest(-vectors["p0"], k=8)[-1].similarity == pytest.approx(-1.0, abs=1e-6)
    with pytest.raises(ValueError, match="384"):
        index.set_vector("p0", np.ones(12))


@pytest.fixture
def fake_aws_credentials(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def test_sigv4_signs_every_request_for_managed_opensearch(fake_aws_credentials):
    fake = FakeOpenSearch(aws_secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    with LoopbackServer(fake) as server:
        index = OpenSearchPaperIndex(url=server.url, index_name=INDEX, aws_auth=True, aws_region="eu-west-1")
        assert index.register_many([("p1", {"title": "Signed"})]) and index.get("p1") == {"source": {"title": "Signed"}}
        index.index_text("p1", "Signed paper", "", "")
        assert [h.key for h in index.search("signed")] == ["p1"]
        for request in server.requests:
            assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            assert "/eu-west-1/es/aws4_request" in request.headers["authorization"] and request.headers["x-amz-date"]
    with LoopbackServer(FakeOpenSearch(aws_secret_key="another-secret")) as server:
        wrong = OpenSearchPaperIndex(url=server.url, index_name=INDEX, aws_auth=True)
        with pytest.raises(OpenSearchUnavailable, match="refused the credentials .SigV4"):
            wrong.get("p1")


def test_basic_auth_when_a_username_is_given(monkeypatch):
    monkeypatch.setenv("ANNAPURNA_OPENSEARCH_PASSWORD", "s3cret")
    password = dg.EnvVar("ANNAPURNA_OPENSEARCH_PASSWORD")  # as the deployment passes it; resolved outside a run too
    with LoopbackServer(FakeOpenSearch(credentials=("annapurna", "s3cret"))) as server:
        assert OpenSearchPaperIndex(url=server.url, username="annapurna", password=password).register_many([("p", {})])
        with pytest.raises(OpenSearchUnavailable, match="refused the credentials .username/password.: 401"):
            OpenSearchPaperIndex(url=server.url, username="annapurna", password="wrong").get("p")


def test_an_unreachable_server_is_a_clear_error():
    with LoopbackServer(FakeOpenSearch()) as server:
        url = server.url  # a port that was just free: nothing listens there once the server is gone
    with pytest.raises(OpenSearchUnavailable, match=f"{url}.*is unreachable.*paper_index.url"):
        OpenSearchPaperIndex(url=url, timeout_s=2).get("p1")
