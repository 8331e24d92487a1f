"""From an accepted paper's text to a runnable training script: the sections it reads, then code generation."""

import functools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from annapurna_assets.codegen.reading.selection import Selection, select_sections
from annapurna_assets.lifecycle.runs import LLM_POOL
from annapurna_assets.lifecycle.settings import LifecycleSettings
from annapurna_assets.lifecycle.stage import Check, CheckOutcome, PaperStage, StageOutcome
from annapurna_assets.papers.assets import paper_document
from annapurna_assets.papers.structure import PaperText, read_structure
from annapurna_resources import BlobStore, CodeGenerator, PaperIndex, PaperSection
from annapurna_resources.llm.code_contract import check_contract
from annapurna_resources.storage.paper_document import CodeSection, PagesSection, PaperDocument, ReadSection

if TYPE_CHECKING:  # the classifier (LightGBM, scikit-learn) is loaded when sections are first chosen, not on import
    from annapurna_assets.codegen.reading.classifier import SectionClassifier

MAX_CODE_SHOWN = 60_000  # characters of the script shown in the asset's metadata (all of any usual script)
MIN_READ_TOKENS = 400  # a selection under this (about half a page) is too little to reproduce a paper from


def load_structure(blob_store: BlobStore, doc: PaperDocument) -> PaperText:
    """The paper's sections as `paper_text` stored them (read again from the PDF for text stored before sections)."""
    stored = json.loads(blob_store.get(doc["text"]["ref"]))
    if "structure" in stored:
        return PaperText.from_json(stored["structure"])
    return read_structure(blob_store.get(doc["pdf"]["ref"]))


@functools.cache
def _classifier(model_path: str, modified: float) -> "SectionClassifier":
    from annapurna_assets.codegen.reading.classifier import SectionClassifier

    return SectionClassifier.load(Path(model_path))


def section_classifier() -> "SectionClassifier":
    """The model in use (retrained by page_classifier_model, else bundled), loaded once per file version."""
    from annapurna_assets.codegen.reading.classifier import current_model_path

    path = current_model_path()
    return _classifier(str(path), path.stat().st_mtime)


def classify_and_select(paper: PaperText, settings: LifecycleSettings) -> tuple[Selection, "SectionClassifier"]:
    """Every section but those a reproduction never needs or the classifier is sure are not useful, within the
    reading budget."""
    classifier = section_classifier()
    scores = classifier.predict(paper)
    selection = select_sections(paper, scores, settings.read_budget_tokens, settings.section_min_probability)
    return selection, classifier


def read_sections(selection: Selection) -> list[ReadSection]:
    return [ReadSection(index=i, **choice.to_json()) for i, choice in enumerate(selection.choices)]


def too_little_read(selection: Selection, paper: PaperText) -> str:
    """Why the selection is too little to write code from, or "" when it is enough."""
    if selection.tokens_kept >= MIN_READ_TOKENS:
        return ""
    if selection.tokens_total < MIN_READ_TOKENS:
        return f"the paper has only {selection.tokens_total} tokens of text (headings from: {paper.outline})"
    dropped = [c for c in selection.choices if not c.kept and c.tokens]
    largest = ", ".join(f"{c.section.heading} ({c.reason})" for c in sorted(dropped, key=lambda c: -c.tokens)[:3])
    return (
        f"only {selection.tokens_kept} of {selection.tokens_total} tokens kept (under {MIN_READ_TOKENS}); "
        f"the largest sections dropped: {largest}"
    )


