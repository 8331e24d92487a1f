"""The whole lifecycle on real papers, through the same code path as `annapurna demo`."""

import json
import shutil

import dagster as dg
import pytest

from annapurna_assets import cli
from annapurna_assets.cli.demo import run_demo
from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.progress import stage_counts
from annapurna_assets.settings import DEMO_CORPUS
from tests.conftest import SHARED_PDFS, configure, requires_shared_data, write_bad_inputs

REAL = [
    "gnn__1609.02907__gcn.pdf",
    "transformer__1706.03762__attention_is_all_you_need.pdf",
    "rl__1509.02971__ddpg_continuous_control.pdf",
]


def check_outcomes(instance, check: str, asset: str) -> dict[str, tuple[bool, str]]:
    """partition -> (passed, description) of the latest evaluation of a check."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=100
    )
    outcomes = {}
    for record in reversed(records):
        evaluation = record.event.dagster_event.event_specific_data
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue  # planned, never evaluated
        outcomes[record.partition] = (evaluation.passed, evaluation.description or "")
    return outcomes


@requires_shared_data
def test_real_papers_and_bad_files_in_one_folder(instance, tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    bad = write_bad_inputs(inbox)
    for name in REAL:
        shutil.copy(SHARED_PDFS / name, inbox / name)
    configure(paper_folder={"folder": str(inbox)})
    defs = build_definitions()
    index = defs.resources["paper_index"]

    outcome = run_demo(defs, instance)
    assert outcome["new_papers"] == 8

    docs = index.all_documents()
    by_file = {doc["source"]["file_name"]: (key, doc) for key, doc in docs.items()}
    metadata_checks = check_outcomes(instance, "has_title_and_abstract", "paper_metadata")
    pdf_checks = check_outcomes(instance, "readable_pdf", "raw_pdf")
    text_checks = check_outcomes(instance, "has_text", "paper_text")
    for name, expected in [
        ("empty.pdf", "0 bytes"),
        ("saved_page.pdf", "HTML page"),
        ("encrypted.pdf", "encrypted"),
        ("corrupt.pdf", "PDF"),
        (bad["image_only"].name, "image-only"),
    ]:
        key, doc = by_file[name]
        passed, description = metadata_checks[key]
        assert not passed and expected in description, (name, description)
        assert doc["metadata"]["title"] == name.removesuffix(".pdf") and "verdict" not in doc

    for name in REAL:
        key, doc = by_file[name]
        assert metadata_checks[key][0] and doc["metadata"]["title_from"] == "pdf"
        assert pdf_checks[key] == (True, "readable PDF") and text_checks[key][0]
        verdict = doc["verdict"]
        assert verdict["decision"] == "accept", (name, verdict["reasons"])
        assert 0.3 < verdict["relevance"] <= 1 and verdict["reasons"]
        read = [s for s in doc["pages"]["sections"] if s["kept"]]
        assert read and doc["pages"]["pages"] and doc["pages"]["tokens_kept"] < doc["pages"]["tokens_total"]
        assert not any(s["title"].lower() == "references" for s in read)
        assert doc["pages"]["method"].startswith("lightgbm section classifier")
        assert doc["code"]["contract_ok"] and doc["code"]["scaffold"]
        run = doc["run"]
        assert run["status"] == "ok", (name, run["reason"], run["stderr_tail"][-800:])
        assert run["final"]["final_loss"] == pytest.approx(run["metrics"][-1]["final_loss"])
        trace = json.loads(defs.resources["blob_store"].get(doc["profile"]["trace_ref"]))
        assert trace["traceEvents"]
    families = {by_file[name][1]["code"]["family"] for name in REAL}
    assert families == {"graph_neural_network", "transformer", "reinforcement_learning"}
    # Later papers were compared with earlier ones.
    assert sum(1 for name in REAL if by_file[name][1]["verdict"]["neighbours"]) >= 2

    counts = stage_counts(instance, index)
    assert counts == {
        "discovered": 8,
        "described": 8,
        "judged": 3,
        "pdf": 3,
        "text": 3,
        "pages": 3,
        "code": 3,
        "executed": 3,
        "profiled": 3,
        "accepted": 3,
        "rejected": 0,
        "pending_execution": 0,
        "executed_ok": 3,
        "executed_failed": 0,
    }
    assert index.search("graph convolutional")[0].key == by_file[REAL[0]][0]

    # Re-running a paper's lifecycle is idempotent: no new blobs, no new documents.
    blobs_before = sorted(p.name for p in (tmp_path / "home" / "blobs").rglob("*"))
    key = by_file[REAL[0]][0]
    asset_job = defs.resolve_implicit_global_asset_job_def()
    for stages in (["paper_metadata", "verdict"], ["raw_pdf", "paper_text", "selected_pages", "generated_code"]):
        asset_job.execute_in_process(
            instance=instance, partition_key=key, asset_selection=[dg.AssetKey(s) for s in stages]
        )
    assert sorted(p.name for p in (tmp_path / "home" / "blobs").rglob("*")) == blobs_before
    assert len(index.all_documents()) == 8


def test_demo_corpus_is_bundled_with_attribution():
    pdfs = sorted(DEMO_CORPUS.glob("*.pdf"))
    assert len(pdfs) == 10
    attribution = (DEMO_CORPUS / "ATTRIBUTION.md").read_text()
    assert all(pdf.name in attribution for pdf in pdfs)


def test_demo_on_the_bundled_corpus_accepts_most_and_rejects_some(instance, monkeypatch, capsys):
    configure(paper_folder={"folder": str(DEMO_CORPUS)})
    defs = build_definitions()
    outcome = run_demo(defs, instance)
    counts = stage_counts(instance, defs.resources["paper_index"])
    assert counts["discovered"] == 10 and counts["judged"] == 10
    assert counts["accepted"] >= 6 and counts["rejected"] >= 1
    assert counts["executed_ok"] == counts["accepted"] == counts["profiled"] == counts["code"]

    # The CLI reads the same state: its fast count from the index agrees with Dagster's records.
    capsys.readouterr()
    assert cli.main(["status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    costs = shown.pop("costs")
    assert costs["judge"] == {"papers": 10, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    assert costs["code"]["papers"] == counts["code"] and costs["run"]["papers"] == counts["executed_ok"]
    assert costs["total_usd"] == 0.0  # the offline judge and generator and this machine spend nothing
    assert shown == counts
    assert cli.main(["status", "--json", "--dagster"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown.pop("costs")["judge"]["papers"] == 10 and shown == counts
    assert cli.main(["search", "mixture of experts", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    switch = hits[0]["key"]
    assert switch in outcome["folder_papers"]
    assert cli.main(["show", switch, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["metadata"]["title"].startswith("Switch Transformers")
    assert shown["code"]["family"] == "mixture_of_experts" and shown["run"]["status"] == "ok"
    assert len(shown["materializations"]["trn_profile"]) == 1
    assert cli.main(["show", "local-doesnotexist"]) == 1
