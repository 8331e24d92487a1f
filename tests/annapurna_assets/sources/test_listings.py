"""Conference years and arXiv days become papers: real listings replayed by loopback servers, through the assets."""

import dagster as dg
import pytest

from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.runs import LIFECYCLE_JOB, lifecycle_run_config, run_paper_keys
from annapurna_assets.sources.listings import conference_listing
from annapurna_assets.sources.registration import register_papers
from annapurna_resources import ListingFileSource, PmlrSource
from annapurna_resources.sources.listing_files import ListingFileUnavailable
from tests.conftest import SHARED_DATA, configure
from tests.fakes.arxiv_api import ArxivApiReplay, OaiPmhReplay, load_real_oai_records, requires_arxiv_data
from tests.fakes.loopback import LoopbackServer, Reply
from tests.fakes.openreview_api import ICML_2024_TSV, _v2_note, icml2024_notes, serve_openreview
from tests.fixtures.proceedings.pmlr_site import PmlrSite, load_posts_volume

PMLR_V235_POSTS = SHARED_DATA / "listings" / "pmlr_v235_icml2024"

requires_icml = pytest.mark.skipif(not ICML_2024_TSV.is_file(), reason=f"needs {ICML_2024_TSV} (../shared/data)")


def materialize_listing(defs, instance, asset, partition: str, config: dict | None = None):
    return dg.materialize(
        [asset],
        partition_key=partition,
        instance=instance,
        resources=defs.resources,
        run_config={"ops": {asset.op.name: {"config": config}}} if config else None,
    )


@requires_icml
def test_icml_2024_listing_registers_every_paper_and_the_lifecycle_judges_them(instance, monkeypatch):
    notes = icml2024_notes()
    with serve_openreview(notes) as server:
        configure(paper_sources={"openreview": {"base_url": server.url}}, lifecycle={"batch_size": 50})
        defs = build_definitions()
        result = materialize_listing(defs, instance, conference_listing, "icml-2024")
        again = materialize_listing(defs, instance, conference_listing, "icml-2024")

    metadata = result.asset_materializations_for_node("conference_listing")[0].metadata
    assert metadata["source"].value == "openreview" and metadata["listed"].value == len(notes) == 1791
    assert metadata["new_papers"].value == 1791 and metadata["merged_into_existing"].value == 0
    assert set(metadata["by_decision"].value) == {"oral", "spotlight", "poster"}
    again_metadata = again.asset_materializations_for_node("conference_listing")[0].metadata
    assert again_metadata["new_papers"].value == 0 and again_metadata["already_registered"].value == 1791

    keys = instance.get_dynamic_partitions("papers")
    assert len(keys) == 1791 and all(k.startswith("icml-2024-") for k in keys)
    index = defs.resources["paper_index"]
    doc = index.get(keys[0])
    assert doc["source"]["listing"] == "icml-2024" and doc["source"]["paper"]["abstract"]

    # The lifecycle sensor batches them; one batch runs through the verdict (no PDF needed to judge).
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        requests = defs.resolve_sensor_def("lifecycle_batch_sensor")(context).run_requests
    batches = [run_paper_keys(LIFECYCLE_JOB, r.run_config) for r in requests]
    assert sum(map(len, batches)) == 1791 and max(map(len, batches)) == 50
    outcome = defs.resolve_job_def("lifecycle_batch_job").execute_in_process(
        instance=instance, run_config=lifecycle_run_config(batches[0], through="verdict")
    )
    assert outcome.success
    judged = instance.get_materialized_partitions(dg.AssetKey("verdict"))
    assert judged == set(batches[0]) == instance.get_materialized_partitions(dg.AssetKey("paper_metadata"))
    assert not instance.get_materialized_partitions(dg.AssetKey("raw_pdf"))
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("paper_metadata"), asset_partitions=[batches[0][0]]), limit=1
    ).records[0]
    shown = record.asset_materialization.metadata
    assert shown["venue"].value == "icml 2024" and shown["decision"].value in {"oral", "spotlight", "poster"}
    assert shown["link"].value.startswith("https://openreview.net/forum?id=")
    assert index.get(batches[0][0])["verdict"]["decision"] in {"accept", "reject"}


