"""Listed papers' PDFs: downloaded only for accepted papers, once, politely; a PDF that cannot be had is a failed
check of that paper alone."""

import dagster as dg

from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.runs import lifecycle_run_config
from annapurna_assets.sources.registration import register_papers
from annapurna_resources.sources.listed_paper import ListedPaper
from tests.annapurna_assets.test_lifecycle_e2e import check_outcomes
from tests.conftest import SHARED_PDFS, configure, requires_shared_data
from tests.fakes.loopback import LoopbackServer, Reply

INTERESTS = "transformer language models: attention and sequence transduction\npreference optimization and RLHF"
TRANSFORMER = SHARED_PDFS / "transformer__1706.03762__attention_is_all_you_need.pdf"
GCN = SHARED_PDFS / "gnn__1609.02907__gcn.pdf"


@requires_shared_data
def test_accepted_papers_are_downloaded_once_and_a_bad_pdf_fails_only_its_paper(instance, monkeypatch):
    configure(judge={"research_interests": INTERESTS})
    served = {"/pdf/transformer": 0, "/pdf/dpo": 0, "/pdf/gcn": 0}

    def site(request):
        served[request.path] += 1
        if request.path == "/pdf/transformer" and served[request.path] == 1:
            return Reply(429, "too many requests", {"Retry-After": "1"})
        if request.path == "/pdf/dpo":
            return Reply(200, "<html><body>Sign in to download</body></html>", {"Content-Type": "text/html"})
        pdf = TRANSFORMER if request.path == "/pdf/transformer" else GCN
        return Reply(200, pdf.read_bytes(), {"Content-Type": "application/pdf"})

    defs = build_definitions()
    index = defs.resources["paper_index"]
    with LoopbackServer(site) as server:
        papers = [
            ListedPaper(
                "openreview",
                "transformer-id",
                "Attention Is All You Need",
                ["Ashish Vaswani", "Noam Shazeer"],
                abstract="We propose the Transformer, a sequence transduction model based solely on attention "
                "mechanisms, dispensing with recurrence and convolutions. Experiments on two machine translation "
                "tasks show these models to be superior in quality.",
                venue="neurips",
                year=2017,
                decision="oral",
                pdf_url=f"{server.url}/pdf/transformer",
            ),
            ListedPaper(
                "openreview",
                "dpo-id",
                "Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
                ["Rafael Rafailov"],
                venue="neurips",
                year=2023,
                decision="oral",
                pdf_url=f"{server.url}/pdf/dpo",
                abstract="We fine-tune language models to align with human preferences without reinforcement "
                "learning, optimizing a classification loss on preference data (RLHF without a reward model).",
            ),
            ListedPaper(  # no abstract in the listing: paper_metadata reads it from the PDF
                "openreview",
                "gcn-id",
                "Semi-Supervised Classification with Graph Convolutional Networks",
                ["Thomas N. Kipf", "Max Welling"],
                venue="iclr",
                year=2017,
                decision="poster",
                pdf_url=f"{server.url}/pdf/gcn",
            ),
        ]
        keys = register_papers(instance, index, papers, "test-listing").new_keys
        job = defs.resolve_job_def("lifecycle_batch_job")
        outcome = job.execute_in_process(
            instance=instance, run_config=lifecycle_run_config(keys, through="paper_text"), raise_on_error=False
        )
        assert outcome.success
        transformer, dpo, gcn = keys
        docs = index.get_many(keys)
        assert docs[gcn]["metadata"]["abstract_from"] == "pdf" and "graph" in docs[gcn]["metadata"]["abstract"]
        assert docs[transformer]["verdict"]["decision"] == docs[dpo]["verdict"]["decision"] == "accept"
        assert docs[gcn]["verdict"]["decision"] == "reject"  # not among these interests: never downloaded again

        checks = check_outcomes(instance, "readable_pdf", "raw_pdf")
        assert checks[transformer] == (True, "readable PDF")
        assert not checks[dpo][0] and "'text/html'" in checks[dpo][1]
        assert gcn not in checks
        assert instance.get_materialized_partitions(dg.AssetKey("paper_text")) == {transformer}
        assert served == {"/pdf/transformer": 2, "/pdf/dpo": 1, "/pdf/gcn": 1}

        # Materializing a paper again fetches nothing: the PDF is kept by its sha256.
        defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key=transformer, asset_selection=[dg.AssetKey("raw_pdf")]
        )
        assert served["/pdf/transformer"] == 2
