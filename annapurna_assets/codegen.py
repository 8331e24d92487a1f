"""From an accepted paper's text to a runnable training script: page selection, then code generation."""

import json
import time

import dagster as dg

from annapurna_assets.code_contract import check_contract
from annapurna_assets.ingest import paper_document, paper_text
from annapurna_assets.page_selection import select_pages
from annapurna_assets.partitions import paper_check, papers_partitions
from annapurna_assets.stage import CheckOutcome, StageOutcome, asset_events
from annapurna_resources import CodeGenerator, LocalBlobStore, SqlitePaperIndex

GROUP = "codegen"


class PageSelectionConfig(dg.Config):
    budget_tokens: int = 12000
    max_fraction: float = 0.6


def load_pages(blob_store: LocalBlobStore, doc: dict) -> list[str]:
    return json.loads(blob_store.get(doc["text"]["ref"]))["pages"]


def choose_pages(
    key: str, paper_index: SqlitePaperIndex, blob_store: LocalBlobStore, config: PageSelectionConfig
) -> StageOutcome:
    doc = paper_document(paper_index, key, "text")
    pages = load_pages(blob_store, doc)
    total = sum(len(p) for p in pages) // 4
    budget = min(config.budget_tokens, int(config.max_fraction * total)) if total else config.budget_tokens
    selection = select_pages(pages, budget)
    paper_index.update(
        key,
        pages={
            "pages": selection.pages,
            "scores": selection.scores,
            "tokens_kept": selection.tokens_kept,
            "tokens_total": selection.tokens_total,
            "budget_tokens": budget,
            "method": "heuristic",
        },
    )
    return StageOutcome(
        metadata={
            "pages": dg.MetadataValue.json(selection.pages),
            "page_count": len(pages),
            "tokens_kept": selection.tokens_kept,
            "tokens_total": selection.tokens_total,
            "token_fraction": round(selection.token_fraction, 3),
            "scores": dg.MetadataValue.json({str(k): v for k, v in selection.scores.items()}),
            "method": "heuristic (implementation and setup cues)",
        }
    )


def write_code(
    key: str, paper_index: SqlitePaperIndex, blob_store: LocalBlobStore, code_generator: CodeGenerator
) -> StageOutcome:
    doc = paper_document(paper_index, key, "metadata", "pages", "text")
    pages = load_pages(blob_store, doc)
    chosen = [(n, pages[n - 1]) for n in doc["pages"]["pages"]]
    metadata = doc["metadata"]
    result = code_generator.generate(key, metadata["title"], metadata["abstract"], chosen)
    code = result.pop("code")
    ref = blob_store.put(code.encode())
    report = check_contract(code)
    paper_index.update(
        key,
        code={
            **result,
            "ref": ref,
            "bytes": len(code),
            "lines": code.count("\n") + 1,
            "contract_ok": report.ok,
            "contract_problems": report.problems,
            "generated_at": time.time(),
        },
    )
    hyperparameter_rows = "\n".join(
        f"| {h['name']} | {h['paper_value']:g} | {h['used_value']:g} | {h['page']} |"
        for h in result.get("hyperparameters_from_paper", [])
    )
    return StageOutcome(
        metadata={
            "generator": result["generator"],
            "offline_scaffold": bool(result.get("scaffold")),
            "family": result.get("family", ""),
            "dataset": result.get("dataset", ""),
            "data": result.get("data_note", ""),
            "lines": code.count("\n") + 1,
            "bytes": len(code),
            "blob": ref,
            "path": dg.MetadataValue.path(str(blob_store.local_path(ref))),
            "hyperparameters_from_paper": dg.MetadataValue.md(
                "| name | in paper | used | page |\n|---|---|---|---|\n" + hyperparameter_rows
                if hyperparameter_rows
                else "_none found; template defaults used_"
            ),
            "plan": dg.MetadataValue.json(result.get("plan", {})),
            "cost_usd": float(result.get("cost_usd", 0.0)),
        },
        checks=[
            CheckOutcome(
                "meets_contract",
                report.ok,
                "; ".join(report.problems) or "meets the generated-code contract",
                {"problems": "; ".join(report.problems) or "none"},
            )
        ],
    )


@dg.asset(partitions_def=papers_partitions, group_name=GROUP, deps=[paper_text], kinds={"python"})
def selected_pages(
    context: dg.AssetExecutionContext,
    config: PageSelectionConfig,
    paper_index: SqlitePaperIndex,
    blob_store: LocalBlobStore,
):
    """The pages most useful for implementing the paper, under a token budget."""
    yield from asset_events(choose_pages(context.partition_key, paper_index, blob_store, config))


@dg.asset(
    partitions_def=papers_partitions,
    group_name=GROUP,
    deps=[selected_pages],
    kinds={"pytorch"},
    check_specs=[
        paper_check(
            "meets_contract",
            "generated_code",
            "Parses; torch_xla/cuda/cpu device; METRICS lines; "
            "time budget; main guard; no network, subprocess or outside files.",
        )
    ],
)
def generated_code(
    context: dg.AssetExecutionContext,
    paper_index: SqlitePaperIndex,
    blob_store: LocalBlobStore,
    code_generator: CodeGenerator,
):
    """A runnable PyTorch training script (`python main.py`) reproducing the paper at small scale."""
    yield from asset_events(write_code(context.partition_key, paper_index, blob_store, code_generator))
