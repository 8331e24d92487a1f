"""From an accepted paper's text to a runnable training script: page selection, then code generation."""

import functools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from annapurna_assets.codegen.pages.selection import PageSelection, estimate_tokens, select_pages, strip_boilerplate
from annapurna_assets.lifecycle.runs import LLM_POOL
from annapurna_assets.lifecycle.settings import LifecycleSettings
from annapurna_assets.lifecycle.stage import Check, CheckOutcome, PaperStage, StageOutcome
from annapurna_assets.papers.assets import paper_document
from annapurna_resources import BlobStore, CodeGenerator, PaperIndex
from annapurna_resources.llm.code_contract import check_contract
from annapurna_resources.storage.paper_document import CodeSection, PagesSection

if TYPE_CHECKING:  # the classifier (LightGBM, scikit-learn) is loaded when pages are first chosen, not on import
    from annapurna_assets.codegen.pages.classifier import PageClassifier

MAX_CODE_SHOWN = 60_000  # characters of the script shown in the asset's metadata (all of any usual script)


def load_pages(blob_store: BlobStore, doc: dict) -> list[str]:
    return json.loads(blob_store.get(doc["text"]["ref"]))["pages"]


@functools.cache
def _classifier(model_path: str, modified: float) -> "PageClassifier":
    from annapurna_assets.codegen.pages.classifier import PageClassifier

    return PageClassifier.load(Path(model_path))


def page_classifier() -> "PageClassifier":
    """The model in use (retrained by page_classifier_model, else bundled), loaded once per file version."""
    from annapurna_assets.codegen.pages.classifier import current_model_path

    path = current_model_path()
    return _classifier(str(path), path.stat().st_mtime)


def classify_and_select(pages: list[str], settings: LifecycleSettings) -> tuple[PageSelection, int, "PageClassifier"]:
    """The pages under the budget: the best by P(useful) per token, up to min(tokens, fraction of the paper)."""
    classifier = page_classifier()
    total = sum(estimate_tokens(p) for p in pages)
    cap = settings.page_budget_tokens
    budget = min(cap, int(settings.page_max_fraction * total)) if total else cap
    selection = select_pages(pages, budget, classifier.predict(pages), settings.page_min_probability)
    return selection, budget, classifier


def choose_pages(key: str, paper_index: PaperIndex, blob_store: BlobStore, settings: LifecycleSettings) -> StageOutcome:
    doc = paper_document(paper_index, key, "text")
    pages = load_pages(blob_store, doc)
    selection, budget, classifier = classify_and_select(pages, settings)
    method = f"lightgbm page classifier ({classifier.info.get('trained', 'bundled')})"
    paper_index.update(
        key,
        pages=PagesSection(
            pages=selection.pages,
            scores=selection.scores,
            tokens_kept=selection.tokens_kept,
            tokens_total=selection.tokens_total,
            budget_tokens=budget,
            method=method,
        ),
    )
    return StageOutcome(
        metadata={
            "pages": page_ranges(selection.pages),
            "page_count": len(pages),
            "tokens_kept": selection.tokens_kept,
            "tokens_total": selection.tokens_total,
            "token_fraction": round(selection.token_fraction, 3),
            "budget_tokens": budget,
            "pages_table": dg.MetadataValue.md(_pages_table(strip_boilerplate(pages), selection)),
            "method": method,
        }
    )


def page_ranges(pages: list[int]) -> str:
    """`[5, 6, 7, 9]` -> `5-7, 9`."""
    runs: list[list[int]] = []
    for page in sorted(pages):
        if runs and page == runs[-1][-1] + 1:
            runs[-1].append(page)
        else:
            runs.append([page])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs) or "none"


def _pages_table(pages: list[str], selection: PageSelection) -> str:
    """Every page with its P(useful), its tokens and whether the code generator reads it."""
    kept = set(selection.pages)
    rows = [
        f"| {n} | {selection.scores.get(n, 0.0):.2f} | {estimate_tokens(text)} | {'kept' if n in kept else '-'} | "
        f"{_first_words(text)} |"
        for n, text in enumerate(pages, start=1)
    ]
    return "| page | P(useful) | tokens | read | starts with |\n|---|---|---|---|---|\n" + "\n".join(rows)


def _first_words(text: str, words: int = 10) -> str:
    return " ".join(text.split()[:words]).replace("|", "\\|")


