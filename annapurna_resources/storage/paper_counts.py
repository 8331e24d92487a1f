"""Papers per lifecycle stage, counted straight from the paper index file in one query.

Each stage writes its section of the paper's index document in the step that materializes its asset, so these
counts are the ones the UI shows; reading them needs neither Dagster nor its instance, which keeps
`annapurna status` fast however many papers are registered. (The Dagster-side count is
`annapurna_assets.lifecycle.progress.stage_counts`; a test checks the two agree.)
"""

import sqlite3
from collections.abc import Iterable
from pathlib import Path

_COUNTS = """
SELECT
  count(*),
  sum(json_type(doc, '$.metadata') IS NOT NULL),
  sum(json_type(doc, '$.verdict') IS NOT NULL),
  sum(json_extract(doc, '$.verdict.decision') = 'accept'),
  sum(json_extract(doc, '$.verdict.decision') = 'reject'),
  sum(json_type(doc, '$.pdf') IS NOT NULL),
  sum(json_type(doc, '$.text') IS NOT NULL),
  sum(json_type(doc, '$.code') IS NOT NULL),
  sum(json_extract(doc, '$.code.contract_ok') = 1 AND json_type(doc, '$.run') IS NULL),
  sum(json_extract(doc, '$.run.ok') = 1),
  sum(json_type(doc, '$.run') IS NOT NULL AND coalesce(json_extract(doc, '$.run.ok'), 0) != 1),
  sum(json_type(doc, '$.profile') IS NOT NULL)
FROM papers
"""
STAGES = (
    "discovered",
    "described",
    "judged",
    "accepted",
    "rejected",
    "pdf",
    "text",
    "code",
    "pending_execution",
    "executed_ok",
    "executed_failed",
    "profiled",
)


# What each paid stage spent, from its section of the document: (section, fields summed).
COST_STAGES = {
    "judge": ("verdict", ("input_tokens", "output_tokens", "cost_usd")),
    "code": ("code", ("input_tokens", "output_tokens", "cost_usd")),
    "run": ("run", ("instance_hours", "cost_usd")),
}


def _cost_query() -> str:
    columns = []
    for section, fields in COST_STAGES.values():
        columns.append(f"count(json_type(doc, '$.{section}'))")
        columns += [f"coalesce(sum(json_extract(doc, '$.{section}.{field}')), 0)" for field in fields]
    return "SELECT " + ", ".join(columns) + " FROM papers"


def cost_totals(index_path: Path) -> dict:
    """Tokens, instance-hours and dollars per stage, their total, and the total per 100 judged papers."""
    if not index_path.is_file():
        return _cost_summary([0] * sum(1 + len(fields) for _, fields in COST_STAGES.values()))
    with sqlite3.connect(f"file:{index_path}?mode=ro", uri=True) as db:
        return _cost_summary(list(db.execute(_cost_query()).fetchone()))


def cost_totals_from_documents(docs: Iterable[dict]) -> dict:
    """`cost_totals` over documents (for index backends other than the SQLite file)."""
    values = [0] * sum(1 + len(fields) for _, fields in COST_STAGES.values())
    for doc in docs:
        position = 0
        for section, fields in COST_STAGES.values():
            part = doc.get(section)
            if isinstance(part, dict):
                values[position] += 1
                for offset, field in enumerate(fields, start=1):
                    value = part.get(field)
                    if isinstance(value, int | float):
                        values[position + offset] += value
            position += 1 + len(fields)
    return _cost_summary(values)


def _cost_summary(values: list) -> dict:
    summary: dict = {}
    position = 0
    for stage, (_, fields) in COST_STAGES.items():
        row = {"papers": int(values[position])}
        for offset, field in enumerate(fields, start=1):
            value = values[position + offset] or 0
            row[field] = round(float(value), 6) if field in ("cost_usd", "instance_hours") else int(value)
        summary[stage] = row
        position += 1 + len(fields)
    total = sum(row["cost_usd"] for row in summary.values())
    judged = summary["judge"]["papers"]
    summary["total_usd"] = round(total, 6)
    summary["usd_per_100_papers"] = round(100 * total / judged, 4) if judged else 0.0
    return summary


def stage_counts(index_path: Path) -> dict[str, int]:
    """`pending_execution` here includes papers whose batch is running (the Dagster-side count leaves those out)."""
    if not index_path.is_file():
        return dict.fromkeys(STAGES, 0)
    with sqlite3.connect(f"file:{index_path}?mode=ro", uri=True) as db:
        row = db.execute(_COUNTS).fetchone()
    return {stage: int(value or 0) for stage, value in zip(STAGES, row)}


def stage_counts_from_documents(docs: Iterable[dict]) -> dict[str, int]:
    """`stage_counts` over documents (for index backends other than the SQLite file)."""
    counts = dict.fromkeys(STAGES, 0)
    for doc in docs:
        verdict, code, run = doc.get("verdict"), doc.get("code"), doc.get("run")
        decision = verdict.get("decision") if isinstance(verdict, dict) else None
        reached = {
            "discovered": True,
            "described": "metadata" in doc,
            "judged": verdict is not None,
            "accepted": decision == "accept",
            "rejected": decision == "reject",
            "pdf": "pdf" in doc,
            "text": "text" in doc,
            "code": code is not None,
            "pending_execution": isinstance(code, dict) and code.get("contract_ok") is True and run is None,
            "executed_ok": isinstance(run, dict) and run.get("ok") is True,
            "executed_failed": isinstance(run, dict) and run.get("ok") is not True,
            "profiled": "profile" in doc,
        }
        for stage, yes in reached.items():
            counts[stage] += int(yes)
    return counts