def choose_sections(
    key: str, paper_index: PaperIndex, blob_store: BlobStore, settings: LifecycleSettings
) -> StageOutcome:
    doc = paper_document(paper_index, key, "text")
    paper = load_structure(blob_store, doc)
    selection, classifier = classify_and_select(paper, settings)
    method = f"lightgbm section classifier ({classifier.info.get('trained', 'bundled')})"
    kept_by_page = selection.kept_by_page()
    paper_index.update(
        key,
        pages=PagesSection(
            sections=read_sections(selection),
            pages=selection.pages,
            kept={str(page): fraction for page, fraction in kept_by_page.items()},
            tokens_kept=selection.tokens_kept,
            tokens_total=selection.tokens_total,
            budget_tokens=selection.budget_tokens,
            method=method,
        ),
    )
    problem = too_little_read(selection, paper)
    kept = [choice for choice in selection.choices if choice.kept]
    return StageOutcome(
        metadata={
            "sections_read": f"{len(kept)} of {len(selection.choices)}",
            "sections": dg.MetadataValue.md(sections_table(selection)),
            "pages": page_ranges(selection.pages),
            "page_count": paper.page_count,
            "kept_by_page": dg.MetadataValue.json({str(p): f for p, f in kept_by_page.items()}),
            "tokens_kept": selection.tokens_kept,
            "tokens_total": selection.tokens_total,
            "token_fraction": round(selection.token_fraction, 3),
            "budget_tokens": selection.budget_tokens,
            "headings_from": paper.outline,
            "method": method,
        },
        checks=[
            CheckOutcome(
                "reads_enough",
                not problem,
                problem or f"{selection.tokens_kept} tokens of {len(kept)} sections to read",
                {"tokens_kept": selection.tokens_kept, "problem": problem or "none"},
            )
        ],
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


def sections_table(selection: Selection) -> str:
    """Every section with its pages, tokens, P(useful) and whether the code generator reads it (or why not)."""
    rows = [
        f"| {choice.section.heading.replace('|', '/')} | {page_ranges(choice.section.pages)} | {choice.tokens} | "
        f"{'-' if choice.score is None else f'{choice.score:.2f}'} | "
        f"{'read' if choice.kept else 'dropped: ' + choice.reason.replace('|', '/')} |"
        for choice in selection.choices
    ]
    return "| section | pages | tokens | P(useful) | read |\n|---|---|---|---|---|\n" + "\n".join(rows)


def sections_to_read(blob_store: BlobStore, doc: PaperDocument) -> list[PaperSection]:
    """The kept sections under their headings, in paper order."""
    paper = load_structure(blob_store, doc)
    kept = [entry["index"] for entry in doc["pages"]["sections"] if entry["kept"]]
    return [
        PaperSection(section.heading, tuple(section.pages), section.text)
        for section in (paper.sections[i] for i in kept)
    ]


def write_code(key: str, paper_index: PaperIndex, blob_store: BlobStore, code_generator: CodeGenerator) -> StageOutcome:
    doc = paper_document(paper_index, key, "metadata", "pages", "text")
    if "sections" not in doc["pages"]:
        raise dg.Failure(f"{key}'s pages were chosen before sections were: materialize selected_pages again")
    metadata = doc["metadata"]
    result = code_generator.generate(key, metadata["title"], metadata["abstract"], sections_to_read(blob_store, doc))
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
        f"| {h['name']} | {_value(h.get('paper_value'))} | {_value(h.get('used_value'))} | "
        f"{h.get('section') or h.get('page')} |"
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
                "| name | in paper | used | where |\n|---|---|---|---|\n" + hyperparameter_rows
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
    description="The sections of the paper the code generator reads: all but references, related work, "
    "acknowledgements, impact statements, checklists and what the section classifier is sure is not needed, "
    "within the reading budget.",
    group="read",
    step="read_papers",
    resources=("paper_index", "blob_store", "lifecycle"),
    run=lambda key, r, log: choose_sections(key, r.paper_index, r.blob_store, r.lifecycle),
    extra_deps=("page_classifier_model",),
    checks=(
        Check(
            "reads_enough",
            f"The code generator gets at least {MIN_READ_TOKENS} tokens of the paper's sections (an empty or nearly "
            "empty selection stops the paper, with the reason).",
        ),
    ),
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
