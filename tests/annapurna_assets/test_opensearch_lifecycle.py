"""The lifecycle and the CLI with the paper index on OpenSearch, against the loopback OpenSearch."""

import json
import shutil

from annapurna_assets import cli
from annapurna_assets.cli.demo import run_demo
from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.progress import stage_counts
from annapurna_assets.settings import DEMO_CORPUS
from annapurna_resources.storage.opensearch_index import OpenSearchPaperIndex
from tests.annapurna_assets.test_lifecycle_e2e import check_outcomes
from tests.conftest import configure
from tests.fakes.loopback import LoopbackServer
from tests.fakes.opensearch_api import FakeOpenSearch

PAPERS = ["01_T5_JMLR2020.pdf", "03_NCF_WWW2017.pdf"]  # the offline judge accepts T5, rejects NCF


def test_lifecycle_and_cli_on_opensearch(instance, annapurna_home, tmp_path, monkeypatch, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in PAPERS:
        shutil.copy(DEMO_CORPUS / name, inbox / name)
    with LoopbackServer(FakeOpenSearch()) as server:
        configure(paper_index={"kind": "opensearch", "url": server.url}, paper_folder={"folder": str(inbox)})
        defs = build_definitions()
        index = defs.resources["paper_index"]
        assert isinstance(index, OpenSearchPaperIndex)

        assert run_demo(defs, instance)["new_papers"] == 2
        docs = index.all_documents()
        by_file = {doc["source"]["file_name"]: key for key, doc in docs.items()}
        assert sorted(by_file) == PAPERS
        t5, ncf = docs[by_file[PAPERS[0]]], docs[by_file[PAPERS[1]]]
        assert t5["verdict"]["decision"] == "accept" and t5["run"]["status"] == "ok" and t5["profile"]["trace_ref"]
        assert ncf["verdict"]["decision"] == "reject" and "run" not in ncf
        assert check_outcomes(instance, "has_text", "paper_text")[by_file[PAPERS[0]]][0]
        # The paper judged second was compared with the first through the knn query.
        assert [len(doc["verdict"]["neighbours"]) for doc in docs.values()].count(1) == 1
        stored = server.handler.indexes["research-papers-v2"]
        assert all(len(stored.docs[key]["embedding"]) == 384 for key in docs)
        assert not (annapurna_home / "index.sqlite").exists()  # nothing went to the SQLite default

        counts = stage_counts(instance, index)
        assert counts["discovered"] == counts["judged"] == 2
        capsys.readouterr()
        for dagster_side in ([], ["--dagster"]):  # counted from the index's documents, and from Dagster's records
            assert cli.main(["status", "--json", *dagster_side]) == 0
            shown = json.loads(capsys.readouterr().out)
            assert shown.pop("costs")["judge"]["papers"] == 2 and shown == counts
        assert cli.main(["status"]) == 0
        assert "discovered         2" in capsys.readouterr().out

        key = by_file[PAPERS[0]]
        assert cli.main(["search", "unified transformer", "--json"]) == 0
        hits = json.loads(capsys.readouterr().out)
        assert [h["key"] for h in hits] == [key] and "[unified]" in hits[0]["snippet"].lower()
        assert cli.main(["search", "collaborative filtering", "--limit", "1"]) == 0
        assert capsys.readouterr().out.startswith(f"{by_file[PAPERS[1]]}  Neural Collaborative Filtering")
        assert cli.main(["show", key, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["metadata"]["title"].startswith("Exploring the Limits of Transfer Learning")
        assert shown["verdict"] == t5["verdict"] and shown["run"]["status"] == "ok"
        assert cli.main(["show", "local-doesnotexist"]) == 1