def write_code(key: str, paper_index: PaperIndex, blob_store: BlobStore, code_generator: CodeGenerator) -> StageOutcome:
    doc = paper_document(paper_index, key, "metadata", "pages", "text")
    pages = strip_boilerplate(load_pages(blob_store, doc))  # what the selection's token count was made of
    chosen = [(n, pages[n - 1]) for n in doc["pages"]["pages"]]
    metadata = doc["metadata"]
    result = code_generator.generate(key, metadata["title"], metadata["abstract"], chosen)
    code = result.pop("code")
    ref = blob_store.put(code.encode())
    report = check_contract(code)
    failed = result.get("final_status") == "failed"
    smoke = result.get("smoke")  # only generators with a smoke step report one
    # A failed generation with no smoke run (garbage, cut or refused replies; review problems) fails the contract.
    contract_ok = report.ok and not (failed and not smoke)
    contract_problems = report.problems or ([result.get("final_error") or "generation failed"] if failed else [])
    paper_index.update(
        key,
        code=CodeSection(
            **result,
            ref=ref,
            bytes=len(code),
            lines=code.count("\n") + 1,
            contract_ok=contract_ok,
            contract_problems=contract_problems,
            generated_at=time.time(),
        ),
    )
    hyperparameter_rows = "\n".join(
        f"| {h['name']} | {_value(h.get('paper_value'))} | {_value(h.get('used_value'))} | {h.get('page')} |"
        for h in result.get("hyperparameters_from_paper", [])
    )
    checks = [
        CheckOutcome(
            "meets_contract",
            contract_ok,
            "; ".join(contract_problems) or "meets the generated-code contract",
            {"problems": "; ".join(contract_problems) or "none"},
        )
    ]
    if code_generator.smoke_runs:
        passed = bool(smoke and smoke.get("passed")) and not failed
        if passed:
            smoke_description = f"smoke run (ANNAPURNA_SMOKE=1) passed in {smoke.get('seconds', 0):.1f} s"
        elif smoke:
            smoke_description = (
                f"no attempt passed its smoke run: {result.get('final_error') or smoke.get('reason', '')}"
            )
        else:
            smoke_description = f"no attempt got as far as a smoke run: {result.get('final_error') or 'no code'}"
        checks.append(
            CheckOutcome(
                "smoke_run_passed",
                passed,
                smoke_description,
                {"status": (smoke or {}).get("status", "not run"), "attempts": len(result.get("attempts", []))},
            )
        )
    llm_metadata = {}
    if "attempts" in result:
        llm_metadata = {
            "model": result.get("model", ""),
            "final_status": result.get("final_status", ""),
            "attempt_count": int(result.get("attempt_count", len(result["attempts"]))),
            "repaired": bool(result.get("repaired")),
            "attempts": dg.MetadataValue.md(_attempts_table(result["attempts"])),
            "input_tokens": int(result.get("input_tokens", 0)),
            "output_tokens": int(result.get("output_tokens", 0)),
        }
        if result.get("final_error"):
            llm_metadata["final_error"] = result["final_error"]
    return StageOutcome(
        metadata={
            "generator": result["generator"],
            "offline_scaffold": bool(result.get("scaffold")),
            "family": result.get("family", ""),
            "dataset": result.get("dataset", ""),
            "data": result.get("data_note", ""),
            "lines": code.count("\n") + 1,
            "bytes": len(code),
            "code": dg.MetadataValue.md(f"```python\n{code[:MAX_CODE_SHOWN]}\n```"),
            "open_code": dg.MetadataValue.url(blob_store.browser_url(ref, ".py")),
            "blob": ref,
            "hyperparameters_from_paper": dg.MetadataValue.md(
                "| name | in paper | used | page |\n|---|---|---|---|\n" + hyperparameter_rows
                if hyperparameter_rows
                else "_none found; template defaults used_"
            ),
            "plan": dg.MetadataValue.json(result.get("plan", {})),
            "cost_usd": float(result.get("cost_usd", 0.0)),
            **llm_metadata,
        },
        checks=checks,
    )


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _attempts_table(attempts: list[dict]) -> str:
    rows = [
        "| attempt | code | stage | error | input tokens | output tokens |",
        "|---|---|---|---|---|---|",
    ]
    for a in attempts:
        error = (a.get("error") or "ok").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| {a.get('attempt')} | {(a.get('code_sha256') or '-')[:12]} | {a.get('stage', '')} | {error} "
            f"| {a.get('input_tokens', 0)} | {a.get('output_tokens', 0)} |"
        )
    return "\n".join(rows)


pages_stage = PaperStage(
    asset="selected_pages",
    description="The pages most useful for implementing the paper, under a token budget.",
    group="read",
    step="read_papers",
    resources=("paper_index", "blob_store", "lifecycle"),
    run=lambda key, r, log: choose_pages(key, r.paper_index, r.blob_store, r.lifecycle),
    extra_deps=("page_classifier_model",),
)


def code_recorded(context, resources, outcomes: dict[str, StageOutcome]) -> None:
    """The team hears of each script that meets the contract."""
    passed = [key for key, outcome in outcomes.items() if outcome.blocked_by is None]
    for key, doc in resources.paper_index.get_many(passed).items():
        resources.notifier.code_generated(context.log, key, doc["code"])


code_stage = PaperStage(
    asset="generated_code",
    description="A runnable PyTorch training script (`python main.py`) reproducing the paper at small scale.",
    group="code",
    step="write_papers_code",
    pool=LLM_POOL,
    kinds=("pytorch",),
    resources=("paper_index", "blob_store", "code_generator", "notifier"),
    run=lambda key, r, log: write_code(key, r.paper_index, r.blob_store, r.code_generator),
    checks=(
        Check(
            "meets_contract",
            "Parses; allow-listed imports; torch_xla/cuda/cpu device; METRICS lines; time budget and smoke mode; "
            "main guard; no network, subprocess or outside files.",
        ),
    ),
    smoke_checks=(
        Check(
            "smoke_run_passed",
            "The script ran with ANNAPURNA_SMOKE=1 in the sandbox, exited 0 and printed a final METRICS line with a "
            "finite final_loss (after up to max_attempts repairs).",
        ),
    ),
    recorded=code_recorded,
)
