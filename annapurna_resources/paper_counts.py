"""Papers per lifecycle stage, counted straight from the paper index file in one query.

Each stage writes its section of the paper's index document in the step that materializes its asset, so these
counts are the ones the UI shows; reading them needs neither Dagster nor its instance, which keeps
`annapurna status` fast however many papers are registered. (The Dagster-side count is
`annapurna_assets.progress.stage_counts`; a test checks the two agree.)
"""

import sqlite3
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


_JUDGE_TOTALS = """
SELECT
  count(json_type(doc, '$.verdict')),
  sum(json_extract(doc, '$.verdict.error') IS NOT NULL),
  coalesce(sum(json_extract(doc, '$.verdict.input_tokens')), 0),
  coalesce(sum(json_extract(doc, '$.verdict.output_tokens')), 0),
  coalesce(sum(json_extract(doc, '$.verdict.cost_usd')), 0.0)
FROM papers
"""


def judge_totals(index_path: Path) -> dict:
    """What judging has cost so far: verdicts, failed judgements, tokens and dollars."""
    if not index_path.is_file():
        return {"verdicts": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    with sqlite3.connect(f"file:{index_path}?mode=ro", uri=True) as db:
        verdicts, errors, input_tokens, output_tokens, cost = db.execute(_JUDGE_TOTALS).fetchone()
    return {
        "verdicts": verdicts,
        "errors": int(errors or 0),
        "input_tokens": int(input_tokens),
        "output_tokens": int(output_tokens),
        "cost_usd": round(float(cost), 4),
    }


def stage_counts(index_path: Path) -> dict[str, int]:
    """`pending_execution` here includes papers whose batch is running (the Dagster-side count leaves those out)."""
    if not index_path.is_file():
        return dict.fromkeys(STAGES, 0)
    with sqlite3.connect(f"file:{index_path}?mode=ro", uri=True) as db:
        row = db.execute(_COUNTS).fetchone()
    return {stage: int(value or 0) for stage, value in zip(STAGES, row)}
