"""Many papers' lifecycles in one run: the same stage functions as the per-paper assets, stage by stage.

A Dagster run per paper costs a process start and a model load (seconds), which a conference year of
thousands of papers cannot afford; backfill policies cannot help (they group only adjacent partitions into
one run, and a single-run backfill cannot report per-partition metadata). So `lifecycle_batch_job` takes the
paper keys in its run config and reports, for every paper, the same partitioned materializations and check
evaluations the assets would: partitions, metadata, checks and lineage are per paper either way.
A paper that fails a stage (an exception or a failed blocking check) stops there; the others go on.
"""

import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dagster as dg
from pydantic import Field

from annapurna_assets.codegen.assets import PageSelectionConfig, choose_pages, write_code
from annapurna_assets.judge.assets import judge_request, paper_embedding_text, record_verdict, update_accepted_papers
from annapurna_assets.lifecycle.stage import StageOutcome, partition_events
from annapurna_assets.papers.assets import describe_paper, extract_text, paper_document, store_pdf
from annapurna_resources import (
    BlobStore,
    CodeGenerator,
    Judge,
    MiniLMEmbedder,
    Notifier,
    PaperIndex,
    PaperSources,
    PdfFetcher,
)

STAGES = ("paper_metadata", "verdict", "raw_pdf", "paper_text", "selected_pages", "generated_code")
BATCH_JOB = "lifecycle_batch_job"
BATCH_OP = "describe_papers"  # the op that takes the run config
LLM_POOL = "llm"  # bounds concurrent LLM calls across runs: the judging and code-writing steps claim it


class LifecycleBatchConfig(dg.Config):
    paper_keys: list[str] = Field(description="The `papers` partitions whose lifecycle this run goes through.")
    through: str = Field(
        default="generated_code",
        description=f"The last stage to run, one of {', '.join(STAGES)} (e.g. verdict: only judge).",
    )


@dataclass
class PaperBatch:
    """What flows from one step of a lifecycle run to the next: the papers still going, and those that failed."""

    active: list[str]
    through: str
    total: int
    failed: dict[str, str] = field(default_factory=dict)

    def runs(self, stage: str) -> bool:
        return STAGES.index(stage) <= STAGES.index(self.through)

    def fail(self, context, key: str, stage: str, error: Exception) -> None:
        self.failed[key] = f"{stage}: {error}"
        context.log.error(f"{key} failed at {stage}: {error}\n{traceback.format_exc(limit=6)}")


def run_stage(context, batch: PaperBatch, stage: str, run: Callable[[str], StageOutcome | None]) -> Iterator:
    """`run` for every active paper, yielding each paper's events; a paper that fails or is blocked stops."""
    if not batch.runs(stage):
        return
    outcomes = {}
    for key in batch.active:
        try:
            outcome = run(key)
        except Exception as error:  # one paper's failure must not stop the others
            batch.fail(context, key, stage, error)
            continue
        if outcome is not None:
            outcomes[key] = outcome
    yield from partition_events(context, stage, outcomes)
    batch.active = [key for key, outcome in outcomes.items() if outcome.blocked_by is None]
    for key, outcome in outcomes.items():
        if outcome.blocked_by is not None:
            context.log.warning(f"{key} stops at {stage}: {outcome.blocked_by.description}")


@dg.op(name=BATCH_OP, out=dg.Out(PaperBatch))
def describe_papers(
    context: dg.OpExecutionContext,
    config: LifecycleBatchConfig,
    paper_index: PaperIndex,
    paper_sources: PaperSources,
    pdf_fetcher: PdfFetcher,
    blob_store: BlobStore,
) -> Iterator:
    if config.through not in STAGES:
        raise dg.Failure(f"through={config.through!r} is not one of {STAGES}")
    keys = list(dict.fromkeys(config.paper_keys))
    batch = PaperBatch(active=keys, through=config.through, total=len(keys))
    yield from run_stage(
        context,
        batch,
        "paper_metadata",
        lambda k: describe_paper(k, paper_index, paper_sources, pdf_fetcher, blob_store, context.log),
    )
    yield dg.Output(batch)


