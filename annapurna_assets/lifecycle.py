"""Many papers' lifecycles in one run: the same stage functions as the per-paper assets, stage by stage.

A Dagster run per paper costs a process start and a model load (seconds), which a conference year of
thousands of papers cannot afford; backfill policies cannot help (they group only adjacent partitions into
one run, and a single-run backfill cannot report per-partition metadata). So `lifecycle_batch_job` takes the
paper keys in its run config and reports, for every paper, the same partitioned materializations and check
evaluations the assets would: partitions, metadata, checks and lineage are per paper either way.
A paper that fails a stage (an exception or a failed blocking check) stops there; the others go on.
"""

import traceback

import dagster as dg

from annapurna_assets.codegen import PageSelectionConfig, choose_pages, write_code
from annapurna_assets.ingest import describe_paper, extract_text, paper_document, store_pdf
from annapurna_assets.judging import judge_paper, paper_embedding_text
from annapurna_assets.stage import partition_events
from annapurna_resources import (
    CodeGenerator,
    Judge,
    LocalBlobStore,
    MiniLMEmbedder,
    PaperSources,
    PdfFetcher,
    SqlitePaperIndex,
)

STAGES = ("paper_metadata", "verdict", "raw_pdf", "paper_text", "selected_pages", "generated_code")
BATCH_JOB = "lifecycle_batch_job"
BATCH_OP = "run_paper_lifecycle"


class LifecycleBatchConfig(dg.Config):
    paper_keys: list[str]
    through: str = "generated_code"  # the last stage to run, e.g. "verdict" to only judge


@dg.op(name=BATCH_OP)
def run_paper_lifecycle(
    context: dg.OpExecutionContext,
    config: LifecycleBatchConfig,
    paper_index: SqlitePaperIndex,
    paper_sources: PaperSources,
    pdf_fetcher: PdfFetcher,
    blob_store: LocalBlobStore,
    embedder: MiniLMEmbedder,
    judge: Judge,
    code_generator: CodeGenerator,
) -> None:
    if config.through not in STAGES:
        raise dg.Failure(f"through={config.through!r} is not one of {STAGES}")
    stages = STAGES[: STAGES.index(config.through) + 1]
    pages_config = PageSelectionConfig()
    active, failed = list(dict.fromkeys(config.paper_keys)), {}
    for stage in stages:
        vectors = _embed_batch(active, paper_index, embedder) if stage == "verdict" else {}
        run = {
            "paper_metadata": lambda k: describe_paper(
                k, paper_index, paper_sources, pdf_fetcher, blob_store, context.log
            ),
            "verdict": lambda k: judge_paper(k, paper_index, embedder, judge, vectors.get(k)),
            "raw_pdf": lambda k: store_pdf(k, paper_index, blob_store, pdf_fetcher),
            "paper_text": lambda k: extract_text(k, paper_index, blob_store),
            "selected_pages": lambda k: choose_pages(k, paper_index, blob_store, pages_config),
            "generated_code": lambda k: write_code(k, paper_index, blob_store, code_generator),
        }[stage]
        still_active = []
        for key in active:
            try:
                outcome = run(key)
            except Exception as error:  # one paper's failure must not stop the others
                failed[key] = f"{stage}: {error}"
                context.log.error(f"{key} failed at {stage}: {error}\n{traceback.format_exc(limit=6)}")
                continue
            if outcome is None:
                continue
            for event in partition_events(stage, key, outcome):
                context.log_event(event)
            if outcome.blocked_by is None:
                still_active.append(key)
            else:
                context.log.warning(f"{key} stops at {stage}: {outcome.blocked_by.description}")
        active = still_active
    context.log.info(
        f"{len(config.paper_keys)} papers: {len(active)} went through {config.through}, {len(failed)} failed"
    )
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(config.paper_keys)} papers failed (the others were recorded)",
            metadata={"failed_papers": dg.MetadataValue.json(failed)},
        )


def _embed_batch(keys: list[str], paper_index: SqlitePaperIndex, embedder: MiniLMEmbedder) -> dict:
    """All the batch's title+abstract embeddings in one model call (the bulk of judging time)."""
    docs = {key: paper_document(paper_index, key, "metadata") for key in keys}
    texts = [paper_embedding_text(doc["metadata"]) for doc in docs.values()]
    return dict(zip(docs, embedder.embed(texts))) if texts else {}


@dg.job(name=BATCH_JOB, tags={"annapurna/kind": "lifecycle-batch"}, executor_def=dg.in_process_executor)
def lifecycle_batch_job():
    """The lifecycle of a batch of papers (launched by paper_lifecycle_sensor; paper keys in the run config)."""
    run_paper_lifecycle()


def lifecycle_run_config(paper_keys: list[str], through: str = "generated_code") -> dict:
    return {"ops": {BATCH_OP: {"config": {"paper_keys": paper_keys, "through": through}}}}