@requires_icml
def test_only_the_configured_decisions_are_kept_and_the_limit_applies(instance, monkeypatch):
    with serve_openreview(icml2024_notes()) as server:
        configure(paper_sources={"openreview": {"base_url": server.url}})
        defs = build_definitions()
        result = materialize_listing(
            defs, instance, conference_listing, "icml-2024", {"decisions": ["oral"], "limit": 0}
        )
    metadata = result.asset_materializations_for_node("conference_listing")[0].metadata
    assert metadata["kept"].value == metadata["by_decision"].value["oral"] == metadata["new_papers"].value
    assert 50 < metadata["kept"].value < 300


def venue_notes(venue_id: str, name: str) -> list[dict]:
    """Six API v2 notes of a venue-year: three accepted, three rejected."""
    fields = {"authors": ["A. Author"], "abstract": "We train a language model."}
    return [
        _v2_note(
            f"{name.replace(' ', '')}{n}",
            n,
            venue_id,
            {
                **fields,
                "title": f"A {name} paper {n}",
                "venue": name if n % 2 else f"Submitted to {name}",
                "venueid": venue_id if n % 2 else f"{venue_id}/Rejected_Submission",
            },
        )
        for n in range(1, 7)
    ]


@pytest.mark.parametrize(
    ("partition", "venue_id", "more_venues"),
    [
        ("colm-2024", "colmweb.org/COLM/2024/Conference", {}),  # built in
        ("corl-2024", "robot-learning.org/CoRL/2024/Conference", {"corl": "robot-learning.org/CoRL"}),  # configured
    ],
)
def test_colm_and_any_configured_openreview_venue_are_listed(instance, partition, venue_id, more_venues):
    """COLM's venue-years are partitions read from OpenReview; so are those of any venue a team names by its
    OpenReview venue id (`paper_sources.openreview.more_venues`)."""
    with serve_openreview(venue_notes(venue_id, partition.upper())) as server:
        configure(paper_sources={"openreview": {"base_url": server.url, "more_venues": more_venues}})
        defs = build_definitions()
        listing = defs.get_assets_def("conference_listing")
        assert partition in listing.partitions_def.get_partition_keys()
        result = materialize_listing(defs, instance, listing, partition)
    metadata = result.asset_materializations_for_node("conference_listing")[0].metadata
    assert metadata["source"].value == "openreview"
    assert metadata["by_decision"].value == {"accept": 3, "reject": 3} and metadata["new_papers"].value == 3
    assert all(key.startswith(f"{partition}-") for key in instance.get_dynamic_partitions("papers"))