@dg.op(pool=LLM_POOL, out=dg.Out(PaperBatch))
def judge_papers(
    context: dg.OpExecutionContext,
    batch: PaperBatch,
    paper_index: PaperIndex,
    embedder: MiniLMEmbedder,
    judge: Judge,
    notifier: Notifier,
) -> Iterator:
    """Every paper's neighbours first, then one `judge_many` call (a Message Batch when the judge is set up so)."""
    if not batch.runs("verdict") or not batch.active:
        yield dg.Output(batch)
        return
    vectors = _embed_batch(batch.active, paper_index, embedder)
    requests = {}
    for key in batch.active:
        try:
            requests[key] = judge_request(key, paper_index, embedder, vectors.get(key))
        except Exception as error:
            batch.fail(context, key, "verdict", error)
    batch.active = list(requests)
    decisions = dict(zip(requests, judge.judge_many(list(requests.values()))))
    yield from run_stage(
        context, batch, "verdict", lambda k: record_verdict(k, paper_index, judge, requests[k], decisions[k])
    )
    verdicts = {key: doc["verdict"] for key, doc in paper_index.get_many(requests).items() if "verdict" in doc}
    update_accepted_papers(context.instance, {key: verdict.get("decision") for key, verdict in verdicts.items()})
    for key in batch.active:
        notifier.verdict_recorded(context.log, key, verdicts[key])
    yield dg.Output(batch)


@dg.op(out=dg.Out(PaperBatch))
def read_papers(
    context: dg.OpExecutionContext,
    batch: PaperBatch,
    paper_index: PaperIndex,
    pdf_fetcher: PdfFetcher,
    blob_store: BlobStore,
) -> Iterator:
    """Download, extract text and choose the pages of the accepted papers."""
    pages_config = PageSelectionConfig()
    yield from run_stage(context, batch, "raw_pdf", lambda k: store_pdf(k, paper_index, blob_store, pdf_fetcher))
    yield from run_stage(context, batch, "paper_text", lambda k: extract_text(k, paper_index, blob_store))
    yield from run_stage(
        context, batch, "selected_pages", lambda k: choose_pages(k, paper_index, blob_store, pages_config)
    )
    yield dg.Output(batch)


@dg.op(pool=LLM_POOL, out={})
def write_papers_code(
    context: dg.OpExecutionContext,
    batch: PaperBatch,
    paper_index: PaperIndex,
    blob_store: BlobStore,
    code_generator: CodeGenerator,
    notifier: Notifier,
) -> Iterator:
    yield from run_stage(
        context, batch, "generated_code", lambda k: write_code(k, paper_index, blob_store, code_generator)
    )
    for key, doc in paper_index.get_many(batch.active if batch.runs("generated_code") else []).items():
        notifier.code_generated(context.log, key, doc["code"])
    context.log.info(
        f"{batch.total} papers: {len(batch.active)} went through {batch.through}, {len(batch.failed)} failed"
    )
    if batch.failed:
        raise dg.Failure(
            f"{len(batch.failed)} of {batch.total} papers failed (the others were recorded)",
            metadata={"failed_papers": dg.MetadataValue.json(batch.failed)},
        )


def _embed_batch(keys: list[str], paper_index: PaperIndex, embedder: MiniLMEmbedder) -> dict:
    """All the batch's title+abstract embeddings in one model call (the bulk of judging time)."""
    docs = {key: paper_document(paper_index, key, "metadata") for key in keys}
    texts = [paper_embedding_text(doc["metadata"]) for doc in docs.values()]
    return dict(zip(docs, embedder.embed(texts))) if texts else {}


@dg.job(name=BATCH_JOB, tags={"annapurna/kind": "lifecycle-batch"}, executor_def=dg.in_process_executor)
def lifecycle_batch_job():
    """The lifecycle of a batch of papers, stage by stage, from metadata to generated code (launched by
    paper_lifecycle_sensor; paper keys in the run config). Each paper's materializations and checks are its own."""
    write_papers_code(read_papers(judge_papers(describe_papers())))


def lifecycle_run_config(paper_keys: list[str], through: str = "generated_code") -> dict:
    return {"ops": {BATCH_OP: {"config": {"paper_keys": paper_keys, "through": through}}}}


def lifecycle_paper_keys(run_config: dict) -> list[str]:
    """The paper keys a lifecycle run was launched with."""
    return run_config.get("ops", {}).get(BATCH_OP, {}).get("config", {}).get("paper_keys", [])