def test_an_unreachable_source_fails_the_listing_with_the_reason(instance, monkeypatch):
    with LoopbackServer(lambda request: Reply(404, "not found")) as server:
        configure(paper_sources={"pmlr": {"base_url": server.url}})
        defs = build_definitions()
        result = dg.materialize(
            [conference_listing],
            partition_key="icml-2019",
            instance=instance,
            resources=defs.resources,
            raise_on_error=False,
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "pmlr could not list icml 2019" in failure and "404" in failure
    assert instance.get_dynamic_partitions("papers") == []


@requires_icml
def test_the_pmlr_version_of_an_openreview_paper_is_merged_not_registered_twice(instance):
    """PMLR v235 pages (real records) for papers that OpenReview already listed: one paper, both ids."""
    defs = build_definitions()
    index = defs.resources["paper_index"]
    volume = load_posts_volume(PMLR_V235_POSTS)
    with serve_openreview(icml2024_notes()) as server:
        from annapurna_resources import OpenReviewSource

        openreview_papers = OpenReviewSource(base_url=server.url).list_papers("icml", 2024)
    with LoopbackServer(PmlrSite(volume)) as site:
        pmlr = PmlrSource(base_url=site.url, min_interval_s=0)
        pmlr_papers = pmlr.list_papers("icml", 2024)
    titles = {p.title.casefold() for p in openreview_papers}
    in_both = [p for p in pmlr_papers if p.title.casefold() in titles]
    assert in_both, "the PMLR sample shares no paper with the OpenReview sample"

    first = register_papers(instance, index, openreview_papers, "icml-2024")
    second = register_papers(instance, index, pmlr_papers, "pmlr-v235")
    assert len(first.new_keys) == 1791
    assert len(second.merged) == len(in_both) and len(second.new_keys) == len(pmlr_papers) - len(in_both)
    key = second.merged[f"pmlr:{in_both[0].source_id}"]
    doc = index.get(key)
    assert set(doc["source"]["paper"]["ids"]) == {"openreview", "pmlr"}
    assert doc["source"]["versions"][0]["listing"] == "pmlr-v235"
    assert len(instance.get_dynamic_partitions("papers")) == 1791 + len(second.new_keys)


@requires_arxiv_data
def test_an_arxiv_day_registers_its_papers_with_arxiv_keys(instance, monkeypatch):
    with LoopbackServer(ArxivApiReplay(serve_every_search_as="testing")) as server:
        configure(
            paper_sources={"arxiv": {"api_url": f"{server.url}/api/query", "delay_seconds": 0, "max_results": 100}}
        )
        defs = build_definitions()
        result = materialize_listing(defs, instance, defs.get_assets_def("arxiv_listing"), "2025-03-03")
    metadata = result.asset_materializations_for_node("arxiv_listing")[0].metadata
    assert metadata["method"].value == "search API" and metadata["new_papers"].value == metadata["listed"].value
    keys = instance.get_dynamic_partitions("papers")
    assert len(keys) == metadata["listed"].value > 50 and all(k.startswith("arxiv-") for k in keys)
    assert "submittedDate:[202503030000 TO 202503032359]" in server.requests[0].arg("search_query")


@requires_arxiv_data
def test_a_backfilled_window_of_days_is_one_oai_pmh_harvest(instance, monkeypatch):
    records = load_real_oai_records()
    with LoopbackServer(OaiPmhReplay(records, page_size=4)) as server:
        categories = ["hep-th", "hep-ex", "astro-ph", "cs.LG", "quant-ph", "cond-mat.str-el"]
        configure(
            paper_sources={"arxiv": {"oai_url": f"{server.url}/oai", "delay_seconds": 0, "categories": categories}}
        )
        defs = build_definitions()
        result = dg.materialize(
            [defs.get_assets_def("arxiv_listing")],
            instance=instance,
            resources=defs.resources,
            tags={
                "dagster/asset_partition_range_start": "2025-03-01",
                "dagster/asset_partition_range_end": "2025-03-07",
            },
        )
    metadata = result.asset_materializations_for_node("arxiv_listing")[0].metadata
    assert metadata["method"].value == "OAI-PMH" and metadata["days"].value == 7
    first = server.requests[0]
    assert (first.arg("from"), first.arg("until")) == ("2025-03-01", "2025-03-07")
    assert any(r.arg("resumptionToken") for r in server.requests)
    assert metadata["new_papers"].value == len(instance.get_dynamic_partitions("papers")) > 0


NEURIPS_2023 = SHARED_DATA / "listings" / "neurips2023"


@pytest.mark.skipif(not NEURIPS_2023.is_dir(), reason=f"needs {NEURIPS_2023} (../shared/data)")
def test_a_listing_file_with_malformed_rows_loses_no_paper(instance, monkeypatch):
    """The real NeurIPS 2023 dump has rows whose titles and abstracts held unquoted commas: they are put back
    together around the forum link, so every paper of the dump is registered with its whole title."""
    configure(paper_sources={"files": {"files": {"neurips-2023": f"{NEURIPS_2023}/*.csv"}}})
    defs = build_definitions()
    result = materialize_listing(defs, instance, conference_listing, "neurips-2023")
    metadata = result.asset_materializations_for_node("conference_listing")[0].metadata
    assert metadata["source"].value == "listing file"
    assert metadata["listed"].value == 48 + 264 + 1905  # every row of the three files
    assert metadata["by_decision"].value == {"poster": 1905, "spotlight": 264, "oral": 48}
    docs = defs.resources["paper_index"].all_documents()
    titles = {doc["source"]["paper"]["title"] for doc in docs.values()}
    assert "On the Variance, Admissibility, and Stability of Empirical Risk Minimization" in titles
    assert "GLIME: General, Stable and Local LIME Explanation" in titles
    repaired = next(d for d in docs.values() if d["source"]["paper"]["title"].startswith("Phase diagram of early"))
    assert (
        repaired["source"]["paper"]["abstract"].endswith('are increased."')
        or "$d$" in repaired["source"]["paper"]["abstract"]
    )
    assert len(instance.get_dynamic_partitions("papers")) == metadata["new_papers"].value == 2217


PAPER_COPILOT = SHARED_DATA / "listings" / "papercopilot"


@pytest.mark.skipif(not PAPER_COPILOT.is_dir(), reason=f"needs {PAPER_COPILOT} (../shared/data)")
def test_a_paper_copilot_dump_registers_every_paper_of_its_venue_year(instance):
    """Paper Copilot's ICLR 2018 dump (995 submissions: accepted, rejected, withdrawn, invited to the workshop) as a
    listing file: every paper registered under its OpenReview id, its status read as its decision."""
    configure(paper_sources={"files": {"files": {"iclr-2018": f"{PAPER_COPILOT}/iclr__iclr2018.json"}}})
    defs = build_definitions()
    everything = {"decisions": ["oral", "poster", "reject", "withdrawn", "unknown"]}
    result = materialize_listing(defs, instance, conference_listing, "iclr-2018", everything)
    metadata = result.asset_materializations_for_node("conference_listing")[0].metadata
    assert metadata["listed"].value == metadata["new_papers"].value == 995
    assert metadata["by_decision"].value == {"reject": 586, "poster": 314, "withdrawn": 69, "oral": 23, "unknown": 3}
    assert len(instance.get_dynamic_partitions("papers")) == 995
    docs = defs.resources["paper_index"].all_documents().values()
    counting = next(d["source"]["paper"] for d in docs if d["source"]["paper"]["title"].startswith("Learning to Count"))
    assert counting["ids"] == {"openreview": "B12Js_yRb"}  # from its BibTeX: its site is the venue's page
    assert counting["authors"][0] == "Yan Zhang" and counting["keywords"] == [
        "visual question answering",
        "vqa",
        "counting",
    ]
    assert counting["track"] == "ICLR 2018 Poster" and counting["abstract"]

    icml = ListingFileSource(files={"icml-2019": f"{PAPER_COPILOT}/icml__icml2019.json"}).list_papers("icml", 2019)
    first = icml[0]
    assert (first.source, first.source_id, first.decision) == ("pmlr", "v97/mao19a", "oral")  # PMLR's own id
    assert first.pdf_url == "http://proceedings.mlr.press/v97/mao19a/mao19a.pdf"


def test_a_malformed_listing_files_setting_is_refused_by_name():
    configure(paper_sources={"files": {"files": ["neurips-2023=/data/*.csv"]}})
    with pytest.raises(ValueError, match="files"):
        build_definitions()


def test_a_paper_copilot_dump_with_odd_entries_keeps_every_usable_paper(tmp_path):
    """Entries that are not papers are skipped, papers without an id stay distinct, "Accept (Oral)" is an oral, and
    a file that is not JSON fails with its name."""
    dump = tmp_path / "venue.json"
    dump.write_text(
        '[{"title": "First", "status": "Accept (Oral)"}, "not a paper", {"title": "Second", "status": "Poster"},'
        ' {"title": "", "status": "Poster"}]'
    )
    papers = ListingFileSource(files={"uai-2024": str(dump)}).list_papers("uai", 2024)
    assert [(p.title, p.decision) for p in papers] == [("First", "oral"), ("Second", "poster")]
    assert len({p.source_id for p in papers}) == 2 and all(p.source == "papercopilot" for p in papers)
    dump.write_text("[{ broken")
    with pytest.raises(ListingFileUnavailable, match="venue.json: not valid JSON"):
        ListingFileSource(files={"uai-2024": str(dump)}).list_papers("uai", 2024)
